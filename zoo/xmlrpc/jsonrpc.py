"""JSON-RPC 2.0 over the same method table: requests, batches, notifications, errors.

L{handle} takes a request body and returns the response body (C{None} when
nothing must be sent: a notification, or a batch of them), or a L{Deferred} of
it when a method answered with one. Error objects use the spec's codes:

==========  =====================================================
-32700      parse error (not JSON)
-32600      invalid request (not a request object, empty batch)
-32601      method not found
-32602      invalid params (the call does not fit the function)
-32000      the method raised (message: the exception, as XML-RPC reports it)
==========  =====================================================

An injected fault that names its code (C{rpc:double='fault 42 busy'}) answers with
that code (42), as XML-RPC does; one that names none answers -32000.

A request without C{"jsonrpc": "2.0"} is answered as JSON-RPC 1.0 (C{result},
C{error} and C{id} always present), which older clients such as the book's
C{lovely.jsonrpc} proxy speak; such a request is always answered, with or without
an C{id} (over HTTP a reply costs nothing, and those clients wait for one). Only a
2.0 request without C{id} is a notification.

Infinite and NaN floats have no JSON spelling: a request holding C{Infinity},
C{NaN} or a number beyond a double (C{1e999}) is a parse error, and a result holding
one is an error object (-32603), never the invalid token C{Infinity}.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
from typing import Any

from twisted.internet.defer import Deferred, gatherResults

from zoo.xmlrpc.methods import (
    BAD_PARAMS,
    NOT_FOUND,
    NOT_REPRESENTABLE,
    Methods,
    RPCError,
    error_from_exception,
    non_finite,
)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000

#: Most requests in one batch.
MAX_BATCH = 1000

_NOT_JSON = NOT_REPRESENTABLE.format(wire="JSON")


class _NonFinite(ValueError):
    """A number in a request that JSON cannot carry (C{Infinity}, C{NaN}, C{1e999})."""


def _constant(name: str) -> float:
    raise _NonFinite(f"{name} is {_NOT_JSON}")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(f"{text[:40]} is {_NOT_JSON}")
    return value


# Python's decoder accepts Infinity and NaN and turns 1e999 into inf; JSON has neither.
_decode = json.JSONDecoder(parse_constant=_constant, parse_float=_finite).decode


def _default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_encode = json.JSONEncoder(
    default=_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode


def _error(code: int, message: str, id_: Any = None, v2: bool = True) -> dict[str, Any]:
    body = {"code": code, "message": message}
    if v2:
        return {"jsonrpc": "2.0", "error": body, "id": id_}
    return {"result": None, "error": body, "id": id_}


def _from_rpc_error(e: RPCError, id_: Any, v2: bool) -> dict[str, Any]:
    if e.chosen:  # an injected fault's own code
        return _error(e.code, e.message, id_, v2)
    code = {NOT_FOUND: METHOD_NOT_FOUND, BAD_PARAMS: INVALID_PARAMS}.get(e.code, SERVER_ERROR)
    return _error(code, e.message, id_, v2)


def _answer(result: Any, id_: Any, v2: bool) -> dict[str, Any]:
    if v2:
        return {"jsonrpc": "2.0", "result": result, "id": id_}
    return {"result": result, "error": None, "id": id_}


def call_one(
    methods: Methods, request: Any, session: str | None = None, transport: Any = None
) -> Any:
    """Run one request object; return its response object, C{None}, or a Deferred of either."""
    if not isinstance(request, dict):
        return _error(INVALID_REQUEST, "a request must be a JSON object")
    v2 = "jsonrpc" in request
    # Only 2.0 has notifications worth a 204: 1.x clients (the book's lovely.jsonrpc
    # sends {"version": "1.1", "method": ..., "params": ...}, no id) wait for an answer.
    notification = v2 and "id" not in request
    id_ = request.get("id")
    if v2 and request["jsonrpc"] != "2.0":
        return _error(INVALID_REQUEST, 'the "jsonrpc" member must be "2.0"', None)
    if isinstance(id_, dict | list):
        return _error(INVALID_REQUEST, "id must be a string, a number or null", None, v2)
    name = request.get("method")
    params = request.get("params", [])
    if params is None and not v2:  # lovely.jsonrpc sends "params": null for no arguments
        params = []
    if not isinstance(name, str):
        return _error(INVALID_REQUEST, 'a request needs a "method" string', id_, v2)
    if not isinstance(params, list | dict):
        return _error(INVALID_REQUEST, '"params" must be an array or an object', id_, v2)
    try:
        if name == "system.multicall":
            raise RPCError(NOT_FOUND, "JSON-RPC has batches instead of system.multicall")
        if isinstance(params, dict):
            result = methods.call_observed(
                "jsonrpc", session, name, (), params, transport=transport
            )
        else:
            result = methods.call_observed("jsonrpc", session, name, params, transport=transport)
    except RPCError as e:
        return None if notification else _from_rpc_error(e, id_, v2)
    if isinstance(result, Deferred):
        result.addCallbacks(
            lambda r: None if notification else _answer(r, id_, v2),
            lambda f: (
                None if notification else _from_rpc_error(error_from_exception(f.value), id_, v2)
            ),
        )
        return result
    return None if notification else _answer(result, id_, v2)


def _serialize(response: Any) -> bytes | None:
    if response is None or response == []:
        return None
    try:
        return _encode(response).encode("utf-8")
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as e:
        if isinstance(response, list):
            return _serialize([_safe(r) for r in response])
        return _encode(_unsendable(response, e)).encode()


def _safe(response: Any) -> Any:
    try:
        _encode(response).encode("utf-8")
        return response
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as e:
        return _unsendable(response, e)


def _unsendable(response: Any, e: Exception) -> dict[str, Any]:
    """The error object sent instead of a response that could not be encoded."""
    id_ = response.get("id") if isinstance(response, dict) else None
    v2 = not isinstance(response, dict) or "jsonrpc" in response
    if isinstance(e, ValueError) and non_finite(response.get("result")):
        return _error(INTERNAL_ERROR, f"cannot send the result: it is {_NOT_JSON}", id_, v2)
    return _error(INTERNAL_ERROR, f"cannot send the result: {e}", id_, v2)


def handle(
    methods: Methods, body: bytes, session: str | None = None, transport: Any = None
) -> bytes | None | Deferred[bytes | None]:
    """Answer one JSON-RPC HTTP body (a request or a batch); C{session} names the connection.

    @param transport: the connection, for the faults' scopes (L{zoo.faults.hook}).
    """
    try:
        request = _decode(body.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        return _serialize(_error(PARSE_ERROR, f"parse error: {e}"))
    if isinstance(request, list):
        if not request:
            return _serialize(_error(INVALID_REQUEST, "an empty batch"))
        if len(request) > MAX_BATCH:
            return _serialize(_error(INVALID_REQUEST, f"a batch holds at most {MAX_BATCH} calls"))
        answers = [call_one(methods, r, session, transport) for r in request]
        if any(isinstance(a, Deferred) for a in answers):
            d = gatherResults([a if isinstance(a, Deferred) else _done(a) for a in answers])
            return d.addCallback(lambda got: _serialize([a for a in got if a is not None]))
        return _serialize([a for a in answers if a is not None])
    answer = call_one(methods, request, session, transport)
    if isinstance(answer, Deferred):
        return answer.addCallback(_serialize)
    return _serialize(answer)


def _done(value: Any) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.callback(value)
    return d
