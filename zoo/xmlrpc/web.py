"""The RPC resources: XML-RPC at C{/} and C{/RPC2}, JSON-RPC 2.0 at C{/jsonrpc}.

L{XMLRPCResource} is a twisted.web.xmlrpc.XMLRPC serving a L{Methods} table;
L{JSONRPCResource} serves the same table as JSON-RPC. L{make_site} puts both in
an L{RPCSite} (see L{zoo.xmlrpc.channel} for the body cap and the HTTP details).
"""

from __future__ import annotations

import html
import io
import warnings
import zlib
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web import http, pages, resource, server
from twisted.web.resource import IResource

from zoo.events import session_of
from zoo.xmlrpc import jsonrpc
from zoo.xmlrpc.channel import DEFAULT_MAX_BODY, RPCSite
from zoo.xmlrpc.methods import FAILURE, Methods, RPCError, error_from_exception
from zoo.xmlrpc.xmlcodec import dump_fault, dump_result, parse_call

with warnings.catch_warnings():
    # twisted.web.xmlrpc's client half subclasses the deprecated http.HTTPClient;
    # importing the module warns even though zoo uses only the server half.
    warnings.filterwarnings("ignore", ".*HTTPClient.*", DeprecationWarning)
    from twisted.web import xmlrpc as _txmlrpc

log = Logger()

_XML = b"text/xml; charset=utf-8"
_JSON = b"application/json"


def _body(request: server.Request, max_body: int) -> bytes:
    """The request body, gunzipped if the client compressed it (never past C{max_body})."""
    content: Any = request.content
    body = content.getvalue() if isinstance(content, io.BytesIO) else content.read()
    encoding = request.getHeader(b"content-encoding")
    if encoding is None or encoding.lower() == b"identity":
        return body
    if encoding.lower() != b"gzip":
        raise RPCError(FAILURE, f"unsupported Content-Encoding {encoding.decode('latin-1')!r}")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        plain = inflater.decompress(body, max_body + 1)
    except zlib.error as e:
        raise RPCError(FAILURE, f"bad gzip body: {e}") from None
    if len(plain) > max_body or inflater.unconsumed_tail:
        raise RPCError(FAILURE, f"request body too large once decompressed (limit {max_body})")
    return plain


class XMLRPCResource(_txmlrpc.XMLRPC):
    """XML-RPC over HTTP POST for a L{Methods} table, on twisted.web.xmlrpc.

    It keeps twisted.web.xmlrpc's interface (C{lookupProcedure},
    C{listProcedures}, C{allowNone}, L{twisted.web.xmlrpc.Fault} raised by a
    method keeps its code) but serves the functions of the table, answers
    synchronous calls without a Deferred round trip, and parses with defusedxml.

    @param methods: the functions to serve.
    @param allow_none: send C{None} as C{<nil/>} (Python's clients accept it with
        C{allow_none=True}; default on).
    """

    def __init__(self, methods: Methods, allow_none: bool = True, max_body: int = DEFAULT_MAX_BODY):
        super().__init__(allowNone=allow_none, useDateTime=True)
        self.methods = methods
        self.max_body = max_body

    def lookupProcedure(self, procedurePath: str) -> Any:
        try:
            return self.methods.lookup(procedurePath)
        except RPCError as e:
            raise _txmlrpc.NoSuchFunction(e.code, e.message) from None

    def listProcedures(self) -> list[str]:
        return self.methods.list_methods()

    def render(self, request: server.Request) -> bytes | int:
        if request.method in (b"GET", b"HEAD"):
            return self.render_GET(request)
        if request.method != b"POST":
            return _post_only(request, b"an XML-RPC methodCall")
        return self.render_POST(request)

    def render_GET(self, request: server.Request) -> bytes:
        """A page listing the methods with their help, as DocXMLRPCServer serves on GET."""
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return method_page(self.methods)

    def render_POST(self, request: server.Request) -> bytes | int:
        request.setHeader(b"content-type", _XML)
        try:
            name, params = parse_call(_body(request, self.max_body))
            session = session_of(request.transport)
            result = self.methods.call_observed(
                "xmlrpc", session, name, params, transport=request.transport
            )
        except RPCError as e:
            return dump_fault(e)
        if isinstance(result, Deferred):
            result.addCallbacks(
                lambda r: dump_result(r, self.allowNone),
                lambda f: dump_fault(error_from_exception(f.value)),
            )
            _finish_later(request, result)
            return server.NOT_DONE_YET
        return dump_result(result, self.allowNone)


class JSONRPCResource(resource.Resource):
    """JSON-RPC 2.0 over HTTP POST for a L{Methods} table (batches, notifications)."""

    isLeaf = True
    allowedMethods = (b"POST",)

    def __init__(self, methods: Methods, max_body: int = DEFAULT_MAX_BODY) -> None:
        super().__init__()
        self.methods = methods
        self.max_body = max_body

    def render(self, request: server.Request) -> bytes | int:
        if request.method != b"POST":
            return _post_only(request, b"a JSON-RPC 2.0 request")
        return self.render_POST(request)

    def render_POST(self, request: server.Request) -> bytes | int:
        try:
            body = _body(request, self.max_body)
        except RPCError as e:
            request.setResponseCode(http.BAD_REQUEST)
            request.setHeader(b"content-type", _JSON)
            return jsonrpc._serialize(jsonrpc._error(jsonrpc.INVALID_REQUEST, e.message)) or b""
        answer = jsonrpc.handle(
            self.methods, body, session_of(request.transport), request.transport
        )
        if isinstance(answer, Deferred):
            answer.addCallback(lambda out: _json_reply(request, out))
            _finish_later(request, answer)
            return server.NOT_DONE_YET
        return _json_reply(request, answer)


def method_page(methods: Methods) -> bytes:
    """The HTML page of a method table: each method's signature and help."""
    items = []
    for name in methods.list_methods():
        help_text = html.escape(methods.method_help(name))
        items.append(
            f"<dt><code>{html.escape(methods.describe(name))}</code></dt>"
            f"<dd><pre>{help_text}</pre></dd>"
        )
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>XML-RPC methods</title></head>"
        "<body><h1>XML-RPC methods</h1><p>POST an XML-RPC <code>methodCall</code> to / or "
        "/RPC2, or a JSON-RPC 2.0 request to /jsonrpc.</p>"
        f"<dl>{''.join(items)}</dl></body></html>\n"
    )
    return page.encode("utf-8")


def _post_only(request: server.Request, what: bytes) -> bytes:
    """Answer a method other than POST with 405 and a line saying what to do."""
    request.setResponseCode(http.NOT_ALLOWED)
    request.setHeader(b"allow", b"POST")
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return b"405 Method Not Allowed: POST %s here.\n" % what


def _json_reply(request: server.Request, out: bytes | None) -> bytes:
    if out is None:  # only notifications: nothing to say
        request.setResponseCode(http.NO_CONTENT)
        return b""
    request.setHeader(b"content-type", _JSON)
    return out


def _finish_later(request: server.Request, d: Deferred[Any]) -> None:
    """Write C{d}'s bytes and finish, unless the client went away first."""
    gone: list[Any] = []
    request.notifyFinish().addErrback(gone.append)

    def write(body: bytes) -> None:
        if gone:
            return
        request.setHeader(b"content-length", b"%d" % len(body))
        request.write(body)
        request.finish()

    d.addCallback(write)
    d.addErrback(lambda f: log.failure("writing an RPC answer", f))


def _is_json(request: server.Request) -> bool:
    ctype = request.getHeader(b"content-type") or b""
    return ctype.split(b";", 1)[0].strip().lower() == b"application/json"


class RPCRoot(resource.Resource):
    """C{/} and C{/RPC2}: XML-RPC; C{/jsonrpc}: JSON-RPC; anything else: 404.

    A POST to C{/} with C{Content-Type: application/json} is JSON-RPC too.
    """

    def __init__(self, xml: resource.Resource, json: resource.Resource) -> None:
        super().__init__()
        self.xml = xml
        self.json = json

    def getChild(self, path: bytes, request: server.Request) -> IResource:
        if path == b"" and _is_json(request):
            # jsonrpcserver's serve() (Introducing Python, example 17-13) answers at /.
            return self.json
        if path in (b"", b"RPC2"):
            return self.xml
        if path == b"jsonrpc":
            return self.json
        return pages.notFound(
            "No such resource", "XML-RPC is at / and /RPC2, JSON-RPC at /jsonrpc."
        )


def make_site(
    methods: Methods, max_body: int = DEFAULT_MAX_BODY, access_log: bool = True, **kw: Any
) -> RPCSite:
    """The whole server as a twisted.web Site: XML-RPC at C{/} and C{/RPC2}, JSON-RPC at C{/jsonrpc}.

    @param max_body: largest request body in bytes; bigger ones get 413 unread.
    @param access_log: log a combined-format line per request.
    @param kw: passed to L{twisted.web.server.Site} (C{reactor}, C{logPath}, ...).
    """
    root = RPCRoot(XMLRPCResource(methods, max_body=max_body), JSONRPCResource(methods, max_body))
    return RPCSite(root, max_body=max_body, access_log=access_log, **kw)
