"""Datagram faults: what a UDP service's datagrams meet on their way in.

L{zoo.sessions.DatagramSessions}, which runs every zoo UDP service, hands each
datagram to L{DatagramFaults.receive} while C{udp:...} faults are in force (with
none, it does not call it at all). Each fault in scope decides per datagram
(I{when} counts datagrams): C{loss} drops it (no answer), C{delay=S} (with
C{jitter=S}) handles it later, C{duplicate=N} handles it N more times (N more
answers), C{reorder} holds it until the next datagram has been handled (or one
second has passed). Each firing is a C{fault.fired} event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo.faults.model import Fault, Registry
from zoo.sessions import where

#: The longest a reordered datagram waits for a successor, in seconds.
REORDER_WAIT = 1.0

Deliver = Callable[[bytes, Any], None]


class DatagramFaults:
    """The datagram faults of one UDP service.

    @param clock: the reactor, for delays (C{callLater}).
    """

    def __init__(self, registry: Registry, service: str, clock: Any = None) -> None:
        self.registry = registry
        self.service = service
        self._clock = clock
        self._held: list[tuple[bytes, Any, Any]] = []

    @property
    def clock(self) -> Any:
        if self._clock is None:
            from twisted.internet import reactor

            self._clock = reactor
        return self._clock

    def receive(self, data: bytes, addr: Any, listener: str | None, deliver: Deliver) -> None:
        """Pass C{data} from C{addr} to C{deliver}, as the faults in force decide."""
        faults = self.registry.points.get("udp", ())
        facts = {
            "service": self.service,
            "listener": listener,
            "client": addr[0] if isinstance(addr, tuple) else None,
        }
        fired = [f for f in faults if f.in_scope(**facts) and f.decide()]
        for f in fired:
            self.registry.report(f, self.service, None, peer=where_of(addr), size=len(data))
        kinds = {f.kind: f for f in fired}
        if "loss" in kinds:
            return
        copies = 1 + sum(int(f.value or 1) for f in fired if f.kind == "duplicate")
        delay = kinds.get("delay")
        if "reorder" in kinds:
            timer = self.clock.callLater(REORDER_WAIT, self._release, data, addr, deliver)
            self._held.append((data, addr, timer))
            return
        if delay is not None:
            seconds = _seconds(delay)
            for _ in range(copies):
                self.clock.callLater(seconds, deliver, data, addr)
        else:
            for _ in range(copies):
                deliver(data, addr)
        self._release_all(deliver)

    def _release(self, data: bytes, addr: Any, deliver: Deliver) -> None:
        self._held = [h for h in self._held if h[0] is not data or h[1] != addr]
        deliver(data, addr)

    def _release_all(self, deliver: Deliver) -> None:
        held, self._held = self._held, []
        for data, addr, timer in held:
            if timer.active():
                timer.cancel()
            deliver(data, addr)


def _seconds(f: Fault) -> float:
    return max(0.0, float(f.value) + f.rng.uniform(-f.jitter, f.jitter))


def where_of(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return where(addr)


__all__ = ["REORDER_WAIT", "DatagramFaults"]
