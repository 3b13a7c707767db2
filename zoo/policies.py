"""Connection policies shared by every zoo listener, built on L{twisted.protocols.policies}.

L{ZooPolicyFactory} wraps any protocol factory and adds, in one cheap layer:

- a cap on concurrent connections (over the cap, new connections are closed at once);
- an idle timeout: a connection that neither sends nor receives for that long is closed;
- TCP_NODELAY on TCP connections (Twisted leaves Nagle on, and a reply that ends in a
  small write then waits ~40 ms for the peer's delayed ACK);
- half-close passed through (Twisted's own C{ProtocolWrapper} drops it).

Idle detection is a single timer per listener that sweeps connections every
C{timeout / 4} seconds, instead of Twisted's C{TimeoutMixin}, which resets a
C{DelayedCall} on every read: the per-message cost stays one attribute increment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from zope.interface import implementer

log = Logger()


class ZooProtocolWrapper(ProtocolWrapper):
    """Counts activity for the idle sweep and forwards half-close."""

    activity = 0
    _seen = -1

    def makeConnection(self, transport: Any) -> None:  # noqa: N802
        set_nodelay(transport)
        super().makeConnection(transport)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.activity += 1
        self.wrappedProtocol.dataReceived(data)

    def write(self, data: bytes) -> None:
        self.activity += 1
        self.transport.write(data)  # type: ignore[union-attr]

    def writeSequence(self, data: Any) -> None:  # noqa: N802
        self.activity += 1
        self.transport.writeSequence(data)  # type: ignore[union-attr]

    #: The push producer registered through this wrapper (a L{zoo.flow.ReadGate}).
    _pushed: Any = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:  # noqa: N802
        self._pushed = producer if streaming else None
        self.transport.registerProducer(producer, streaming)  # type: ignore[union-attr]

    def unregisterProducer(self) -> None:  # noqa: N802
        self._pushed = None
        self.transport.unregisterProducer()  # type: ignore[union-attr]

    def loseConnection(self) -> None:  # noqa: N802
        super().loseConnection()
        # After STARTTLS the TLS layer finishes a close only once its producer
        # unregisters (TCP waits only for a paused one): tell the read gate.
        closing = getattr(self._pushed, "consumer_closing", None)
        if closing is not None:
            closing()

    def readConnectionLost(self) -> None:  # noqa: N802
        self.wrappedProtocol.readConnectionLost()  # type: ignore[attr-defined]

    def writeConnectionLost(self) -> None:  # noqa: N802
        self.wrappedProtocol.writeConnectionLost()  # type: ignore[attr-defined]


@implementer(IHalfCloseableProtocol)
class _HalfClosingWrapper(ZooProtocolWrapper):
    """The wrapper for protocols that support half-close.

    Chosen by class in L{ZooPolicyFactory.buildProtocol} rather than added with
    C{alsoProvides} per connection, which costs a zope.interface C3 resolution for
    every connection (measurable in TLS handshakes per second).
    """


class ZooPolicyFactory(WrappingFactory[ZooProtocolWrapper]):
    """Wrap C{wrappedFactory} with a connection cap and an idle timeout.

    @param max_connections: the most connections served at once; C{None} for no cap.
    @param idle_timeout: seconds without traffic before a connection is closed;
        C{None} or 0 to never time out.
    @param clock: the reactor (or a L{twisted.internet.task.Clock} in tests).
    """

    protocol = ZooProtocolWrapper
    noisy = False

    def __init__(
        self,
        wrappedFactory: Any,
        max_connections: int | None = None,
        idle_timeout: float | None = None,
        clock: IReactorTime | None = None,
        name: str = "",
    ) -> None:
        super().__init__(wrappedFactory)
        wrappedFactory.noisy = False  # the listener logs one line of its own
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout or None
        self.name = name or type(wrappedFactory).__name__
        self.refused = 0
        self._clock = clock
        self._sweeper: LoopingCall | None = None

    def logPrefix(self) -> str:  # noqa: N802
        return self.name

    def startFactory(self) -> None:  # noqa: N802
        super().startFactory()
        if self.idle_timeout and self._sweeper is None:
            if self._clock is None:
                from twisted.internet import reactor

                self._clock = reactor  # type: ignore[assignment]
            self._sweeper = LoopingCall(self._sweep)
            self._sweeper.clock = self._clock
            self._sweeper.start(max(self.idle_timeout / 4, 0.05), now=False)

    def stopFactory(self) -> None:  # noqa: N802
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        self._sweeper = None
        super().stopFactory()

    def buildProtocol(self, addr: Any) -> Any:  # noqa: N802
        if self.max_connections is not None and len(self.protocols) >= self.max_connections:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warn(
                    "{name}: connection limit ({limit}) reached; refused {n} so far",
                    name=self.name,
                    limit=self.max_connections,
                    n=self.refused,
                )
            return None
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        cls: Callable[..., ZooProtocolWrapper] = self.protocol
        if cls is ZooProtocolWrapper and IHalfCloseableProtocol.providedBy(wrapped):
            cls = _HalfClosingWrapper
        return cls(self, wrapped)

    def _sweep(self) -> None:
        """Close connections with no traffic for about C{idle_timeout} seconds.

        Each sweep remembers every connection's activity counter; a connection whose
        counter has not moved for 4 sweeps (one timeout) is closed.
        """
        assert self.idle_timeout
        for p in list(self.protocols):
            if p.activity != p._seen:
                p._seen = p.activity
                p._idle_sweeps = 0
                continue
            p._idle_sweeps = getattr(p, "_idle_sweeps", 0) + 1
            if p._idle_sweeps >= 4:
                log.info(
                    "{name}: closing {peer}, idle for {t:g}s",
                    name=self.name,
                    peer=_peer(p),
                    t=self.idle_timeout,
                )
                p.transport.abortConnection()


def where(addr: Any) -> str:
    """C{host:port} of an address, for logs."""
    return f"{getattr(addr, 'host', addr)}:{getattr(addr, 'port', '')}"


def _peer(p: Any) -> str:
    try:
        return where(p.transport.getPeer())
    except Exception:
        return "?"


def _tcp_connection(transport: Any) -> Any:
    """Find the plain TCP connection under any zoo wrappers, or C{None}."""
    from twisted.internet import tcp
    from twisted.protocols.tls import TLSMemoryBIOProtocol

    while isinstance(transport, ProtocolWrapper):
        if isinstance(transport, TLSMemoryBIOProtocol):
            return None  # bytes must go through the TLS layer, never straight to TCP
        transport = transport.transport
    if isinstance(transport, tcp.Connection) and not getattr(transport, "TLS", False):
        return transport
    return None


def set_nodelay(transport: Any) -> None:
    """Turn Nagle's algorithm off on a TCP transport; other transports are left alone."""
    setter = getattr(transport, "setTcpNoDelay", None)
    if setter is not None:
        try:
            setter(True)
        except OSError:
            pass


def fast_writer(transport: Any) -> Callable[[bytes], None]:
    """Return a C{write(data)} for C{transport} that sends at once when it can.

    Twisted's C{write} always buffers and waits for the next reactor turn to send,
    registering and unregistering the socket for writability each time: two extra
    C{epoll_ctl} calls and a loop iteration per reply. For a request/response protocol
    that is most of the per-message cost. This writer calls C{send()} directly when
    the transport's buffer is empty, and hands anything left (or anything while data
    is queued, so order is kept) to the transport's own C{write}.

    Falls back to plain C{transport.write} for TLS, UNIX and in-memory transports.
    """
    conn = _tcp_connection(transport)
    if conn is None:
        return transport.write
    sock = conn.socket
    slow = transport.write  # through the wrappers, so they see the activity
    wrapper = transport if isinstance(transport, ZooProtocolWrapper) else None

    def write(data: bytes) -> None:
        if wrapper is not None:
            wrapper.activity += 1
        if (
            conn.connected
            and not conn.disconnecting
            and not conn._tempDataBuffer
            and conn.offset == len(conn.dataBuffer)
            and not conn._writeDisconnected
        ):
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                # Let Twisted notice and report the error in its usual way.
                slow(data)
                return
            if sent == len(data):
                return
            data = data[sent:]
        slow(data)

    return write


__all__ = [
    "ZooPolicyFactory",
    "ZooProtocolWrapper",
    "fast_writer",
    "set_nodelay",
    "where",
]
