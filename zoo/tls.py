"""TLS for zoo services: server contexts, factory wrapping and a safe STARTTLS.

Every zoo service gets TLS the same way: L{ServerTLS} builds an OpenSSL context from
PEM files (TLS 1.2 minimum, optional client-certificate verification for mutual TLS),
and L{wrap_factory} makes any protocol factory speak TLS from the first byte.
For protocols that upgrade in the middle of a session (SMTP, POP3, IMAP, FTP),
L{StartTLSMixin} and L{start_tls} switch to TLS and throw away whatever plaintext the
client pipelined after the STARTTLS command (the CVE-2011-0411 class of bug).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from OpenSSL import SSL
from twisted.internet.interfaces import IOpenSSLContextFactory, IProtocolFactory, ITLSTransport
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer


class TLSConfigError(ValueError):
    """A certificate, key or CA file is missing or unusable; the message names the file."""


def _check_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise TLSConfigError(f"{what} file not found: {path}")
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as e:
        raise TLSConfigError(f"cannot read {what} file {path}: {e.strerror}") from None
    return path


@implementer(IOpenSSLContextFactory)
class ServerTLS:
    """An OpenSSL server context factory built from PEM files.

    @ivar cert: the certificate chain file (leaf first).
    @ivar key: the private key file.
    @ivar client_ca: if set, clients must present a certificate signed by this CA.
    """

    def __init__(
        self, cert: Path | str, key: Path | str, client_ca: Path | str | None = None
    ) -> None:
        self.cert = _check_file(Path(cert), "TLS certificate")
        self.key = _check_file(Path(key), "TLS private key")
        self.client_ca = _check_file(Path(client_ca), "TLS client CA") if client_ca else None
        self._context = self._build()

    def _build(self) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
        ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE)
        ctx.set_cipher_list(b"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS")
        try:
            ctx.use_certificate_chain_file(str(self.cert))
        except SSL.Error as e:
            raise TLSConfigError(f"not a PEM certificate chain: {self.cert} ({e})") from None
        try:
            ctx.use_privatekey_file(str(self.key))
        except SSL.Error as e:
            if "mismatch" in str(e):
                raise TLSConfigError(
                    f"private key {self.key} does not match certificate {self.cert}"
                ) from None
            raise TLSConfigError(f"not a PEM private key: {self.key} ({e})") from None
        try:
            ctx.check_privatekey()
        except SSL.Error:
            raise TLSConfigError(
                f"private key {self.key} does not match certificate {self.cert}"
            ) from None
        if self.client_ca is not None:
            try:
                ctx.load_verify_locations(str(self.client_ca))
            except SSL.Error as e:
                raise TLSConfigError(f"not a PEM CA file: {self.client_ca} ({e})") from None
            ctx.set_verify(
                SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda conn, cert, *a: a[-1]
            )
        ctx.set_session_id(b"zoo")
        return ctx

    def getContext(self) -> SSL.Context:  # noqa: N802 (Twisted's name)
        """Return the shared server context (Twisted's old-style context factory API)."""
        return self._context


def wrap_factory(factory: IProtocolFactory, tls: ServerTLS) -> TLSMemoryBIOFactory:
    """Make C{factory}'s protocols speak TLS from the first byte, as a server."""
    return TLSMemoryBIOFactory(tls, False, factory)


class StartTLSMixin:
    """Mix into a L{LineReceiver} or L{LineOnlyReceiver} subclass that supports STARTTLS.

    After L{start_tls}, lines (and raw data) that arrived in the same read as the
    STARTTLS command are dropped instead of being handled as if they came over TLS.
    Put it first among the bases, C{class ZooSMTP(StartTLSMixin, smtp.ESMTP)}, and keep
    C{lineReceived} in a base class (as ESMTP does), since a C{lineReceived} defined in
    the mixing class itself would run before the mixin's check.
    """

    _zoo_discard_plaintext = False

    def dataReceived(self, data: bytes) -> Any:  # noqa: N802
        # Anything delivered by a later read came through the TLS layer.
        self._zoo_discard_plaintext = False
        return super().dataReceived(data)  # type: ignore[misc]

    def lineReceived(self, line: bytes) -> Any:  # noqa: N802
        if self._zoo_discard_plaintext:
            return None
        return super().lineReceived(line)  # type: ignore[misc]

    def rawDataReceived(self, data: bytes) -> Any:  # noqa: N802
        if self._zoo_discard_plaintext:
            return None
        return super().rawDataReceived(data)  # type: ignore[misc]


def start_tls(protocol: Any, context_factory: Any) -> None:
    """Upgrade C{protocol}'s connection to TLS, discarding pipelined plaintext.

    Call it after the "go ahead" reply (SMTP 220, IMAP OK, POP3 +OK, FTP 234) is written.
    C{protocol} should use L{StartTLSMixin}; its unprocessed line buffer is emptied too.
    Session state that RFC 3207 and friends require to be forgotten (HELO, AUTH) is the
    caller's to reset.
    """
    transport = protocol.transport
    if not ITLSTransport.providedBy(transport):
        raise TypeError(f"{transport!r} cannot start TLS")
    if hasattr(protocol, "_buffer"):
        protocol._buffer = b""
    protocol._zoo_discard_plaintext = True
    transport.startTLS(context_factory)
