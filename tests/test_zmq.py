"""zoo-zmq: REP, PUB, PUSH and ROUTER over the Twisted protocol, and the books' endpoints, in memory."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from zoo.events import Filter, Observatory
from zoo.zmq import books, codec
from zoo.zmq.codec import Decoder
from zoo.zmq.protocol import ZMTPFactory
from zoo.zmq.sockets import Publisher, Pusher, Replier, Router


class Peer:
    """A client peer of a zoo-zmq endpoint over a StringTransport: greets, sends, reads."""

    def __init__(self, factory: ZMTPFactory, kind: bytes, identity: bytes | None = None) -> None:
        self.proto = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)
        self.decoder = Decoder()
        self.proto.dataReceived(codec.greeting(1) + codec.ready(kind, identity))
        data = self.transport.value()
        assert data[:64] == codec.greeting(1)
        self.transport.clear()
        self.decoder.feed(data[64:])  # the endpoint's READY

    def send(self, *parts: bytes) -> None:
        self.proto.dataReceived(codec.message(list(parts)))

    def received(self) -> list[Any]:
        data = self.transport.value()
        self.transport.clear()
        return [item for is_command, item in self.decoder.feed(data) if not is_command]


def test_rep_answers_a_req_with_its_envelope() -> None:
    """zmq_client.py's request gets zmq_server.py's reply, behind the empty delimiter."""
    factory = ZMTPFactory(Replier(books.stop_saying, "reply"))
    req = Peer(factory, b"REQ")
    req.send(b"", b"message #1")
    assert req.received() == [[b"", b"Stop saying: message #1"]]


def test_rep_keeps_a_routed_envelope() -> None:
    """Frames before the delimiter (a broker's routing ids) come back in front of the reply."""
    factory = ZMTPFactory(Replier(books.upper, "upper"))
    dealer = Peer(factory, b"DEALER")
    dealer.send(b"\x00\x01\x02\x03\x04", b"", b"zip")
    dealer.send(b"no delimiter")  # dropped, as libzmq's REP drops it
    assert dealer.received() == [[b"\x00\x01\x02\x03\x04", b"", b"ZIP"]]


def test_rep_replies_in_request_order_when_answers_come_out_of_order() -> None:
    """A DEALER's pipelined requests are answered in order, even if the second is ready first."""
    waiting: list[Deferred[bytes]] = []

    def handler(parts: list[bytes]) -> Deferred[bytes]:
        d: Deferred[bytes] = Deferred()
        waiting.append(d)
        return d

    dealer = Peer(ZMTPFactory(Replier(handler)), b"DEALER")
    dealer.send(b"", b"one")
    dealer.send(b"", b"two")
    waiting[1].callback(b"2")
    assert dealer.received() == []
    waiting[0].callback(b"1")
    assert dealer.received() == [[b"", b"1"], [b"", b"2"]]


def test_pub_prefix_matching_and_cancel() -> None:
    """A subscriber gets messages whose first frame starts with a topic, until it cancels."""
    pub = Publisher("cats")
    factory = ZMTPFactory(pub)
    sub = Peer(factory, b"SUB")
    other = Peer(factory, b"SUB")
    sub.proto.dataReceived(codec.command(b"SUBSCRIBE", b"maine coon"))
    sub.send(b"\x01persian")  # the ZMTP 3.0 form
    assert pub.publish([b"maine coon", b"fedora"]) == 1
    assert pub.publish([b"persian blue", b"bowler"]) == 1  # a byte prefix match
    assert pub.publish([b"siamese", b"bowler"]) == 0
    assert sub.received() == [[b"maine coon", b"fedora"], [b"persian blue", b"bowler"]]
    assert other.received() == []  # no subscription, nothing
    sub.proto.dataReceived(codec.command(b"CANCEL", b"maine coon"))
    pub.publish([b"maine coon", b"stovepipe"])
    assert sub.received() == []


def test_pub_counts_duplicate_subscriptions_and_empty_topic_is_all() -> None:
    """Subscribing twice needs two cancels; the empty topic matches everything."""
    pub = Publisher()
    sub = Peer(ZMTPFactory(pub), b"SUB")
    for _ in range(2):
        sub.proto.dataReceived(codec.command(b"SUBSCRIBE", b""))
    sub.proto.dataReceived(codec.command(b"CANCEL", b""))
    pub.publish([b"anything"])
    assert sub.received() == [[b"anything"]]


def test_pub_slow_subscriber_is_queued_to_hwm_then_dropped() -> None:
    """While a subscriber's transport is full it gets at most hwm messages later; others all."""
    pub = Publisher(hwm=2)
    factory = ZMTPFactory(pub)
    slow, fast = Peer(factory, b"SUB"), Peer(factory, b"SUB")
    for peer in (slow, fast):
        peer.proto.dataReceived(codec.command(b"SUBSCRIBE", b""))
    slow.proto.gate.pauseProducing()  # what the transport says when its buffer is full
    for i in range(5):
        pub.publish([b"%d" % i])
    assert slow.received() == [] and len(fast.received()) == 5
    assert pub.dropped == 3 and slow.proto.dropped == 3
    slow.proto.gate.resumeProducing()
    assert slow.received() == [[b"0"], [b"1"]]


def test_push_round_robin_skips_paused_peers() -> None:
    """PUSH deals messages to its PULL peers in turn, skipping one whose buffer is full."""
    push = Pusher()
    factory = ZMTPFactory(push)
    peers = [Peer(factory, b"PULL") for _ in range(3)]
    for i in range(6):
        push.push([b"%d" % i])
    assert [p.received() for p in peers] == [[[b"0"], [b"3"]], [[b"1"], [b"4"]], [[b"2"], [b"5"]]]
    peers[1].proto.gate.pauseProducing()
    for i in range(4):
        push.push([b"%d" % i])
    assert [len(p.received()) for p in peers] == [2, 0, 2]
    for p in peers:
        p.proto.gate.pauseProducing()
    assert push.push([b"lost"]) is None and push.dropped == 1


def test_router_routes_by_identity_or_a_made_up_id() -> None:
    """ROUTER hands messages with a routing id (the peer's Identity, or 5 bytes) and routes back."""
    seen: list[tuple[bytes, list[bytes]]] = []
    router = Router(lambda rid, parts: seen.append((rid, parts)))
    factory = ZMTPFactory(router)
    named = Peer(factory, b"DEALER", b"alice")
    twin = Peer(factory, b"DEALER", b"alice")  # the name is taken: it gets one made up
    anon = Peer(factory, b"REQ")
    named.send(b"", b"a")
    twin.send(b"", b"b")
    anon.send(b"", b"c")
    assert seen[0] == (b"alice", [b"", b"a"])
    assert len(seen[1][0]) == 5 and seen[1][0][0] == 0 and seen[1][0] != seen[2][0]
    assert router.send(seen[2][0], [b"", b"to c"])
    assert anon.received() == [[b"", b"to c"]] and named.received() == []
    anon.proto.connectionLost(None)  # type: ignore[arg-type]
    assert not router.send(seen[2][0], [b"", b"gone"])


def test_oversized_frame_gets_error_and_close() -> None:
    """A frame over --max-message is answered with ERROR and the connection closes."""
    factory = ZMTPFactory(Replier(books.upper), max_message=100)
    req = Peer(factory, b"REQ")
    req.proto.dataReceived(b"\x02" + (10**9).to_bytes(8, "big"))
    assert b"ERROR" in req.transport.value() and b"too large" in req.transport.value()
    assert req.transport.disconnecting


def test_garbage_greeting_closes_quietly() -> None:
    """A peer that does not greet in ZMTP 3 is closed after our greeting, with nothing else."""
    factory = ZMTPFactory(Replier(books.upper))
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"\x00\x01garbage")
    assert transport.value() == codec.greeting(1) and transport.disconnecting


def test_rep_records_zmq_message_events() -> None:
    """An enabled observatory gets zmq.message for the request and the reply."""
    observatory = Observatory(Clock(), enabled=True)
    req = Peer(ZMTPFactory(Replier(books.stop_saying, "reply", observatory)), b"REQ")
    req.send(b"", b"message #2")
    events = observatory.events(Filter.of(service="zmq", kind="zmq.message"))
    assert [(e.fields["direction"], e.fields["parts"]) for e in events] == [
        ("in", ["message #2"]),
        ("out", ["Stop saying: message #2"]),
    ]
    assert events[0].fields["endpoint"] == "reply" and events[0].fields["socket"] == "REP"


def test_time_reply_is_iso_utc() -> None:
    """Exercise 17.2: 'time' gets the clock's time in ISO 8601; anything else a hint."""
    answer = books.time_reply(lambda: 1_000_000_000.5)
    assert answer([b"time"]) == b"2001-09-09T01:46:40.500000+00:00"
    assert answer([b"date"]) == b"error: send 'time'"


def test_poem_words_match_the_exercise() -> None:
    """Exercise 17.5: 39 vowel-initial words and 29 five-letter words, in the poem's order."""
    msgs = books.poem_messages()
    vowels = [w.decode() for t, w in msgs if t == b"vowels"]
    five = [w.decode() for t, w in msgs if t == b"five"]
    assert len(vowels) == 39 and vowels[:5] == ["of", "at", "ease", "evening", "All"]
    assert vowels[-3:] == ["it", "About", "and"]
    assert len(five) == 29 and five[:3] == ["queen", "Lying", "flies"]
    assert "We'rt" in five and "You'd" in five and five[-1] == "crush"


def test_feeds_publish_and_push() -> None:
    """The cats feed publishes [cat, hat]; the poem feed cycles; the fountain pushes built-ins."""
    pub = Publisher()
    sub = Peer(ZMTPFactory(pub), b"SUB")
    sub.proto.dataReceived(codec.command(b"SUBSCRIBE", b""))
    cats = books.Cats(pub)
    for _ in range(10):
        cats()
    got = sub.received()
    assert len(got) == 10
    assert all(c.decode() in books.CATS and h.decode() in books.HATS for c, h in got)
    poem = books.Poem(pub)
    for _ in range(len(poem.messages) + 1):
        poem()
    assert sub.received()[-1] == poem.messages[0]
    push = Pusher()
    fountain = books.Fountain(push)
    assert fountain() is None  # nobody connected: nothing sent
    pull = Peer(ZMTPFactory(push), b"PULL")
    fountain()
    [[word]] = pull.received()
    assert word.decode() in books.builtin_words() and word.islower()


def test_router_knows_the_peer_when_ready_and_message_come_together() -> None:
    """READY and the first message in one read: the reply still reaches the peer (zerorpc's case)."""
    router = Router(lambda rid, parts: router.send(rid, [b"", b"back"]))
    proto = ZMTPFactory(router).buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    transport.clear()
    proto.dataReceived(codec.greeting(1) + codec.ready(b"DEALER") + codec.message([b"", b"hi"]))
    items = Decoder().feed(transport.value())
    assert items[-1] == (False, [b"", b"back"])


def test_rep_handler_failures_get_an_error_reply() -> None:
    """A handler that raises, or returns something that is not frames, still answers (and logs)."""
    answers = iter([ValueError("boom"), 42, b"fine"])

    def handler(parts: list[bytes]) -> Any:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    req = Peer(ZMTPFactory(Replier(handler)), b"REQ")
    for _ in range(3):
        req.send(b"", b"x")
    error = [b"", b"error: the server could not answer this request"]
    assert req.received() == [error, error, [b"", b"fine"]]


def test_tap_options() -> None:
    """--port 0 frees every endpoint's port, --NAME-port off drops one, --endpoint picks some;
    a fixed --port, an unknown endpoint and a bad bridge URL are usage errors."""
    import pytest
    from twisted.python import usage

    from zoo.tap import zmq as tap
    from zoo.tap._service import _groups

    options = tap.Options()
    options.parseOptions(["--port", "0", "--time-port", "off", "--bridge-redis", "off"])
    assert "time" not in options["endpoint"] and len(options["endpoint"]) == 8
    assert {options[f"{n}-port"] for n in options["endpoint"]} == {0}
    root = tap.makeService(options)
    assert len(_groups(root)) == 8
    options = tap.Options()
    options.parseOptions(["--endpoint", "reply", "--endpoint", "zerorpc"])
    assert options["endpoint"] == ["reply", "zerorpc"] and options["reply-port"] == 6780
    for bad in (["--port", "6789"], ["--endpoint", "nope"], ["--bridge-redis", "http://x"]):
        with pytest.raises(usage.UsageError):
            tap.Options().parseOptions(bad)
