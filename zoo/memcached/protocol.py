"""The thin Twisted adapter: bytes to a L{Session}, its replies to the transport.

Replies are produced a budget at a time and written at once. While the client does
not read them (the transport's buffer is full) the connection's L{ReadGate} stops
reading it and no further command runs, not even the rest of a long multi-key
C{get}; when the buffer drains, work resumes where it stopped. So a client that
sends commands and never reads costs the server a buffer and one item at most.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from zoo.events import hub, session_of
from zoo.flow import ReadGate
from zoo.memcached.session import Session
from zoo.memcached.store import DEFAULT_ITEM_MAX, DEFAULT_MEMORY, Store
from zoo.policies import command_done, fast_writer

log = Logger()

#: Bytes of replies produced between checks of the transport's buffer.
BUDGET = 256 * 1024


class MemcachedProtocol(Protocol):
    """One client connection."""

    factory: MemcachedFactory
    transport: Any

    def connectionMade(self) -> None:
        f = self.factory
        f.current += 1
        f.total += 1
        self.session = Session(
            f.store, f.observatory, session_of(self.transport), f.connection_counts
        )
        self._write = fast_writer(self.transport)
        self._backed_up = False
        self.gate = ReadGate(self.transport).start(after_handshake=False)
        self.gate.on_backed_up = self._on_backed_up

    def dataReceived(self, data: bytes) -> None:
        self.gate.ready()
        session = self.session
        if not self._backed_up:
            reply = session.quick(data)
            if reply is not None:
                self._write(reply)
                command_done(self.transport)
                return
        session.feed(data)
        self._pump()

    def _pump(self) -> None:
        session = self.session
        while not self._backed_up and session.busy:
            out = session.run(BUDGET)
            if session.between_commands:  # even with nothing said (noreply)
                command_done(self.transport)
            if out:
                self._write(out)
            if session.closing:
                if out.endswith(b"line too long\r\n"):
                    log.info("closing {peer}: command line too long", peer=self.transport.getPeer())
                self.transport.loseConnection()
                self.dataReceived = lambda data: None  # type: ignore[method-assign]
                return

    def _on_backed_up(self, backed_up: bool) -> None:
        self._backed_up = backed_up
        if not backed_up and not self.transport.disconnecting:
            self._pump()

    def command_timed_out(self) -> None:
        """The shared command deadline passed with a command unfinished."""
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.factory.current -= 1


class MemcachedFactory(Factory):
    """All connections of one cache.

    @param store: the shared L{Store} (a new one on C{clock} if omitted).
    @param clock: an C{IReactorTime} for expiry times (the reactor if omitted).
    @param observatory: where commands and evictions are reported (L{zoo.events.hub}).
    """

    protocol = MemcachedProtocol  # type: ignore[assignment]

    def __init__(
        self,
        store: Store | None = None,
        *,
        memory: int = DEFAULT_MEMORY,
        item_max: int = DEFAULT_ITEM_MAX,
        clock: Any = None,
        observatory: Any = None,
    ) -> None:
        self.observatory = observatory if observatory is not None else hub
        if store is None:
            if clock is None:
                from twisted.internet import reactor as clock
            store = Store(clock, memory, item_max)
        self.store = store
        store.on_evict = self._evicted
        self.current = 0
        self.total = 0

    def connection_counts(self) -> tuple[int, int]:
        return self.current, self.total

    def _evicted(self, key: bytes) -> None:
        if self.observatory.enabled:
            self.observatory.record("memcached", "memcached.evicted", None, _evicted, key)


def _evicted(key: bytes) -> dict[str, Any]:
    from zoo.events import bounded_text

    return {"key": bounded_text(key, 256)}
