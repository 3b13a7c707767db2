"""zoo-tls: a TLS wrapper in the manner of stunnel, as a pair of relayed connections.

Two modes, as stunnel has:

- B{server}: accept TLS, forward the plaintext to a plain TCP C{host:port}
  (TLS in front of a service that does not speak it);
- B{client}: accept plain TCP, forward over TLS to C{host:port}, verifying the
  server's certificate chain and hostname (through C{service_identity}) and
  refusing the connection on a mismatch.

Either way one accepted connection (the I{downstream}) is paired with one outgoing
connection (the I{upstream}) and bytes are relayed unchanged both ways:

- B{backpressure}: each side pauses reading from the other while its own send
  buffer is full (Twisted producers and consumers, both directions), so a slow
  reader never makes the relay buffer without bound;
- B{half-close}: an EOF (TCP FIN, or TLS C{close_notify}) from one side becomes an
  EOF to the other (C{loseWriteConnection}), and the reverse direction keeps
  flowing until it ends too; see L{zoo.tls.HalfCloseTLSProtocol};
- B{failures}: when the upstream cannot be reached, fails its TLS handshake or
  certificate check, or breaks, the downstream is closed cleanly and the reason
  is logged. In server mode the upstream is dialled only after the client's TLS
  handshake (and client certificate, under mutual TLS) succeeded, so a client that
  fails TLS never reaches the backend.

L{Downstream}/L{Upstream} are the two thin protocols; L{TunnelFactory} is what a
listener serves; L{tls_endpoint} wraps a client endpoint in verified TLS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IHandshakeListener,
    IProtocol,
    IStreamClientEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo.flow import ReadGate
from zoo.policies import fast_writer, set_nodelay
from zoo.tls import wrap_factory

log = Logger()

#: Bytes a downstream may send before the upstream is ready; then it is paused.
PENDING_LIMIT = 64 * 1024
#: The downstream's pause reason while the upstream is not ready.
_UPSTREAM_NOT_READY = "upstream not ready"


@implementer(IHalfCloseableProtocol)
class _Pipe(Protocol):
    """One connection of a relayed pair: what it reads, its peer writes."""

    peer: _Pipe | None = None
    _write: Callable[[bytes], None]
    _eof_received = False  # our side sent its EOF (read direction done)
    _eof_sent = False  # we gave our side an EOF (write direction done)
    _closed = False
    _throttled = False

    def connectionMade(self) -> None:
        self._write = fast_writer(self.transport)
        #: Our reading; registered on the peer's transport once linked. Twisted's
        #: transports stop their producer when they disconnect; the gate never
        #: closes anything, so the relay closes the other side itself, after flushing.
        self.gate = ReadGate(self.transport)

    def link(self, peer: _Pipe) -> None:
        """Start relaying with C{peer}: its reads become our writes, with backpressure."""
        self.peer = peer
        peer.gate.start(after_handshake=False, consumer=self.transport)
        self._throttled = True

    def _unthrottle(self) -> None:
        if self._throttled:
            self._throttled = False
            assert self.peer is not None  # linked
            self.peer.gate.release()

    def dataReceived(self, data: bytes) -> None:
        assert self.peer is not None
        self.peer._write(data)

    def readConnectionLost(self) -> None:
        self._eof_received = True
        if self.peer is not None:
            self.peer.send_eof()
        self._close_if_done()

    def writeConnectionLost(self) -> None:
        pass

    def send_eof(self) -> None:
        """The peer will send no more: half-close our side's write direction."""
        if self._eof_sent or self._closed:
            return
        self._eof_sent = True
        self._unthrottle()
        cast(ITCPTransport, self.transport).loseWriteConnection()
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self._eof_received and self._eof_sent:
            self.close()

    def close(self) -> None:
        """Close our side after writing what is buffered."""
        if self._closed:
            return
        self._closed = True
        self._unthrottle()
        transport = self.transport
        assert transport is not None  # close() is only called once connected
        transport.loseConnection()

    def connectionLost(self, reason: Failure = ConnectionDone) -> None:  # type: ignore[assignment]
        self._closed = True
        if self.peer is not None:
            self.peer.close()


@implementer(IHalfCloseableProtocol, IHandshakeListener)
class Upstream(_Pipe):
    """The connection the relay makes; ready once connected (and TLS-verified)."""

    def __init__(self, downstream: Downstream, tls: bool) -> None:
        self.downstream = downstream
        self.tls = tls
        self.ready = False

    def connectionMade(self) -> None:
        super().connectionMade()
        set_nodelay(self.transport)
        if not self.tls:
            self._ready()

    def handshakeCompleted(self) -> None:
        # Twisted reports the handshake even when the certificate check that ran
        # inside it failed and aborted the connection.
        # The transport is the TLS layer: it is the one that reports handshakes.
        if not cast(TLSMemoryBIOProtocol, self.transport).disconnecting:
            self._ready()

    def _ready(self) -> None:
        self.ready = True
        self.downstream.upstream_ready(self)

    def connectionLost(self, reason: Failure = ConnectionDone) -> None:  # type: ignore[assignment]
        if not self.ready:
            self.downstream.upstream_failed(reason)
        elif not reason.check(ConnectionDone):
            log.info(
                "{target}: upstream connection lost: {why}",
                target=self.downstream.factory.target,
                why=reason.getErrorMessage(),
            )
        super().connectionLost(reason)


@implementer(IHalfCloseableProtocol, IHandshakeListener)
class Downstream(_Pipe):
    """An accepted connection: dials the upstream, holds early bytes until it is ready."""

    factory: TunnelFactory

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._connecting: Deferred[Any] | None = None
        self.upstream: Upstream | None = None

    def connectionMade(self) -> None:
        super().connectionMade()
        if not self.factory.after_handshake:
            self._dial()

    def handshakeCompleted(self) -> None:
        if self.factory.after_handshake and self._connecting is None and not self._closed:
            self._dial()

    def _dial(self) -> None:
        self.upstream = Upstream(self, self.factory.upstream_tls)
        self._connecting = self.factory.connect(self.upstream)
        self._connecting.addErrback(self._connect_failed)

    def _connect_failed(self, reason: Failure) -> None:
        if not reason.check(CancelledError):
            self.upstream_failed(reason)

    def upstream_failed(self, reason: Failure) -> None:
        """The upstream could not be reached or verified: log it and close the client."""
        if self._closed:
            return
        log.warn(
            "{target}: cannot relay for {peer}: {why}",
            target=self.factory.target,
            peer=_peer(self.transport),
            why=_describe(reason),
        )
        self.close()

    def upstream_ready(self, upstream: Upstream) -> None:
        if self._closed:
            upstream.close()
            return
        self.link(upstream)
        upstream.link(self)
        for data in self._pending:
            upstream._write(data)
        self._pending = []
        self.gate.resume(_UPSTREAM_NOT_READY)
        if self._eof_received:
            upstream.send_eof()

    def dataReceived(self, data: bytes) -> None:
        if self.peer is not None:
            self.peer._write(data)
            return
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > PENDING_LIMIT:
            self.gate.pause(_UPSTREAM_NOT_READY)

    def connectionLost(self, reason: Failure = ConnectionDone) -> None:  # type: ignore[assignment]
        super().connectionLost(reason)
        if self.peer is None and self._connecting is not None:
            self._connecting.cancel()
            if self.upstream is not None and self.upstream.transport is not None:
                self.upstream.close()


class TunnelFactory(Factory[Downstream]):
    """Serve L{Downstream}s that relay to C{target} through C{connect}.

    @param connect: C{connect(protocol)} starts connecting C{protocol} to the
        upstream and returns a Deferred that fails if it cannot
        (C{endpoints.connectProtocol} bound to an endpoint).
    @param target: how to name the upstream in logs (C{"127.0.0.1:1060"}).
    @param upstream_tls: the upstream speaks TLS: wait for its handshake and
        certificate check before relaying.
    @param after_handshake: the downstream speaks TLS: dial the upstream only once
        its handshake succeeded.
    """

    protocol = Downstream

    def __init__(
        self,
        connect: Callable[[Protocol], Deferred[Any]],
        target: str,
        *,
        upstream_tls: bool = False,
        after_handshake: bool = False,
    ) -> None:
        self.connect = connect
        self.target = target
        self.upstream_tls = upstream_tls
        self.after_handshake = after_handshake


class _OneShotFactory(Factory):
    noisy = False

    def __init__(self, protocol: Protocol) -> None:
        self._protocol = protocol

    def buildProtocol(self, addr: Any) -> Protocol:
        return self._protocol


def connect_protocol(endpoint: IStreamClientEndpoint, protocol: Protocol) -> Deferred[Any]:
    """Like L{twisted.internet.endpoints.connectProtocol}, without a log line per connection."""
    return endpoint.connect(_OneShotFactory(protocol))


@implementer(IStreamClientEndpoint)
class _TLSClientEndpoint:
    def __init__(self, creator: Any, wrapped: IStreamClientEndpoint, clock: Any) -> None:
        self.creator = creator
        self.wrapped = wrapped
        self.clock = clock

    def connect(self, factory: Any) -> Deferred[Any]:
        tls = wrap_factory(factory, self.creator, client=True, clock=self.clock)
        return self.wrapped.connect(tls).addCallback(_unwrap_tls)


def _unwrap_tls(protocol: IProtocol) -> Any:
    """The application protocol inside the TLS layer that C{wrap_factory} built."""
    return cast(TLSMemoryBIOProtocol, protocol).wrappedProtocol


def tls_endpoint(creator: Any, wrapped: IStreamClientEndpoint, clock: Any = None) -> Any:
    """Wrap C{wrapped} in client TLS from C{creator} (see L{zoo.tls.client_tls}).

    Unlike L{twisted.internet.endpoints.wrapClientTLS}, the connections support
    half-close (L{zoo.tls.HalfCloseTLSProtocol}).
    """
    return _TLSClientEndpoint(creator, wrapped, clock)


def _peer(transport: Any) -> str:
    try:
        addr = transport.getPeer()
    except Exception:
        return "?"
    return f"{getattr(addr, 'host', addr)}:{getattr(addr, 'port', '')}"


def _describe(reason: Failure) -> str:
    """A one-line reason, with OpenSSL's error list made readable."""
    from OpenSSL.SSL import Error as SSLError

    value = reason.value
    if isinstance(value, SSLError) and value.args and isinstance(value.args[0], list):
        parts = [str(e[-1]) for e in value.args[0] if isinstance(e, tuple)]
        if parts:
            return "TLS error: " + "; ".join(parts)
    return f"{type(value).__name__}: {reason.getErrorMessage()}"
