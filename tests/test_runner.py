"""The one runner, `twistd zoo`: choosing services, sub-options and config files."""

from __future__ import annotations

from pathlib import Path

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from zoo.tap import all as runner
from zoo.tap import registry


def parse(*args: str) -> runner.Options:
    o = runner.Options()
    o.parseOptions(list(args))
    return o


class RunnerOptionTests(SynchronousTestCase):
    def test_defaults_every_service(self) -> None:
        """With no arguments every registered service runs on its defaults, but those off by default."""
        o = parse()
        self.assertEqual([name for name, _ in o.services], registry.default_names())
        self.assertEqual(
            registry.default_names(),
            [n for n in registry.names() if n not in registry.OFF_BY_DEFAULT],
        )

    def test_with_subset(self) -> None:
        """--with picks services and passes each its own options."""
        o = parse("--with", "lancelot --port 0 --book zen")
        [(name, sub)] = o.services
        self.assertEqual(name, "lancelot")
        self.assertEqual(sub["book"], "zen")
        self.assertEqual(sub.endpoints, ["tcp:0:interface=127.0.0.1"])

    def test_same_service_twice(self) -> None:
        """The same service may run twice on different ports."""
        o = parse("--with", "lancelot --port 0", "--with", "lancelot --listen tcp:0 --book zen")
        self.assertEqual([n for n, _ in o.services], ["lancelot", "lancelot"])

    def test_unknown_service(self) -> None:
        """An unknown service name is a usage error listing what exists."""
        with self.assertRaises(usage.UsageError) as e:
            parse("--with", "gopher")
        self.assertIn("unknown service 'gopher'", str(e.exception))
        self.assertIn("lancelot", str(e.exception))

    def test_bad_sub_option(self) -> None:
        """A bad sub-option names the --with it came from."""
        with self.assertRaises(usage.UsageError) as e:
            parse("--with", "lancelot --port nope")
        self.assertIn("'lancelot --port nope'", str(e.exception))
        self.assertIn("--port", str(e.exception))

    def test_state_dir_inherited(self) -> None:
        """The runner's --state-dir reaches sub-services that set none."""
        o = parse("--state-dir", "/tmp/s", "--with", "lancelot --port 0")
        self.assertEqual(str(o.services[0][1].state_dir()), "/tmp/s")

    def test_empty_with(self) -> None:
        """--with '' is an error, not a crash."""
        with self.assertRaises(usage.UsageError):
            parse("--with", "  ")


class ConfigTests(SynchronousTestCase):
    def test_parse_config(self) -> None:
        """Tables become services; keys become options; arrays of tables repeat a service."""
        specs = runner.parse_config(
            '[lancelot]\nport = 1060\nbook = "zen"\n'
            '[[echo]]\nport = 1\n[[echo]]\nlisten = ["tcp:2", "tcp6:2"]\ntls = true\n'
            '[zoo]\nstate-dir = "/x"\n'
        )
        self.assertEqual(
            specs,
            [
                ("lancelot", ["--port", "1060", "--book", "zen"]),
                ("echo", ["--port", "1"]),
                ("echo", ["--listen", "tcp:2", "--listen", "tcp6:2", "--tls"]),
            ],
        )

    def test_config_file(self) -> None:
        """--config runs what the file lists, and its [zoo] table sets runner options."""
        path = Path(self.mktemp())
        path.write_text('[zoo]\nstate-dir = "/tmp/cfg"\n[lancelot]\nport = 0\n')
        o = parse("--config", str(path))
        self.assertEqual([n for n, _ in o.services], ["lancelot"])
        self.assertEqual(o["state-dir"], "/tmp/cfg")

    def test_bad_toml(self) -> None:
        """A malformed file is a usage error naming the file."""
        path = Path(self.mktemp())
        path.write_text("[lancelot\nport = ")
        with self.assertRaises(usage.UsageError) as e:
            parse("--config", str(path))
        self.assertIn(str(path), str(e.exception))

    def test_missing_file(self) -> None:
        """A config file that does not exist is a usage error."""
        with self.assertRaises(usage.UsageError) as e:
            parse("--config", "/nonexistent/zoo.toml")
        self.assertIn("/nonexistent/zoo.toml", str(e.exception))

    def test_unknown_service_in_config(self) -> None:
        """Unknown services in a config file are usage errors too."""
        with self.assertRaises(usage.UsageError):
            runner.Options()._sub_options("gopher", [])


class ZooTableTests(SynchronousTestCase):
    def test_observatory_options_from_the_zoo_table(self) -> None:
        """The [zoo] table sets the control plane's options, parsed as on the command line."""
        path = Path(self.mktemp())
        path.write_text(
            "[zoo]\nevents-max = 500\nevents-max-bytes = 65536\ntranscripts = false\n"
            'admin = "tcp:0"\n[lancelot]\nport = 0\n'
        )
        o = parse("--config", str(path))
        self.assertEqual((o["events-max"], o["events-max-bytes"]), (500, 65536))
        self.assertIs(o["transcripts"], False)
        self.assertIn("tcp:0", o["admin"])

    def test_command_line_wins_over_the_zoo_table(self) -> None:
        """An option given on the command line overrides the same key in [zoo]."""
        path = Path(self.mktemp())
        path.write_text("[zoo]\nevents-max = 500\n[lancelot]\nport = 0\n")
        o = parse("--config", str(path), "--events-max", "7")
        self.assertEqual(o["events-max"], 7)

    def test_bad_zoo_table_values_and_keys(self) -> None:
        """A bad value is the option's own usage error; an unknown key names the known ones."""
        path = Path(self.mktemp())
        path.write_text("[zoo]\nevents-max = -3\n")
        with self.assertRaises(usage.UsageError) as e:
            parse("--config", str(path))
        self.assertIn("--events-max", str(e.exception))
        path.write_text("[zoo]\nevents = 3\n")
        with self.assertRaises(usage.UsageError) as e:
            parse("--config", str(path))
        self.assertIn("unknown [zoo] option 'events'", str(e.exception))
