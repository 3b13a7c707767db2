"""MessagePack-RPC over TCP (I{Introducing Python}'s C{msgpack_client.py}), on Twisted.

The stream carries msgpack arrays back to back, each self-delimiting:

- a request C{[0, msgid, method, params]} gets a response C{[1, msgid, error, result]}
  (C{error} is C{nil} on success, C{result} is C{nil} on failure);
- a notification C{[2, method, params]} gets nothing.

Requests are served from the same L{zoo.xmlrpc.methods.Methods} as XML-RPC and
JSON-RPC, and reported as C{rpc.called} with C{protocol} C{msgpack-rpc}. A method
that returns a Deferred answers when it fires; responses may come in any order
(the client matches them by C{msgid}), as the spec allows.

B{Old clients.} msgpack-rpc-python and other clients from before msgpack's 2013
spec send strings as I{raw} (no str/bin distinction). They are read as UTF-8
text, with undecodable bytes kept as surrogates, and answers are written the old
way too (C{use_bin_type=False}), which every msgpack reader understands.

B{Limits.} A message over C{max_message} bytes (1 MiB), or nested or sized past
msgpack's own limits, gets no answer: the connection is closed. Anything that
unpacks but is not a request or notification gets an error response if it has
a msgid, and is otherwise dropped.
"""

from __future__ import annotations

from typing import Any

import msgpack
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from zoo.events import session_of
from zoo.flow import ReadGate
from zoo.policies import command_done, fast_writer
from zoo.xmlrpc.methods import BAD_PARAMS, RPCError, error_from_exception

log = Logger()

#: The book's port is 6789 (zoo-exercises has it); zoo-msgpackrpc uses 6785.
PORT = 6785
DEFAULT_MAX_MESSAGE = 1024 * 1024
REQUEST, RESPONSE, NOTIFY = 0, 1, 2


def pack(value: Any) -> bytes:
    """msgpack the old way (raw strings), readable by every msgpack client."""
    return msgpack.packb(value, use_bin_type=False, unicode_errors="surrogateescape")


def error_value(e: RPCError) -> list[Any]:
    """The C{error} of a failed response: C{[code, message]}."""
    return [e.code, e.message]


class MsgpackRPCProtocol(Protocol):
    """One client connection."""

    factory: MsgpackRPCFactory
    transport: Any

    def connectionMade(self) -> None:
        self.unpacker = msgpack.Unpacker(
            raw=False,
            unicode_errors="surrogateescape",
            strict_map_key=False,
            max_buffer_size=self.factory.max_message,
        )
        self.session = session_of(self.transport)
        self.gate = ReadGate(self.transport).start()
        self.write = fast_writer(self.transport)  # answers go out at once
        self.pending = 0

    def dataReceived(self, data: bytes) -> None:
        self.gate.ready()
        unpacker = self.unpacker
        try:
            unpacker.feed(data)
        except msgpack.BufferFull:
            self._refuse(f"a message over {self.factory.max_message} bytes")
            return
        while True:
            try:
                item = next(unpacker)
            except StopIteration:
                break
            except Exception as e:  # garbage: msgpack raises ValueError, TypeError (a map
                # with an unhashable key), StackError, FormatError...
                self._refuse(f"not MessagePack ({type(e).__name__}: {e})")
                return
            self.handle(item)
        command_done(self.transport)

    def _refuse(self, why: str) -> None:
        log.info("msgpack-rpc: closing {peer}: {why}", peer=self.transport.getPeer(), why=why)
        self.transport.loseConnection()
        self.dataReceived = lambda data: None  # type: ignore[method-assign]

    def handle(self, item: Any) -> None:
        if not isinstance(item, list) or not item:
            return
        kind = item[0]
        if kind == REQUEST and len(item) == 4:
            _, msgid, method, params = item
            self.call(msgid, method, params)
        elif kind == NOTIFY and len(item) == 3:
            _, method, params = item
            self.call(None, method, params)
        elif len(item) == 4 and isinstance(item[1], int):
            # A response, or a request of the wrong length: it has a msgid to answer.
            self.respond(item[1], [BAD_PARAMS, "not a request or a notification"], None)

    def call(self, msgid: Any, method: Any, params: Any) -> None:
        if isinstance(method, bytes):  # a bin method name from a modern client
            method = method.decode("utf-8", "surrogateescape")
        if not isinstance(params, list):
            params = [params]
        try:
            result = self.factory.methods.call_observed(
                "msgpack-rpc",
                self.session,
                method,
                tuple(params),
                service="msgpackrpc",
                transport=self.transport,
            )
        except RPCError as e:
            self.respond(msgid, error_value(e), None)
            return
        if isinstance(result, Deferred):
            self.pending += 1
            self.gate.hold("calls running", self.pending >= 64)

            def done(value: Any) -> None:
                self._finished()
                self.respond(msgid, None, value)

            def failed(failure: Any) -> None:
                self._finished()
                self.respond(msgid, error_value(error_from_exception(failure.value)), None)

            result.addCallbacks(done, failed)
            return
        self.respond(msgid, None, result)

    def _finished(self) -> None:
        self.pending -= 1
        self.gate.hold("calls running", self.pending >= 64)

    def respond(self, msgid: Any, error: Any, result: Any) -> None:
        if msgid is None or not self.transport.connected:
            return  # a notification: no answer
        try:
            data = pack([RESPONSE, msgid, error, result])
        except (TypeError, ValueError, OverflowError) as e:
            data = pack([RESPONSE, msgid, [8002, f"cannot send the result: {e}"], None])
        self.write(data)


class MsgpackRPCFactory(Factory):
    """Serve C{methods} (a L{zoo.xmlrpc.methods.Methods}) over MessagePack-RPC."""

    protocol = MsgpackRPCProtocol  # type: ignore[assignment]

    def __init__(self, methods: Any, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self.methods = methods
        self.max_message = max_message
