"""The HTTP side: twisted.web resources for XML-RPC and JSON-RPC, and a Site with a body cap.

twisted.web reads a whole request body into memory (or a temporary file) with no
limit before the resource sees it. L{RPCSite} uses L{LimitedChannel}, which
refuses a body over C{max_body} bytes as soon as it can tell:

- with a C{Content-Length} header, right after the headers (and before sending
  C{100 Continue}, so a client that asked first never sends the body);
- with C{Transfer-Encoding: chunked}, as soon as the chunks add up to more than the limit.

Either way the client gets C{413 Request Entity Too Large} (with an XML-RPC
fault in the body for curl users), the connection is closed, and the bytes the
client still sends are read and dropped (up to a bound) so that the client
sees the answer rather than a reset.

Layout: C{/} and C{/RPC2} speak XML-RPC, C{/jsonrpc} speaks JSON-RPC 2.0.
"""

from __future__ import annotations

import io
import re
import warnings
import zlib
from typing import Any

from twisted.internet.address import UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.logger import Logger
from twisted.web import http, pages, resource, server
from zope.interface import implementer

from zoo.policies import fast_writer
from zoo.xmlrpc import jsonrpc
from zoo.xmlrpc.methods import FAILURE, Methods, RPCError, error_from_exception
from zoo.xmlrpc.xmlcodec import dump_fault, dump_result, parse_call

with warnings.catch_warnings():
    # twisted.web.xmlrpc's client half subclasses the deprecated http.HTTPClient;
    # importing the module warns even though zoo uses only the server half.
    warnings.filterwarnings("ignore", ".*HTTPClient.*", DeprecationWarning)
    from twisted.web import xmlrpc as _txmlrpc

log = Logger()
access_log = Logger(namespace="zoo.xmlrpc.access")

#: Default cap on a request body, in bytes.
DEFAULT_MAX_BODY = 1024 * 1024
#: After refusing a body, read and drop at most this many further bytes, then reset.
DRAIN_LIMIT = 16 * 1024 * 1024

_XML = b"text/xml; charset=utf-8"
_JSON = b"application/json"


class LimitedRequest(server.Request):
    """A request whose body is counted as it arrives; over the cap it is refused."""

    _received = 0
    channel: Any
    content: Any

    def gotLength(self, length: int | None) -> None:  # noqa: N802
        # The cap keeps bodies small, so they always stay in memory (twisted.web
        # spools anything over 100 kB to a temporary file).
        self.content = io.BytesIO()

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802
        channel = self.channel
        if channel is None or channel._refused:
            return
        self._received += len(data)
        if self._received > channel.max_body:
            channel.refuse_body()
            return
        self.content.write(data)


@implementer(IHalfCloseableProtocol)
class LimitedChannel(http.HTTPChannel):
    """An HTTPChannel that refuses request bodies over C{max_body} bytes (413)."""

    transport: Any

    max_body = DEFAULT_MAX_BODY
    _refused = False
    _drained = 0
    _head = b""

    def connectionMade(self) -> None:  # noqa: N802
        super().connectionMade()
        self._send = fast_writer(self.transport)
        self._host = None

    def getHost(self) -> Any:  # noqa: N802
        # Every Request asks; for TCP that is a getsockname() system call each time.
        if self._host is None:
            self._host = super().getHost()
        return self._host

    # Twisted writes a response's headers and its body separately and lets the
    # reactor join them on its next turn. Holding the headers until the body
    # comes lets one send() carry the whole response at once (see fast_writer).

    def writeHeaders(self, version: bytes, code: bytes, reason: bytes, headers: Any) -> None:  # noqa: N802
        lines = [version, b" ", code, b" ", reason, b"\r\n"]
        for name, values in headers.getAllRawHeaders():
            for value in values:
                lines.extend((name, b": ", value, b"\r\n"))
        lines.append(b"\r\n")
        self._head += b"".join(lines)

    def write(self, data: bytes) -> None:
        if self._head:
            data, self._head = self._head + data, b""
        self._send(data)

    def writeSequence(self, iovec: Any) -> None:  # noqa: N802
        self.write(b"".join(iovec))

    def requestDone(self, request: Any) -> None:  # noqa: N802
        if self._head:
            self.write(b"")
        super().requestDone(request)

    def allHeadersReceived(self) -> None:  # noqa: N802
        if self.length is not None and self.length > self.max_body:
            self.refuse_body()
            return
        super().allHeadersReceived()

    def refuse_body(self) -> None:
        """Answer 413, stop reading requests, and close once the client has been told."""
        if self._refused:
            return
        self._refused = True
        body = dump_fault(
            RPCError(FAILURE, f"request body too large: the limit is {self.max_body} bytes")
        )
        self.transport.write(
            b"HTTP/1.1 413 Request Entity Too Large\r\n"
            b"Content-Type: text/xml; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        half_close = getattr(self.transport, "loseWriteConnection", None)
        if half_close is not None:
            half_close()
        else:
            self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self._refused:
            self._drained += len(data)
            if self._drained > DRAIN_LIMIT:
                self.transport.abortConnection()
            return
        super().dataReceived(data)

    def readConnectionLost(self) -> None:  # noqa: N802
        """The client half-closed (C{printf ... | nc -N}): answer what it sent, then close.

        HTTPChannel alone treats the client's FIN as the end of the connection
        and drops the response of the request it just received.
        """
        if self._handlingRequest and not self._refused:
            self.persistent = False  # requestDone closes once the answer is written
        else:
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:  # noqa: N802
        pass


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

    def lookupProcedure(self, procedurePath: str) -> Any:  # noqa: N802,N803
        try:
            return self.methods.lookup(procedurePath)
        except RPCError as e:
            raise _txmlrpc.NoSuchFunction(e.code, e.message) from None

    def listProcedures(self) -> list[str]:  # noqa: N802
        return self.methods.list_methods()

    def render(self, request: server.Request) -> bytes | int:
        if request.method != b"POST":
            return _post_only(request, b"an XML-RPC methodCall")
        return self.render_POST(request)

    def render_POST(self, request: server.Request) -> bytes | int:  # noqa: N802
        request.setHeader(b"content-type", _XML)
        try:
            name, params = parse_call(_body(request, self.max_body))
            result = self.methods.call(name, params)
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

    def render_POST(self, request: server.Request) -> bytes | int:  # noqa: N802
        try:
            body = _body(request, self.max_body)
        except RPCError as e:
            request.setResponseCode(http.BAD_REQUEST)
            request.setHeader(b"content-type", _JSON)
            return jsonrpc._serialize(jsonrpc._error(jsonrpc.INVALID_REQUEST, e.message)) or b""
        answer = jsonrpc.handle(self.methods, body)
        if isinstance(answer, Deferred):
            answer.addCallback(lambda out: _json_reply(request, out))
            _finish_later(request, answer)
            return server.NOT_DONE_YET
        return _json_reply(request, answer)


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

    def getChild(self, path: bytes, request: server.Request) -> resource.Resource:  # noqa: N802
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


_PLAIN = re.compile(rb"[ !#-\[\]-~]*")  # printable ASCII but for " and \\


def _escape(value: bytes | str) -> str:
    """http._escape, without its repr() round trip for the usual plain ASCII value."""
    if isinstance(value, bytes) and _PLAIN.fullmatch(value):
        return value.decode("ascii")
    return http._escape(value)


def access_line(timestamp: str, request: Any) -> str:
    """twisted.web's combined log format line, byte for byte, computed more cheaply."""
    addr = request.getClientAddress()
    ip = getattr(addr, "host", None) if not isinstance(addr, UNIXAddress) else None
    host = _escape(ip.encode("ascii")) if ip is not None else "-"
    method, uri = _escape(request.method), _escape(request.uri)
    proto = _escape(request.clientproto)
    referrer = _escape(request.getHeader(b"referer") or b"-")
    agent = _escape(request.getHeader(b"user-agent") or b"-")
    length = request.sentLength or "-"
    return (
        f'"{host}" - - {timestamp} "{method} {uri} {proto}" {request.code:d} {length} '
        f'"{referrer}" "{agent}"'
    )


class BatchedAccessLog:
    """The access log, one log event per reactor turn instead of one per request.

    twisted.web writes each access line through the legacy log, so every request
    pays for a log event (timestamp and system formatting, observers, a write): about
    a third of a small call's CPU. Lines written during one reactor turn are sent
    as one event of several lines (twistd indents the continuation lines); each line
    keeps its own timestamp. At one request per turn the log looks as before.
    """

    def __init__(self, clock: Any, logger: Logger | None = None) -> None:
        self.clock = clock
        self.logger = logger if logger is not None else access_log
        self.lines: list[str] = []
        self._call: Any = None

    def write(self, line: str) -> None:
        self.lines.append(line)
        if self._call is None:
            self._call = self.clock.callLater(0, self.flush)

    def flush(self) -> None:
        self._call = None
        lines, self.lines = self.lines, []
        if lines:
            self.logger.info("{lines}", lines="".join(lines).rstrip("\n"))

    def close(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self.flush()


class RPCSite(server.Site):
    """A Site whose connections refuse request bodies over C{max_body} bytes."""

    requestFactory = LimitedRequest

    def __init__(
        self,
        root: resource.Resource,
        max_body: int = DEFAULT_MAX_BODY,
        access_log: bool = True,
        **kw: Any,
    ) -> None:
        # An RPC body is never a form: skip twisted.web's form parsing, which builds
        # an email.message to read the Content-Type of every POST.
        kw.setdefault("parsePOSTFormSubmission", False)
        # The zoo's idle sweep closes idle connections; twisted.web's own timeout
        # would move a DelayedCall on every read.
        kw.setdefault("timeout", None)
        kw.setdefault("logFormatter", access_line)
        super().__init__(root, **kw)
        self.max_body = max_body
        self.access_log = access_log

    def log(self, request: Any) -> None:
        if self.access_log:
            super().log(request)

    def buildProtocol(self, addr: Any) -> Any:  # noqa: N802
        channel = super().buildProtocol(addr)
        channel.max_body = self.max_body
        return channel

    def startFactory(self) -> None:  # noqa: N802
        super().startFactory()
        if not self.logPath:
            self._logFile = BatchedAccessLog(self.reactor)

    protocol = LimitedChannel  # type: ignore[assignment]


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
