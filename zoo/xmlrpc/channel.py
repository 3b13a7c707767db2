"""The HTTP layer under zoo's RPC resources: a twisted.web Site with a body cap.

twisted.web reads a whole request body into memory (or a temporary file) with no
limit before the resource sees it. L{RPCSite} uses L{LimitedChannel}, which
refuses a body over C{max_body} bytes as soon as it can tell:

- with a C{Content-Length} header, right after the headers (and before sending
  C{100 Continue}, so a client that asked first never sends the body);
- with C{Transfer-Encoding: chunked}, as soon as the chunks add up to more than the limit.

Either way the client gets C{413 Request Entity Too Large} (with an XML-RPC
fault in the body for curl users), the connection is half-closed, and the bytes
the client still sends are read and dropped (up to a bound) so that the client
sees the answer rather than a reset.

The channel also sends each response with one C{send()}, answers half-closed
clients, and the site logs access lines one log event per reactor turn.
"""

from __future__ import annotations

import io
import re
from typing import Any

from twisted.internet.address import UNIXAddress
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.logger import Logger
from twisted.web import resource, server
from zope.interface import implementer

from zoo._twisted.web import HTTPChannelAdapter, escape
from zoo.flow import REPLIES, GateReason, ReadGate
from zoo.policies import command_deadline_off, command_done, fast_writer
from zoo.xmlrpc.methods import FAILURE, RPCError
from zoo.xmlrpc.xmlcodec import dump_fault

access_log = Logger(namespace="zoo.xmlrpc.access")

#: Default cap on a request body, in bytes.
DEFAULT_MAX_BODY = 1024 * 1024
#: The read gate's reason while twisted.web holds a request and buffers the next.
REQUEST = "request in hand"
#: After refusing a body, read and drop at most this many further bytes, then reset.
DRAIN_LIMIT = 16 * 1024 * 1024


class LimitedRequest(server.Request):
    """A request whose body is counted as it arrives; over the cap it is refused."""

    _received = 0
    channel: Any
    content: Any

    def gotLength(self, length: int | None) -> None:
        # The cap keeps bodies small, so they always stay in memory (twisted.web
        # spools anything over 100 kB to a temporary file).
        self.content = io.BytesIO()

    def handleContentChunk(self, data: bytes) -> None:
        channel = self.channel
        if channel is None or channel._refused:
            return
        self._received += len(data)
        if self._received > channel.max_body:
            channel.refuse_body()
            return
        self.content.write(data)


@implementer(IHalfCloseableProtocol)
class LimitedChannel(HTTPChannelAdapter):
    """An HTTPChannel that refuses request bodies over C{max_body} bytes (413)."""

    transport: Any

    max_body = DEFAULT_MAX_BODY
    _refused = False
    _drained = 0
    _head = b""
    _held: Any = None
    #: Hold the next pipelined request while the answers back up unread (zoo-http's
    #: answers can be 100 KiB each); off for XML-RPC, whose reading stops instead.
    one_answer_ahead = False

    def connectionMade(self) -> None:
        super().connectionMade()
        # twisted.web registers the channel as the transport's producer, but while a
        # request is being handled it never pauses reading for backed-up responses
        # (it only remembers them), so pipelined calls whose answers are never read
        # grew the server without bound. The read gate takes the slot; the channel's
        # own pausing (a request in hand) becomes the gate's REQUEST reason.
        self.transport.unregisterProducer()
        self.gate = ReadGate(self.transport).start()
        self.network_producer = GateReason(self.gate, REQUEST)
        self.gate.on_backed_up = self._replies_backed_up
        self._send = fast_writer(self.transport)
        self._host = None

    def getHost(self) -> Any:
        # Every Request asks; for TCP that is a getsockname() system call each time.
        if self._host is None:
            self._host = super().getHost()
        return self._host

    # Twisted writes a response's headers and its body separately and lets the
    # reactor join them on its next turn. Holding the headers until the body
    # comes lets one send() carry the whole response at once (see fast_writer).

    def writeHeaders(self, version: bytes, code: bytes, reason: bytes, headers: Any) -> None:
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

    def writeSequence(self, iovec: Any) -> None:
        self.write(b"".join(iovec))

    def requestDone(self, request: Any) -> None:
        if self._head:
            self.write(b"")
        if (
            self.one_answer_ahead
            and REPLIES in self.gate.reasons
            and self.persistent
            and not self._refused
        ):
            # The client is not reading its answers (the transport's buffer is
            # backed up): twisted.web would go straight on to the pipelined requests
            # it has buffered (up to a whole read of them) and queue all their
            # answers. Take the next request only once this answer has drained.
            self._held = request
            return
        super().requestDone(request)

    def _replies_backed_up(self, backed_up: bool) -> None:
        if not backed_up and self._held is not None:
            request, self._held = self._held, None
            super().requestDone(request)

    def allHeadersReceived(self) -> None:
        if self.length is not None and self.length > self.max_body:
            self.refuse_body()
            return
        super().allHeadersReceived()

    def lineLengthExceeded(self, line: bytes) -> None:
        # Twisted's line reader just drops the connection; say why first.
        self._refused = True
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        self.transport.loseConnection()

    def allContentReceived(self) -> None:
        command_done(self.transport)  # the whole request: line, headers and body
        super().allContentReceived()

    def command_timed_out(self) -> None:
        """The shared deadline passed before the whole request arrived: 408, and close."""
        if self._refused:
            return
        self._refused = True
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        self.transport.loseConnection()

    def refuse_body(self) -> None:
        """Answer 413, stop reading requests, and close once the client has been told."""
        if self._refused:
            return
        self._refused = True
        command_deadline_off(self.transport)  # the drain below has its own limit
        content_type, body = self.too_large()
        self.transport.write(
            b"HTTP/1.1 413 Request Entity Too Large\r\n"
            b"Content-Type: %s\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (content_type, len(body), body)
        )
        half_close = getattr(self.transport, "loseWriteConnection", None)
        if half_close is not None:
            half_close()
        else:
            self.transport.loseConnection()

    def too_large(self) -> tuple[bytes, bytes]:
        """The content type and body of the 413 answer (an XML-RPC fault, for curl users)."""
        body = dump_fault(
            RPCError(FAILURE, f"request body too large: the limit is {self.max_body} bytes")
        )
        return b"text/xml; charset=utf-8", body

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """A response producer borrows the transport's producer slot from the gate."""
        self.gate.lend()
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.transport.unregisterProducer()
        self.gate.take()

    def dataReceived(self, data: bytes) -> None:
        self.gate.ready()  # implicit TLS: the handshake is done
        if self._refused:
            self._drained += len(data)
            if self._drained > DRAIN_LIMIT:
                self.transport.abortConnection()
            return
        super().dataReceived(data)

    def readConnectionLost(self) -> None:
        """The client half-closed (C{printf ... | nc -N}): answer what it sent, then close.

        HTTPChannel alone treats the client's FIN as the end of the connection
        and drops the response of the request it just received.
        """
        if self.handling_request and not self._refused:
            self.persistent = False  # requestDone closes once the answer is written
        else:
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass


_PLAIN = re.compile(rb"[ !#-\[\]-~]*")  # printable ASCII but for " and \\


def _escape(value: bytes | str) -> str:
    """twisted.web's quoting, without its repr() round trip for the usual plain ASCII value."""
    if isinstance(value, bytes) and _PLAIN.fullmatch(value):
        return value.decode("ascii")
    return escape(value)


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

    def buildProtocol(self, addr: Any) -> Any:
        channel = super().buildProtocol(addr)
        channel.max_body = self.max_body
        return channel

    def startFactory(self) -> None:
        super().startFactory()
        if not self.logPath:
            self.logFile = BatchedAccessLog(self.reactor)

    protocol = LimitedChannel  # type: ignore[assignment]
