"""TLS for zoo services: server contexts, factory wrapping and a safe STARTTLS.

Every zoo service gets TLS the same way: L{ServerTLS} builds an OpenSSL context from
PEM files (TLS 1.2 minimum, optional client-certificate verification for mutual TLS),
and L{wrap_factory} makes any protocol factory speak TLS from the first byte.
For protocols that upgrade in the middle of a session (SMTP, POP3, IMAP, FTP),
L{StartTLSMixin} and L{start_tls} switch to TLS and throw away whatever plaintext the
client pipelined after the STARTTLS command (the CVE-2011-0411 class of bug).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IOpenSSLContextFactory,
    IProtocolFactory,
    IReactorTime,
    ITLSTransport,
)
from twisted.internet.protocol import Protocol
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import BufferingTLSTransport, TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

from zoo.policies import fast_writer


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

    def getContext(self) -> SSL.Context:  # noqa: N802 (Twisted's name)
        """Return the shared server context (Twisted's old-style context factory API)."""
        return self._context


class HalfCloseTLSProtocol(BufferingTLSTransport):
    """Twisted's TLS layer, plus half-close for protocols that want it.

    Twisted's L{TLSMemoryBIOProtocol} treats the peer's C{close_notify} as the end of
    the whole connection and has no C{loseWriteConnection} of its own (the call falls
    through to TCP and sends a FIN with no C{close_notify}, which the peer must treat
    as a truncation attack). When the wrapped protocol provides
    L{IHalfCloseableProtocol}, this layer instead:

    - turns the peer's C{close_notify} into C{readConnectionLost()} and keeps the
      sending direction open (TLS 1.3 allows it; OpenSSL allows it for 1.2 too);
    - makes C{loseWriteConnection()} send our C{close_notify} (after any buffered
      data), then a TCP FIN, and keep reading until the peer closes too;
    - closes the TCP connection once both directions are closed.

    A TCP EOF that arrives without a C{close_notify} is still a truncation: the
    connection is closed and the protocol gets C{ConnectionLost}, as before. Protocols
    that do not provide L{IHalfCloseableProtocol} see exactly Twisted's behaviour.
    """

    _half_close = False
    _read_closed = False
    _write_closed = False
    _write_close_pending = False

    def makeConnection(self, transport: Any) -> None:  # noqa: N802
        # Twisted's version first copies the transport's interfaces onto this object
        # with one directlyProvides() per interface, each replacing the last, then
        # ProtocolWrapper.makeConnection copies them all again in one call: the loop
        # is wasted work, measurable per handshake. Same steps, minus the loop.
        self._tlsConnection = self.factory._creatorCallable(self)
        self._appSendBuffer = []
        # Ciphertext goes to the socket at once when its buffer is empty, instead of
        # waiting a reactor turn with two epoll_ctl calls around it (most of a
        # handshake's system calls otherwise).
        self._send_raw = fast_writer(transport)
        if self._connectWrapped:
            ProtocolWrapper.makeConnection(self, transport)
        else:
            directlyProvides(self, providedBy(transport))
            Protocol.makeConnection(self, transport)
            self.factory.registerProtocol(self)
        self._checkHandshakeStatus()

    def _flushReceiveBIO(self) -> None:  # noqa: N802
        if not self._half_close:
            return super()._flushReceiveBIO()
        while not self._lostTLSConnection and not self._read_closed:
            try:
                data = self._tlsConnection.recv(2**15)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self._close_notify_received()
            except SSL.Error:
                self._tlsShutdownFinished(Failure())
            else:
                if not self._aborted:
                    ProtocolWrapper.dataReceived(self, data)
        self._flushSendBIO()
        return None

    def _flushSendBIO(self) -> None:  # noqa: N802
        # Once our FIN is out, closing the TCP connection runs connectionLost at once
        # (which drops the OpenSSL connection) while this layer is still on the stack.
        conn = self._tlsConnection
        if conn is None:
            return
        chunks = []
        while True:
            try:
                chunks.append(conn.bio_read(2**17))
            except SSL.WantReadError:
                break
        if chunks:
            self._send_raw(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def _close_notify_received(self) -> None:
        self._read_closed = True
        if self._write_closed:
            self.transport.loseConnection()
        else:
            self.wrappedProtocol.readConnectionLost()

    def readConnectionLost(self) -> None:  # noqa: N802
        """TCP EOF: fine after a C{close_notify}; without one, a truncation."""
        if self._read_closed or self._lostTLSConnection:
            return
        self._tlsConnection.bio_shutdown()
        self._flushReceiveBIO()
        if not self._read_closed and not self._lostTLSConnection:
            self._tlsShutdownFinished(None)

    def writeConnectionLost(self) -> None:  # noqa: N802
        """Our TCP FIN went out; the wrapped protocol already knows it stopped writing."""

    def loseWriteConnection(self) -> None:  # noqa: N802
        """Send C{close_notify} and a FIN once buffered data is out; keep reading."""
        if self._write_closed or self.disconnecting or self._lostTLSConnection:
            return
        self._aggregator.flush()
        self._write_closed = True
        if self._appSendBuffer:  # still handshaking: close after the data goes
            self._write_close_pending = True
            return
        self._send_close_notify()

    def _shutdownTLS(self) -> None:  # noqa: N802
        # Closing both ways (loseConnection, or an error): send close_notify and close,
        # without waiting for the peer's, which a half-closing peer need not send.
        super()._shutdownTLS()
        if self._half_close and self._tlsConnection is not None:
            self.transport.loseConnection()

    def _send_close_notify(self) -> None:
        self._write_close_pending = False
        try:
            self._tlsConnection.shutdown()
        except SSL.Error:
            pass
        self._flushSendBIO()
        if self._read_closed:
            self.transport.loseConnection()
        else:
            self.transport.loseWriteConnection()

    def _unbufferPendingWrites(self) -> None:  # noqa: N802
        super()._unbufferPendingWrites()
        if self._write_close_pending and not self._appSendBuffer:
            self._send_close_notify()

    def _write(self, data: bytes) -> None:
        """Encrypt C{data} in 16 KiB records, then send all the records at once.

        (Twisted's version sends each record as it is made: one system call per
        16 KiB instead of one per write.)
        """
        if (self._write_closed and not self._write_close_pending) or self._lostTLSConnection:
            return  # after loseWriteConnection bytes are dropped, as TCP does
        conn = self._tlsConnection
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += conn.send(view[done : done + 2**14])
        except SSL.WantReadError:
            self._bufferedWrite(bytes(view[done:]))
        except SSL.Error:
            self._tlsShutdownFinished(Failure())
            return
        self._flushSendBIO()


@implementer(IHalfCloseableProtocol)
class _HalfClosingTLSProtocol(HalfCloseTLSProtocol):
    """The variant used when the wrapped protocol supports half-close."""

    _half_close = True


class HalfCloseTLSFactory(TLSMemoryBIOFactory):
    """A L{TLSMemoryBIOFactory} whose connections are L{HalfCloseTLSProtocol}s.

    Whether a connection half-closes is decided by class, when it is built, and not
    with C{alsoProvides} per connection: a per-instance interface declaration costs
    a C3 resolution per connection in zope.interface, about a tenth of the server's
    CPU per TLS handshake.
    """

    protocol = HalfCloseTLSProtocol

    def buildProtocol(self, addr: Any) -> Any:  # noqa: N802
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        if IHalfCloseableProtocol.providedBy(wrapped):
            return _HalfClosingTLSProtocol(self, wrapped)
        return self.protocol(self, wrapped)


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
