"""An XML-RPC client for Twisted code, on treq.

twisted.web.xmlrpc's C{Proxy} is built on the deprecated C{HTTPClient} (importing
it warns), wants C{bytes} URLs, and over HTTPS trusts only the platform's CAs,
so it cannot talk to a server with the zoo's development certificate. L{Proxy}
does the same job with treq, takes a CA file, and parses answers behind the same
DTD guard as the server.

    proxy = Proxy("https://localhost:7001/RPC2", ca_pem=state_dir / "tls" / "ca.pem")
    result = await proxy.callRemote("double", 7)          # 14
    answers = await proxy.multicall([("double", (1,)), ("quadratic", (1, 0, 1))])
    # [2, <Fault 1: "<class 'ValueError'>:math domain error">]
"""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred

from zoo.xmlrpc.xmlcodec import parse_response


class Proxy:
    """Call methods of one XML-RPC endpoint.

    @param url: the endpoint, C{http://...} or C{https://...}.
    @param ca_pem: for HTTPS, trust only the CA certificate in this PEM file.
    @param http: a C{treq.client.HTTPClient} (or C{treq.testing.StubTreq}) to
        send with, instead of one built here.
    @param reactor: the reactor for the HTTP client built here.
    """

    def __init__(
        self,
        url: str,
        *,
        ca_pem: str | Path | None = None,
        http: Any = None,
        reactor: Any = None,
        allow_none: bool = True,
    ) -> None:
        self.url = url
        self.allow_none = allow_none
        self._http = http if http is not None else _http_client(reactor, ca_pem)

    def callRemote(self, method: str, *args: Any) -> Deferred[Any]:
        """Call C{method}; the Deferred fires with its result or fails with C{xmlrpc.client.Fault}.

        An HTTP status other than 200 fails with C{xmlrpc.client.ProtocolError}.
        """
        body = xmlrpc.client.dumps(args, method, allow_none=self.allow_none).encode("utf-8")
        d = self._http.post(self.url, data=body, headers={b"Content-Type": [b"text/xml"]})
        return d.addCallback(self._read)

    def multicall(self, calls: Iterable[tuple[str, tuple[Any, ...]]]) -> Deferred[list[Any]]:
        """Run C{(method, args)} calls in one request with C{system.multicall}.

        Fires with one entry per call: its result, or an C{xmlrpc.client.Fault}
        instance (not raised) for a call that failed.
        """
        wanted = [{"methodName": name, "params": list(args)} for name, args in calls]
        return self.callRemote("system.multicall", wanted).addCallback(_unpack_slots)

    def _read(self, response: Any) -> Deferred[Any]:
        d = response.content()
        if response.code != 200:
            return d.addCallback(self._protocol_error, response)
        return d.addCallback(parse_response)

    def _protocol_error(self, body: bytes, response: Any) -> None:
        raise xmlrpc.client.ProtocolError(
            self.url,
            response.code,
            response.phrase.decode("latin-1"),
            dict(response.headers.getAllRawHeaders()),
        )


def _unpack_slots(slots: list[Any]) -> list[Any]:
    out: list[Any] = []
    for slot in slots:
        if isinstance(slot, dict) and "faultCode" in slot:
            out.append(xmlrpc.client.Fault(slot["faultCode"], slot.get("faultString", "")))
        elif isinstance(slot, list) and len(slot) == 1:
            out.append(slot[0])
        else:
            out.append(xmlrpc.client.Fault(8002, f"malformed multicall slot: {slot!r}"))
    return out


def _http_client(reactor: Any, ca_pem: str | Path | None) -> Any:
    from treq.client import HTTPClient
    from twisted.web.client import Agent, BrowserLikePolicyForHTTPS

    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    agent: Any
    if ca_pem is None:
        agent = Agent(reactor)
    else:
        from twisted.internet import ssl

        trust = ssl.Certificate.loadPEM(Path(ca_pem).expanduser().read_bytes())
        agent = Agent(reactor, contextFactory=BrowserLikePolicyForHTTPS(trustRoot=trust))
    return HTTPClient(agent)
