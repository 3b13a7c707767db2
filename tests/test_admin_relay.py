"""The Redis event relay in memory: what it publishes, what it keeps from other nodes, resets."""

from __future__ import annotations

import json

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor

from zoo.admin.api import ControlPlane
from zoo.admin.relay import CHANNEL, EventRelay
from zoo.events import Filter, Observatory
from zoo.inspect import Call


class FakeRedis:
    """Records the commands sent on the publishing connection."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, ...]] = []

    def execute_command(self, *args: bytes) -> defer.Deferred[int]:
        self.sent.append(args)
        return defer.succeed(1)


def _relay() -> tuple[Observatory, EventRelay, FakeRedis]:
    clock = Clock()
    hub = Observatory(clock, enabled=True, node="a:1")
    relay = EventRelay(hub, "127.0.0.1", 6379, reactor=MemoryReactor())
    relay.startService()
    pub = FakeRedis()
    relay.connected("pub", pub)
    return hub, relay, pub


def test_start_connects_and_makes_session_ids_unique() -> None:
    """Starting connects twice to Redis and suffixes session ids with the node name."""
    hub, relay, _ = _relay()
    assert len(relay.reactor.tcpClients) == 2
    assert hub.session_id("smtp") == "smtp-1@a:1"
    relay.stopService()


def test_own_events_are_published_relayed_ones_not() -> None:
    """Only this node's events are published, as JSON on the shared channel."""
    hub, relay, pub = _relay()
    hub.emit("smtp", "mail.stored", "smtp-1@a:1", to=["x@example.com"])
    relay.received_message(None, CHANNEL, json.dumps({
        "node": "b:2", "time": 5.0, "service": "ftp", "kind": "file.uploaded",
        "session": "ftp-1@b:2", "fields": {"path": "/a"},
    }).encode())  # fmt: skip
    assert len(pub.sent) == 1
    verb, channel, data = pub.sent[0]
    assert (verb, channel) == (b"PUBLISH", CHANNEL)
    assert json.loads(data)["fields"] == {"to": ["x@example.com"]}


def test_other_nodes_events_are_kept_with_their_node() -> None:
    """An event from another node is kept here, numbered in this node's order, node named."""
    hub, relay, _ = _relay()
    hub.emit("smtp", "session.opened", "smtp-1@a:1")
    relay.received_message(None, CHANNEL, json.dumps({
        "node": "b:2", "seq": 40, "time": 5.0, "service": "ftp", "kind": "file.uploaded",
        "session": "ftp-1@b:2", "fields": {"path": "/a"},
    }).encode())  # fmt: skip
    [event] = hub.events(Filter.of(service="ftp"))
    assert (event.seq, event.node, event.session, event.time) == (2, "b:2", "ftp-1@b:2", 5.0)
    assert event.fields == {"path": "/a"}


def test_own_echo_and_garbage_are_dropped() -> None:
    """Our own events coming back, and malformed messages, are not kept."""
    hub, relay, _ = _relay()
    own = {"node": "a:1", "time": 1.0, "service": "x", "kind": "y", "session": None, "fields": {}}
    for message in (json.dumps(own).encode(), b"not json", b"[]", b'{"node": "b:2"}'):
        relay.received_message(None, CHANNEL, message)
    assert hub.events() == [] and relay.received == 1


def test_resets_are_shared() -> None:
    """A reset through the control plane is published; one from another node resets here."""
    hub, relay, pub = _relay()
    plane = ControlPlane(hub)
    plane.relay = relay
    cleared: list[str] = []
    hub.on_reset("smtp", lambda: cleared.append("smtp"))
    plane.reset_one(Call({"name": "smtp"}))
    assert json.loads(pub.sent[-1][2]) == {"node": "a:1", "reset": True, "service": "smtp"}
    assert cleared == ["smtp"]
    hub.emit("smtp", "mail.stored")
    relay.received_message(None, CHANNEL, b'{"node": "b:2", "reset": true, "service": null}')
    assert cleared == ["smtp", "smtp"] and hub.events() == []


def test_without_redis_events_stay_local() -> None:
    """With no publishing connection nothing is sent, and the outage is logged once."""
    hub, relay, pub = _relay()
    relay.disconnected("pub", pub)
    hub.emit("smtp", "mail.stored")
    hub.emit("smtp", "mail.stored")
    assert pub.sent == [] and relay._down_logged
    assert len(hub.events()) == 2
