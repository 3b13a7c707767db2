"""The development CA and server certificate; TLS contexts; STARTTLS discarding plaintext."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

from cryptography import x509
from twisted.internet.interfaces import ITLSTransport
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import LineOnlyReceiver
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from zoo.certs import ensure_dev_certificates, issue, make_ca
from zoo.tls import ServerTLS, StartTLSMixin, TLSConfigError, start_tls


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
