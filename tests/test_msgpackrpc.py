"""zoo-msgpackrpc and zerorpc: the RPC methods over MessagePack, in memory (no sockets, a fake clock)."""

from __future__ import annotations

from typing import Any

import msgpack
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from zoo.events import Filter, Observatory
from zoo.msgpackrpc import MsgpackRPCFactory
from zoo.xmlrpc.book import book_methods
from zoo.xmlrpc.methods import Methods
from zoo.zmq import codec
from zoo.zmq.protocol import ZMTPFactory
from zoo.zmq.sockets import Router
from zoo.zmq.zerorpc import HEARTBEAT, ZeroRPC


def methods(observatory: Any = None) -> Methods:
    table = book_methods(lambda: 0.0, Methods(observatory=observatory))
    slow: list[Deferred[Any]] = []

    def later() -> Deferred[Any]:
        """Answer when the test says so."""
        d: Deferred[Any] = Deferred()
        slow.append(d)
        return d

    table.register(later)
    table.slow = slow  # type: ignore[attr-defined]
    return table


def server(table: Methods, max_message: int = 1 << 20) -> tuple[Any, StringTransport]:
    proto = MsgpackRPCFactory(table, max_message).buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def answers(transport: StringTransport) -> list[Any]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(transport.value())
    transport.clear()
    return list(unpacker)


def test_request_gets_response() -> None:
    """msgpack_client.py's call double(8) gets [1, msgid, nil, 16]."""
    proto, transport = server(methods())
    proto.dataReceived(msgpack.packb([0, 1, "double", [8]]))
    assert answers(transport) == [[1, 1, None, 16]]


def test_old_raw_strings_are_accepted_and_answered_raw() -> None:
    """A pre-2013 client's raw strings (no str/bin types) work both ways."""
    proto, transport = server(methods())
    proto.dataReceived(msgpack.packb([0, 7, b"double", [b"ab" * 10]], use_bin_type=False))
    data = transport.value()
    assert b"\xd9" not in data  # a 40-byte string as raw 16, not as str8: the old format
    assert msgpack.unpackb(data, raw=True) == [1, 7, None, b"ab" * 20]


def test_notification_gets_no_answer_but_is_called() -> None:
    """[2, method, params] runs the method and sends nothing back."""
    observatory = Observatory(Clock(), enabled=True)
    proto, transport = server(methods(observatory))
    proto.dataReceived(msgpack.packb([2, "double", [3]]))
    assert transport.value() == b""
    [event] = observatory.events(Filter.of(kind="rpc.called"))
    assert event.service == "msgpackrpc" and event.fields["protocol"] == "msgpack-rpc"
    assert event.fields["result"] == 6


def test_errors_and_pipelined_out_of_order_answers() -> None:
    """Unknown methods and bad arity get [code, message]; a slow call answers after a fast one."""
    table = methods()
    proto, transport = server(table)
    proto.dataReceived(
        msgpack.packb([0, 1, "later", []])
        + msgpack.packb([0, 2, "nope", []])
        + msgpack.packb([0, 3, "double", [1, 2]])
    )
    got = answers(transport)
    assert got[0][:2] == [1, 2] and got[0][2][0] == 8001 and got[0][3] is None
    assert got[1][:2] == [1, 3] and got[1][2][0] == 8003
    table.slow[0].callback("done")  # type: ignore[attr-defined]
    assert answers(transport) == [[1, 1, None, "done"]]


def test_oversized_and_garbage_input_close_the_connection() -> None:
    """A message over the limit, or bytes that are not msgpack, close the connection."""
    proto, transport = server(methods(), max_message=1000)
    proto.dataReceived(msgpack.packb([0, 1, "double", ["x" * 5000]]))
    assert transport.disconnecting and transport.value() == b""
    for garbage in (
        b"\xc1" * 10,  # 0xc1 is never used in msgpack
        b"\x81\x91\x01\x02",  # a map whose key is an array: unhashable
        b"\x91" * 100_000,  # nested past msgpack's stack
    ):
        proto, transport = server(methods())
        proto.dataReceived(garbage)
        assert transport.disconnecting, garbage[:8]


class Dealer:
    """A zerorpc client: a DEALER peer of the zoo's ROUTER over a StringTransport."""

    def __init__(self, factory: ZMTPFactory) -> None:
        self.proto = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)
        self.proto.dataReceived(codec.greeting(1) + codec.ready(b"DEALER"))
        self.decoder = codec.Decoder()
        self.decoder.feed(self.transport.value()[64:])
        self.transport.clear()

    def call(self, msgid: bytes, name: str, args: Any, **header: Any) -> None:
        blob = msgpack.packb(({"message_id": msgid, "v": 3, **header}, name, args))
        self.proto.dataReceived(codec.message([b"", blob]))

    def events(self) -> list[Any]:
        data = self.transport.value()
        self.transport.clear()
        out = []
        for is_command, parts in self.decoder.feed(data):
            assert not is_command and parts[0] == b""  # type: ignore[index]
            out.append(msgpack.unpackb(parts[1], raw=False))  # type: ignore[index]
        return out


def zerorpc(observatory: Any = None) -> tuple[Dealer, Methods, Clock]:
    clock = Clock()
    table = methods(observatory)
    router = Router(name="zerorpc")
    ZeroRPC(router, table, clock)
    return Dealer(ZMTPFactory(router)), table, clock


def test_zerorpc_ok_reply() -> None:
    """double(7) gets OK (14,) on the call's channel (response_to its message_id)."""
    observatory = Observatory(Clock(), enabled=True)
    client, _, _ = zerorpc(observatory)
    client.call(b"m1", "double", [7])
    [(header, name, args)] = client.events()
    assert (name, args, header["response_to"], header["v"]) == ("OK", [14], b"m1", 3)
    [event] = observatory.events(Filter.of(kind="rpc.called"))
    assert (event.service, event.fields["protocol"], event.fields["method"]) == (
        "zmq",
        "zerorpc",
        "double",
    )


def test_zerorpc_err_reply() -> None:
    """An unknown method gets ERR with NameError, as zerorpc's own server sends."""
    client, _, _ = zerorpc()
    client.call(b"m2", "nope", [])
    [(header, name, args)] = client.events()
    assert name == "ERR" and args[0] == "NameError" and header["response_to"] == b"m2"


def test_zerorpc_heartbeats_while_a_call_runs() -> None:
    """A running call's channel gets _zpc_hb every 5 s until the answer; hb events are ignored."""
    client, table, clock = zerorpc()
    client.call(b"m3", "later", [])
    client.call(b"x", "_zpc_hb", [0], response_to=b"m3")  # the client's heartbeat
    assert client.events() == []
    clock.advance(HEARTBEAT)
    clock.advance(HEARTBEAT)
    beats = client.events()
    assert [e[1] for e in beats] == ["_zpc_hb", "_zpc_hb"]
    assert all(e[0]["response_to"] == b"m3" for e in beats)
    table.slow[0].callback(42)  # type: ignore[attr-defined]
    clock.advance(HEARTBEAT)
    assert [(e[1], e[2]) for e in client.events()] == [("OK", [42])]


def test_zerorpc_introspection() -> None:
    """_zerorpc_list, _zerorpc_ping and _zerorpc_inspect answer as zerorpc's own server does."""
    client, _, _ = zerorpc()
    client.call(b"a", "_zerorpc_list", [])
    client.call(b"b", "_zerorpc_ping", [])
    client.call(b"c", "_zerorpc_inspect", [])
    client.call(b"d", "_zerorpc_help", ["nope"])
    listed, ping, inspected, unknown = [(e[1], e[2]) for e in client.events()]
    assert (
        listed[0] == "OK" and "double" in listed[1][0] and "system.listMethods" not in listed[1][0]
    )
    assert ping == ("OK", [["pong", "zoo"]])
    assert inspected[1][0]["methods"]["double"]["args"] == [{"name": "num"}]
    assert unknown[0] == "ERR"


def test_what_is_not_a_request_is_answered_or_dropped() -> None:
    """A response sent to the server gets an error with its msgid; a non-array is dropped."""
    proto, transport = server(methods())
    proto.dataReceived(msgpack.packb([1, 5, None, 1]) + msgpack.packb("hello"))
    assert answers(transport) == [[1, 5, [8003, "not a request or a notification"], None]]
    assert not transport.disconnecting
