"""Pub-sub in the observatory: published/subscribed events and the pub-sub inspector."""

from __future__ import annotations

import json

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from zoo.events import Filter, Observatory
from zoo.inspect import ApiError, Call
from zoo.pubsub import codec
from zoo.pubsub.inspector import PubSubInspector, register
from zoo.pubsub.protocol import PubSubFactory


def command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


class Zoo:
    """A broker with connections over StringTransports, reporting to one observatory."""

    def __init__(self, enabled: bool = True) -> None:
        self.obs = Observatory(Clock(), enabled=enabled)
        self.factory = PubSubFactory(clock=Clock(), observatory=self.obs)
        self.inspector = PubSubInspector(self.factory.broker, self.factory.publish, self.obs)

    def connect(self, session: str) -> tuple[object, StringTransport]:
        transport = StringTransport()
        transport.session = session  # as the connection layer marks it
        proto = self.factory.buildProtocol(None)
        proto.makeConnection(transport)
        return proto, transport


def test_publish_and_subscribe_events():
    """SUBSCRIBE, PSUBSCRIBE, PUBLISH and UNSUBSCRIBE each give an event with the session id."""
    zoo = Zoo()
    sub, _ = zoo.connect("pubsub-1")
    pub, out = zoo.connect("pubsub-2")
    sub.dataReceived(command(b"SUBSCRIBE", b"news") + command(b"PSUBSCRIBE", b"n*"))
    pub.dataReceived(command(b"PUBLISH", b"news", b"hello"))
    assert out.value() == b":2\r\n"
    sub.dataReceived(command(b"UNSUBSCRIBE", b"news"))
    kinds = [(e.kind, e.session, e.fields) for e in zoo.obs.events()]
    assert kinds == [
        ("pubsub.subscribed", "pubsub-1", {"channel": "news", "subscriptions": 1}),
        ("pubsub.subscribed", "pubsub-1", {"pattern": "n*", "subscriptions": 2}),
        (
            "pubsub.published",
            "pubsub-2",
            {
                "channel": "news",
                "size": 5,
                "receivers": 2,
                "payload": "hello",
                "truncated": False,
            },
        ),
        ("pubsub.unsubscribed", "pubsub-1", {"channel": "news", "subscriptions": 1}),
    ]


def test_reset_command_reports_every_unsubscription():
    """RESET leaves every channel and pattern, each reported as pubsub.unsubscribed."""
    zoo = Zoo()
    sub, _ = zoo.connect("s")
    sub.dataReceived(command(b"SUBSCRIBE", b"a", b"b") + command(b"PSUBSCRIBE", b"c*"))
    sub.dataReceived(command(b"RESET"))
    gone = zoo.obs.events(Filter.of(kind="pubsub.unsubscribed"))
    assert [e.fields.get("channel", e.fields.get("pattern")) for e in gone] == ["a", "b", "c*"]


def test_a_disconnecting_subscriber_reports_what_it_left():
    """A subscriber that disconnects gives pubsub.unsubscribed for each name, marked disconnected."""
    zoo = Zoo()
    sub, _ = zoo.connect("s")
    sub.dataReceived(command(b"SUBSCRIBE", b"a", b"b") + command(b"PSUBSCRIBE", b"c*"))
    sub.connectionLost(None)
    gone = zoo.obs.events(Filter.of(kind="pubsub.unsubscribed"))
    assert [
        (e.fields.get("channel", e.fields.get("pattern")), e.fields["subscriptions"]) for e in gone
    ] == [("a", 2), ("b", 1), ("c*", 0)]
    assert all(e.fields["disconnected"] and e.session == "s" for e in gone)


def test_published_payload_is_bounded_and_binary_safe():
    """A big or binary payload is kept as its first 1 KiB of text, marked truncated."""
    zoo = Zoo()
    pub, _ = zoo.connect("p")
    pub.dataReceived(command(b"publish", b"bin", b"\xff" + b"x" * 5000))  # the general path
    [event] = zoo.obs.events()
    assert event.fields["size"] == 5001 and event.fields["truncated"] is True
    assert len(event.fields["payload"]) == 1025 and event.fields["payload"].startswith("\\xffx")
    json.dumps(event.to_json())


def test_nothing_is_emitted_when_off():
    """With the observatory off, publish and (un)subscribe leave no event."""
    zoo = Zoo(enabled=False)
    sub, _ = zoo.connect("s")
    sub.dataReceived(command(b"SUBSCRIBE", b"a") + command(b"UNSUBSCRIBE"))
    sub.dataReceived(command(b"PUBLISH", b"a", b"x"))
    zoo.obs.enable()
    assert zoo.obs.events() == []


def test_inspector_lists_channels_and_patterns():
    """Channels and patterns are listed with their subscriber counts, from the broker."""
    zoo = Zoo(enabled=False)
    a, _ = zoo.connect("a")
    b, _ = zoo.connect("b")
    a.dataReceived(command(b"SUBSCRIBE", b"x", b"y") + command(b"PSUBSCRIBE", b"z.*"))
    b.dataReceived(command(b"SUBSCRIBE", b"x"))
    assert zoo.inspector.channels(Call()) == {
        "channels": [{"channel": "x", "subscribers": 2}, {"channel": "y", "subscribers": 1}],
        "patterns": [{"pattern": "z.*", "subscribers": 1}],
    }
    assert zoo.inspector.describe()["channels"] == 2


def test_inspector_publish_reaches_subscribers_and_is_recent():
    """POST publish delivers to subscribers at once, emits pubsub.published, shows in /messages."""
    zoo = Zoo()
    sub, out = zoo.connect("s")
    sub.dataReceived(command(b"SUBSCRIBE", b"news"))
    out.clear()
    body = json.dumps({"channel": "news", "message": "héllo"}).encode()
    assert zoo.inspector.publish(Call(body=body)) == {"channel": "news", "receivers": 1}
    assert out.value() == codec.message(b"news", "héllo".encode())
    zoo.inspector.publish(Call(body=json.dumps({"channel": "other", "message": "2"}).encode()))
    recent = zoo.inspector.messages(Call(query={"channel": "news"}))
    assert [(m["payload"], m["receivers"], m["session"]) for m in recent] == [("héllo", 1, None)]
    assert [m["channel"] for m in zoo.inspector.messages(Call())] == ["other", "news"]
    assert len(zoo.inspector.messages(Call(query={"limit": "1"}))) == 1
    assert len(zoo.inspector.messages(Call(query={"limit": "9" * 50}))) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"nope",
        b"[]",
        b'{"channel": "a"}',
        b'{"channel": "", "message": "m"}',
        b'{"channel": 1, "message": "m"}',
        b'{"channel": "a", "message": {"x": 1}}',
        b'{"channel": "a", "message": "m", "extra": 1}',
    ],
)
def test_inspector_publish_refuses_bad_bodies(body):
    """A publish without a string channel and message is a clear 400, and publishes nothing."""
    zoo = Zoo()
    with pytest.raises(ApiError) as e:
        zoo.inspector.publish(Call(body=body))
    assert e.value.status == 400 and e.value.message
    assert zoo.factory.broker.published == 0


@pytest.mark.parametrize("limit", ["-1", "many", "1.5"])
def test_messages_refuses_bad_limits(limit):
    """A negative or non-numeric limit is a 400."""
    with pytest.raises(ApiError) as e:
        Zoo().inspector.messages(Call(query={"limit": limit}))
    assert e.value.status == 400


def test_reset_forgets_recent_messages_and_keeps_subscribers():
    """Resetting "pubsub" empties /messages; subscribers stay subscribed."""
    zoo = Zoo()
    register(zoo.factory.broker, zoo.factory.publish, zoo.obs)
    sub, _ = zoo.connect("s")
    sub.dataReceived(command(b"SUBSCRIBE", b"news"))
    zoo.inspector.publish(Call(body=b'{"channel": "news", "message": "m"}'))
    zoo.obs.reset("pubsub")
    assert zoo.obs.inspectors["pubsub"].messages(Call()) == []
    assert zoo.factory.broker.numsub(b"news") == 1


def test_pipelined_publishes_are_events_in_command_order():
    """A read of many PUBLISHes (one run in C) gives one event each, in order, with
    another command's event between them where that command came, and seqs that
    number them all; a wait sees them too."""
    zoo = Zoo()
    sub, _ = zoo.connect("pubsub-1")
    sub.dataReceived(command(b"SUBSCRIBE", b"c1"))
    pub, out = zoo.connect("pubsub-2")
    got: list = []
    pipeline = b"".join(command(b"PUBLISH", b"c%d" % (i % 2), b"m%d" % i) for i in range(100))
    pipeline += command(b"RPUSH", b"jobs", b"j")
    pipeline += b"".join(command(b"PUBLISH", b"c1", b"late%d" % i) for i in range(3))
    pub.dataReceived(pipeline)
    events = zoo.obs.events(Filter.of(session="pubsub-2"))
    assert [e.kind for e in events] == ["pubsub.published"] * 100 + ["pubsub.pushed"] + [
        "pubsub.published"
    ] * 3
    assert [e.fields["payload"] for e in events[:100]] == [f"m{i}" for i in range(100)]
    assert [e.fields["receivers"] for e in events[:4]] == [0, 1, 0, 1]
    assert events[-1].fields == {
        "channel": "c1",
        "size": 5,
        "receivers": 1,
        "payload": "late2",
        "truncated": False,
    }
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == zoo.obs.last_seq - 1
    assert zoo.obs.counts[("pubsub", "pubsub.published")] == 103
    # While somebody waits, the same pipeline's events are built and delivered at once.
    zoo.obs.wait(Filter.of(kind="pubsub.published", match={"payload": "w7"})).addCallback(
        got.append
    )
    pub.dataReceived(b"".join(command(b"PUBLISH", b"c1", b"w%d" % i) for i in range(10)))
    assert got and got[0].fields["payload"] == "w7" and got[0].session == "pubsub-2"


def test_publishes_run_after_a_block_are_recorded_at_once():
    """PUBLISHes queued behind a BLPOP and run when another client unblocks it are
    events as soon as they run, not at the blocked client's next read."""
    zoo = Zoo()
    waiter, out = zoo.connect("pubsub-1")
    pusher, _ = zoo.connect("pubsub-2")
    waiter.dataReceived(command(b"BLPOP", b"jobs", b"0") + command(b"PUBLISH", b"c", b"after"))
    assert zoo.obs.events(Filter.of(kind="pubsub.published")) == []  # still queued
    pusher.dataReceived(command(b"RPUSH", b"jobs", b"j1"))
    published = zoo.obs.events(Filter.of(kind="pubsub.published"))
    assert [(e.session, e.fields["payload"]) for e in published] == [("pubsub-1", "after")]
    assert out.value().endswith(b":0\r\n")  # the PUBLISH did run


def test_a_fault_event_comes_after_the_publishes_before_it(monkeypatch):
    """A fault firing on a command comes after the events of the PUBLISHes sent before it
    in the same read."""
    from zoo.faults import registry

    zoo = Zoo()
    monkeypatch.setattr(registry, "observatory", zoo.obs)
    registry.add("resp:PING='BUSY try later' first=1", "pubsub")
    try:
        pub, out = zoo.connect("pubsub-1")
        pub.dataReceived(
            command(b"PUBLISH", b"c", b"one") + command(b"PUBLISH", b"c", b"two") + command(b"PING")
        )
    finally:
        registry.clear()
    kinds = [e.kind for e in zoo.obs.events(Filter.of(session="pubsub-1"))]
    assert kinds[-3:] == ["pubsub.published", "pubsub.published", "fault.fired"]
    assert out.value().endswith(b"-BUSY try later\r\n")
