"""Protocol faults through the shared hook, in memory: RESP, RPC, FTP and login answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from zoo.faults import registry
from zoo.pubsub import codec
from zoo.pubsub.commands import Session
from zoo.pubsub.core import Broker, Client
from zoo.xmlrpc.methods import INJECTED, Methods, RPCError, injected_error


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    registry.clear()
    yield
    registry.clear()


class Sink:
    def __init__(self) -> None:
        self.data = b""

    def __call__(self, data: bytes) -> None:
        self.data += data


def resp_client(broker: Broker, clock: Any = None) -> tuple[Session, Sink]:
    sink = Sink()
    c = Client(broker, sink, lambda reason: None, clock)
    return Session(broker, c), sink


def test_resp_command_gets_the_injected_error() -> None:
    """A RESP command in scope gets the fault's error reply; other commands run."""
    broker = Broker()
    s, out = resp_client(broker)
    registry.add("resp:PING='BUSY try later' first=1", "pubsub")
    s.execute([b"ping"])
    s.execute([b"PING"])
    broker.flush()
    assert out.data == b"-BUSY try later\r\n+PONG\r\n"


def test_resp_default_error() -> None:
    """With no value the error is ERR and zoo's words."""
    broker = Broker()
    s, out = resp_client(broker)
    registry.add("resp:ECHO", "pubsub")
    s.execute([b"echo", b"x"])
    broker.flush()
    assert out.data == b"-ERR fault injected by zoo\r\n"


def test_resp_delivery_dropped_on_one_channel() -> None:
    """A dropped delivery never reaches the subscriber; the publisher hears the usual count."""
    broker = Broker()
    pub, pub_out = resp_client(broker)
    sub, sub_out = resp_client(broker)
    sub.execute([b"subscribe", b"news", b"other"])
    registry.add("resp:DELIVER=drop channel=news", "pubsub")
    pub.execute([b"publish", b"news", b"lost"])
    pub.execute([b"publish", b"other", b"kept"])
    broker.flush()
    assert pub_out.data == b":1\r\n:1\r\n"
    assert b"lost" not in sub_out.data and sub_out.data.endswith(codec.message(b"other", b"kept"))


def test_resp_delivery_delayed() -> None:
    """A delayed delivery arrives after that many seconds."""
    clock = Clock()
    broker = Broker()
    pub, _ = resp_client(broker, clock)
    sub, sub_out = resp_client(broker, clock)
    sub.execute([b"subscribe", b"news"])
    broker.flush()
    seen = len(sub_out.data)
    registry.add("resp:DELIVER=2", "pubsub")
    pub.execute([b"publish", b"news", b"late"])
    broker.flush()
    assert len(sub_out.data) == seen
    clock.advance(2)
    assert sub_out.data[seen:] == codec.message(b"news", b"late")


def test_rpc_fault_and_hang() -> None:
    """An RPC method in scope raises the injected fault, or hangs; others are called."""
    methods = Methods()
    methods.register(lambda x: x * 2, name="double")
    registry.add("rpc:double='fault 42 server busy' first=1", "xmlrpc")
    with pytest.raises(RPCError) as e:
        methods.call_observed("xmlrpc", None, "double", [2])
    assert (e.value.code, e.value.message) == (42, "server busy")
    assert methods.call_observed("xmlrpc", None, "double", [2]) == 4
    registry.add("rpc:double=hang", "xmlrpc")
    d = methods.call_observed("xmlrpc", None, "double", [2])
    assert isinstance(d, Deferred) and not d.called


def test_injected_error_forms() -> None:
    """The fault's value gives the code and text; the default code is -32500."""
    assert (injected_error(None).code, injected_error(None).message) == (
        INJECTED,
        "fault injected by zoo",
    )
    assert injected_error("fault").code == INJECTED
    assert (injected_error("7").code, injected_error("busy").message) == (7, "busy")
    assert injected_error("-32000 overloaded").code == -32000


def test_rpc_fault_scoped_to_the_serving_service() -> None:
    """An rpc: fault scoped to msgpackrpc fires on its calls, not on XML-RPC's."""
    methods = Methods()
    methods.register(lambda x: x * 2, name="double")
    registry.add("rpc:double=7", "msgpackrpc")
    assert methods.call_observed("xmlrpc", None, "double", [2]) == 4
    with pytest.raises(RPCError) as e:
        methods.call_observed("msgpack-rpc", None, "double", [2], service="msgpackrpc")
    assert e.value.code == 7
