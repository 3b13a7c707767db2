"""zoo-xmlrpc in memory: raw HTTP bytes through the real Site/channel on a StringTransport."""

from __future__ import annotations

import datetime
import gzip
import json
import types
import xmlrpc.client
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python import usage
from twisted.python.failure import Failure

from zoo.tap import xmlrpc as tap
from zoo.xmlrpc import Methods, RPCError, book_methods, make_site
from zoo.xmlrpc.methods import APPLICATION, BAD_PARAMS, FAILURE, NOT_FOUND
from zoo.xmlrpc.xmlcodec import _parse_expat, _parse_simple


def _billion_laughs() -> bytes:
    """The classic entity bomb: lol9 expands to 10**9 "lol"s."""
    entities = [b'<!ENTITY lol "lol">']
    for i in range(1, 10):
        previous = b"lol" if i == 1 else b"lol%d" % (i - 1)
        entities.append(b'<!ENTITY lol%d "%s">' % (i, (b"&" + previous + b";") * 10))
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n'
        + b"\n".join(entities)
        + b"\n]>\n<methodCall><methodName>remote_repr</methodName><params><param><value>"
        b"<string>&lol9;</string></value></param></params></methodCall>"
    )


BILLION_LAUGHS = _billion_laughs()
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<methodCall><methodName>remote_repr</methodName><params><param><value>"
    b"<string>&e;</string></value></param></params></methodCall>"
)


class Conn:
    """One HTTP connection to a fresh site, in memory."""

    def __init__(self, methods: Methods | None = None, max_body: int = 1024 * 1024) -> None:
        self.clock = Clock()
        self.methods = methods if methods is not None else book_methods(clock=self.clock.seconds)
        self.site = make_site(
            self.methods, max_body=max_body, access_log=False, reactor=MemoryReactorClock()
        )
        self.channel = self.site.buildProtocol(None)
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.channel.dataReceived(data)

    def take(self) -> bytes:
        out = self.transport.value()
        self.transport.clear()
        return out

    def send_body(self, body: bytes) -> None:
        """Send a POST to / carrying C{body}, without reading the answer."""
        self.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    def post(self, path: str, body: bytes, *headers: str) -> tuple[int, dict[str, str], bytes]:
        lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *headers]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return parse_response(self.take())

    def call(self, method: str, *params: object) -> object:
        body = xmlrpc.client.dumps(params, method, allow_none=True).encode()
        status, headers, out = self.post("/RPC2", body, "Content-Type: text/xml")
        assert status == 200, (status, out)
        assert headers["content-type"].startswith("text/xml")
        return xmlrpc.client.loads(out, use_builtin_types=True)[0][0]

    def fault(self, method: str, *params: object) -> xmlrpc.client.Fault:
        with pytest.raises(xmlrpc.client.Fault) as caught:
            self.call(method, *params)
        return caught.value

    def raw_fault(self, body: bytes, path: str = "/") -> xmlrpc.client.Fault:
        status, _, out = self.post(path, body, "Content-Type: text/xml")
        assert status == 200, (status, out)
        with pytest.raises(xmlrpc.client.Fault) as caught:
            xmlrpc.client.loads(out)
        return caught.value

    def json(self, payload: object) -> tuple[int, object]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, _, out = self.post("/jsonrpc", body, "Content-Type: application/json")
        return status, (json.loads(out) if out else None)


def slow_conn() -> tuple[Conn, list[Deferred[object]]]:
    """A connection whose method C{slow()} returns a Deferred left pending in the list."""
    methods = Methods()
    pending: list[Deferred[object]] = []

    @methods.register
    def slow():
        pending.append(Deferred())
        return pending[-1]

    return Conn(methods), pending


class MemoryTransport(xmlrpc.client.Transport):
    """An xmlrpc.client transport that posts into a L{Conn} instead of a socket."""

    def __init__(self, conn: Conn) -> None:
        super().__init__()
        self.conn = conn
        self.calls = 0

    def request(self, host, handler, request_body, verbose=False):
        self.calls += 1
        status, _, out = self.conn.post(handler, request_body, "Content-Type: text/xml")
        assert status == 200
        return xmlrpc.client.loads(out)[0]


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the first HTTP response in C{raw}."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    if "content-length" in headers:
        rest = rest[: int(headers["content-length"])]
    return status, headers, rest


# -- the books' sessions ------------------------------------------------------


def test_book_client_session() -> None:
    """The book's xmlrpc_client.py calls get the book's answers, with quadratic's roots fixed."""
    c = Conn()
    assert c.call("addtogether", "x", "y", "z") == "xyz"
    assert c.call("addtogether", 20, 30, 4, 1) == 55
    assert c.call("quadratic", 2, -4, 0) == [0.0, 2.0]  # the book prints the erratum [0.0, 8.0]
    assert c.call("quadratic", 1, 2, 1) == [-1.0]
    assert c.call("remote_repr", (1, 2.0, "three")) == [1, 2.0, "three"]
    assert c.call("remote_repr", {"name": "Arthur", "data": {"age": 42, "sex": "M"}}) == {
        "name": "Arthur",
        "data": {"age": 42, "sex": "M"},
    }


def test_domain_error_is_fault_like_stdlib() -> None:
    """quadratic(1, 0, 1) is a Fault 1 worded as SimpleXMLRPCServer words it, not an HTTP error."""
    fault = Conn().fault("quadratic", 1, 0, 1)
    assert fault.faultCode == APPLICATION
    assert fault.faultString == "<class 'ValueError'>:math domain error"


def test_double() -> None:
    """Introducing Python's double(7) returns 14."""
    assert Conn().call("double", 7) == 14


def test_now_reads_injected_clock() -> None:
    """now() returns the injected clock's time as an ISO 8601 UTC string."""
    c = Conn()
    c.clock.advance(1_600_000_000.5)
    assert c.call("now") == "2020-09-13T12:26:40.500000+00:00"
    assert datetime.datetime.fromisoformat(c.call("now")).tzinfo is not None


def test_call_without_params_element() -> None:
    """A methodCall with no <params> element calls a no-argument method."""
    c = Conn()
    status, _, out = c.post("/", b"<methodCall><methodName>now</methodName></methodCall>")
    assert status == 200
    assert xmlrpc.client.loads(out)[0][0].startswith("1970-01-01T00:00:00")


def test_nil_dates_and_binary_round_trip() -> None:
    """<nil/>, dateTime.iso8601 and base64 values come back as sent."""
    c = Conn()
    when = datetime.datetime(2014, 2, 13, 20, 16, 23)
    assert c.call("remote_repr", None) is None
    assert c.call("remote_repr", when) == when
    assert c.call("remote_repr", b"\x00\xffbytes") == b"\x00\xffbytes"
    assert c.call("remote_repr", [None, {"t": when}]) == [None, {"t": when}]


# -- errors that must be faults -----------------------------------------------


def test_unknown_method_fault() -> None:
    """An unknown method is Fault 8001 naming it (twisted.web.xmlrpc's NOT_FOUND code)."""
    fault = Conn().fault("nope")
    assert fault.faultCode == NOT_FOUND == 8001
    assert "'nope' not found" in fault.faultString


@pytest.mark.parametrize("params", [(), (1, 2)])
def test_wrong_argument_count_fault(params: tuple[object, ...]) -> None:
    """Too few or too many arguments is a Fault showing the method's signature."""
    fault = Conn().fault("double", *params)
    assert fault.faultCode == BAD_PARAMS
    assert fault.faultString.startswith("double(num):")


def test_type_error_inside_method_is_not_an_arity_error() -> None:
    """A TypeError raised inside a method is reported as the method's error, not as bad arguments."""
    fault = Conn().fault("addtogether", 1, "a")
    assert fault.faultCode == APPLICATION
    assert "TypeError" in fault.faultString


def test_raised_fault_keeps_its_code() -> None:
    """A method raising xmlrpc.client.Fault or RPCError sends that code and text."""
    methods = Methods()

    @methods.register
    def picky(n):
        if n == 1:
            raise xmlrpc.client.Fault(42, "not one")
        raise RPCError(43, "not two")

    c = Conn(methods)
    assert (c.fault("picky", 1).faultCode, c.fault("picky", 1).faultString) == (42, "not one")
    assert (c.fault("picky", 2).faultCode, c.fault("picky", 2).faultString) == (43, "not two")


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"garbage<", "malformed XML-RPC request"),
        (b"", "malformed XML-RPC request"),
        (b"<methodCall><methodName>double</methodName><params>", "malformed"),
        (
            b"<methodResponse><params><param><value><int>1</int></value></param></params></methodResponse>",
            "no <methodCall>",
        ),
        (
            b"<methodCall><methodName>double</methodName><params><param><value><int>x</int></value>"
            b"</param></params></methodCall>",
            "malformed",
        ),
        (
            b"<methodCall><methodName>double</methodName><params><param><value><bogus/></value>"
            b"</param></params></methodCall>",
            "malformed",
        ),
        (b"\xff\xfe\x00<", "malformed"),
    ],
)
def test_malformed_xml_is_fault_not_500(body: bytes, fragment: str) -> None:
    """Broken bodies get a 200 with a Fault 8002 explaining why, never a 500 or a traceback."""
    fault = Conn().raw_fault(body)
    assert fault.faultCode == FAILURE
    assert fragment in fault.faultString
    assert "Traceback" not in fault.faultString


@pytest.mark.parametrize(
    "body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external"]
)
def test_dtd_refused_before_expansion(body: bytes) -> None:
    """A body with a DTD (entity bombs, external entities) is refused with a fault, unexpanded."""
    c = Conn()
    called: list[object] = []
    c.methods.register(lambda arg: called.append(arg), name="remote_repr")
    fault = c.raw_fault(body)
    assert fault.faultCode == FAILURE
    assert "DTD" in fault.faultString
    assert called == []


def test_unsendable_result_is_fault() -> None:
    """A result holding NUL or other non-XML characters becomes a fault (Twisted #3781)."""
    methods = Methods()
    methods.register(lambda: "a\x00b", name="nul")
    methods.register(lambda: "\ud800", name="surrogate")
    c = Conn(methods)
    fault = c.fault("nul")
    assert fault.faultCode == FAILURE
    assert "XML 1.0" in fault.faultString
    assert c.fault("surrogate").faultCode == FAILURE


def test_unserializable_result_is_fault() -> None:
    """A result XML-RPC cannot express (an object, a too-big int) is a fault, not a 500."""
    methods = Methods()
    methods.register(lambda: object(), name="obj")
    methods.register(lambda: 2**40, name="big")
    c = Conn(methods)
    assert "cannot send the result" in c.fault("obj").faultString
    assert "cannot send the result" in c.fault("big").faultString


def test_deeply_nested_value_is_fault() -> None:
    """20,000 nested arrays (under the body cap) parse without recursion and echo back as a fault."""
    depth = 20_000
    body = (
        b"<methodCall><methodName>remote_repr</methodName><params><param><value>"
        + b"<array><data><value>" * depth
        + b"<int>1</int>"
        + b"</value></data></array>" * depth
        + b"</value></param></params></methodCall>"
    )
    c = Conn()
    fault = c.raw_fault(body)
    assert fault.faultCode == FAILURE
    assert "cannot send the result" in fault.faultString
    assert c.call("double", 1) == 2


def test_get_lists_methods_and_unknown_path_404() -> None:
    """GET on the XML-RPC path is a page of the methods and their help (escaped); others 405/404."""
    methods = book_methods(clock=Clock().seconds)
    methods.register(lambda: None, name="<script>")
    c = Conn(methods)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, page = parse_response(c.take())
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"<code>quadratic(a, b, c)</code>" in page
    assert b"Determine `x` values satisfying" in page
    assert b"&lt;script&gt;" in page and b"<script>" not in page
    c.send(b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert parse_response(c.take())[0] == 405
    c.send(b"GET /jsonrpc HTTP/1.1\r\nHost: x\r\n\r\n")
    assert parse_response(c.take())[0] == 405
    assert c.post("/elsewhere", b"<x/>")[0] == 404


# -- introspection and multicall -------------------------------------------------


def test_introspection() -> None:
    """system.listMethods/methodHelp/methodSignature answer as the book's introspect client expects."""
    c = Conn()
    names = c.call("system.listMethods")
    for name in ("addtogether", "quadratic", "remote_repr", "double", "now", "system.multicall"):
        assert name in names
    assert c.call("system.methodHelp", "quadratic") == (
        "Determine `x` values satisfying: `a` * x*x + `b` * x + c == 0"
    )
    assert c.call("system.methodSignature", "quadratic") == "signatures not supported"
    assert c.fault("system.methodHelp", "nope").faultCode == NOT_FOUND
    assert c.fault("system.methodHelp", [1]).faultCode == BAD_PARAMS


def test_declared_signature() -> None:
    """A function's C{signature} attribute is what system.methodSignature returns."""
    methods = Methods()

    def add(a, b):
        return a + b

    add.signature = [["int", "int", "int"]]
    methods.register(add)
    assert Conn(methods).call("system.methodSignature", "add") == [["int", "int", "int"]]


def multicall_body(*calls: tuple[str, tuple[object, ...]]) -> list[dict[str, object]]:
    return [{"methodName": name, "params": list(params)} for name, params in calls]


def test_multicall_slots() -> None:
    """system.multicall answers [result] per call and a fault struct in a failing call's slot."""
    c = Conn()
    got = c.call(
        "system.multicall",
        multicall_body(
            ("addtogether", ("a", "b", "c")),
            ("quadratic", (1, 0, 1)),
            ("quadratic", (2, -4, 0)),
            ("nope", ()),
            ("system.multicall", ([],)),
        ),
    )
    assert got[0] == ["abc"]
    assert got[1] == {"faultCode": 1, "faultString": "<class 'ValueError'>:math domain error"}
    assert got[2] == [[0.0, 2.0]]
    assert got[3]["faultCode"] == NOT_FOUND
    assert "nested" in got[4]["faultString"]


def test_multicall_malformed_entries() -> None:
    """Entries that are not call structs fault in their slot; a non-array argument faults the call."""
    c = Conn()
    got = c.call(
        "system.multicall", [1, {"methodName": 5}, {"methodName": "double", "params": [2]}]
    )
    assert [type(s) for s in got] == [dict, dict, list]
    assert got[2] == [4]
    assert c.fault("system.multicall", "x").faultCode == BAD_PARAMS


def test_multicall_as_stdlib_client_sends_it() -> None:
    """The body xmlrpc.client.MultiCall builds is answered so its iterator yields each result."""
    transport = MemoryTransport(Conn())
    proxy = xmlrpc.client.ServerProxy("http://zoo/RPC2", transport=transport)
    multi = xmlrpc.client.MultiCall(proxy)
    multi.addtogether("a", "b", "c")
    multi.quadratic(2, -4, 0)
    multi.remote_repr([1, 2.0, "three"])
    assert list(multi()) == ["abc", [0.0, 2.0], [1, 2.0, "three"]]
    assert transport.calls == 1
    multi = xmlrpc.client.MultiCall(proxy)
    multi.double(1)
    multi.quadratic(1, 0, 1)
    answers = multi()
    assert answers[0] == 2
    with pytest.raises(xmlrpc.client.Fault, match="math domain error"):
        answers[1]


# -- Deferreds ------------------------------------------------------------------


def test_deferred_result() -> None:
    """A method returning a Deferred is answered when it fires, keep-alive intact."""
    c, pending = slow_conn()
    c.send_body(xmlrpc.client.dumps((), "slow").encode())
    assert c.take() == b""
    pending[0].callback(5)
    assert xmlrpc.client.loads(parse_response(c.take())[2])[0][0] == 5
    pending.clear()
    body = xmlrpc.client.dumps(
        ([{"methodName": "slow", "params": []}],), "system.multicall"
    ).encode()
    c.send_body(body)
    pending[0].errback(ValueError("late"))
    assert xmlrpc.client.loads(parse_response(c.take())[2])[0][0] == [
        {"faultCode": 1, "faultString": "<class 'ValueError'>:late"}
    ]


def test_client_gone_before_deferred_fires() -> None:
    """If the client disconnects while a Deferred is pending, its later result is dropped quietly."""
    c, pending = slow_conn()
    body = xmlrpc.client.dumps((), "slow").encode()
    c.send_body(body)
    c.channel.connectionLost(Failure(ConnectionDone()))
    pending[0].callback(1)
    assert c.take() == b""


# -- HTTP: limits, pipelining, encodings ---------------------------------------------


def test_pipelined_calls_answered_in_order() -> None:
    """Two calls sent in one write on a keep-alive connection get two answers, in order."""
    c = Conn()
    one = xmlrpc.client.dumps((1,), "double").encode()
    two = xmlrpc.client.dumps((2,), "double").encode()
    req = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
    c.send(req % len(one) + one + req % len(two) + two)
    out = c.take()
    first = parse_response(out)
    assert xmlrpc.client.loads(first[2])[0][0] == 2
    assert out.count(b"HTTP/1.1 200") == 2
    assert out.rindex(b"<int>4</int>") > out.index(b"<int>2</int>")


def test_content_length_over_cap_refused_before_body() -> None:
    """A Content-Length over the cap gets 413 at once: no 100 Continue, no parsing, then close."""
    c = Conn(max_body=1000)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1001\r\n\r\n")
    out = c.take()
    assert b"100 Continue" not in out
    status, headers, body = parse_response(out)
    assert status == 413
    assert headers["connection"] == "close"
    with pytest.raises(xmlrpc.client.Fault, match="too large"):
        xmlrpc.client.loads(body)
    c.send(b"x" * 5000)  # the rest of the body is read and dropped
    assert c.take() == b""
    assert c.transport.disconnecting or c.channel._refused


def test_oversized_body_in_same_packet_as_headers() -> None:
    """Headers and an oversized body in one write still get a 413, and nothing is parsed."""
    called: list[object] = []
    methods = Methods()
    methods.register(called.append, name="remote_repr")
    c = Conn(methods, max_body=100)
    body = xmlrpc.client.dumps(("x" * 500,), "remote_repr").encode()
    c.send_body(body)
    assert parse_response(c.take())[0] == 413
    c.channel.connectionLost(Failure(ConnectionDone()))
    assert called == []


def test_chunked_body_over_cap_refused_while_streaming() -> None:
    """A chunked body is refused with 413 as soon as its chunks pass the cap."""
    c = Conn(max_body=1000)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(3):
        c.send(b"200\r\n" + b"a" * 0x200 + b"\r\n")
    status, _, _ = parse_response(c.take())
    assert status == 413
    request = c.channel.requests[0] if c.channel.requests else None
    assert request is None or request.content.tell() <= 1000


def test_body_at_cap_accepted() -> None:
    """A body exactly at the cap is parsed normally."""
    body = xmlrpc.client.dumps(("x" * 10,), "remote_repr").encode()
    c = Conn(max_body=len(body))
    status, _, out = c.post("/", body)
    assert status == 200
    assert xmlrpc.client.loads(out)[0][0] == "x" * 10


def test_refused_then_drained_limit_aborts() -> None:
    """A client that keeps sending after a 413 is cut off once it passes the drain limit."""
    from zoo.xmlrpc import channel as web

    c = Conn(max_body=10)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
    chunk = b"x" * (1024 * 1024)
    for _ in range(web.DRAIN_LIMIT // len(chunk) + 2):
        c.send(chunk)
    assert c.transport.disconnecting


def test_half_close_after_request_still_answered() -> None:
    """A client that half-closes right after its request gets the answer, then the close."""
    c, pending = slow_conn()
    body = xmlrpc.client.dumps((), "slow").encode()
    c.send_body(body)
    c.channel.readConnectionLost()
    assert not c.transport.disconnecting
    pending[0].callback(7)
    assert xmlrpc.client.loads(parse_response(c.take())[2])[0][0] == 7
    assert c.transport.disconnecting


def test_half_close_mid_request_closes() -> None:
    """A half-close in the middle of a request (or between requests) closes the connection."""
    c = Conn()
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<meth")
    c.channel.readConnectionLost()
    assert c.transport.disconnecting
    idle = Conn()
    idle.channel.readConnectionLost()
    assert idle.transport.disconnecting


def test_gzip_body() -> None:
    """A gzip-encoded request body is inflated; one that inflates past the cap is a fault."""
    c = Conn(max_body=5000)
    body = gzip.compress(xmlrpc.client.dumps((21,), "double").encode())
    status, _, out = c.post("/", body, "Content-Encoding: gzip")
    assert xmlrpc.client.loads(out)[0][0] == 42
    bomb = gzip.compress(b" " * 1_000_000)
    status, _, out = c.post("/", bomb, "Content-Encoding: gzip")
    with pytest.raises(xmlrpc.client.Fault, match="too large once decompressed"):
        xmlrpc.client.loads(out)
    status, _, out = c.post("/", b"x", "Content-Encoding: br")
    with pytest.raises(xmlrpc.client.Fault, match="unsupported Content-Encoding"):
        xmlrpc.client.loads(out)


# -- JSON-RPC ---------------------------------------------------------------------


def test_jsonrpc_lengths_book_example() -> None:
    """The book's lengths((1,2,3), 27, {...}) answers with None for the int, as JSON null."""
    status, reply = Conn().json(
        {
            "jsonrpc": "2.0",
            "method": "lengths",
            "id": 1,
            "params": [[1, 2, 3], 27, {"Sirius": -1.46, "Rigel": 0.12}],
        }
    )
    assert status == 200
    assert reply == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": [[3, [1, 2, 3]], [None, 27], [2, {"Sirius": -1.46, "Rigel": 0.12}]],
    }


def test_jsonrpc_named_params() -> None:
    """Named params work: Introducing Python's double with {"num": 7} returns 14."""
    assert Conn().json({"jsonrpc": "2.0", "method": "double", "params": {"num": 7}, "id": "a"})[
        1
    ] == {"jsonrpc": "2.0", "result": 14, "id": "a"}


def test_jsonrpc_errors() -> None:
    """Parse errors, invalid requests, unknown methods, bad params and raised errors use the spec's codes."""
    c = Conn()
    assert c.json(b"{oops")[1]["error"]["code"] == -32700
    assert c.json(b"{oops")[1]["id"] is None
    assert c.json({"jsonrpc": "2.0", "method": 1, "id": 1})[1]["error"]["code"] == -32600
    assert c.json({"jsonrpc": "1.5", "method": "double", "id": 1})[1]["error"]["code"] == -32600
    assert c.json({"jsonrpc": "2.0", "method": "x", "id": 2})[1]["error"]["code"] == -32601
    assert (
        c.json({"jsonrpc": "2.0", "method": "double", "params": [], "id": 3})[1]["error"]["code"]
        == -32602
    )
    assert (
        c.json({"jsonrpc": "2.0", "method": "double", "params": {"n": 1}, "id": 3})[1]["error"][
            "code"
        ]
        == -32602
    )
    error = c.json({"jsonrpc": "2.0", "method": "quadratic", "params": [1, 0, 1], "id": 4})[1][
        "error"
    ]
    assert error == {"code": -32000, "message": "<class 'ValueError'>:math domain error"}
    assert c.json([])[1]["error"]["code"] == -32600
    assert c.json(b"[" * 100000 + b"]" * 100000)[1]["error"]["code"] == -32700


def test_jsonrpc_batch_and_notifications() -> None:
    """A batch answers each request (not notifications); a notification alone gets 204."""
    c = Conn()
    status, reply = c.json(
        [
            {"jsonrpc": "2.0", "method": "double", "params": [1], "id": 1},
            {"jsonrpc": "2.0", "method": "double", "params": [2]},
            {"jsonrpc": "2.0", "method": "nope", "id": 2},
            5,
        ]
    )
    assert status == 200
    assert reply[0] == {"jsonrpc": "2.0", "result": 2, "id": 1}
    assert reply[1]["error"]["code"] == -32601
    assert reply[2] == {
        "jsonrpc": "2.0",
        "error": {"code": -32600, "message": "a request must be a JSON object"},
        "id": None,
    }
    assert len(reply) == 3
    assert c.json({"jsonrpc": "2.0", "method": "double", "params": [2]}) == (204, None)
    assert c.json([{"jsonrpc": "2.0", "method": "double", "params": [2]}]) == (204, None)


def test_jsonrpc_at_root_by_content_type() -> None:
    """A JSON POST to / is JSON-RPC, as jsonrpcserver's serve() on port 5000 answers it."""
    c = Conn()
    body = json.dumps({"jsonrpc": "2.0", "method": "double", "params": {"num": 7}, "id": 1})
    status, headers, out = c.post(
        "/", body.encode(), "Content-Type: application/json; charset=utf-8"
    )
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(out) == {"jsonrpc": "2.0", "result": 14, "id": 1}
    assert c.call("double", 7) == 14  # text/xml at / stays XML-RPC


def test_jsonrpc_batch_with_deferred() -> None:
    """A batch waits for a method's Deferred and keeps the answers in request order."""
    c, pending = slow_conn()
    c.methods.register(lambda n: n * 2, name="double")
    batch = [
        {"jsonrpc": "2.0", "method": "slow", "id": 1},
        {"jsonrpc": "2.0", "method": "double", "params": [4], "id": 2},
        {"jsonrpc": "2.0", "method": "slow"},
    ]
    body = json.dumps(batch).encode()
    c.send(b"POST /jsonrpc HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert c.take() == b""
    pending[0].callback("late")
    pending[1].errback(ValueError("ignored: a notification"))
    reply = json.loads(parse_response(c.take())[2])
    assert reply == [
        {"jsonrpc": "2.0", "result": "late", "id": 1},
        {"jsonrpc": "2.0", "result": 8, "id": 2},
    ]


def test_jsonrpc_1_0_request() -> None:
    """A request without "jsonrpc" is answered in JSON-RPC 1.0 shape (result, error, id)."""
    reply = Conn().json({"method": "double", "params": [4], "id": 9})[1]
    assert reply == {"result": 8, "error": None, "id": 9}


def test_jsonrpc_dates_and_bytes() -> None:
    """Results JSON cannot hold natively (datetimes, bytes) are sent as ISO strings and base64."""
    methods = Methods()
    methods.register(lambda: [datetime.datetime(2020, 1, 2, 3, 4, 5), b"\x00\x01"], name="odd")
    assert Conn(methods).json({"jsonrpc": "2.0", "method": "odd", "id": 1})[1]["result"] == [
        "2020-01-02T03:04:05",
        "AAE=",
    ]


# -- the Python API -------------------------------------------------------------


def test_add_module_serves_public_functions_only() -> None:
    """add_module serves a module's own public functions, not private or imported ones."""
    module = types.ModuleType("mymod")
    exec(
        "import os\nfrom math import sqrt\ndef greet(name):\n    'Say hello.'\n    return 'hi ' + name\n"
        "def _hidden():\n    pass\nclass Thing:\n    pass\n",
        module.__dict__,
    )
    methods = Methods()
    assert methods.add_module(module) == ["greet"]
    c = Conn(methods)
    assert c.call("greet", "you") == "hi you"
    assert c.call("system.methodHelp", "greet") == "Say hello."
    assert "_hidden" not in c.call("system.listMethods")
    with pytest.raises(ValueError, match="no public functions"):
        Methods().add_module(types.ModuleType("empty"))


def test_register_forms_and_reserved_names() -> None:
    """register works bare, with a name, and refuses the system.* names."""
    methods = Methods()

    @methods.register(name="math.add")
    def add(a, b):
        return a + b

    assert methods.call("math.add", (1, 2)) == 3
    with pytest.raises(ValueError, match="reserved"):
        methods.register(add, name="system.listMethods")
    with pytest.raises(RPCError):
        methods.call("nope")


# -- command line ------------------------------------------------------------------


def test_options_defaults() -> None:
    """With no options the server listens on 127.0.0.1:7001 with a 1 MiB body cap."""
    options = tap.Options()
    options.parseOptions([])
    assert options.endpoints == ["tcp:7001:interface=127.0.0.1"]
    assert options["max-body"] == 1024 * 1024


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--module", "no.such.module"], "--module: cannot import"),
        (["--module", "zoo"], "no public functions"),
        (["--no-book"], "--no-book leaves nothing"),
        (["--max-body", "0"], "--max-body"),
    ],
)
def test_bad_options(args: list[str], fragment: str) -> None:
    """Bad --module, --no-book alone and a bad --max-body are one-line usage errors."""
    with pytest.raises(usage.UsageError, match=fragment):
        tap.Options().parseOptions(args)


def test_module_from_file(tmp_path) -> None:
    """--module accepts the path of a .py file; a missing file is a usage error."""
    path = tmp_path / "tools.py"
    path.write_text("def shout(s):\n    return s.upper()\n")
    options = tap.Options()
    options.parseOptions(["--module", str(path)])
    methods = Methods()
    methods.add_module(str(path))
    assert methods.call("shout", ("hi",)) == "HI"
    with pytest.raises(usage.UsageError, match="cannot import"):
        tap.Options().parseOptions(["--module", str(tmp_path / "nope.py")])


def test_make_service_serves_module(tmp_path, monkeypatch) -> None:
    """makeService with --module and --no-book serves only that module's functions."""
    (tmp_path / "zoo_test_mod.py").write_text("def triple(n):\n    return 3 * n\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    options = tap.Options()
    options.parseOptions(["--port", "0", "--module", "zoo_test_mod", "--no-book"])
    root = tap.makeService(options)
    site = next(iter(root)).protocol_factory
    methods = site.resource.xml.methods
    assert methods.call("triple", (2,)) == 6
    assert "double" not in methods


def test_access_log_batches_per_reactor_turn() -> None:
    """Access lines written in one reactor turn become one log event, in order, with the book's line."""
    from twisted.logger import Logger

    from zoo.xmlrpc.channel import BatchedAccessLog

    events: list[dict[str, object]] = []
    c = Conn()
    c.site.startFactory()
    assert isinstance(c.site.logFile, BatchedAccessLog)  # what the site logs through
    batch = BatchedAccessLog(c.clock, Logger(observer=events.append))
    c.site.logFile = batch
    c.site.access_log = True
    c.call("double", 1)
    c.call("double", 2)
    assert events == []
    c.clock.advance(0)
    assert len(events) == 1
    lines = str(events[0]["lines"]).splitlines()
    assert len(lines) == 2
    assert all('"POST /RPC2 HTTP/1.1" 200' in line for line in lines)
    c.call("double", 3)
    batch.close()
    assert len(events) == 2
    c.site.stopFactory()


@pytest.mark.parametrize(
    "agent", [b"Python-xmlrpc/3.11", b'say "hi"', b"back\\slash", b"caf\xc3\xa9", None]
)
def test_access_line_matches_twisted_combined_format(agent: bytes | None) -> None:
    """zoo's cheaper access-line formatter writes exactly twisted.web's combined log line."""
    from twisted.web.http import combinedLogFormatter
    from twisted.web.test.requesthelper import DummyRequest

    from zoo.xmlrpc.channel import access_line

    request = DummyRequest([b""])
    request.method, request.uri, request.clientproto = b"POST", b"/RPC2?x=\xff", b"HTTP/1.1"
    request.code, request.sentLength = 200, 122
    if agent is not None:
        request.requestHeaders.setRawHeaders(b"user-agent", [agent])
    stamp = "[21/Nov/2026:06:28:47 +0000]"
    assert access_line(stamp, request) == combinedLogFormatter(stamp, request)


_xml_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff\r"),
    max_size=30,
).filter(lambda t: not any(ord(ch) < 32 and ch not in "\t\n" for ch in t))
_scalars = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    _xml_text,
)
_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,20}", fullmatch=True)


@given(_names, st.lists(_scalars, max_size=6))
def test_fast_parse_agrees_with_expat(name: str, params: list[object]) -> None:
    """The expat-free reader of simple calls gives what expat gives, or declines."""
    body = xmlrpc.client.dumps(tuple(params), name).encode()
    fast = _parse_simple(body)
    if fast is not None:
        assert fast == _parse_expat(body)
    if all(isinstance(p, int) or (isinstance(p, str) and p.isalnum()) for p in params):
        assert fast is not None  # the common case does take the fast path


@given(
    st.sampled_from(
        [
            xmlrpc.client.dumps((7,), "double").encode(),
            xmlrpc.client.dumps(("x", 2.5, True), "remote_repr").encode(),
            b"<methodCall><methodName>now</methodName></methodCall>",
        ]
    ),
    st.integers(0, 200),
    st.binary(min_size=1, max_size=8),
)
def test_fast_parse_never_accepts_what_expat_refuses(body: bytes, at: int, junk: bytes) -> None:
    """A mutated body the fast reader accepts is one expat accepts too, with the same result."""
    mutated = body[:at] + junk + body[at:]
    fast = _parse_simple(mutated)
    if fast is not None:
        assert fast == _parse_expat(mutated)


@given(st.one_of(st.integers(-(2**33), 2**33), _scalars, st.lists(_scalars, max_size=3)))
def test_dump_result_is_what_stdlib_writes(value: object) -> None:
    """dump_result writes the same bytes xmlrpc.client.dumps does for any sendable value."""
    from zoo.xmlrpc.xmlcodec import dump_result

    try:
        expected = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()
    except OverflowError:
        assert b"<fault>" in dump_result(value)
        return
    assert dump_result(value) == expected


# -- the Twisted client --------------------------------------------------------------


def stub_proxy(url: str = "http://zoo/RPC2") -> Any:
    """A zoo.xmlrpc.client.Proxy talking to the books' site through treq's in-memory stub."""
    from treq.testing import StubTreq

    from zoo.xmlrpc.client import Proxy

    site = make_site(book_methods(clock=Clock().seconds), reactor=MemoryReactorClock())
    return Proxy(url, http=StubTreq(site.resource))


def fired(d: Deferred[Any]) -> Any:
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def test_client_calls_and_faults() -> None:
    """Proxy.callRemote fires with results, and fails with xmlrpc.client.Fault for faults."""
    proxy = stub_proxy()
    assert fired(proxy.callRemote("double", 7)) == 14
    assert fired(proxy.callRemote("remote_repr", None)) is None
    with pytest.raises(xmlrpc.client.Fault, match="math domain error"):
        fired(proxy.callRemote("quadratic", 1, 0, 1))


def test_client_multicall() -> None:
    """Proxy.multicall gives each call's result, or the Fault of a call that failed."""
    answers = fired(stub_proxy().multicall([("double", (1,)), ("quadratic", (1, 0, 1))]))
    assert answers[0] == 2
    assert isinstance(answers[1], xmlrpc.client.Fault)
    assert answers[1].faultCode == APPLICATION


def test_client_protocol_error() -> None:
    """A non-200 answer (here 404) fails with xmlrpc.client.ProtocolError."""
    with pytest.raises(xmlrpc.client.ProtocolError) as caught:
        fired(stub_proxy("http://zoo/elsewhere").callRemote("double", 1))
    assert caught.value.errcode == 404


def test_client_refuses_dtd_in_response() -> None:
    """The client parses answers behind the same DTD guard as the server."""
    from zoo.xmlrpc.xmlcodec import parse_response

    with pytest.raises(RPCError, match="DTD"):
        parse_response(BILLION_LAUGHS.replace(b"methodCall", b"methodResponse"))
    with pytest.raises(RPCError, match="malformed"):
        parse_response(b"<methodResponse><params></params></methodResponse>")


# -- numbers JSON and XML-RPC cannot carry, and JSON-RPC 1.x requests --------------------


def test_non_finite_result_is_fault() -> None:
    """double(1e308) overflows to inf: XML-RPC answers a fault naming it, not <double>inf."""
    c = Conn()
    for value in (1e308, -1e308):
        fault = c.fault("double", value)
        assert fault.faultCode == FAILURE and "not representable" in fault.faultString
    methods = Methods()
    methods.register(lambda: [1.0, float("nan")], name="nan")
    assert "not representable" in Conn(methods).fault("nan").faultString


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e999", "Infinity"])
@pytest.mark.parametrize("nested", [False, True])
def test_non_finite_xmlrpc_param_is_fault(text: str, nested: bool) -> None:
    """A <double> parameter that is not a finite number is a fault, on either parser path."""
    value = f"<value><double>{text}</double></value>"
    if nested:
        value = f"<value><array><data>{value}</data></array></value>"
    body = f"<methodCall><methodName>double</methodName><params><param>{value}</param></params></methodCall>"
    fault = Conn().raw_fault(body.encode(), "/RPC2")
    assert fault.faultCode == BAD_PARAMS and "not representable" in fault.faultString


def test_non_finite_jsonrpc_result_is_an_error() -> None:
    """double(1e308) over JSON-RPC is an error object, never the invalid token Infinity."""
    status, reply = Conn().json({"jsonrpc": "2.0", "method": "double", "params": [1e308], "id": 3})
    assert status == 200
    assert reply["id"] == 3 and "not representable" in reply["error"]["message"]


@pytest.mark.parametrize("number", [b"Infinity", b"-Infinity", b"NaN", b"1e999"])
def test_non_finite_jsonrpc_param_is_an_error(number: bytes) -> None:
    """A param of Infinity/NaN (not JSON) or 1e999 (beyond a double) is an error, not a call."""
    body = b'{"jsonrpc": "2.0", "method": "double", "params": [%s], "id": 1}' % number
    status, reply = Conn().json(body)
    assert status == 200 and "result" not in reply
    assert "not representable" in reply["error"]["message"]


def test_book_jsonrpc_request_without_id_is_answered() -> None:
    """lovely.jsonrpc 0.2.1's request (version 1.1, no "jsonrpc", no "id") gets a 1.0-shape answer."""
    body = (
        b'{"version": "1.1", "method": "lengths", '
        b'"params": [[1, 2, 3], 27, {"Sirius": -1.46, "Rigel": 0.12}]}'
    )
    status, reply = Conn().json(body)
    assert status == 200
    assert reply == {
        "result": [[3, [1, 2, 3]], [None, 27], [2, {"Sirius": -1.46, "Rigel": 0.12}]],
        "error": None,
        "id": None,
    }


def test_book_jsonrpc_request_without_arguments() -> None:
    """lovely.jsonrpc sends "params": null for a call without arguments: it is answered."""
    body = b'{"version": "1.1", "method": "system.listMethods", "params": null}'
    status, reply = Conn().json(body)
    assert status == 200 and "lengths" in reply["result"] and reply["error"] is None


def test_jsonrpc_2_0_notification_still_gets_204() -> None:
    """With "jsonrpc": "2.0" a request without "id" stays a notification (204, no body)."""
    assert Conn().json({"jsonrpc": "2.0", "method": "double", "params": [1]}) == (204, None)


@pytest.mark.parametrize(
    "head", [b"A" * (1 << 20), b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000]
)
def test_over_long_request_line_or_header_gets_431(head: bytes) -> None:
    """A request line or header longer than twisted.web's limit gets 431, then the close."""
    c = Conn()
    c.send(head)
    assert c.take().startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert c.transport.disconnecting


def test_pipelined_calls_stop_reading_while_answers_back_up() -> None:
    """Pipelined calls whose answers back up unread stop the reading, and it resumes once they drain."""
    from zoo.testing import End

    c = Conn()
    transport = End()  # pauses its producer past 64 KiB, as TCP does
    c.channel = c.site.buildProtocol(None)
    c.channel.makeConnection(transport)
    body = xmlrpc.client.dumps(("x" * 2000,), "remote_repr").encode()
    call = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    c.channel.dataReceived(call * 60)  # about 120 KiB of answers, never read
    assert transport.value().count(b"HTTP/1.1 200") == 60
    assert transport.producerState == "paused"
    transport.clear()
    transport.drained()
    assert transport.producerState == "producing"
