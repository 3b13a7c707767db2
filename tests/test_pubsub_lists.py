"""Redis lists in zoo-pubsub, in memory: pushes and pops, blocking pops, caps, events, inspector."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from zoo.events import Observatory
from zoo.inspect import ApiError, Call
from zoo.pubsub import codec
from zoo.pubsub.core import Broker
from zoo.pubsub.inspector import PubSubInspector
from zoo.pubsub.list_commands import MAX_PENDING
from zoo.pubsub.lists import ELEMENT_COST, KEY_COST, OOM, Keyspace
from zoo.pubsub.protocol import PubSubFactory


class Zoo:
    """A broker with connections over StringTransports and one clock."""

    def __init__(self, keyspace: Keyspace | None = None) -> None:
        self.clock = Clock()
        self.obs = Observatory(Clock(), enabled=True)
        self.factory = PubSubFactory(
            Broker(keyspace=keyspace), clock=self.clock, observatory=self.obs, fast_write=False
        )
        self.inspector = PubSubInspector(self.factory.broker, observatory=self.obs)

    def connect(self) -> Conn:
        return Conn(self.factory)


class Conn:
    def __init__(self, factory: PubSubFactory) -> None:
        self.transport = StringTransport()
        self.transport.session = "pubsub-1"
        self.proto = factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)

    def send(self, *commands: bytes) -> bytes:
        """Send inline commands; return (and clear) what came back."""
        self.proto.dataReceived(b"".join(c + b"\r\n" for c in commands))
        return self.take()

    def take(self) -> bytes:
        out = self.transport.value()
        self.transport.clear()
        return out


def pair(key: bytes, value: bytes) -> bytes:
    return codec.bulk_array([key, value])


def test_push_pop_range_and_length():
    """RPUSH/LPUSH answer the length; LRANGE and LLEN see the list; a list popped empty is gone."""
    c = Zoo().connect()
    assert c.send(b"RPUSH box nougat truffle", b"LPUSH box praline") == b":2\r\n:3\r\n"
    assert c.send(b"LRANGE box 0 -1") == codec.bulk_array([b"praline", b"nougat", b"truffle"])
    assert c.send(b"LLEN box", b"EXISTS box box nope") == b":3\r\n:2\r\n"
    assert c.send(b"RPOP box 2", b"LPOP box") == (
        codec.bulk_array([b"truffle", b"nougat"]) + codec.bulk(b"praline")
    )
    assert c.send(b"EXISTS box", b"LPOP box", b"LPOP box 3") == b":0\r\n$-1\r\n*-1\r\n"


def test_del_counts_lists_removed():
    """DEL removes lists and counts them."""
    c = Zoo().connect()
    c.send(b"RPUSH a 1", b"RPUSH b 2")
    assert c.send(b"DEL a b c a", b"EXISTS a b") == b":2\r\n:0\r\n"


def test_blpop_returns_at_once_from_the_first_non_empty_key():
    """BLPOP with elements waiting answers [key, value] without blocking."""
    c = Zoo().connect()
    c.send(b"RPUSH second x")
    assert c.send(b"BLPOP first second 0") == pair(b"second", b"x")


def test_blocked_clients_are_served_first_come_first_served():
    """Blocked clients get one element each, in the order they blocked, from their side."""
    zoo = Zoo()
    lucy, ethel, fred, pusher = (zoo.connect() for _ in range(4))
    assert lucy.send(b"BLPOP belt 0", b"PING") == b""  # PING waits behind the block
    assert ethel.send(b"BRPOP other belt 0") == b""
    assert fred.send(b"BLPOP belt 0") == b""
    assert pusher.send(b"RPUSH belt a b") == b":2\r\n"
    assert lucy.take() == pair(b"belt", b"a") + b"+PONG\r\n"
    assert ethel.take() == pair(b"belt", b"b")
    assert fred.take() == b""
    assert pusher.send(b"RPUSH other c", b"RPUSH belt d") == b":1\r\n:1\r\n"
    assert fred.take() == pair(b"belt", b"d")
    assert pusher.send(b"LLEN other", b"LLEN belt") == b":1\r\n:0\r\n"


def test_blpop_timeout_answers_null_and_runs_what_waited():
    """A timed-out BLPOP answers a null array (RESP3: _) and then runs the commands sent meanwhile."""
    zoo = Zoo()
    c = zoo.connect()
    assert c.send(b"BLPOP nothing 1.5", b"ECHO after") == b""
    zoo.clock.advance(1.4)
    assert c.take() == b""
    zoo.clock.advance(0.1)
    assert c.take() == b"*-1\r\n" + codec.bulk(b"after")
    c.send(b"HELLO 3")
    c.send(b"BRPOP nothing 0.001")
    zoo.clock.advance(0.001)
    assert c.take() == b"_\r\n"


def test_blpop_zero_waits_for_ever():
    """BLPOP with timeout 0 is still waiting a day later, and is served then."""
    zoo = Zoo()
    c, p = zoo.connect(), zoo.connect()
    c.send(b"BLPOP k 0")
    zoo.clock.advance(86400)
    assert c.take() == b""
    p.send(b"RPUSH k v")
    assert c.take() == pair(b"k", b"v")


def test_blocked_client_that_disconnects_is_forgotten():
    """A blocked client that goes away is not served; its timer is cancelled; the element stays."""
    zoo = Zoo()
    gone, stays, p = zoo.connect(), zoo.connect(), zoo.connect()
    gone.send(b"BLPOP k 10")
    stays.send(b"BLPOP k 0")
    gone.proto.connectionLost(None)
    assert zoo.clock.getDelayedCalls() == []
    assert zoo.factory.broker.keyspace.blocked == 1
    p.send(b"RPUSH k 1 2")
    assert stays.take() == pair(b"k", b"1")
    assert gone.take() == b""
    assert p.send(b"LLEN k") == b":1\r\n"
    assert zoo.factory.broker.keyspace.waiting == {}


def test_quit_while_blocked_closes_once_served():
    """QUIT sent while blocked waits its turn: the pop's reply, +OK, then the close."""
    zoo = Zoo()
    c, p = zoo.connect(), zoo.connect()
    c.send(b"BLPOP k 0", b"QUIT")
    assert not c.transport.disconnecting
    p.send(b"RPUSH k v")
    assert c.take() == pair(b"k", b"v") + b"+OK\r\n"
    assert c.transport.disconnecting


def test_too_many_commands_behind_a_block_stop_reading():
    """Past MAX_PENDING commands waiting behind a block the connection is not read, until served."""
    zoo = Zoo()
    c, p = zoo.connect(), zoo.connect()
    c.send(b"BLPOP k 0", *[b"PING"] * (MAX_PENDING - 1))
    assert c.transport.producerState == "producing"
    c.send(b"PING")
    assert c.transport.producerState == "paused"
    p.send(b"RPUSH k v")
    assert c.take() == pair(b"k", b"v") + b"+PONG\r\n" * MAX_PENDING
    assert c.transport.producerState == "producing"


def test_caps_on_keys_and_memory_answer_oom():
    """Past --max-keys or --max-list-memory a push gets Redis's OOM error and changes nothing."""
    c = Zoo(Keyspace(max_keys=2, max_memory=2 * KEY_COST + 2 + 4 * (ELEMENT_COST + 1))).connect()
    assert c.send(b"RPUSH a 1 2", b"RPUSH b 3") == b":2\r\n:1\r\n"
    assert c.send(b"RPUSH c 1") == OOM
    assert c.send(b"RPUSH b 4", b"RPUSH b 5") == b":2\r\n" + OOM
    # Popping a empty frees its key and elements (99 bytes): room for 5 elements, not 6.
    assert c.send(b"LPOP a 2", b"RPUSH b 5 6 7 8 9 x") == codec.bulk_array([b"1", b"2"]) + OOM
    assert c.send(b"RPUSH b 5 6 7 8 9", b"LLEN b") == b":7\r\n:7\r\n"


def test_keyspace_memory_returns_to_zero():
    """Pops and DEL give back exactly what pushes charged."""
    ks = Keyspace()
    ks.push(b"k", [b"abc", b"de"], left=False)
    ks.push(b"j", [b"x"], left=True)
    ks.pop(b"k", 5, left=True)
    ks.delete(b"j")
    assert ks.used == 0 and ks.lists == {}


def test_list_commands_refused_in_resp2_subscriber_context():
    """A subscribed RESP2 client gets Redis's context error for list commands."""
    c = Zoo().connect()
    c.send(b"SUBSCRIBE ch")
    assert c.send(b"RPUSH a 1").startswith(b"-ERR Can't execute 'rpush'")


def test_events_for_push_and_pop():
    """Pushes and pops (blocked ones too) are pubsub.pushed/pubsub.popped events."""
    zoo = Zoo()
    c, p = zoo.connect(), zoo.connect()
    c.send(b"BLPOP k 0")
    p.send(b"RPUSH k a b", b"LPOP k", b"DEL k")
    seen = [(e.kind, e.fields) for e in zoo.obs.events()]
    assert seen == [
        ("pubsub.pushed", {"key": "k", "count": 2, "length": 2}),
        ("pubsub.popped", {"key": "k", "count": 1, "length": 1}),
        ("pubsub.popped", {"key": "k", "count": 1, "length": 0}),
    ]


def test_inspector_lists_items_and_reset():
    """The inspector shows lists and blocked clients, one list's items, and reset empties lists."""
    zoo = Zoo()
    c, w = zoo.connect(), zoo.connect()
    c.send(b"RPUSH chocolates nougat truffle")
    w.send(b"BLPOP empty 0")
    listing = zoo.inspector.lists(Call())
    assert listing["lists"] == [
        {"key": "chocolates", "length": 2, "blocked": 0},
        {"key": "empty", "length": 0, "blocked": 1},
    ]
    got = zoo.inspector.list_items(Call(params={"key": "chocolates"}, query={"limit": "1"}))
    assert got == {"key": "chocolates", "length": 2, "items": ["nougat"]}
    with pytest.raises(ApiError):
        zoo.inspector.list_items(Call(params={"key": "empty"}))
    zoo.inspector.reset()
    assert c.send(b"LLEN chocolates") == b":0\r\n"
    assert zoo.factory.broker.keyspace.used == 0
