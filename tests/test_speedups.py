"""The C writer (C{zoo._twisted._speedups.Writer}) does what the Python closure does.

Every test runs against both: the Python closure of L{fast_writer} is the reference,
and C{zoo._twisted._speedups} must match it step for step. In CI
(C{ZOO_REQUIRE_SPEEDUPS=1}, set by scripts/test) the extension must be built; on a
machine without a C compiler only the Python half runs, and that is said in the
skip reason.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from conftest import use_implementation
from twisted.internet import tcp

from zoo._twisted import connection, fastwrite, speedups

IMPLEMENTATIONS = ["python", "c"]


def test_built_where_required() -> None:
    """CI builds the extension: a wheel or install that silently lost it fails here."""
    if os.environ.get("ZOO_REQUIRE_SPEEDUPS"):
        assert speedups.built is not None, "zoo._twisted._speedups was not built"
    if speedups.built is not None and not os.environ.get(speedups.ENV_OPT_OUT):
        assert speedups.speedups is speedups.built
        assert speedups.describe() == "C speedups on"


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return use_implementation(request, monkeypatch, fastwrite, "_speedups", None, lambda c: c)


class _Counter:
    activity = 0


class _Tally:
    bytes_out = 0


CONNECTIONS = ["twisted", "zoo"]


@pytest.fixture(params=CONNECTIONS)
def conn_type(request: pytest.FixtureRequest) -> type:
    """Twisted's tcp.Server, and zoo's with its state in C fields (where built)."""
    if request.param == "twisted":
        return tcp.Server
    if connection.SERVER is tcp.Server:
        if os.environ.get("ZOO_REQUIRE_SPEEDUPS"):
            pytest.fail("zoo._twisted._speedups was not built")
        pytest.skip("zoo._twisted._speedups not built or off here: no ConnState")
    return connection.SERVER


def _conn(sock: socket.socket, cls: type = tcp.Server) -> Any:
    """An accepted connection with empty buffers, as fast_writer finds one."""
    conn = cls.__new__(cls)  # type: ignore[call-overload]
    conn.socket = sock
    conn.connected, conn.disconnecting, conn.TLS = True, False, False
    conn._tempDataBuffer, conn.dataBuffer, conn.offset = [], b"", 0
    conn._writeDisconnected = False
    return conn


@pytest.fixture
def pair() -> Any:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


def _writer(conn: Any, impl: str, **kw: Any) -> tuple[Any, list[bytes]]:
    slow: list[bytes] = []
    write = fastwrite.fast_writer(conn, slow=slow.append, **kw)
    assert (type(write).__name__ == "Writer") is (impl == "c")
    return write, slow


def test_sends_at_once(impl: str, pair: Any, conn_type: type) -> None:
    ours, theirs = pair
    counter, tally = _Counter(), _Tally()
    write, slow = _writer(_conn(ours, conn_type), impl, counter=counter, tally=tally)
    write(b"hello")
    write(memoryview(b"there"))
    write(bytearray(b"!"))
    assert theirs.recv(100) == b"hellothere!"
    assert slow == []
    assert counter.activity == 3 and tally.bytes_out == 11


def test_record_sees_every_write_in_order(impl: str, pair: Any, conn_type: type) -> None:
    """A transcript's record gets each write's bytes once, sent at once or not."""
    ours, theirs = pair
    conn = _conn(ours, conn_type)
    recorded: list[bytes] = []
    write, slow = _writer(conn, impl, tally=_Tally(), record=recorded.append)
    write(b"one")
    conn.dataBuffer = b"queued"  # Twisted holds bytes: the next write waits behind them
    write(b"two")
    assert recorded == [b"one", b"two"]
    assert theirs.recv(100) == b"one" and slow == [b"two"]


@pytest.mark.parametrize(
    "attr, value",
    [
        ("connected", False),
        ("connected", 0),  # Twisted's own values are ints
        ("disconnecting", True),
        ("disconnecting", 1),
        ("disconnecting", 2),
        ("TLS", True),
        ("_tempDataBuffer", [b"queued"]),
        ("offset", 1),  # Twisted's buffer not yet all sent
        ("dataBuffer", b"queued"),
        ("_writeDisconnected", True),
    ],
)
def test_anything_queued_or_in_the_way_goes_through_twisted(
    impl: str, pair: Any, conn_type: type, attr: str, value: object
) -> None:
    ours, theirs = pair
    conn = _conn(ours, conn_type)
    counter = _Counter()
    write, slow = _writer(conn, impl, counter=counter)
    setattr(conn, attr, value)  # checked on every write (TLS: after STARTTLS)
    write(b"later")
    assert slow == [b"later"] and counter.activity == 1
    with pytest.raises(BlockingIOError):
        theirs.recv(100)


def test_a_full_socket_hands_over_the_rest(impl: str, pair: Any, conn_type: type) -> None:
    """A partial send gives Twisted exactly the unsent tail; then all of a write."""
    ours, theirs = pair
    write, slow = _writer(_conn(ours, conn_type), impl)
    payload = bytes(range(256)) * 8192  # 2 MiB: more than a socketpair holds
    write(payload)
    assert len(slow) == 1 and 0 < len(slow[0]) < len(payload)
    got = b""
    while True:
        try:
            got += theirs.recv(1 << 20)
        except BlockingIOError:
            break
    assert got + slow[0] == payload
    while True:  # full again: a write sends nothing, and all of it waits
        try:
            ours.send(b"z" * 65536)
        except BlockingIOError:
            break
    slow.clear()
    write(b"y")
    assert slow == [b"y"]


def test_an_error_is_left_to_twisted(impl: str, pair: Any, conn_type: type) -> None:
    ours, theirs = pair
    theirs.close()
    write, slow = _writer(_conn(ours, conn_type), impl)
    write(b"into the void")  # EPIPE: Twisted's write notices and reports it
    assert slow == [b"into the void"]


def test_not_bytes(impl: str, pair: Any, conn_type: type) -> None:
    ours, _ = pair
    write, _slow = _writer(_conn(ours, conn_type), impl)
    with pytest.raises(TypeError):
        write("text")


def test_c_writer_call_shape(pair: Any) -> None:
    if speedups.built is None:
        pytest.skip("zoo._twisted._speedups not built here (no C compiler?)")
    ours, _ = pair
    write = speedups.built.Writer(_conn(ours), ours.fileno(), None, print)
    with pytest.raises(TypeError):
        write()
    with pytest.raises(TypeError):
        write(b"a", b"b")
    with pytest.raises(TypeError):
        write(data=b"a")


def _statements(method: Any) -> list[str]:
    """C{method}'s source, a stripped line each, without blank lines and comments."""
    import inspect
    import textwrap

    lines = textwrap.dedent(inspect.getsource(method)).splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_the_relayed_wrapper_method_is_what_the_c_twin_does() -> None:
    """The C dispatch does ZooProtocolWrapper.dataReceived's steps itself
    (relay_in_place in zoo/_twisted/_speedups.c). If this method changes, change the C
    twin as well, then this text."""
    from zoo.policies import ZooProtocolWrapper

    assert _statements(ZooProtocolWrapper.dataReceived) == [
        "def dataReceived(self, data: bytes) -> None:",
        "self.activity += 1",
        "if self.command_sweeps is None:",
        "self.command_sweeps = 0  # the first byte of a command: its clock starts",
        "self.wrappedProtocol.dataReceived(data)",
    ]


def test_the_relayed_observed_wrapper_method_is_what_the_c_twin_does() -> None:
    """The same for the observed wrapper, _Watched.dataReceived."""
    from zoo.policies import _Watched

    assert _statements(_Watched.dataReceived) == [
        "def dataReceived(self, data: bytes) -> None:",
        "watch = self.watch",
        "watch.bytes_in += len(data)  # Session.received, without a call when not recording",
        "if watch.record_in is not None:",
        "watch.record_in(data)",
        "self.activity += 1",
        "if self.command_sweeps is None:",
        "self.command_sweeps = 0",
        "self.wrappedProtocol.dataReceived(data)",
    ]


# The plain-chunk recorder of a byte stream's transcript (zoo.sessions.plain_chunks).


@pytest.fixture(params=IMPLEMENTATIONS)
def chunks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    from zoo import sessions

    use_implementation(
        request, monkeypatch, sessions, "PLAIN_CHUNKS", sessions.plain_chunks, lambda c: c.Chunks
    )
    return sessions.PLAIN_CHUNKS


class _Obs:
    enabled = True


def test_chunks_kept_bounded_and_skipped_when_off(chunks: Any) -> None:
    """Each non-empty chunk once, cut at the limit with its real size (bytes up to
    twice the limit kept whole); none while off."""
    obs, got = _Obs(), []
    chunk = chunks(obs, lambda *a: got.append(a), "echo-1", 4)
    chunk(b"abc")
    chunk(b"")
    chunk(b"abcdefgh")
    chunk(bytearray(b"xyz"))
    view = memoryview(b"0123456")
    chunk(view)
    chunk(b"abcdefghi")
    chunk(bytearray(b"abcdefgh"))
    obs.enabled = False
    chunk(b"unseen")
    assert got[:3] == [
        ("echo-1", 3, b"abc", 3),
        ("echo-1", 8, b"abcdefgh", 8),  # bytes up to twice the limit: whole, no copy
        ("echo-1", 3, bytearray(b"xyz"), 3),
    ]
    assert got[3][:2] == ("echo-1", 4) and bytes(got[3][2]) == b"0123" and got[3][3] == 7
    assert got[4] == ("echo-1", 4, b"abcd", 9)  # past twice the limit: cut
    assert got[5][:2] == ("echo-1", 4) and bytes(got[5][2]) == b"abcd"  # mutable: cut
    assert len(got) == 6


def test_chunks_of_the_same_bytes_share_one_cut(chunks: Any) -> None:
    """The same bytes object cut by two sessions in a row (pub-sub's subscribers) keeps
    one copy of its first bytes; an equal but other object, another limit or a
    mutable buffer gets its own cut, and the cuts are always right."""
    obs, got = _Obs(), []
    one = chunks(obs, lambda *a: got.append(a), "s-1", 4)
    two = chunks(obs, lambda *a: got.append(a), "s-2", 4)
    wide = chunks(obs, lambda *a: got.append(a), "s-3", 6)
    sent = b"abcdefgh" * 3
    one(sent)
    two(sent)
    assert got[0] == ("s-1", 4, b"abcd", 24) and got[1] == ("s-2", 4, b"abcd", 24)
    assert got[1][2] is got[0][2]
    wide(sent)
    assert got[2] == ("s-3", 6, b"abcdef", 24)
    other = bytes(bytearray(sent))
    two(other)
    assert got[3] == ("s-2", 4, b"abcd", 24) and got[3][2] is not got[0][2]
    buf = bytearray(b"xyzwvuts")
    one(buf)
    buf[0:1] = b"Q"
    one(buf)
    assert bytes(got[4][2]) == b"xyzw" and bytes(got[5][2]) == b"Qyzw"


def test_chunks_do_not_hold_a_large_write(chunks: Any) -> None:
    """Only a write up to CUT_KEEP bytes is held for sharing its cut: a larger one is
    freed as soon as it is recorded, and two sessions sent it get equal cuts."""
    import sys

    from zoo.sessions import CUT_KEEP

    obs, got = _Obs(), []
    one = chunks(obs, lambda *a: got.append(a), "s-1", 4)
    two = chunks(obs, lambda *a: got.append(a), "s-2", 4)
    small = b"s" * 100
    one(small)  # held now, in place of anything before
    big = b"b" * (CUT_KEEP + 1)
    before = sys.getrefcount(big)
    one(big)
    two(big)
    assert sys.getrefcount(big) == before
    assert got[1] == ("s-1", 4, b"bbbb", CUT_KEEP + 1)
    assert got[2] == ("s-2", 4, b"bbbb", CUT_KEEP + 1)
    held = b"h" * CUT_KEEP
    before = sys.getrefcount(held)
    one(held)
    assert sys.getrefcount(held) == before + 1  # the one write held, for the next session


def test_chunks_through_the_observatory(chunks: Any) -> None:
    """With the observatory's recorder (the C Pair where built): the same wire events."""
    from twisted.internet.task import Clock

    from zoo.events import Observatory
    from zoo.sessions import _plain
    from zoo.transcript import KEEP_WHOLE, LIMIT

    obs = Observatory(Clock(), enabled=True)
    chunk = chunks(obs, obs.recorder("echo", "wire.in", _plain).record, "echo-1", LIMIT)
    whole, cut = b"w" * KEEP_WHOLE, b"c" * (KEEP_WHOLE + 1)
    chunk(b"hi")
    chunk(whole)
    chunk(cut)
    held = [entry[-2] for entry in obs._store("echo", "wire.in").items]  # (not read yet)
    assert held[1] is whole and len(held[2]) == LIMIT  # no copy of the one, a cut of the other
    assert [(e.session, e.fields["data"], e.fields["size"]) for e in obs.events()] == [
        ("echo-1", "hi", 2),
        ("echo-1", "w" * LIMIT, KEEP_WHOLE),  # kept whole, shown to the limit
        ("echo-1", "c" * LIMIT, KEEP_WHOLE + 1),
    ]


def test_chunks_errors_pass_through(chunks: Any) -> None:
    """A recorder that raises is not swallowed."""

    def broken(*a: Any) -> None:
        raise RuntimeError("full")

    with pytest.raises(RuntimeError):
        chunks(_Obs(), broken, "s", 10)(b"x")


def _counts_classes() -> list[type]:
    from zoo.sessions import SessionCounts

    built = [speedups.built.Counts] if speedups.built is not None else []
    return [SessionCounts, *built]


@pytest.mark.parametrize("base", _counts_classes())
def test_a_session_counts_its_writes(impl: str, pair: Any, base: type) -> None:
    """The writer counts bytes_out on a session built on either counts class (the C
    writer straight into the C one's field) and hands record_out's bytes on."""

    class Session(base):  # type: ignore[misc,valid-type]
        __slots__ = ("name",)

    ours, theirs = pair
    session = Session()
    session.bytes_in = session.bytes_out = 0
    session.record_in = session.record_out = None
    seen: list[bytes] = []
    write, slow = _writer(_conn(ours), impl, tally=session, record=seen.append)
    write(b"My name is")
    write(memoryview(b" Sir Lancelot"))
    assert theirs.recv(100) == b"My name is Sir Lancelot" and slow == []
    assert (session.bytes_in, session.bytes_out) == (0, 23)
    assert seen == [b"My name is", memoryview(b" Sir Lancelot")]


def _refer_to_itself(session: Any) -> None:
    """A cycle: the session, its transcript sides, their closure cell."""
    session.record_in = session.record_out = lambda data: session


@pytest.mark.skipif(speedups.built is None, reason="zoo._twisted._speedups not built here")
def test_c_counts_fields() -> None:
    """The C counts hold ints and callables like slots do, start at zero and None, and
    a session its own record_in refers to is still collected."""
    import gc
    import weakref

    class Session(speedups.built.Counts):  # type: ignore[misc,name-defined]
        __slots__ = ("__weakref__", "more")

        def __init__(self, more: int) -> None:
            self.more = more

    s = Session(7)
    assert (s.bytes_in, s.bytes_out, s.record_in, s.record_out, s.more) == (0, 0, None, None, 7)
    s.bytes_in += 2**40
    _refer_to_itself(s)
    assert s.bytes_in == 2**40 and s.record_in(b"") is s
    with pytest.raises(TypeError):
        s.bytes_out = "many"
    gone = weakref.ref(s)
    del s
    gc.collect()
    assert gone() is None


def _activity_classes() -> list[type]:
    from zoo.policies import WrapperActivity

    built = [speedups.built.Activity] if speedups.built is not None else []
    return [WrapperActivity, *built]


@pytest.mark.parametrize("base", _activity_classes())
def test_a_wrapper_counts_its_writes_as_activity(impl: str, pair: Any, base: type) -> None:
    """The writer counts each write as activity on a wrapper built on either activity
    class (the C writer straight into the C one's field); a new one starts at no
    activity with its command clock off."""

    class Wrapper(base):  # type: ignore[misc,valid-type]
        def __init__(self, name: str) -> None:
            self.name = name  # a wrapper keeps other attributes in its __dict__

    ours, theirs = pair
    wrapper = Wrapper("w")
    assert (wrapper.activity, wrapper.command_sweeps, wrapper.name) == (0, -1, "w")
    write, slow = _writer(_conn(ours), impl, counter=wrapper)
    write(b"My name is")
    write(b" Sir Lancelot")
    assert theirs.recv(100) == b"My name is Sir Lancelot" and slow == []
    assert wrapper.activity == 2 and wrapper.command_sweeps == -1
    wrapper.command_sweeps = None
    assert wrapper.command_sweeps is None


def test_a_wrappers_protocol_and_session_are_fields_of_its_base() -> None:
    """Through zoo's policy factory, on the activity class in use (C where built, the
    Python twin under ZOO_NO_SPEEDUPS=1), a wrapper's wrappedProtocol and watch live
    in the base's fields (what the C read relay reads), not in the instance dict: a
    class attribute or a ProtocolWrapper.__getattr__ detour would hide them from it.
    A new wrapper's watch is None; unobserved it stays None, observed it is the
    session."""
    from twisted.internet.address import IPv4Address
    from twisted.internet.protocol import Factory, Protocol
    from twisted.internet.task import Clock

    from zoo import policies
    from zoo.events import Observatory

    base = policies._ActivityBase
    assert issubclass(policies.ZooProtocolWrapper, base)
    assert {"wrappedProtocol", "watch"} <= set(vars(base))  # slots or C members

    class Bare(base):  # type: ignore[misc,valid-type]
        pass

    assert Bare().watch is None
    for observed in (False, True):
        obs = Observatory(Clock(), enabled=observed)
        factory = policies.ZooPolicyFactory(Factory.forProtocol(Protocol), observatory=obs)
        wrapper = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        assert isinstance(wrapper.wrappedProtocol, Protocol)
        assert (wrapper.watch is not None) is observed
        assert not {"wrappedProtocol", "watch"} & set(vars(wrapper))


def test_twisteds_own_values_send_at_once(impl: str, pair: Any, conn_type: type) -> None:
    """Twisted keeps connected and disconnecting as the ints 1 and 0: read as true and
    false, so a write on an idle connection goes out at once."""
    ours, theirs = pair
    conn = _conn(ours, conn_type)
    conn.connected, conn.disconnecting = 1, 0
    write, slow = _writer(conn, impl)
    write(b"now")
    assert theirs.recv(100) == b"now" and slow == []


_MAIL_SESSION = [
    ("out", b"220 zoo ESMTP\r\n"),
    ("in", b"EHLO c\r\n"),
    ("out", b"250-zoo\r\n250 AUTH PLAIN\r\n"),
    ("in", b"AUTH PLAIN AGFsaWNl\r\n"),
    ("out", b"235 ok\r\n"),
    ("in", b"MAIL FROM:<a@b>\r\n"),
    ("out", b"250 ok\r\n"),
    ("in", b"DATA\r\n"),
    ("out", b"354 go\r\n"),
    ("in", b"Subject: x\r\n\r\nQUIT\r\n.\r\n"),
    ("out", b"250 ok\r\n"),
    ("in", b"QUIT\r\n"),
]


@pytest.mark.parametrize("service", ["smtp", "pop3", "imap", "ftp"])
def test_a_line_sessions_transcript_in_c_and_python(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line protocol's session records the same transcript with its sides in C
    (_speedups.LineSide, where built) as with the Python closure."""
    from twisted.internet.task import Clock

    from zoo import sessions
    from zoo.events import Observatory

    def transcript(c_sides: bool) -> list[tuple[Any, ...]]:
        if not c_sides:
            monkeypatch.setattr(sessions, "_speedups", None)
        obs = Observatory(Clock(), enabled=True)
        obs.transcripts = True
        session = sessions.Session(obs, service)
        in_c = type(session.record_in).__name__ == "LineSide"
        assert in_c == (c_sides and speedups.speedups is not None)
        for side, data in _MAIL_SESSION:
            (session.record_in if side == "in" else session.record_out)(data)
        monkeypatch.undo()
        return [
            (
                e.kind,
                e.fields["data"],
                e.fields["redacted"],
                e.fields.get("command"),
                e.fields.get("reply"),
            )
            for e in obs.events()
        ]

    shown = transcript(True)
    assert shown == transcript(False)
    if service == "smtp":
        assert ("wire.in", "AUTH PLAIN ***\r\n", True, "AUTH", None) in shown
        assert ("wire.in", "Subject: x\r\n\r\nQUIT\r\n.\r\n", False, None, None) in shown
