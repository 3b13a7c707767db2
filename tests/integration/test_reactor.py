"""zoo's lean epoll poll loop behaves like Twisted's: errors logged, bad readers dropped."""

from __future__ import annotations

import socket

import pytest
from twisted.internet import main
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactor
from twisted.python import log

from zoo._twisted.poll import tune

pytestmark = pytest.mark.integration


class _Reader:
    """A minimal IReadDescriptor over one end of a socketpair."""

    def __init__(self, sock: socket.socket, fail: bool = False, done: bool = False) -> None:
        self.sock = sock
        self.fail = fail
        self.done = done
        self.reads = 0
        self.lost: object = None

    def fileno(self) -> int:
        return self.sock.fileno()

    def doRead(self) -> object:
        self.reads += 1
        self.sock.recv(100)
        if self.fail:
            raise RuntimeError("boom")
        return main.CONNECTION_DONE if self.done else None

    def connectionLost(self, reason: object) -> None:
        self.lost = reason

    def logPrefix(self) -> str:
        return "reader"


def _pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    return a, b


def test_tune_only_epoll(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only Twisted's EPollReactor is tuned, and ZOO_TWISTED_POLL=1 opts out."""
    assert tune(MemoryReactor()) is False
    monkeypatch.setenv("ZOO_TWISTED_POLL", "1")
    assert tune(EPollReactor()) is False
    monkeypatch.delenv("ZOO_TWISTED_POLL")
    r = EPollReactor()
    assert tune(r) is True
    assert tune(r) is True  # idempotent


def test_errors_logged_and_reader_dropped() -> None:
    """A reader that raises is logged and disconnected; a healthy one in the same poll still runs."""
    r = EPollReactor()
    tune(r)
    (a1, b1), (a2, b2) = _pair(), _pair()
    bad, good = _Reader(a1, fail=True), _Reader(a2)
    r.addReader(bad)
    r.addReader(good)
    b1.send(b"x")
    b2.send(b"y")
    errors: list[dict] = []
    log.addObserver(errors.append)
    try:
        r.doIteration(1)
    finally:
        log.removeObserver(errors.append)
    assert good.reads == 1 and good.lost is None
    assert bad.reads == 1 and bad.lost is not None
    assert any(e.get("isError") for e in errors)
    assert bad not in r.getReaders() and good in r.getReaders()
    for s in (a1, b1, a2, b2):
        s.close()


def test_connection_done_disconnects() -> None:
    """A doRead that reports the connection done disconnects that reader, as Twisted's loop does."""
    r = EPollReactor()
    tune(r)
    a, b = _pair()
    reader = _Reader(a, done=True)
    r.addReader(reader)
    b.send(b"z")
    r.doIteration(1)
    assert reader.lost is not None
    assert reader.lost.check(ConnectionDone)
    a.close()
    b.close()
