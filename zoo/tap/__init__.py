"""twistd entry points: one module per plugin (C{Options} + C{makeService}), and the runner."""
