"""Shared plugin options: ports, endpoints, limits, TLS flags and their errors."""

from __future__ import annotations

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from zoo.tap._options import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, normalize_endpoint
from zoo.tap.lancelot import Options


def parse(*args: str) -> Options:
    o = Options()
    o.parseOptions(list(args))
    return o


class EndpointTests(SynchronousTestCase):
    def test_default(self) -> None:
        """With no --port or --listen the plugin listens on its default port on loopback."""
        self.assertEqual(parse().endpoints, ["tcp:1060:interface=127.0.0.1"])

    def test_port(self) -> None:
        """--port N means TCP on 127.0.0.1, and 0 is allowed."""
        self.assertEqual(parse("--port", "1060").endpoints, ["tcp:1060:interface=127.0.0.1"])
        self.assertEqual(parse("--port", "0").endpoints, ["tcp:0:interface=127.0.0.1"])

    def test_interface(self) -> None:
        """--interface changes the address --port binds to."""
        self.assertEqual(
            parse("--port", "5", "--interface", "0.0.0.0").endpoints, ["tcp:5:interface=0.0.0.0"]
        )

    def test_listen_repeatable(self) -> None:
        """--listen may repeat, alongside --port; each becomes one endpoint."""
        o = parse("--port", "0", "--listen", "tcp6:0", "--listen", "unix:/tmp/x.sock")
        self.assertEqual(
            o.endpoints,
            ["tcp:0:interface=127.0.0.1", r"tcp6:0:interface=\:\:1", "unix:/tmp/x.sock"],
        )

    def test_listen_keeps_explicit_interface(self) -> None:
        """An endpoint that names its interface is left alone."""
        self.assertEqual(normalize_endpoint("tcp:80:interface=0.0.0.0"), "tcp:80:interface=0.0.0.0")
        self.assertEqual(
            normalize_endpoint("tcp:port=80:interface=10.0.0.1"), "tcp:port=80:interface=10.0.0.1"
        )

    def test_bare_port_in_listen(self) -> None:
        """--listen 1060 (a bare port, which Twisted rejects with a traceback) is TCP on loopback."""
        self.assertEqual(parse("--listen", "1060").endpoints, ["tcp:1060:interface=127.0.0.1"])


class ErrorTests(SynchronousTestCase):
    def assertUsage(self, args: list[str], *fragments: str) -> None:
        with self.assertRaises(usage.UsageError) as e:
            parse(*args)
        message = str(e.exception)
        self.assertNotIn("\n", message)
        for f in fragments:
            self.assertIn(f, message)

    def test_bad_ports(self) -> None:
        """Non-numeric, negative and too-large ports are usage errors naming --port."""
        for bad in ("abc", "-1", "65536", "1.5", ""):
            self.assertUsage(["--port", bad], "--port", "not a port number")

    def test_bad_endpoints(self) -> None:
        """Unknown endpoint types and bad ports inside endpoint strings are usage errors."""
        self.assertUsage(["--listen", "bogus:1"], "--listen", "bad endpoint", "bogus")
        self.assertUsage(["--listen", "tcp:99999"], "--listen", "not a port number")
        self.assertUsage(["--listen", "tcp:notaport"], "--listen")

    def test_bad_limits(self) -> None:
        """Limits must be positive numbers."""
        self.assertUsage(["--max-connections", "0"], "--max-connections")
        self.assertUsage(["--idle-timeout", "-3"], "--idle-timeout")
        self.assertUsage(["--idle-timeout", "nan"], "--idle-timeout")

    def test_unknown_option(self) -> None:
        """An unknown option is a one-line usage error."""
        self.assertUsage(["--frobnicate"], "--frobnicate")

    def test_tls_pairs(self) -> None:
        """--tls-cert without --tls-key is an error; missing files are named."""
        self.assertUsage(["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key")
        self.assertUsage(
            ["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"],
            "/nonexistent.pem",
        )


class DefaultTests(SynchronousTestCase):
    def test_limits(self) -> None:
        """Limits have sane defaults."""
        o = parse()
        self.assertEqual(o["max-connections"], DEFAULT_MAX_CONNECTIONS)
        self.assertEqual(o["idle-timeout"], DEFAULT_IDLE_TIMEOUT)

    def test_state_dir(self) -> None:
        """--state-dir overrides the state directory; the environment variable is next."""
        self.assertEqual(str(parse("--state-dir", "/tmp/zz").state_dir()), "/tmp/zz")
        import os

        old = os.environ.get("ZOO_STATE_DIR")
        os.environ["ZOO_STATE_DIR"] = "/tmp/from-env"
        try:
            self.assertEqual(str(parse().state_dir()), "/tmp/from-env")
        finally:
            if old is None:
                del os.environ["ZOO_STATE_DIR"]
            else:
                os.environ["ZOO_STATE_DIR"] = old


LOGIN_PLUGINS = ("smtp", "pop3", "imap", "ftp", "ssh")


def test_login_options_shared_by_every_login_plugin(tmp_path) -> None:
    """--user, --users-file (hashes allowed) and --max-login-attempts parse the same everywhere."""
    import importlib

    import pytest

    from zoo.cred import hash_password

    hashed = hash_password("pw", rounds=4)
    users = tmp_path / "users"
    users.write_text(f"# who\nbob:{hashed}\n")
    for name in LOGIN_PLUGINS:
        options = importlib.import_module(f"zoo.tap.{name}").Options
        o = options()
        o.parseOptions(
            ["--user", "alice:a:b" if name != "ftp" else "alice:ab", "--users-file", str(users)]
        )
        assert [u.name for u in o["users"]] == ["alice", "bob"], name
        assert o["users"][1].password == hashed and o["max-login-attempts"] == 3
        o = options()
        o.parseOptions(["--max-login-attempts", "5"])
        assert o["max-login-attempts"] == 5
        for bad, message in (
            (["--max-login-attempts", "0"], "--max-login-attempts"),
            (["--user", "a:1", "--user", "a:2"], "given twice"),
            (["--user", "nopassword"], "--user"),
        ):
            with pytest.raises(usage.UsageError, match=message):
                options().parseOptions(bad)
