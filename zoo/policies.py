"""Connection policies shared by every zoo listener, built on L{twisted.protocols.policies}.

L{ZooPolicyFactory} wraps any protocol factory and adds, in one cheap layer:

- a cap on concurrent connections (over the cap, new connections are closed at once);
- an idle timeout: a connection that neither sends nor receives for that long is closed;
- a command deadline (like nginx's C{client_header_timeout}): once the first byte of
  a command or request arrives, the whole of it must arrive within
  C{command_timeout} seconds, so a client trickling a byte every few seconds (which
  the idle timeout counts as activity) cannot hold a connection slot for ever. The
  protocol says when a command is complete with L{command_done}, and when what
  follows is not a command (an SMTP message body, an SSH session) with
  L{command_deadline_off}; when the deadline passes, the layer calls the protocol's
  C{command_timed_out()} (which answers in the protocol's words and closes), or
  closes the connection itself;
- TCP_NODELAY on TCP connections (Twisted leaves Nagle on, and a reply that ends in a
  small write then waits ~40 ms for the peer's delayed ACK);
- half-close passed through (Twisted's own C{ProtocolWrapper} drops it).

Idle and deadline detection is a single timer per listener that sweeps connections
every quarter of the shorter timeout, instead of Twisted's C{TimeoutMixin}, which
resets a C{DelayedCall} on every read: the per-message cost stays one attribute
increment and one attribute test, and no clock is read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IHandshakeListener,
    IReactorTime,
    ISSLTransport,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

from zoo._twisted import fastwrite as _fastwrite
from zoo._twisted.fastwrite import set_nodelay
from zoo._twisted.speedups import speedups as _speedups
from zoo._twisted.tlslayer import HalfCloseTLSFactory
from zoo.events import Observatory, hub
from zoo.faults.model import Fault, Registry
from zoo.faults.model import registry as fault_registry
from zoo.sessions import Session

log = Logger()


#: L{ZooProtocolWrapper.command_sweeps} when the connection has no command deadline.
_OFF = -1


class WrapperActivity:
    """A wrapper's C{activity}, C{command_sweeps}, C{wrappedProtocol} and C{watch}:
    the base of L{ZooProtocolWrapper}.

    Its C twin, C{zoo._twisted._speedups.Activity} (used where it is built), keeps
    the four as C fields, so that the C dispatch's read step and the fast writer
    count a read or a write, start the command clock, find the observed session and
    hand the read to the wrapped protocol with no attribute lookup (through the
    instance dict and Twisted's C{ProtocolWrapper.__getattr__}) and no int object.
    A new one has no activity, its clock off (C{-1}) and no session (C{None}).
    """

    __slots__ = ("activity", "command_sweeps", "wrappedProtocol", "watch")

    activity: int
    command_sweeps: int | None
    wrappedProtocol: Any
    watch: Session | None

    def __new__(cls, *args: Any, **kwargs: Any) -> WrapperActivity:
        self = super().__new__(cls)
        self.activity = 0
        self.command_sweeps = _OFF
        self.watch = None
        return self


if TYPE_CHECKING:
    _ActivityBase = WrapperActivity
else:  # the wrappers' base: the C twin where zoo's speedups are built and on
    _ActivityBase = _speedups.Activity if _speedups is not None else WrapperActivity


class ZooProtocolWrapper(ProtocolWrapper, _ActivityBase):
    """Counts activity for the idle sweep, runs the command clock, forwards half-close.

    @ivar activity: reads and writes so far (L{WrapperActivity}).
    @ivar command_sweeps: the command clock: C{None} while waiting for the first
        byte of a command, then the number of sweeps since it came; C{-1} when off.
    """

    _seen = -1
    #: The observed session's id (see L{zoo.events.session_of}); C{None} when nobody observes.
    session: str | None = None
    #: Bytes may be written around this layer (L{zoo._twisted.fastwrite.tcp_connection}
    #: asks; said here so that the question is not forwarded to the transport).
    zoo_opaque = False
    # watch, the observed session (L{zoo.sessions.Session}) or None, is a field of
    # the base (L{WrapperActivity}): a class attribute here would hide it.

    def makeConnection(self, transport: Any) -> None:
        set_nodelay(transport)
        super().makeConnection(transport)

    def dataReceived(self, data: bytes) -> None:
        # The C dispatch does these steps in place (relay_in_place in
        # zoo/_twisted/_speedups.c): change both, or neither.
        self.activity += 1
        if self.command_sweeps is None:
            self.command_sweeps = 0  # the first byte of a command: its clock starts
        self.wrappedProtocol.dataReceived(data)

    def write(self, data: bytes) -> None:
        self.activity += 1
        self.transport.write(data)  # type: ignore[union-attr]

    def writeSequence(self, data: Any) -> None:
        self.activity += 1
        self.transport.writeSequence(data)  # type: ignore[union-attr]

    #: The push producer registered through this wrapper (a L{zoo.flow.ReadGate}).
    _pushed: Any = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._pushed = producer if streaming else None
        self.transport.registerProducer(producer, streaming)  # type: ignore[union-attr]

    def unregisterProducer(self) -> None:
        self._pushed = None
        self.transport.unregisterProducer()  # type: ignore[union-attr]

    def loseConnection(self) -> None:
        super().loseConnection()
        # After STARTTLS the TLS layer finishes a close only once its producer
        # unregisters (TCP waits only for a paused one): tell the read gate.
        closing = getattr(self._pushed, "consumer_closing", None)
        if closing is not None:
            closing()

    def readConnectionLost(self) -> None:
        self.wrappedProtocol.readConnectionLost()  # type: ignore[attr-defined]

    def writeConnectionLost(self) -> None:
        self.wrappedProtocol.writeConnectionLost()  # type: ignore[attr-defined]


@implementer(IHalfCloseableProtocol)
class _HalfClosingWrapper(ZooProtocolWrapper):
    """The wrapper for protocols that support half-close.

    Chosen by class in L{ZooPolicyFactory.buildProtocol} rather than added with
    C{alsoProvides} per connection, which costs a zope.interface C3 resolution for
    every connection (measurable in TLS handshakes per second).
    """


class _Watching(ZooProtocolWrapper):
    """A wrapper whose connection is observed: session events, and why it closed."""

    watch: Session

    def _tls_first(self, transport: Any) -> bool:
        return bool(ISSLTransport.providedBy(transport))

    def makeConnection(self, transport: Any) -> None:
        self.watch.connected(transport)
        if not self._tls_first(transport):
            self.watch.open()  # else once the handshake is done
        super().makeConnection(transport)

    def readConnectionLost(self) -> None:
        if self.watch.why is None:
            self.watch.why = "client closed"
        super().readConnectionLost()

    def loseConnection(self) -> None:
        if self.watch.why is None:
            self.watch.why = "server closed"
        super().loseConnection()

    def abortConnection(self) -> None:
        if self.watch.why is None:
            self.watch.why = "server aborted"
        self.transport.abortConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        self.watch.close(reason)


@implementer(IHandshakeListener)
class _Watched(_Watching):
    """Observed, and the bytes counted and recorded here.

    Here is between TLS and the protocol for plain TCP, after STARTTLS (Twisted puts
    the TLS layer under this wrapper) and for C{ssl:} endpoints.
    """

    def dataReceived(self, data: bytes) -> None:
        # The C dispatch does these steps in place (relay_in_place in
        # zoo/_twisted/_speedups.c): change both, or neither.
        watch = self.watch
        watch.bytes_in += len(data)  # Session.received, without a call when not recording
        if watch.record_in is not None:
            watch.record_in(data)
        self.activity += 1
        if self.command_sweeps is None:
            self.command_sweeps = 0
        self.wrappedProtocol.dataReceived(data)

    def write(self, data: bytes) -> None:
        self.watch.sent(data)
        self.activity += 1
        self.transport.write(data)  # type: ignore[union-attr]

    def writeSequence(self, data: Any) -> None:
        data = list(data)
        self.watch.sent(b"".join(data))
        self.activity += 1
        self.transport.writeSequence(data)  # type: ignore[union-attr]

    def handshakeCompleted(self) -> None:
        self.watch.handshake_done(self.transport.getHandle())  # type: ignore[union-attr]
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()  # type: ignore[attr-defined]


@implementer(IHalfCloseableProtocol)
class _WatchedHalfClosing(_Watched):
    pass


# The poll loop's C dispatch reads for these wrappers without a call to their
# dataReceived (the same steps, in C), while that method is still theirs.
if _speedups is not None:
    _speedups.relay(ZooProtocolWrapper.dataReceived, False, ZooProtocolWrapper, _HalfClosingWrapper)
    _speedups.relay(_Watched.dataReceived, True, _Watched, _WatchedHalfClosing)


class _UnderTLS(_Watching):
    """Observed, under zoo's implicit TLS layer: the bytes are counted above it."""

    def _tls_first(self, transport: Any) -> bool:
        return True

    def loseConnection(self) -> None:
        # The TLS layer closes after the client's close_notify too: the plaintext
        # layer above says when the protocol closed.
        ZooProtocolWrapper.loseConnection(self)


@implementer(IHalfCloseableProtocol)
class _UnderTLSHalfClosing(_UnderTLS):
    pass


@implementer(IHandshakeListener)
class _Plaintext(ProtocolWrapper):
    """Between zoo's implicit TLS layer and the protocol: counts and records the plaintext.

    Only built for observed connections; it reports the handshake (C{session.opened}
    with the TLS details) and passes it on to a protocol that listens for it.
    """

    def __init__(self, wrapped: Any, watch: Session) -> None:
        self.wrappedProtocol = wrapped
        self.watch = watch
        self.factory = None  # type: ignore[assignment]

    def makeConnection(self, transport: Any) -> None:
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)
        self.wrappedProtocol.makeConnection(self)  # type: ignore[arg-type]

    def dataReceived(self, data: bytes) -> None:
        self.watch.received(data)
        self.wrappedProtocol.dataReceived(data)

    def write(self, data: bytes) -> None:
        self.watch.sent(data)
        self.transport.write(data)  # type: ignore[union-attr]

    def writeSequence(self, data: Any) -> None:
        data = list(data)
        self.watch.sent(b"".join(data))
        self.transport.writeSequence(data)  # type: ignore[union-attr]

    def handshakeCompleted(self) -> None:
        self.watch.handshake_done(self.transport.getHandle())  # type: ignore[union-attr]
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()  # type: ignore[attr-defined]

    def loseConnection(self) -> None:
        if self.watch.why is None:
            self.watch.why = "server closed"
        super().loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.wrappedProtocol.connectionLost(reason)


@implementer(IHalfCloseableProtocol)
class _PlaintextHalfClosing(_Plaintext):
    def readConnectionLost(self) -> None:
        self.wrappedProtocol.readConnectionLost()  # type: ignore[attr-defined]

    def writeConnectionLost(self) -> None:
        self.wrappedProtocol.writeConnectionLost()  # type: ignore[attr-defined]


class ZooPolicyFactory(WrappingFactory[ZooProtocolWrapper]):
    """Wrap C{wrappedFactory} with a connection cap and an idle timeout.

    @param max_connections: the most connections served at once; C{None} for no cap.
    @param idle_timeout: seconds without traffic before a connection is closed;
        C{None} or 0 to never time out.
    @param command_timeout: seconds from the first byte of a command to its end
        (see L{command_done}); C{None} or 0 for no deadline (protocols without
        commands: echo, the TLS tunnel).
    @param clock: the reactor (or a L{twisted.internet.task.Clock} in tests).
    @param name: the service, in logs and in the sessions it reports.
    @param observatory: where observed connections report (L{zoo.events.hub} if
        C{None}); checked once per connection, when it is built.
    @param observed: C{False} for a listener whose connections are never sessions
        (the control plane's own: observing it would record the observer).
    @param faults: the faults in force (L{zoo.faults.registry} if C{None}): when byte
        faults exist for this service as a connection is built, a
        L{zoo.faults.wire.FaultLayer} goes right above its protocol; otherwise none.
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
        command_timeout: float | None = None,
        observatory: Observatory | None = None,
        observed: bool = True,
        faults: Registry | None = None,
    ) -> None:
        super().__init__(wrappedFactory)
        self.observatory = observatory if observatory is not None else hub
        self.faults = faults if faults is not None else fault_registry
        self.observed = observed
        wrappedFactory.noisy = False  # the listener logs one line of its own
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout or None
        self.command_timeout = command_timeout or None
        self.name = name or type(wrappedFactory).__name__
        self.refused = 0
        self._clock = clock
        self._sweeper: LoopingCall | None = None

    def logPrefix(self) -> str:
        return self.name

    def startFactory(self) -> None:
        super().startFactory()
        timeouts = [t for t in (self.idle_timeout, self.command_timeout) if t]
        if timeouts and self._sweeper is None:
            if self._clock is None:
                from twisted.internet import reactor

                self._clock = reactor  # type: ignore[assignment]
            period = max(min(timeouts) / 4, 0.05)
            # A timeout passes after this many sweeps without the awaited event.
            self._idle_sweeps = math.ceil(self.idle_timeout / period) if self.idle_timeout else 0
            self._command_sweeps = (
                math.ceil(self.command_timeout / period) if self.command_timeout else 0
            )
            self._sweeper = LoopingCall(self._sweep)
            self._sweeper.clock = self._clock
            self._sweeper.start(period, now=False)

    def stopFactory(self) -> None:
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        self._sweeper = None
        super().stopFactory()

    def buildProtocol(self, addr: Any) -> Any:
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
        byte = None
        if self.faults.points:  # any fault at all in force: are there byte faults here?
            byte = self.faults.byte_faults(self.name) or None
        if self.observatory.enabled and self.observed:
            return self._build_watched(addr, byte)
        if byte is None:
            wrapped = self.wrappedFactory.buildProtocol(addr)
        elif isinstance(self.wrappedFactory, HalfCloseTLSFactory):
            app = self._app(self.wrappedFactory.wrappedFactory, addr, byte)
            wrapped = None if app is None else self.wrappedFactory.wrap(app)
        else:
            wrapped = self._app(self.wrappedFactory, addr, byte)
        if wrapped is None:
            return None
        cls: Callable[..., ZooProtocolWrapper] = self.protocol
        if cls is ZooProtocolWrapper and IHalfCloseableProtocol.providedBy(wrapped):
            cls = _HalfClosingWrapper
        p = cls(self, wrapped)
        if self.command_timeout:
            p.command_sweeps = None  # armed: the clock starts with the first byte
        return p

    def _app(self, factory: Any, addr: Any, byte: list[Fault] | None) -> Any:
        """The protocol for C{addr}, under a byte fault layer when C{byte} faults apply."""
        app = factory.buildProtocol(addr)
        if app is None or not byte:
            return app
        from zoo.faults.wire import wrap

        if self._clock is None:
            from twisted.internet import reactor

            self._clock = reactor  # type: ignore[assignment]
        return wrap(app, byte, self.faults, self.name, self._clock)

    def _build_watched(
        self, addr: Any, byte: list[Fault] | None = None
    ) -> ZooProtocolWrapper | None:
        """An observed connection: a session, and a layer that sees the plaintext."""
        inner = self.wrappedFactory
        watch: Session | None = None
        cls: type[_Watching]
        if isinstance(inner, HalfCloseTLSFactory):  # zoo's implicit TLS (--tls)
            app = self._app(inner.wrappedFactory, addr, byte)
            if app is None:
                return None
            watch = Session(self.observatory, self.name)
            if IHalfCloseableProtocol.providedBy(app):
                wrapped = inner.wrap(_PlaintextHalfClosing(app, watch))
                cls = _UnderTLSHalfClosing
            else:
                wrapped = inner.wrap(_Plaintext(app, watch))
                cls = _UnderTLS
        else:
            wrapped = self._app(inner, addr, byte)
            if wrapped is None:
                return None
            watch = Session(self.observatory, self.name)
            half = IHalfCloseableProtocol.providedBy(wrapped)
            cls = _WatchedHalfClosing if half else _Watched
        p = cls(self, wrapped)  # type: ignore[arg-type]
        p.watch = watch
        p.session = watch.id
        if self.command_timeout:
            p.command_sweeps = None
        return p

    _idle_sweeps = 0
    _command_sweeps = 0

    def _sweep(self) -> None:
        """Close connections idle for C{idle_timeout}, or past their command deadline.

        Each sweep remembers every connection's activity counter; a connection whose
        counter has not moved for one idle timeout's worth of sweeps is closed. A
        running command clock counts sweeps too.
        """
        for p in list(self.protocols):
            if p.command_sweeps is not None and p.command_sweeps >= 0 and self._command_sweeps:
                p.command_sweeps += 1
                if p.command_sweeps > self._command_sweeps:
                    self._deadline_passed(p)
                    continue
            if not self._idle_sweeps:
                continue
            if p.activity != p._seen:
                p._seen = p.activity
                p._idle_count = 0
                continue
            p._idle_count = getattr(p, "_idle_count", 0) + 1
            if p._idle_count >= self._idle_sweeps:
                if p.watch is not None:
                    p.watch.why = "idle timeout"
                log.info(
                    "{name}: closing {peer}, idle for {t:g}s",
                    name=self.name,
                    peer=_peer(p),
                    t=self.idle_timeout,
                )
                p.transport.abortConnection()

    def _deadline_passed(self, p: ZooProtocolWrapper) -> None:
        """Tell the client in its protocol's words (if the protocol has some) and close."""
        p.command_sweeps = _OFF
        if p.watch is not None:
            p.watch.why = "command timeout"
        log.info(
            "{name}: closing {peer}, no complete command within {t:g}s",
            name=self.name,
            peer=_peer(p),
            t=self.command_timeout,
        )
        app = p.wrappedProtocol
        while isinstance(app, ProtocolWrapper):  # under an implicit-TLS layer
            app = app.wrappedProtocol
        answer = getattr(app, "command_timed_out", None)
        if answer is not None:
            answer()
        else:
            p.transport.loseConnection()  # type: ignore[union-attr]


def _policy_wrapper(transport: Any) -> ZooProtocolWrapper | None:
    """The L{ZooProtocolWrapper} at or under C{transport} (through a TLS layer), if any."""
    while not isinstance(transport, ZooProtocolWrapper):  # most often it is, at once
        if not isinstance(transport, ProtocolWrapper):
            return None
        transport = transport.transport
    return transport


def command_done(transport: Any) -> None:
    """A protocol read a complete command (or request) from C{transport}.

    The command clock stops, and starts again with the next byte the client sends.
    A transport without the zoo's policy layer (a test's C{StringTransport}) is ignored.
    """
    # Called once per command on the hottest paths: the plain-TCP case in one step.
    # (Arming a connection that has no deadline is harmless: the sweep skips it.)
    if isinstance(transport, ZooProtocolWrapper):
        transport.command_sweeps = None
        return
    p = _policy_wrapper(transport)
    if p is not None:
        p.command_sweeps = None


def command_deadline_off(transport: Any) -> None:
    """What the client sends next is not a command (a message body, a session).

    No deadline runs until the protocol calls L{command_done} again; the idle
    timeout still applies.
    """
    p = _policy_wrapper(transport)
    if p is not None:
        p.command_sweeps = _OFF


def watch_of(thing: Any) -> Session | None:
    """The L{zoo.sessions.Session} of the connection C{thing} belongs to, or C{None}."""
    if not isinstance(thing, ProtocolWrapper):
        thing = getattr(thing, "transport", None)
    p = _policy_wrapper(thing)
    return p.watch if p is not None else None


def service_of(transport: Any) -> str | None:
    """The service name (the listener group's) of the connection on C{transport}, or C{None}."""
    p = _policy_wrapper(transport)
    name = getattr(getattr(p, "factory", None), "name", None)
    return name if isinstance(name, str) else None


def where(addr: Any) -> str:
    """C{host:port} of an address, for logs."""
    return f"{getattr(addr, 'host', addr)}:{getattr(addr, 'port', '')}"


def _peer(p: Any) -> str:
    try:
        return where(p.transport.getPeer())
    except Exception:
        return "?"


def fast_writer(transport: Any) -> Callable[[bytes], None]:
    """Return a C{write(data)} for C{transport} that sends at once when it can.

    L{zoo._twisted.fastwrite.fast_writer}, counting each write as activity on the
    zoo wrapper when C{transport} is one. Safe across STARTTLS: the TLS state is
    checked on every write. Falls back to plain C{transport.write} for TLS, UNIX and
    in-memory transports.
    """
    counter = transport if isinstance(transport, ZooProtocolWrapper) else None
    if not isinstance(counter, _Watched):
        return _fastwrite.fast_writer(transport, counter)
    # Observed: every write is counted (and recorded) once, here, whichever way it goes.
    if _fastwrite.tcp_connection(transport) is None:
        return counter.write  # counts and records the bytes itself (Session.sent)
    watch = counter.watch
    slow = ZooProtocolWrapper.write.__get__(counter)
    return _fastwrite.fast_writer(
        transport, counter, slow=slow, tally=watch, record=watch.record_out
    )


__all__ = [
    "ZooPolicyFactory",
    "command_deadline_off",
    "command_done",
    "ZooProtocolWrapper",
    "fast_writer",
    "service_of",
    "set_nodelay",
    "watch_of",
    "where",
]
