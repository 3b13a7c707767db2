"""zerorpc (I{Introducing Python}'s C{zerorpc_client.py}) on a zoo-zmq ROUTER.

A zerorpc client is a DEALER sending C{[b"", event]}; an event is a msgpack
triple C{(header, name, args)} whose header holds C{message_id} and C{v} (3).
A call opens a I{channel} named by its C{message_id}; everything after it on that
channel carries C{response_to} with that id. The server answers on the channel
with C{OK (result,)} or C{ERR (name, message, traceback)}. While a call is
running both sides send C{_zpc_hb} on the channel every 5 seconds (the client
gives up on a server silent for 10); the client may also send C{_zpc_more}
(flow control). Events for channels the server does not know are dropped.

Calls are served from the same L{zoo.xmlrpc.methods.Methods} as XML-RPC and
JSON-RPC, and reported as C{rpc.called} with C{protocol} C{zerorpc}.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import msgpack
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from zoo.xmlrpc.methods import BAD_PARAMS, NOT_FOUND, RPCError, error_from_exception
from zoo.zmq.sockets import Router

log = Logger()

#: Seconds between heartbeats on a channel whose call is running (zerorpc's default).
HEARTBEAT = 5.0
#: Calls running at once for one client before more are refused.
MAX_CALLS = 64

#: What C{_zerorpc_name} answers.
NAME = "zoo"

_ERROR_NAMES = {NOT_FOUND: "NameError", BAD_PARAMS: "TypeError"}


class ZeroRPC:
    """Serve C{methods} over zerorpc on C{router} (sets the router's handler).

    @param clock: an C{IReactorTime} for the heartbeats.
    """

    def __init__(self, router: Router, methods: Any, clock: Any) -> None:
        self.router = router
        self.methods = methods
        self.clock = clock
        router.handler = self.received
        self._base = os.urandom(8).hex().encode("ascii")
        self._counter = 0
        #: (routing id, channel id) -> the channel's heartbeat timer.
        self.channels: dict[tuple[bytes, str], Any] = {}

    @property
    def _builtins(self) -> dict[str, Any]:
        """zerorpc's introspection, as its own server answers it (the C{zerorpc} command uses it)."""
        return {
            "_zerorpc_list": self._list,
            "_zerorpc_name": lambda: NAME,
            "_zerorpc_ping": lambda: ["pong", NAME],
            "_zerorpc_help": lambda m: self.methods.method_help(m),
            "_zerorpc_args": lambda m: _args(self.methods.lookup(m)),
            "_zerorpc_inspect": self._inspect,
        }

    def _list(self) -> list[str]:
        return [m for m in self.methods.list_methods() if not m.startswith("system.")]

    def _inspect(self) -> dict[str, Any]:
        return {
            "name": NAME,
            "methods": {
                m: {"args": _args(self.methods.lookup(m)), "doc": self.methods.method_help(m)}
                for m in self._list()
            },
        }

    def _msgid(self) -> bytes:
        self._counter += 1
        return b"%08x" % self._counter + self._base

    def received(self, routing_id: bytes, parts: list[bytes]) -> None:
        envelope, blob = parts[:-1], parts[-1]
        try:
            event = msgpack.unpackb(blob, raw=False, strict_map_key=False)
            header, name, args = event
            if not isinstance(header, dict) or not isinstance(name, str):
                raise ValueError("bad event")
            msgid = header["message_id"]
        except Exception:
            log.info("zerorpc: dropping a malformed event from {rid!r}", rid=routing_id)
            return
        if "response_to" in header:
            return  # _zpc_hb, _zpc_more (or a stray event) on a channel: nothing to do
        key = (routing_id, repr(msgid))
        if len([k for k in self.channels if k[0] == routing_id]) >= MAX_CALLS:
            self._reply(routing_id, envelope, msgid, "ERR", ("RuntimeError", "too many calls", ""))
            return
        if not isinstance(args, list | tuple):
            args = [args]
        builtin = self._builtins.get(name)
        if builtin is not None:
            try:
                self._ok(routing_id, envelope, msgid, builtin(*args))
            except Exception as e:  # a wrong argument count, an unknown method name
                self._reply(routing_id, envelope, msgid, "ERR", (type(e).__name__, str(e), ""))
            return
        session = self.router.session_of(routing_id)
        try:
            result = self.methods.call_observed(
                "zerorpc", session, name, tuple(args), service="zmq"
            )
        except RPCError as e:
            self._reply(routing_id, envelope, msgid, "ERR", _err(e))
            return
        if not isinstance(result, Deferred):
            self._ok(routing_id, envelope, msgid, result)
            return
        timer = self.clock.callLater(HEARTBEAT, self._beat, routing_id, envelope, msgid, key)
        self.channels[key] = timer

        def done(value: Any) -> None:
            self._end(key)
            self._ok(routing_id, envelope, msgid, value)

        def failed(failure: Any) -> None:
            self._end(key)
            self._reply(
                routing_id, envelope, msgid, "ERR", _err(error_from_exception(failure.value))
            )

        result.addCallbacks(done, failed)

    def _beat(self, routing_id: bytes, envelope: list[bytes], msgid: Any, key: Any) -> None:
        if key not in self.channels:
            return
        if routing_id not in self.router.routes:
            del self.channels[key]
            return
        self._reply(routing_id, envelope, msgid, "_zpc_hb", (0,))
        self.channels[key] = self.clock.callLater(
            HEARTBEAT, self._beat, routing_id, envelope, msgid, key
        )

    def _end(self, key: Any) -> None:
        timer = self.channels.pop(key, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _ok(self, routing_id: bytes, envelope: list[bytes], msgid: Any, value: Any) -> None:
        try:
            self._reply(routing_id, envelope, msgid, "OK", (value,))
        except (TypeError, ValueError, OverflowError) as e:
            self._reply(
                routing_id,
                envelope,
                msgid,
                "ERR",
                ("TypeError", f"cannot send the result: {e}", ""),
            )

    def _reply(
        self, routing_id: bytes, envelope: list[bytes], msgid: Any, name: str, args: Any
    ) -> None:
        header = {"message_id": self._msgid(), "v": 3, "response_to": msgid}
        blob = msgpack.packb((header, name, args), use_bin_type=True)
        self.router.send(routing_id, [*envelope, blob])


def _err(e: RPCError) -> tuple[str, str, str]:
    return (_ERROR_NAMES.get(e.code, "RemoteError"), e.message, "")


def _args(func: Any) -> list[dict[str, Any]]:
    """A function's arguments as zerorpc's inspection lists them: C{[{"name": ..., "default": ...}]}."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return []
    out = []
    for p in params:
        arg: dict[str, Any] = {"name": p.name}
        if p.default is not p.empty:
            arg["default"] = p.default
        out.append(arg)
    return out
