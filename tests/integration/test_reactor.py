"""zoo's lean epoll poll loop behaves like Twisted's: errors logged, bad readers dropped,
accepted connections read in place, and a turn's events sharing its time.

Every test runs twice: with the loop's Python dispatch (the reference) and with the C
one of C{zoo._twisted._speedups}."""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import use_implementation
from twisted.internet import main, tcp
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.testing import MemoryReactor
from twisted.python import log
from twisted.python.failure import Failure

from zoo._twisted import connection, poll
from zoo._twisted.poll import TURN, mend, tune
from zoo.events import Observatory

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True, params=["python", "c"])
def dispatch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test with the Python dispatch, then with the C one."""
    return use_implementation(
        request, monkeypatch, poll, "DISPATCH", poll._dispatch, lambda c: c.dispatch
    )


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


class _Lost(Protocol):
    def __init__(self, lost: list[Failure]) -> None:
        self.lost = lost
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost.append(reason)


def _reset_unluckily(r: EPollReactor, mask: int) -> Failure:
    """The reason a connection ends when its reset is polled as C{mask} (no "readable").

    The client sends a byte, the server reads it, the client resets (SO_LINGER 0);
    then the server's connection is handed C{mask}, as a poll landing between Linux
    setting the reset's error and shutting the socket for reading reports it.
    """
    lost: list[Failure] = []
    port = r.listenTCP(0, Factory.forProtocol(lambda: _Lost(lost)), interface="127.0.0.1")
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    _spin(r, lambda: bool([c for c in r.getReaders() if isinstance(c, tcp.Server)]))
    (server,) = [c for c in r.getReaders() if isinstance(c, tcp.Server)]
    client.sendall(b"x")
    _spin(r, lambda: server.protocol.received == b"x")
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    time.sleep(0.05)  # the reset has arrived
    r._doReadOrWrite(server, server.fileno(), mask)
    port.stopListening()
    r.removeAll()
    assert len(lost) == 1
    return lost[0]


@pytest.mark.parametrize("mask", [select.EPOLLERR, select.EPOLLERR | select.EPOLLHUP])
def test_mended_reactor_reads_a_bare_error(mask: int) -> None:
    """A reset polled as an error without "readable" ends as ConnectionLost once mended;
    Twisted's own reactor takes it for a clean end (the defect mend corrects)."""
    assert _reset_unluckily(EPollReactor(), mask).check(ConnectionDone)
    r = EPollReactor()
    assert mend(r) is True and mend(r) is True
    assert _reset_unluckily(r, mask).check(ConnectionLost)
    tuned = EPollReactor()
    tune(tuned)  # tuning mends too: the lean loop hands such events to _doReadOrWrite
    assert _reset_unluckily(tuned, mask).check(ConnectionLost)
    assert mend(MemoryReactor()) is False


class _Recording(Protocol):
    """Records two events per read (as Lancelot with transcripts does three)."""

    def __init__(self, hub: Any, lost: list[Failure]) -> None:
        self.rec = hub.recorder("t", "t.read", lambda data, n: {"data": data.decode()})
        self.lost = lost

    def connectionMade(self) -> None:
        self.factory.made += 1  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        if data == b"raise":
            raise RuntimeError("a protocol's bug")
        self.rec.record(None, len(data), data, 1)
        self.rec.record(None, len(data), data, 2)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost.append(reason)


def _serve(r: EPollReactor, hub: Any, adopted: bool = False) -> tuple[Any, list[Failure], int]:
    lost: list[Failure] = []
    factory = Factory.forProtocol(lambda: _Recording(hub, lost))
    factory.made = 0  # type: ignore[attr-defined]
    port = r.listenTCP(0, factory, interface="127.0.0.1")
    if adopted:  # as zoo's listeners do: zoo's tcp.Server, its state in C fields
        connection.adopt(port)
    return factory, lost, port.getHost().port


@pytest.fixture(params=["twisted", "zoo"])
def adopted(request: pytest.FixtureRequest) -> bool:
    """Twisted's tcp.Server, then zoo's (zoo._twisted.connection.SERVER) where built."""
    if request.param == "twisted":
        return False
    if connection.SERVER is tcp.Server:
        if os.environ.get("ZOO_REQUIRE_SPEEDUPS"):
            pytest.fail("zoo._twisted._speedups was not built")
        pytest.skip("zoo._twisted._speedups not built or off here: no zoo connection class")
    return True


def _spin(r: EPollReactor, until: Callable[[], bool]) -> None:
    for _ in range(200):
        r.doIteration(0.05)
        r.runUntilCurrent()
        if until():
            return
    raise AssertionError("nothing happened")


def test_accepted_connections_are_read_in_place(
    monkeypatch: pytest.MonkeyPatch, adopted: bool
) -> None:
    """The loop reads a tcp.Server (Twisted's or zoo's) itself: data and an orderly
    close without its doRead; a reset and a protocol's exception end as Twisted's
    loop ends them."""

    called: list[object] = []
    do_read = tcp.Server.doRead

    def counted(self: Any) -> Any:
        called.append(self)
        return do_read(self)

    monkeypatch.setattr(tcp.Server, "doRead", counted)
    r = EPollReactor()
    tune(r)
    hub = Observatory(clock=r, enabled=True, node="t")
    factory, lost, port = _serve(r, hub, adopted)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    _spin(r, lambda: factory.made == 3)
    kinds = {type(c) for c in r.getReaders() if isinstance(c, tcp.Server)}
    assert kinds == {connection.SERVER if adopted else tcp.Server}
    clients[0].sendall(b"hello")
    _spin(r, lambda: len(hub.events()) == 2)
    assert [e.fields["data"] for e in hub.events()] == ["hello", "hello"]
    clients[0].close()  # orderly: ConnectionDone
    _spin(r, lambda: len(lost) == 1)
    assert lost[0].check(ConnectionDone)
    assert called == []  # a read and an orderly close: both done in place
    clients[1].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    clients[1].close()  # a reset (an error event: Twisted's own path), ConnectionLost
    _spin(r, lambda: len(lost) == 2)
    assert lost[1].check(ConnectionLost)
    errors: list[dict[str, Any]] = []
    log.addObserver(errors.append)
    try:
        clients[2].sendall(b"raise")
        _spin(r, lambda: len(lost) == 3)
    finally:
        log.removeObserver(errors.append)
    assert any(e.get("isError") for e in errors)  # logged, and that connection dropped
    assert not [c for c in r.getReaders() if isinstance(c, tcp.Server)]
    r.removeAll()


def test_events_of_one_turn_share_its_time() -> None:
    """With the observatory sharing the loop's turns, the events of one turn hold one
    float; the next turn takes a new time; between turns no time is left over."""
    r = EPollReactor()
    tune(r)
    hub = Observatory(clock=r, enabled=True, node="t")
    hub.share_turns(TURN)
    factory, lost, port = _serve(r, hub)
    client = socket.create_connection(("127.0.0.1", port))
    _spin(r, lambda: factory.made == 1)
    client.sendall(b"one")
    _spin(r, lambda: len(hub.events()) == 2)
    assert TURN == [None]
    # a timed call's event, run between turns, takes a time the next turn does not keep
    timer = hub.recorder("t", "t.timer", lambda data, n: {"data": data.decode()})
    r.callLater(0, timer.record, None, 5, b"timer", 0)
    r.runUntilCurrent()
    time.sleep(0.01)
    client.sendall(b"two")
    _spin(r, lambda: len(hub.events()) == 5)
    events = hub.events()
    times = [e.time for e in events]
    assert [e.fields["data"] for e in events] == ["one", "one", "timer", "two", "two"]
    assert times[0] is times[1] and times[3] is times[4]  # one float a turn
    assert times[3] - times[2] >= 0.01 and times[2] - times[0] > 0
    client.close()
    r.removeAll()


class _Inner(Protocol):
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.got.append(data)


def test_policy_wrapper_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under zoo's policy wrapper a read counts as activity, starts the command clock
    and reaches the protocol (the C dispatch does the wrapper's steps in place); a
    wrapper whose dataReceived was replaced is called as it is."""
    from zoo.policies import ZooPolicyFactory, ZooProtocolWrapper

    r = EPollReactor()
    tune(r)
    inners: list[_Inner] = []

    def build() -> _Inner:
        inners.append(_Inner())
        return inners[-1]

    policy = ZooPolicyFactory(Factory.forProtocol(build), clock=r, observed=False)
    port = r.listenTCP(0, policy, interface="127.0.0.1").getHost().port
    client = socket.create_connection(("127.0.0.1", port))
    _spin(r, lambda: len(inners) == 1)
    wrapper = next(c.protocol for c in r.getReaders() if isinstance(c, tcp.Server))
    assert type(wrapper).__name__ in ("ZooProtocolWrapper", "_HalfClosingWrapper")
    wrapper.command_sweeps = None  # waiting for a command
    before = wrapper.activity
    client.sendall(b"first")
    _spin(r, lambda: inners[0].got == [b"first"])
    assert wrapper.activity == before + 1 and wrapper.command_sweeps == 0

    seen: list[bytes] = []
    original = ZooProtocolWrapper.dataReceived

    def replaced(self: Any, data: bytes) -> None:
        seen.append(data)
        original(self, data)

    monkeypatch.setattr(ZooProtocolWrapper, "dataReceived", replaced)
    client.sendall(b"second")
    _spin(r, lambda: len(inners[0].got) == 2)
    assert seen == [b"second"] and wrapper.activity == before + 2
    client.close()
    r.removeAll()


class _Big(Protocol):
    """Asks for reads of 256 KiB, as zoo.flow.GatedStream does for a stream."""

    def __init__(self, reads: list[int]) -> None:
        self.reads = reads

    def connectionMade(self) -> None:
        self.transport.bufferSize = 1 << 18  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.reads.append(len(data))


def test_reads_as_much_as_the_connection_asks(adopted: bool) -> None:
    """A connection whose bufferSize is 256 KiB gets reads larger than Twisted's 64 KiB."""
    r = EPollReactor()
    tune(r)
    reads: list[int] = []
    port = r.listenTCP(0, Factory.forProtocol(lambda: _Big(reads)), interface="127.0.0.1")
    if adopted:
        connection.adopt(port)
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    _spin(r, lambda: bool([c for c in r.getReaders() if isinstance(c, tcp.Server)]))
    client.sendall(b"x" * 200_000)
    time.sleep(0.2)  # all of it in the server's receive buffer before the read
    _spin(r, lambda: sum(reads) == 200_000)
    assert max(reads) > 65536, reads
    client.close()
    r.removeAll()


def _observed(transcripts: bool) -> tuple[EPollReactor, Observatory, list[_Inner], socket.socket]:
    """A reactor serving one observed connection (its protocol in the list) to the client."""
    from zoo.policies import ZooPolicyFactory

    r = EPollReactor()
    tune(r)
    hub = Observatory(clock=r, enabled=True, node="t")
    hub.transcripts = transcripts
    inners: list[_Inner] = []

    def build() -> _Inner:
        inners.append(_Inner())
        return inners[-1]

    policy = ZooPolicyFactory(Factory.forProtocol(build), clock=r, observatory=hub, name="t")
    port = r.listenTCP(0, policy, interface="127.0.0.1").getHost().port
    client = socket.create_connection(("127.0.0.1", port))
    _spin(r, lambda: len(inners) == 1)
    return r, hub, inners, client


@pytest.mark.parametrize("transcripts", [False, True])
def test_observed_wrapper_reads(transcripts: bool) -> None:
    """Under the observed wrapper a read is counted on its session, goes into the
    transcript when transcripts are on, counts as activity and reaches the protocol
    (the C dispatch does _Watched's steps in place)."""
    r, hub, inners, client = _observed(transcripts)
    wrapper = next(c.protocol for c in r.getReaders() if isinstance(c, tcp.Server))
    assert type(wrapper).__name__ in ("_Watched", "_WatchedHalfClosing")
    wrapper.command_sweeps = None
    before = wrapper.activity
    client.sendall(b"hello")
    _spin(r, lambda: inners[0].got == [b"hello"])
    assert wrapper.watch.bytes_in == 5
    assert wrapper.activity == before + 1 and wrapper.command_sweeps == 0
    wire = [e for e in hub.events() if e.kind == "wire.in"]
    assert len(wire) == (1 if transcripts else 0)
    client.close()
    r.removeAll()


@pytest.mark.parametrize("transcripts", [False, True])
def test_observed_fast_writer_sends_counts_and_records(transcripts: bool) -> None:
    """An observed connection's fast writer sends at once over the real socket,
    counts every write on the session and, with transcripts on, records it once
    (the C writer's tally and record steps)."""
    from zoo.policies import fast_writer

    r, hub, inners, client = _observed(transcripts)
    wrapper = inners[0].transport
    write = fast_writer(wrapper)
    before = wrapper.activity
    write(b"My name is")
    write(b" Sir Lancelot")
    client.settimeout(5)
    got = b""
    while len(got) < 23:
        got += client.recv(100)
    assert got == b"My name is Sir Lancelot"
    assert wrapper.watch.bytes_out == 23 and wrapper.activity == before + 2
    wire = [e.fields["data"] for e in hub.events() if e.kind == "wire.out"]
    assert wire == (["My name is", " Sir Lancelot"] if transcripts else [])
    client.close()
    r.removeAll()


class _Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[union-attr]


def test_twisted_buffers_writes_on_zoo_connections(adopted: bool) -> None:
    """Twisted's own write path (its buffer, offset and pending list, kept as C fields
    on zoo's connections) and its close: 4 MiB echoed to a client that reads slowly
    arrive whole and in order, then the server's loseConnection after the buffer
    drains ends the connection cleanly."""
    r = EPollReactor()
    tune(r)
    port = r.listenTCP(0, Factory.forProtocol(_Echo), interface="127.0.0.1")
    if adopted:
        connection.adopt(port)
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    client.setblocking(False)
    _spin(r, lambda: bool([c for c in r.getReaders() if isinstance(c, tcp.Server)]))
    server = next(c for c in r.getReaders() if isinstance(c, tcp.Server))
    assert type(server) is (connection.SERVER if adopted else tcp.Server)
    payload = bytes(range(256)) * (1 << 14)  # 4 MiB: more than the sockets hold
    sent, got = 0, bytearray()
    while len(got) < len(payload):
        if sent < len(payload):
            try:
                sent += client.send(payload[sent : sent + 65536])
            except BlockingIOError:
                pass
        r.doIteration(0.01)
        try:
            got += client.recv(1 << 16)
        except BlockingIOError:
            pass
    assert bytes(got) == payload
    assert server.dataBuffer == b"" or server.offset == len(server.dataBuffer)
    server.loseConnection()
    _spin(r, lambda: not server.connected)
    client.setblocking(True)
    assert client.recv(10) == b""  # an orderly close after everything was sent
    client.close()
    r.removeAll()


def test_zoo_connections_start_as_twisteds() -> None:
    """An accepted zoo connection holds Twisted's starting values in its C fields (its
    class's defaults, which the fields hide, copied in), not None; adopt() leaves a
    port already building another class, and anything not a tcp.Port, alone."""
    r = EPollReactor()
    tune(r)
    port = r.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
    assert connection.adopt(port) is port
    assert port.transport is connection.SERVER
    other = r.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
    other.transport = _Custom = type("_Custom", (tcp.Server,), {})  # type: ignore[misc]
    connection.adopt(other)
    assert other.transport is _Custom
    marker = object()
    assert connection.adopt(marker) is marker
    if connection.SERVER is tcp.Server:
        if os.environ.get("ZOO_REQUIRE_SPEEDUPS"):
            pytest.fail("zoo._twisted._speedups was not built")
        pytest.skip("zoo._twisted._speedups not built or off here: no zoo connection class")
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    _spin(r, lambda: bool([c for c in r.getReaders() if isinstance(c, tcp.Server)]))
    server = next(c for c in r.getReaders() if isinstance(c, tcp.Server))
    assert type(server) is connection.SERVER
    expected = {
        "connected": 1,
        "disconnecting": 0,
        "TLS": False,
        "_tempDataBuffer": [],
        "dataBuffer": b"",
        "offset": 0,
        "_writeDisconnected": False,
        "bufferSize": tcp.Server.bufferSize,
    }
    assert {name: getattr(server, name) for name in expected} == expected
    assert isinstance(server.protocol, Protocol)
    assert not set(connection.FIELDS) & set(vars(server))  # C fields hold them
    client.close()
    r.removeAll()


@pytest.mark.parametrize(
    "kind", ["echo", "blocks", "lancelot"], ids=["zoo-echo", "zoo-blocks", "zoo-lancelot"]
)
def test_a_protocols_read_step_runs_without_its_dataReceived(dispatch: str, kind: str) -> None:
    """With the C dispatch, a read its step takes (an echoed read, whole blocks, one
    whole question) runs no Python frame of the protocol's dataReceived; a read the
    step declines reaches dataReceived, as every read does with the Python dispatch.
    The client gets the same bytes either way."""
    import sys
    import types

    from zoo import blocks, echo, lancelot

    factory: Any
    cls: Any
    if kind == "echo":
        factory, cls = echo.EchoFactory(), echo.EchoServer
        taken, declined = b"x" * 64, None
    elif kind == "blocks":
        factory, cls = blocks.BlocksFactory("echo"), blocks.BlocksServer
        taken, declined = blocks.frame(b"x" * 60), blocks.frame(b"y" * 60)[:10]
    else:
        factory, cls = lancelot.LancelotFactory(), lancelot.LancelotServer
        taken, declined = b"What is your name?", b"What is"
    r = EPollReactor()
    tune(r)
    port = connection.adopt(r.listenTCP(0, factory, interface="127.0.0.1"))
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    client.setblocking(False)
    _spin(r, lambda: bool([c for c in r.getReaders() if isinstance(c, tcp.Server)]))
    frames: list[str] = []
    code = cls.dataReceived.__code__

    def profile(frame: types.FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is code:
            frames.append(event)

    def exchange(data: bytes) -> bytes:
        client.sendall(data)
        got = b""
        for _ in range(100):
            r.doIteration(0.02)
            try:
                got += client.recv(1 << 16)
            except BlockingIOError:
                if got:
                    break
        return got

    sys.setprofile(profile)
    try:
        answer = exchange(taken)
        after_taken = len(frames)
        if declined is not None:
            exchange(declined)
    finally:
        sys.setprofile(None)
    assert answer == (b"My name is Sir Lancelot of Camelot." if kind == "lancelot" else taken)
    stepped = dispatch == "c" and connection.SERVER is not tcp.Server
    assert after_taken == (0 if stepped else 1)
    if declined is not None:
        assert len(frames) == after_taken + 1  # declined: dataReceived took it
    client.close()
    r.removeAll()


def _accepted(r: EPollReactor, host: str, port: int) -> tuple[tcp.Server, socket.socket]:
    """Connect to C{host}:C{port} and return the server's side once accepted."""
    before = {c for c in r.getReaders() if isinstance(c, tcp.Server)}
    client = socket.create_connection((host, port))
    _spin(r, lambda: bool({c for c in r.getReaders() if isinstance(c, tcp.Server)} - before))
    (server,) = {c for c in r.getReaders() if isinstance(c, tcp.Server)} - before
    return server, client


def test_addresses_are_asked_once_per_port_bound_to_one_address() -> None:
    """A session's addresses: the peer's tuple, and the listener's address, kept on a
    port bound to one address but asked of every connection of a wildcard port (whose
    connections arrive at different addresses)."""
    from zoo._twisted.connection import addresses
    from zoo.sessions import where

    r = EPollReactor()
    one = r.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
    server, client = _accepted(r, "127.0.0.1", one.getHost().port)
    peer, listener = addresses(server)
    assert where(peer) == where(server.getPeer()) == "{}:{}".format(*client.getsockname())
    assert where(listener) == where(server.getHost())
    assert one.zoo_local is listener  # type: ignore[attr-defined]
    again, client2 = _accepted(r, "127.0.0.1", one.getHost().port)
    assert addresses(again)[1] is listener
    wild = r.listenTCP(0, Factory.forProtocol(Protocol), interface="0.0.0.0")
    seen = []
    for host in ("127.0.0.1", "127.0.0.2"):  # both loopback, two local addresses
        conn, c = _accepted(r, host, wild.getHost().port)
        seen.append(where(addresses(conn)[1]))
        c.close()
    assert seen == [f"127.0.0.1:{wild.getHost().port}", f"127.0.0.2:{wild.getHost().port}"]
    assert getattr(wild, "zoo_local", None) is None
    for s in (client, client2):
        s.close()
    r.removeAll()
    one.stopListening()
    wild.stopListening()
