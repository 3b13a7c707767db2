"""The development CA and server certificate; TLS contexts; STARTTLS discarding plaintext."""

from __future__ import annotations

import contextlib
import io
import ssl
import stat
from pathlib import Path

from cryptography import x509
from OpenSSL import SSL
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IHalfCloseableProtocol, ITLSTransport
from twisted.internet.protocol import Protocol
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from zoo.certs import ensure_dev_certificates, issue, make_ca
from zoo.certs import main as certs_main
from zoo.testing import Network, Wire, tls_pair
from zoo.tls import (
    ServerTLS,
    StartTLSMixin,
    TLSConfigError,
    client_tls,
    start_tls,
)


class DevCertTests(SynchronousTestCase):
    def test_created_private_and_reused(self) -> None:
        """First use creates CA and server cert with 0600 keys; the next use reuses them."""
        state = Path(self.mktemp())
        paths = ensure_dev_certificates(state)
        for key in (paths.ca_key, paths.key):
            self.assertEqual(stat.S_IMODE(key.stat().st_mode), 0o600)
        self.assertEqual(stat.S_IMODE((state / "tls").stat().st_mode), 0o700)
        before = paths.cert.read_bytes()
        self.assertEqual(ensure_dev_certificates(state).cert.read_bytes(), before)

    def test_sans(self) -> None:
        """The server certificate covers localhost, 127.0.0.1, ::1 and extra names."""
        paths = ensure_dev_certificates(Path(self.mktemp()), ["zoo.test"])
        cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(set(san.get_values_for_type(x509.DNSName)), {"localhost", "zoo.test"})
        self.assertEqual(
            {str(i) for i in san.get_values_for_type(x509.IPAddress)}, {"127.0.0.1", "::1"}
        )

    def test_new_name_reissues(self) -> None:
        """Asking for a name the certificate lacks reissues it under the same CA."""
        state = Path(self.mktemp())
        first = ensure_dev_certificates(state)
        ca = first.ca_cert.read_bytes()
        before = first.cert.read_bytes()
        second = ensure_dev_certificates(state, ["other.test"])
        self.assertNotEqual(second.cert.read_bytes(), before)
        self.assertEqual(second.ca_cert.read_bytes(), ca)

    def test_stdlib_verifies(self) -> None:
        """Python's ssl module accepts the chain with hostname checking, using the CA file."""
        paths = ensure_dev_certificates(Path(self.mktemp()))
        ctx = ssl.create_default_context(cafile=str(paths.ca_cert))
        ctx.load_verify_locations(cadata=paths.ca_cert.read_text())  # parses
        self.assertTrue(ctx.check_hostname)


class ServerTLSTests(SynchronousTestCase):
    def _files(self) -> tuple[Path, Path]:
        d = Path(self.mktemp())
        d.mkdir()
        leaf = issue(make_ca(), ["localhost"])
        (d / "c.pem").write_bytes(leaf.cert_pem)
        (d / "k.pem").write_bytes(leaf.key_pem)
        return d / "c.pem", d / "k.pem"

    def test_context(self) -> None:
        """A matching certificate and key give a context."""
        cert, key = self._files()
        self.assertIsNotNone(ServerTLS(cert, key).getContext())

    def test_missing_file_named(self) -> None:
        """A missing file is an error naming it."""
        cert, _ = self._files()
        with self.assertRaises(TLSConfigError) as e:
            ServerTLS(cert, "/no/such.key")
        self.assertIn("/no/such.key", str(e.exception))

    def test_mismatched_key(self) -> None:
        """A key that does not match the certificate is refused, naming both files."""
        cert, _ = self._files()
        _, other_key = self._files()
        with self.assertRaises(TLSConfigError) as e:
            ServerTLS(cert, other_key)
        self.assertIn("does not match", str(e.exception))

    def test_garbage(self) -> None:
        """A file that is not PEM is refused with its name."""
        cert, key = self._files()
        cert.write_bytes(b"garbage")
        with self.assertRaises(TLSConfigError) as e:
            ServerTLS(cert, key)
        self.assertIn(str(cert), str(e.exception))


@implementer(ITLSTransport)
class _TLSStringTransport(StringTransport):
    started = None

    def startTLS(self, ctx: object) -> None:
        self.started = ctx


class _PlainLines(LineOnlyReceiver):
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)
        if line == b"STARTTLS":
            start_tls(self, "ctx")


class _Lines(StartTLSMixin, _PlainLines):
    """As a real server mixes it in: the line handler lives in the base class."""


class StartTLSTests(SynchronousTestCase):
    def test_pipelined_plaintext_discarded(self) -> None:
        """Lines pipelined after STARTTLS in the same read are dropped, not obeyed."""
        p = _Lines()
        t = _TLSStringTransport()
        p.makeConnection(t)
        p.dataReceived(b"EHLO x\r\nSTARTTLS\r\nRCPT TO:<evil>\r\npartial")
        self.assertEqual(p.lines, [b"EHLO x", b"STARTTLS"])
        self.assertEqual(t.started, "ctx")
        p.dataReceived(b"NOOP\r\n")  # arrives after the handshake: handled
        self.assertEqual(p.lines, [b"EHLO x", b"STARTTLS", b"NOOP"])

    def test_needs_tls_transport(self) -> None:
        """Starting TLS on a transport that cannot is a TypeError, not silence."""
        p = _Lines()
        p.makeConnection(StringTransport())
        with self.assertRaises(TypeError):
            start_tls(p, "ctx")


class _Recorder(Protocol):
    """Records reads and how the connection ended (not half-closeable)."""

    def __init__(self) -> None:
        self.received = b""
        self.lost: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.lost = reason


@implementer(IHalfCloseableProtocol)
class _HalfRecorder(_Recorder):
    eof = False

    def readConnectionLost(self) -> None:
        self.eof = True

    def writeConnectionLost(self) -> None:
        pass


class HalfCloseTLSTests(SynchronousTestCase):
    """HalfCloseTLSProtocol over an in-memory wire, certificates made at test time."""

    def _pair(
        self, client: Protocol, server: Protocol, name: str = "localhost", tls12: bool = False
    ) -> tuple[Network, Wire]:
        d = Path(self.mktemp())
        d.mkdir()
        pair = tls_pair(
            client, server, d, name=name, max_version=SSL.TLS1_2_VERSION if tls12 else None
        )
        if not pair.wire.closed:
            version = server.transport.getHandle().get_protocol_version_name()
            self.assertEqual(version, "TLSv1.2" if tls12 else "TLSv1.3")
        return pair.network, pair.wire

    def test_plain_protocol_keeps_twisted_behaviour(self) -> None:
        """A protocol without half-close support sees the peer's close_notify as the end."""
        client, server = _HalfRecorder(), _Recorder()
        net, wire = self._pair(client, server)
        client.transport.write(b"last words")
        client.transport.loseWriteConnection()
        net.flush()
        self.assertEqual(server.received, b"last words")
        self.assertIsNotNone(server.lost)
        self.assertTrue(wire.closed)

    def test_half_close_both_ways(self) -> None:
        """close_notify is an EOF one way; the other direction keeps working until it closes."""
        self._half_close_both_ways(tls12=False)

    def test_half_close_both_ways_tls12(self) -> None:
        """Half-close works over TLS 1.2 too (OpenSSL still writes after a close_notify)."""
        self._half_close_both_ways(tls12=True)

    def _half_close_both_ways(self, tls12: bool) -> None:
        client, server = _HalfRecorder(), _HalfRecorder()
        net, wire = self._pair(client, server, tls12=tls12)
        client.transport.write(b"question")
        client.transport.loseWriteConnection()
        net.flush()
        self.assertTrue(server.eof)
        self.assertIsNone(server.lost)
        server.transport.write(b"answer")
        net.flush()
        self.assertEqual(client.received, b"answer")
        server.transport.loseWriteConnection()
        net.flush()
        self.assertTrue(wire.closed)
        self.assertTrue(client.lost.check(ConnectionDone))
        self.assertTrue(server.lost.check(ConnectionDone))

    def test_write_after_half_close_dropped(self) -> None:
        """Bytes written after loseWriteConnection are not sent (as with TCP)."""
        client, server = _HalfRecorder(), _HalfRecorder()
        net, _ = self._pair(client, server)
        client.transport.loseWriteConnection()
        client.transport.write(b"too late")
        net.flush()
        self.assertEqual(server.received, b"")
        self.assertTrue(server.eof)

    def test_tcp_eof_without_close_notify_is_truncation(self) -> None:
        """A bare TCP FIN is not a clean EOF: the protocol gets ConnectionLost, not an EOF."""
        client, server = _HalfRecorder(), _HalfRecorder()
        net, wire = self._pair(client, server)
        wire.ta.loseWriteConnection()  # FIN under the TLS layer
        net.flush()
        self.assertFalse(server.eof)
        self.assertTrue(server.lost.check(ConnectionLost))

    def test_ip_address_verified(self) -> None:
        """client_tls checks an IP address against the certificate's IP SANs."""
        client, server = _HalfRecorder(), _HalfRecorder()
        net, wire = self._pair(client, server, name="127.0.0.1")
        client.transport.write(b"ok")
        net.flush()
        self.assertEqual(server.received, b"ok")
        net2, wire2 = self._pair(_HalfRecorder(), _HalfRecorder(), name="127.0.0.2")
        self.assertTrue(wire2.closed)


class ClientTLSTests(SynchronousTestCase):
    def test_bad_files_named(self) -> None:
        """client_tls names a missing or garbage CA file and a missing client key."""
        garbage = Path(self.mktemp())
        garbage.write_text("nope")
        for ca, fragment in ((garbage, str(garbage)), ("/no/ca.pem", "/no/ca.pem")):
            with self.assertRaises(TLSConfigError) as e:
                client_tls("localhost", ca)
            self.assertIn(fragment, str(e.exception))
        ca = Path(self.mktemp())
        ca.write_bytes(make_ca().cert_pem)
        with self.assertRaises(TLSConfigError):
            client_tls("localhost", ca, cert=ca)


class SharedOptionTests(SynchronousTestCase):
    def test_bad_tls_files_are_usage_errors(self) -> None:
        """--tls-cert/--tls-key/--tls-client-ca files are loaded at parse time; errors name them."""
        from twisted.python import usage

        from zoo.tap.lancelot import Options

        d = Path(self.mktemp())
        d.mkdir()
        leaf = issue(make_ca(), ["localhost"])
        (d / "c.pem").write_bytes(leaf.cert_pem)
        (d / "k.pem").write_bytes(leaf.key_pem)
        (d / "junk").write_text("junk")
        cases = [
            (["--tls-cert", str(d / "junk"), "--tls-key", str(d / "k.pem")], "junk"),
            (["--tls-cert", str(d / "c.pem"), "--tls-key", str(d / "junk")], "junk"),
            (["--tls-cert", str(d / "c.pem"), "--tls-key", str(d / "nope")], "nope"),
            (["--tls", "--tls-client-ca", str(d / "junk")], "junk"),
        ]
        for args, fragment in cases:
            with self.assertRaises(usage.UsageError) as e:
                Options().parseOptions(args)
            self.assertIn(fragment, str(e.exception))
        ok = Options()
        ok.parseOptions(["--tls-cert", str(d / "c.pem"), "--tls-key", str(d / "k.pem")])
        self.assertTrue(ok["tls"])


class ZooCATests(SynchronousTestCase):
    def _zoo_ca(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = certs_main(list(args))
        return code, out.getvalue(), err.getvalue()

    def test_path_pem_generate(self) -> None:
        """zoo-ca prints the CA path, its PEM with --pem, and creates it with --generate."""
        state = Path(self.mktemp())
        code, out, err = self._zoo_ca("--state-dir", str(state))
        self.assertEqual(code, 1)
        self.assertIn("--generate", err)
        code, out, _ = self._zoo_ca("--state-dir", str(state), "--generate")
        self.assertEqual((code, out.strip()), (0, str(state / "tls" / "ca.pem")))
        self.assertEqual(stat.S_IMODE((state / "tls" / "ca.key").stat().st_mode), 0o600)
        code, out, _ = self._zoo_ca("--state-dir", str(state))
        self.assertEqual(out.strip(), str(state / "tls" / "ca.pem"))
        code, out, _ = self._zoo_ca("--state-dir", str(state), "--pem")
        self.assertEqual(out, (state / "tls" / "ca.pem").read_text())
        x509.load_pem_x509_certificate(out.encode())
