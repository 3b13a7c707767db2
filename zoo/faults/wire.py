"""Byte faults: a layer between a connection's plaintext and its protocol.

The connection layer (L{zoo.policies.ZooPolicyFactory}) puts a L{FaultLayer} right
above the protocol, under any TLS layer's plaintext side, when (and only when)
byte faults (C{tcp:...}) exist for the service as the connection is built: a
connection built with no byte fault in force has no such layer, and pays nothing.

When the connection is made the layer asks each byte fault in scope whether it fires on this
connection (I{when} counts connections), and from then on:

- delays, slices or paces what goes one way (C{latency}, C{jitter}, C{slice},
  C{bandwidth}) through a small queue with one timer;
- stops a direction after N bytes: closes (C{close}), aborts with a TCP RST
  (C{reset}), or stops passing bytes either way while the connection stays open
  (C{hang});
- holds the protocol's close for a while (C{slow-close}), or closes a new connection
  before the protocol says anything (C{refuse}).

Every fault that takes effect is reported once (C{fault.fired}) in the session.
"""

from __future__ import annotations

import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IHalfCloseableProtocol, IHandshakeListener
from twisted.internet.protocol import Protocol, connectionDone
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

from zoo.events import session_of
from zoo.faults.model import Fault, Registry
from zoo.sessions import where


class _Pipe:
    """One direction's queue: bytes go to C{deliver} when due, in order."""

    def __init__(
        self,
        clock: Any,
        deliver: Callable[[bytes], None],
        latency: float,
        jitter: float,
        rng: Any,
        piece: int,
        spacing: float,
    ) -> None:
        self.clock = clock
        self.deliver = deliver
        self.latency = latency
        self.jitter = jitter
        self.rng = rng
        self.piece = piece
        self.spacing = spacing
        self.queue: deque[tuple[float, bytes]] = deque()
        #: Bytes waiting in the queue.
        self.queued = 0
        #: Called after bytes left the queue (the layer's back-pressure check).
        self.drained: Callable[[], None] | None = None
        self.next_free = 0.0
        self.timer: Any = None
        self.then: list[Callable[[], None]] = []

    @property
    def idle(self) -> bool:
        return not self.queue

    def push(self, data: bytes) -> None:
        now = self.clock.seconds()
        due = now
        if self.latency or self.jitter:
            due += max(0.0, self.latency + self.rng.uniform(-self.jitter, self.jitter))
        due = max(due, self.next_free)
        pieces = [data]
        if self.piece:
            pieces = [data[i : i + self.piece] for i in range(0, len(data), self.piece)]
        for piece in pieces:
            self.queue.append((due, piece))
            due += self.spacing
        self.queued += len(data)
        self.next_free = due if self.spacing else max(self.next_free, due)
        if self.timer is None:
            self._run()

    def after(self, action: Callable[[], None]) -> None:
        """Run C{action} once everything queued has been delivered."""
        if not self.queue:
            action()
        else:
            self.then.append(action)

    def _run(self) -> None:
        self.timer = None
        now = self.clock.seconds()
        queue = self.queue
        sent = False
        while queue and queue[0][0] <= now:
            data = queue.popleft()[1]
            self.queued -= len(data)
            sent = True
            self.deliver(data)
        if sent and self.drained is not None:
            self.drained()
        if queue:
            self.timer = self.clock.callLater(queue[0][0] - now, self._run)
        elif self.then:
            then, self.then = self.then, []
            for action in then:
                action()

    def stop(self) -> None:
        self.queue.clear()
        self.queued = 0
        self.then = []
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None


def rst(transport: Any) -> None:
    """Abort the connection under C{transport} with a TCP RST (a plain abort elsewhere)."""
    bottom = transport
    while getattr(bottom, "transport", None) is not None:
        bottom = bottom.transport
    try:
        handle = bottom.getHandle()
        if isinstance(handle, socket.socket):
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except Exception:  # not a socket (a test's transport, a UNIX one...): a plain abort
        pass
    bottom.abortConnection()


#: Bytes a paced or delayed direction holds before the protocol is asked to stop
#: producing (its read gate, with the reason L{FAULT_QUEUE}, or its push producer).
HIGH_WATER = 64 * 1024
#: The read gate's pause reason while the fault layer's queue is full.
FAULT_QUEUE = "fault queue"


@implementer(IHandshakeListener)
class FaultLayer(ProtocolWrapper):
    """Byte faults on one connection, on its plaintext, right above the protocol.

    @cvar zoo_opaque: tells L{zoo._twisted.fastwrite} not to write around this layer.
    """

    zoo_opaque = True

    def __init__(
        self, app: Any, faults: list[Fault], registry: Registry, service: str, clock: Any
    ) -> None:
        self.wrappedProtocol = app
        self.factory = None  # type: ignore[assignment]
        self.candidates = faults
        self.registry = registry
        self.service = service
        self.clock = clock
        self.active: list[Fault] = []
        self.out: _Pipe | None = None
        self.inp: _Pipe | None = None
        self.limits: dict[str, tuple[int, Fault]] = {}
        self.counted = {"in": 0, "out": 0}
        self.slow_close: Fault | None = None
        self.hung = False
        self.dead = False
        self.removals = registry.removals
        self.session: str | None = None
        self._closing = False
        self._producer: Any = None
        self._held = False

    # -- the plan -------------------------------------------------------------------------

    def makeConnection(self, transport: Any) -> None:
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)
        self._plan()
        refuse = next((f for f in self.active if f.kind == "refuse"), None)
        if refuse is not None:  # closed before the protocol can say a word
            self._act(refuse, "close")
        self.wrappedProtocol.makeConnection(self)  # type: ignore[arg-type]
        self._start()

    def _plan(self) -> None:
        transport = self.transport
        assert transport is not None
        self.session = session_of(transport)
        listener: str | None = None
        client: str | None = None
        try:
            listener = where(transport.getHost())
            client = getattr(transport.getPeer(), "host", None)
        except Exception:
            pass
        facts = {
            "service": self.service,
            "listener": listener,
            "client": client,
            "session": self.session,
        }
        self.active = [f for f in self.candidates if f.in_scope(**facts) and f.decide()]
        for f in self.active:
            kind = f.kind
            if kind in ("latency", "bandwidth", "slice"):
                self._pipe(f)
                self._fired(f)
            elif kind in ("close", "reset", "hang"):
                self.limits[f.direction] = (int(f.value or 0), f)
            elif kind == "slow-close":
                self.slow_close = f

    def _prune(self) -> None:
        """Faults were removed from the registry: stop those of this connection at once.

        Delays, pacing, byte limits and a slow close stop; what is queued still goes
        out, in order. A connection already hung stays hung (what it dropped is gone).
        """
        self.removals = self.registry.removals
        alive = [f for f in self.active if self.registry.get(f.id) is f]
        if len(alive) == len(self.active):
            return
        self.active = alive
        self.limits = {d: v for d, v in self.limits.items() if v[1] in alive}
        if self.slow_close not in alive:
            self.slow_close = None
        for direction in ("out", "in"):
            pipe = self.out if direction == "out" else self.inp
            if pipe is None:
                continue
            pipe.latency = pipe.jitter = pipe.spacing = 0.0
            pipe.piece = 0
            for f in alive:
                if f.direction == direction and f.kind in ("latency", "bandwidth", "slice"):
                    self._tune(pipe, f)

    def _pipe(self, f: Fault) -> None:
        pipe = self.out if f.direction == "out" else self.inp
        if pipe is None:
            deliver = self._to_wire if f.direction == "out" else self._to_app
            pipe = _Pipe(self.clock, deliver, 0.0, 0.0, f.rng, 0, 0.0)
            if f.direction == "out":
                pipe.drained = self._backpressure
                self.out = pipe
            else:
                self.inp = pipe
        self._tune(pipe, f)

    @staticmethod
    def _tune(pipe: _Pipe, f: Fault) -> None:
        """Add fault C{f}'s delay, slicing or pacing to C{pipe}."""
        if f.kind == "latency":
            pipe.latency, pipe.jitter, pipe.rng = float(f.value), f.jitter, f.rng
        elif f.kind == "slice":
            pipe.piece = min(pipe.piece or int(f.value), int(f.value)) or 1
            pipe.spacing = max(pipe.spacing, f.delay)
        else:  # bandwidth, in bytes per second: a piece every 50 ms or so
            rate = max(int(f.value), 1)
            step = max(rate // 20, 1)
            pipe.piece = min(pipe.piece or step, step)
            pipe.spacing = max(pipe.spacing, pipe.piece / rate)

    def _start(self) -> None:
        for limit, f in list(self.limits.values()):
            if limit == 0 and not (self.dead or self.hung):
                self._act(f, f.kind)

    def _fired(self, f: Fault, **detail: Any) -> None:
        self.registry.report(f, self.service, self.session, **detail)

    def _act(self, f: Fault, what: str) -> None:
        """Take a stopping fault's effect: close, reset or hang."""
        self._fired(f, bytes_in=self.counted["in"], bytes_out=self.counted["out"])
        transport = self.transport
        if what == "hang":
            self.hung = True
            return
        self.dead = True
        if self.out is not None:
            self.out.stop()
        if self.inp is not None:
            self.inp.stop()
        if what == "reset":
            rst(transport)
        else:
            transport.loseConnection()  # type: ignore[union-attr]

    # -- bytes ----------------------------------------------------------------------------

    def _through(self, direction: str, data: bytes) -> bytes | None:
        """What of C{data} may pass C{direction}'s byte limit; acts when it is reached."""
        if self.dead or self.hung:
            return None
        limit = self.limits.get(direction)
        if limit is None:
            self.counted[direction] += len(data)
            return data
        n, f = limit
        left = n - self.counted[direction]
        if len(data) < left:
            self.counted[direction] += len(data)
            return data
        head = data[:left]
        self.counted[direction] += len(head)
        if head:
            self._pass(direction, head)
        self._act(f, f.kind)
        return None

    def _pass(self, direction: str, data: bytes) -> None:
        if direction == "out":
            self.transport.write(data)  # type: ignore[union-attr]
        else:
            self.wrappedProtocol.dataReceived(data)

    def _to_wire(self, data: bytes) -> None:
        passed = self._through("out", data)
        if passed:
            self.transport.write(passed)  # type: ignore[union-attr]

    def _to_app(self, data: bytes) -> None:
        passed = self._through("in", data)
        if passed:
            self.wrappedProtocol.dataReceived(passed)

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self.removals != self.registry.removals:
            self._prune()
        if self.out is not None:
            self.out.push(data)
            self._backpressure()
        else:
            self._to_wire(data)

    # -- back-pressure ----------------------------------------------------------------------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._producer = producer if streaming else None
        self._held = False
        self.transport.registerProducer(producer, streaming)  # type: ignore[union-attr]

    def unregisterProducer(self) -> None:
        self._producer = None
        self.transport.unregisterProducer()  # type: ignore[union-attr]

    def _backpressure(self) -> None:
        """Stop the protocol producing while this layer holds more than L{HIGH_WATER}."""
        producer, pipe = self._producer, self.out
        if producer is None or pipe is None:
            return
        full = pipe.queued > HIGH_WATER
        if full == self._held:
            return
        self._held = full
        hold = getattr(producer, "hold", None)
        if hold is not None:  # a read gate: a pause reason of its own
            hold(FAULT_QUEUE, full)
        elif full:
            producer.pauseProducing()
        else:
            producer.resumeProducing()

    def writeSequence(self, data: Any) -> None:
        self.write(b"".join(data))

    def dataReceived(self, data: bytes) -> None:
        if self.removals != self.registry.removals:
            self._prune()
        if self.inp is not None:
            self.inp.push(data)
        else:
            self._to_app(data)

    # -- closing --------------------------------------------------------------------------

    def loseConnection(self) -> None:
        if self._closing or self.dead:
            return
        if self.removals != self.registry.removals:
            self._prune()
        self._closing = True
        if self.out is not None:
            self.out.after(self._close_now)
        else:
            self._close_now()

    def _close_now(self) -> None:
        f = self.slow_close
        if f is not None and not self.dead:
            self._fired(f)
            self.clock.callLater(float(f.value), self._really_close)
        else:
            self._really_close()

    def _really_close(self) -> None:
        if self.transport is not None and not self.dead:
            self.transport.loseConnection()

    def handshakeCompleted(self) -> None:
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        for pipe in (self.out, self.inp):
            if pipe is not None:
                pipe.stop()
        self.dead = True
        self.wrappedProtocol.connectionLost(reason)


@implementer(IHalfCloseableProtocol)
class _HalfClosingFaultLayer(FaultLayer):
    def readConnectionLost(self) -> None:
        if self.inp is not None:
            self.inp.after(self.wrappedProtocol.readConnectionLost)  # type: ignore[attr-defined]
        else:
            self.wrappedProtocol.readConnectionLost()  # type: ignore[attr-defined]

    def writeConnectionLost(self) -> None:
        self.wrappedProtocol.writeConnectionLost()  # type: ignore[attr-defined]


def wrap(app: Any, faults: list[Fault], registry: Registry, service: str, clock: Any) -> Any:
    """C{app} under a L{FaultLayer} for C{faults} (keeping its half-close support)."""
    cls = _HalfClosingFaultLayer if IHalfCloseableProtocol.providedBy(app) else FaultLayer
    return cls(app, faults, registry, service, clock)


def cut(app: Any, value: str | None, clock: Any = None) -> FaultLayer:
    """C{app} under a layer that cuts its connection (a protocol fault's effect on a stream).

    For a data stream a protocol opens itself (an FTP data connection): C{value} C{N}
    closes the connection after N bytes either way (a partial transfer); C{drop},
    C{reset} (an RST) or C{hang} do that at once. The protocol's hook has reported the
    fault already.
    """
    from zoo.events import Observatory
    from zoo.faults.model import parse

    text = (value or "reset").strip().lower()
    kind, n = ("close", int(text)) if text.isdigit() else ({"drop": "close"}.get(text, text), 0)
    if kind not in ("reset", "close", "hang"):
        kind = "reset"
    quiet = Registry(Observatory())  # its own, silent: nothing here is reported twice
    faults = [quiet.add(parse(f"tcp:{kind}={n} dir={d}")) for d in ("in", "out")]
    return wrap(app, faults, quiet, "", clock)


__all__ = ["FAULT_QUEUE", "HIGH_WATER", "FaultLayer", "cut", "rst", "wrap"]
