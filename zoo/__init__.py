"""zoo: every classic protocol from the network-programming books, as a twistd plugin."""

__version__ = "0.1.0"
