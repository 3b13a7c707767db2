"""Calling an XML-RPC method from the control plane (the web page's RPC form).

A browser page may only talk to the control plane's own origin, so the call goes
through here: L{RpcCaller} finds the zoo's own plain-HTTP C{xmlrpc} listener and
makes a real XML-RPC request to it over loopback. The call is therefore a session
with a transcript and an C{rpc.called} event like any client's.
"""

from __future__ import annotations

import json
import xmlrpc.client
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from zoo.inspect import ApiError, Call, Route

#: The service whose listener is called.
SERVICE = "xmlrpc"


def _default_proxy(reactor: Any) -> Callable[[str], Any]:
    def make(url: str) -> Any:
        from zoo.xmlrpc.client import Proxy

        return Proxy(url, reactor=reactor)

    return make


class RpcCaller:
    """C{POST /api/rpc/call}: one XML-RPC call to this zoo's C{xmlrpc} listener.

    @param listeners: returns the process's bound listeners (L{zoo.tap._service.Bound}).
    @param proxy: makes a client for a URL (by default L{zoo.xmlrpc.client.Proxy}).
    """

    def __init__(
        self,
        listeners: Callable[[], list[Any]],
        proxy: Callable[[str], Any] | None = None,
        reactor: Any = None,
    ) -> None:
        self.listeners = listeners
        self.proxy = proxy or _default_proxy(reactor)

    def route(self) -> Route:
        """The route the control plane serves this at."""
        return Route(
            "POST",
            "/api/rpc/call",
            self.call,
            'Call an XML-RPC method of this zoo\'s xmlrpc listener: JSON {"method": ..., '
            '"params": [...]}; answers {"result": ...} or {"fault": {"code", "message"}}.',
        )

    def url(self) -> str:
        """The URL of the first plain-HTTP TCP listener of C{xmlrpc}, or a 409."""
        for bound in self.listeners():
            if bound.service == SERVICE and bound.port is not None and not bound.tls:
                host = bound.host if bound.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
                host = f"[{host}]" if ":" in host else host
                return f"http://{host}:{bound.port}/RPC2"
        raise ApiError(409, "no plain-HTTP xmlrpc listener here (run zoo-xmlrpc without --tls)")

    def call(self, call: Call) -> defer.Deferred[dict[str, Any]]:
        """Make the call the JSON body asks for; fire with its result or its fault.

        @raise ApiError: 400 for a bad body, 409 without a listener to call; the
            Deferred fails with a 502 when the call itself fails (refused, not XML-RPC).
        """
        try:
            spec = json.loads(call.body or b"null")
        except ValueError as e:
            raise ApiError(400, f"the body is not JSON: {e}") from None
        if not isinstance(spec, dict) or not set(spec) <= {"method", "params"}:
            raise ApiError(400, 'the body must be {"method": "...", "params": [...]}')
        method, params = spec.get("method"), spec.get("params", [])
        if not isinstance(method, str) or not method:
            raise ApiError(400, "method must be a non-empty string")
        if not isinstance(params, list):
            raise ApiError(400, "params must be a list")
        url = self.url()
        d = defer.maybeDeferred(self.proxy(url).callRemote, method, *params)

        def fault(failure: Failure) -> dict[str, Any]:
            if failure.check(xmlrpc.client.Fault):
                f = failure.value
                return {"method": method, "fault": {"code": f.faultCode, "message": f.faultString}}
            error = failure.value
            raise ApiError(502, f"calling {url}: {type(error).__name__}: {error}")

        return d.addCallbacks(lambda result: {"method": method, "result": result}, fault)
