"""zoo-pubsub: a read's run of PUBLISH commands done at once (Python and C), in memory.

L{zoo.pubsub.core.publish_run} and its C twin (C{zoo._twisted._speedups.publish_run})
must leave the broker, every client's output, the replies and the events exactly as
running each command through L{zoo.pubsub.commands.Session.execute} does.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import use_implementation
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from zoo.events import Filter, Observatory
from zoo.pubsub import codec, core
from zoo.pubsub.commands import Session
from zoo.pubsub.core import Broker, Client

cmd = codec.command


@pytest.fixture(params=["python", "c"])
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return use_implementation(
        request, monkeypatch, core, "PUBLISH_RUN", core.publish_run, lambda c: c.publish_run
    )


class World:
    """A broker, subscribers (RESP2 and RESP3, channels and patterns) and one publisher."""

    def __init__(self, subscribers: list[tuple[int, list[bytes], list[bytes]]], observe: bool):
        self.obs = Observatory(Clock(), enabled=observe)
        self.broker = Broker()
        self.sent: list[list[bytes]] = []
        self.clients: list[Client] = []
        for resp, channels, patterns in subscribers:
            c = self._client()
            self.broker.set_protocol(c, resp)
            for ch in channels:
                self.broker.subscribe(c, ch)
            for p in patterns:
                self.broker.psubscribe(c, p)
        self.publisher = self._client()
        self.session = Session(self.broker, self.publisher, observatory=self.obs, session="s1")

    def _client(self) -> Client:
        sent: list[bytes] = []
        self.sent.append(sent)
        c = Client(self.broker, sent.append)
        self.clients.append(c)
        return c

    def outcome(self) -> tuple[Any, ...]:
        self.broker.flush()
        events = [(e.kind, e.fields) for e in self.obs.events(Filter(service="pubsub"))]
        return (self.broker.published, [b"".join(s) for s in self.sent], events)


_name = st.sampled_from([b"PUBLISH", b"publish", b"PuBlIsH"])
_channel = st.sampled_from([b"a", b"ab", b"b", b"", b"\x00\xff", b"news.1"])
_pattern = st.sampled_from([b"a*", b"*", b"news.*", b"?"])
_publish = st.tuples(_name, _channel, st.binary(max_size=20)).map(list)
_other = st.sampled_from(
    [[b"PING"], [b"PUBLISH", b"a"], [b"publish", b"a", b"b", b"c"], [b"ECHO", b"hi"]]
)
_commands = st.lists(st.one_of(_publish, _publish, _publish, _other), max_size=12)
_subscriber = st.tuples(
    st.sampled_from([2, 3]),
    st.lists(_channel, max_size=3, unique=True),
    st.lists(_pattern, max_size=2, unique=True),
)


def implementations() -> list[Any]:
    """The Python twin, and the C one where it was built."""
    from zoo._twisted.speedups import built

    return [core.publish_run] + ([built.publish_run] if built is not None else [])


@given(
    st.lists(_subscriber, max_size=4),
    _commands,
    st.booleans(),
    st.sampled_from([2, 3]),
    st.sampled_from(implementations()),
)
@settings(max_examples=400)
def test_execute_all_is_execute_each(
    subscribers: list[tuple[int, list[bytes], list[bytes]]],
    commands: list[list[bytes]],
    observe: bool,
    resp: int,
    publish_run: Any,
) -> None:
    """Same deliveries, replies, counts and events as one L{Session.execute} per command.

    (Hypothesis draws the implementation: pytest-twisted cannot mix a parametrized
    fixture with @given; tests/test_speedups.py checks the C one is built in CI.)
    """
    each, batch = World(subscribers, observe), World(subscribers, observe)
    for w in (each, batch):
        w.broker.set_protocol(w.publisher, resp)
        if resp == 3 and subscribers:  # a RESP3 publisher may be a subscriber too
            w.broker.subscribe(w.publisher, b"a")
    for argv in commands:
        each.session.execute(list(argv))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core, "PUBLISH_RUN", publish_run)
        batch.session.execute_all([list(argv) for argv in commands])
    assert batch.outcome() == each.outcome()


def run(world: World, cmds: list[list[bytes]], i: int = 0, observe: bool = True) -> Any:
    """PUBLISH_RUN on the world's broker; the index it stopped at, and what it recorded."""
    b, p = world.broker, world.publisher
    recorded: list[tuple[Any, ...]] = []

    def record(*values: Any) -> None:
        recorded.append(values)

    patterns = b.pattern_delivery if b.patterns else None
    end = core.PUBLISH_RUN(
        cmds, i, b.channels, b._dirty, p, p.out, patterns, record if observe else None, "s1"
    )
    return end, recorded


def test_stops_at_the_first_other_command(impl: str) -> None:
    """The run ends at a command that is not a three-argument PUBLISH in either spelling."""
    w = World([(2, [b"a"], [])], True)
    cmds = [
        [b"PUBLISH", b"a", b"1"],
        [b"publish", b"b", b"2"],
        [b"PuBlIsH", b"a", b"3"],
        [b"PUBLISH", b"a", b"4"],
    ]
    end, recorded = run(w, cmds)
    assert end == 2
    assert recorded == [("s1", 2, b"a", b"1", 1), ("s1", 2, b"b", b"2", 0)]
    # the parser's bytes themselves are kept for the event, not its list
    assert recorded[0][2] is cmds[0][1] and recorded[0][3] is cmds[0][2]
    assert w.publisher.out == [b":1\r\n", b":0\r\n"]
    assert run(w, cmds, 3)[0] == 4
    assert run(w, [[b"PUBLISH", b"a"]])[0] == 0
    assert run(w, [[b"PUBLISH", "a", b"x"]])[0] == 0  # not bytes: left to execute()
    assert run(w, [], 0)[0] == 0


def test_frames_replies_and_dirty_order(impl: str) -> None:
    """message and pmessage frames as the encoders make them; receivers flushed in order."""
    w = World([(2, [b"news.1"], []), (3, [], [b"news.*"]), (2, [b"news.1"], [b"*"])], False)
    payload = b"x" * 300 + b"\r\n$3\r\n"
    end, recorded = run(w, [[b"PUBLISH", b"news.1", payload]], observe=False)
    assert (end, recorded) == (1, [])
    assert list(w.broker._dirty) == [w.clients[0], w.clients[2], w.clients[1], w.publisher]
    w.broker.flush()
    message = codec.message(b"news.1", payload)
    assert w.sent[0] == [message]
    assert w.sent[1] == [codec.as_push(codec.pmessage(b"news.*", b"news.1", payload))]
    assert w.sent[2] == [message + codec.pmessage(b"*", b"news.1", payload)]
    assert w.sent[3] == [b":4\r\n"]


def test_large_counts_and_no_receivers(impl: str) -> None:
    """Counts past the shared small replies are encoded too; nobody listening is 0."""
    w = World([(2, [b"c"], [])] * 40, False)
    end, _ = run(w, [[b"PUBLISH", b"c", b"x"], [b"PUBLISH", b"none", b""]], observe=False)
    assert end == 2
    assert w.publisher.out == [b":40\r\n", b":0\r\n"]


def test_bad_arguments_raise(impl: str) -> None:
    """Wrong argument types are a TypeError, not a crash (the C twin checks them)."""
    w = World([], False)
    b, p = w.broker, w.publisher
    with pytest.raises(TypeError):
        core.PUBLISH_RUN(None, 0, b.channels, b._dirty, p, p.out, None, None, "s1")


def test_commands_after_a_block_wait(impl: str) -> None:
    """A PUBLISH read after BLPOP in the same batch waits, as with one execute() each."""
    w = World([(2, [b"a"], [])], False)
    w.session.execute_all([[b"BLPOP", b"list", b"0"], [b"PUBLISH", b"a", b"x"]])
    assert w.publisher.blocked is not None
    assert list(w.session.pending) == [[b"PUBLISH", b"a", b"x"]]
    assert w.broker.published == 0


def test_a_bridge_publishes_every_message(impl: str) -> None:
    """With the Redis bridge, each PUBLISH goes through the bridge's publish, not the run."""
    w = World([(2, [b"a"], [])], False)
    through: list[tuple[bytes, bytes]] = []

    def bridge(channel: bytes, payload: bytes) -> int:
        through.append((channel, payload))
        return 7

    session = Session(w.broker, w.publisher, publish=bridge, observatory=w.obs)
    session.execute_all([[b"PUBLISH", b"a", b"1"], [b"publish", b"b", b"2"]])
    assert through == [(b"a", b"1"), (b"b", b"2")]
    assert w.publisher.out == [b":7\r\n", b":7\r\n"]


@pytest.mark.parametrize("live", [False, True])
@pytest.mark.parametrize("pattern", [False, True])
def test_a_subscriber_added_by_a_watcher_mid_run_is_flushed(
    impl: str, live: bool, pattern: bool
) -> None:
    """Code an event runs (a live stream's subscriber, or a recorder that is no C one)
    may subscribe somebody to the run's channel, or to a pattern it matches: the later
    messages reach them too.

    (A run adds a channel's subscribers, and those of the patterns it matches, to the
    broker's dirty set once while no Python code can run between its PUBLISHes; this
    is the case where some can.)
    """
    w = World([(2, [], [b"a*"])] if pattern else [(2, [b"a"], [])], True)
    late = w._client()
    w.broker.set_protocol(late, 2)
    joined: list[Client] = []

    def join(*_: Any) -> None:
        if not joined:
            joined.append(late)
            if pattern:
                w.broker.psubscribe(late, b"a*")
            else:
                w.broker.subscribe(late, b"a")
            w.broker._dirty.pop(late, None)  # its reply flushed already
            late.out.clear()

    cmds = [[b"PUBLISH", b"a", b"1"], [b"PUBLISH", b"a", b"2"], [b"PUBLISH", b"a", b"3"]]
    b, p = w.broker, w.publisher
    if live:  # the session's own (C where built) recorder, delivering at once
        w.obs.subscribe(join)
        record = w.session._record_published
    else:
        record = join
    patterns = b.pattern_delivery if b.patterns else None
    assert core.PUBLISH_RUN(cmds, 0, b.channels, b._dirty, p, p.out, patterns, record, "s1") == 3
    b.flush()
    if pattern:
        frame = [codec.pmessage(b"a*", b"a", m) for m in (b"1", b"2", b"3")]
    else:
        frame = [codec.message(b"a", m) for m in (b"1", b"2", b"3")]
    assert b"".join(w.sent[-1]) == frame[1] + frame[2]
    assert b"".join(w.sent[0]) == b"".join(frame)
