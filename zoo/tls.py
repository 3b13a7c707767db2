"""TLS for zoo services: server contexts, factory wrapping and a safe STARTTLS.

Every zoo service gets TLS the same way: L{ServerTLS} builds an OpenSSL context from
PEM files (TLS 1.2 minimum, optional client-certificate verification for mutual TLS),
and L{wrap_factory} makes any protocol factory speak TLS from the first byte (as a
server, or as a client with L{client_tls}, which verifies the chain and the host name).
The TLS layer, L{HalfCloseTLSProtocol} (in C{zoo._twisted.tlslayer}), is Twisted's with half-close added and fewer
system calls per handshake. For protocols that upgrade in the middle of a session (SMTP, POP3, IMAP, FTP),
L{StartTLSMixin} and L{start_tls} switch to TLS and throw away whatever plaintext the
client pipelined after the STARTTLS command (the CVE-2011-0411 class of bug).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from twisted.internet.interfaces import (
    IOpenSSLContextFactory,
    IProtocolFactory,
    IReactorTime,
    ITLSTransport,
)
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer

from zoo._twisted.lines import clear_line_buffer
from zoo._twisted.tlslayer import HalfCloseTLSFactory, HalfCloseTLSProtocol


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
            # Tell clients (curl, openssl) which CA we want their certificate from.
            for cert in load_certificates(self.client_ca):
                ctx.add_client_ca(cert.original.to_cryptography())
        ctx.set_session_id(b"zoo")
        return ctx

    def getContext(self) -> SSL.Context:
        """Return the shared server context (Twisted's old-style context factory API)."""
        return self._context


def wrap_factory(
    factory: IProtocolFactory, tls: Any, *, client: bool = False, clock: IReactorTime | None = None
) -> TLSMemoryBIOFactory:
    """Make C{factory}'s protocols speak TLS from the first byte (as a server by default).

    @param tls: a L{ServerTLS} (or any context factory / connection creator Twisted takes).
    @param client: C{True} to send the ClientHello (C{tls} then comes from
        L{client_tls} or L{twisted.internet.ssl.optionsForClientTLS}).
    @param clock: the reactor, or a L{twisted.internet.task.Clock} in tests.
    """
    return HalfCloseTLSFactory(tls, client, factory, clock)


def load_certificates(path: Path | str, what: str = "CA") -> list[Any]:
    """Every certificate in the PEM file C{path}, as Twisted L{Certificate}s."""
    from cryptography import x509
    from twisted.internet.ssl import Certificate

    path = _check_file(Path(path), what)
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except ValueError as e:
        raise TLSConfigError(f"not a PEM certificate file: {path} ({e})") from None
    from OpenSSL.crypto import X509

    return [Certificate(X509.from_cryptography(c)) for c in certs]


def client_tls(
    hostname: str,
    ca: Path | str | Sequence[Path | str],
    cert: Path | str | None = None,
    key: Path | str | None = None,
) -> Any:
    """A client connection creator that verifies the chain against C{ca} and the hostname.

    Hostname (or IP address) checking is Twisted's, through C{service_identity}; a
    mismatch fails the handshake. TLS 1.2 minimum. C{cert}/C{key} present a client
    certificate (for a server that wants mutual TLS).
    """
    from twisted.internet import ssl

    files = [ca] if isinstance(ca, str | Path) else list(ca)
    roots = [c for f in files for c in load_certificates(f, "TLS CA")]
    client_cert = None
    if cert:
        if not key:
            raise TLSConfigError("a client certificate needs its private key")
        cert_path = _check_file(Path(cert), "TLS client certificate")
        key_path = _check_file(Path(key), "TLS client key")
        try:
            client_cert = ssl.PrivateCertificate.loadPEM(
                cert_path.read_text() + key_path.read_text()
            )
        except Exception as e:  # pyOpenSSL raises several types for bad PEM
            raise TLSConfigError(
                f"cannot use client certificate {cert_path} with key {key_path}: {e}"
            ) from None
    return ssl.optionsForClientTLS(
        hostname,
        trustRoot=ssl.trustRootFromCertificates(roots),
        clientCertificate=client_cert,
        extraCertificateOptions={"raiseMinimumTo": ssl.TLSVersion.TLSv1_2},
    )


class StartTLSMixin:
    """Mix into a L{LineReceiver} or L{LineOnlyReceiver} subclass that supports STARTTLS.

    After L{start_tls}, lines (and raw data) that arrived in the same read as the
    STARTTLS command are dropped instead of being handled as if they came over TLS.
    Put it first among the bases, C{class ZooSMTP(StartTLSMixin, smtp.ESMTP)}, and keep
    C{lineReceived} in a base class (as ESMTP does), since a C{lineReceived} defined in
    the mixing class itself would run before the mixin's check.
    """

    _zoo_discard_plaintext = False

    def dataReceived(self, data: bytes) -> Any:
        # Anything delivered by a later read came through the TLS layer.
        self._zoo_discard_plaintext = False
        return super().dataReceived(data)  # type: ignore[misc]

    def lineReceived(self, line: bytes) -> Any:
        if self._zoo_discard_plaintext:
            return None
        return super().lineReceived(line)  # type: ignore[misc]

    def rawDataReceived(self, data: bytes) -> Any:
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
    clear_line_buffer(protocol)
    protocol._zoo_discard_plaintext = True
    transport.startTLS(context_factory)


__all__ = [
    "HalfCloseTLSFactory",
    "HalfCloseTLSProtocol",
    "ServerTLS",
    "StartTLSMixin",
    "TLSConfigError",
    "client_tls",
    "load_certificates",
    "start_tls",
    "wrap_factory",
]
