"""An in-memory TCP-like wire with half-close and flow control, for unit tests.

L{twisted.test.iosim} cannot half-close (its C{loseWriteConnection} does nothing)
and never tells a producer to pause, so TLS half-close and relay backpressure are
tested over this instead: two L{StringTransport}s whose bytes, FINs and closes are
moved by L{Network.flush}, with a L{Clock} advanced on the way (Twisted's TLS layer
defers small writes by one reactor turn).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

#: Bytes a transport buffers before it pauses its producer (Twisted's TCP uses 64 KiB).
BUFFER_LIMIT = 64 * 1024


class End(StringTransport):
    """One end of a L{Wire}: a transport that can half-close and apply backpressure."""

    write_closed = False
    lost = False

    def __init__(self) -> None:
        super().__init__()
        self.reading = True  # False: the other end models a peer that stops reading
        self.max_buffered = 0

    def write(self, data: bytes) -> None:
        if self.write_closed or self.lost:
            return
        super().write(data)
        size = len(self.io.getvalue())
        self.max_buffered = max(self.max_buffered, size)
        if size > BUFFER_LIMIT and self.producer is not None and self.streaming:
            if not getattr(self, "_producer_paused", False):
                self._producer_paused = True
                self.producer.pauseProducing()

    def loseWriteConnection(self) -> None:  # noqa: N802
        self.write_closed = True

    def abortConnection(self) -> None:  # noqa: N802
        self.clear()
        self.loseConnection()

    def drained(self) -> None:
        if getattr(self, "_producer_paused", False) and self.producer is not None:
            self._producer_paused = False
            self.producer.resumeProducing()


class Wire:
    """A connection between C{a} (the client) and C{b} (the server)."""

    def __init__(self, a: Any, b: Any) -> None:
        self.a, self.b = a, b
        self.ta, self.tb = End(), End()
        self._fin = {id(self.ta): False, id(self.tb): False}
        self.closed = False
        b.makeConnection(self.tb)
        a.makeConnection(self.ta)

    def _move(self, src: End, dst: End, proto: Any) -> bool:
        moved = False
        if dst.producerState == "producing" and not src.lost:
            data = src.value()
            if data and src.reading:
                src.clear()
                proto.dataReceived(data)
                moved = True
            if not src.value():
                src.drained()
        if src.write_closed and not src.value() and not self._fin[id(src)]:
            self._fin[id(src)] = True
            if IHalfCloseableProtocol.providedBy(proto):
                proto.readConnectionLost()
            else:
                self._close(Failure(ConnectionDone()))
            moved = True
        return moved

    def _close(self, reason: Failure) -> None:
        if self.closed:
            return
        self.closed = True
        for t, p in ((self.ta, self.a), (self.tb, self.b)):
            t.lost = True
            p.connectionLost(reason)

    def pump(self) -> bool:
        if self.closed:
            return False
        moved = self._move(self.ta, self.tb, self.b)
        moved |= self._move(self.tb, self.ta, self.a)
        for t in (self.ta, self.tb):
            if t.disconnecting and not t.value() and t.producer is None and not self.closed:
                self._close(Failure(ConnectionDone()))
                moved = True
        if self.ta.write_closed and self.tb.write_closed and not self.closed:
            if self._fin[id(self.ta)] and self._fin[id(self.tb)]:
                self._close(Failure(ConnectionDone()))
                moved = True
        return moved


class Network:
    """Wires and a clock, flushed together until nothing moves."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.wires: list[Wire] = []

    def connect(self, client: Any, server: Any) -> Wire:
        wire = Wire(client, server)
        self.wires.append(wire)
        return wire

    def flush(self, rounds: int = 10_000) -> None:
        for _ in range(rounds):
            self.clock.advance(0)
            moved = False
            for wire in list(self.wires):
                moved |= wire.pump()
            if not moved and not self.clock.getDelayedCalls():
                return
        raise AssertionError("network never went quiet")
