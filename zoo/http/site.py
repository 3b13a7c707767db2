"""zoo-http's HTTP layer: the zoo's bounded twisted.web channel, with httpbin's words.

L{HTTPBinSite} is an L{zoo.xmlrpc.channel.RPCSite} (bodies over C{max_body}
refused with 413 before they are read, the shared command deadline answered with
408, half-closed clients answered, one C{send()} per response) whose channel
also refuses:

- a request line longer than C{max_line} bytes with C{414 URI Too Long};
- a header line longer than C{max_line} bytes with C{431};
- more than C{max_headers} headers, or more than C{max_header_bytes} of request
  line and headers, with twisted.web's C{400 Bad Request}.

While a client reads none of its answers, the next pipelined request waits until
the answer before it has drained (C{one_answer_ahead}): twisted.web would answer
every request of a whole read at once, up to 100 KiB each.

Each finished request is an C{http.request} event (method, path, status, bytes,
duration) in the observatory.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web import resource

from zoo._twisted.web import reading_request_line
from zoo.events import Observatory, hub, session_of
from zoo.xmlrpc.channel import (
    DEFAULT_MAX_BODY,
    BatchedAccessLog,
    LimitedChannel,
    LimitedRequest,
    RPCSite,
)

#: The service's name in events.
NAME = "http"
access_logger = Logger(namespace="zoo.http.access")

#: Longest request line or header line, in bytes (as gunicorn's field limit).
DEFAULT_MAX_LINE = 8190
#: Most headers in one request (gunicorn's default).
DEFAULT_MAX_HEADERS = 100
#: Most bytes of request line and headers together.
DEFAULT_MAX_HEADER_BYTES = 32 * 1024


def _request_fields(
    method: bytes, path: bytes, status: int, sent: int, duration: float
) -> dict[str, Any]:
    return {
        "method": method.decode("latin-1"),
        "path": path.decode("latin-1"),
        "status": status,
        "bytes": sent,
        "duration": round(duration, 6),
    }


class HTTPRequest(LimitedRequest):
    """A request that notes when it arrived, for its event's duration."""

    started: float | None = None

    def process(self) -> None:
        self.started = self.channel.site_clock.seconds()
        super().process()


class HTTPChannel(LimitedChannel):
    """The bounded channel, answering over-long lines as HTTP says (414 or 431)."""

    site_clock: IReactorTime
    one_answer_ahead = True

    def lineLengthExceeded(self, line: bytes) -> None:
        if not reading_request_line(self):
            super().lineLengthExceeded(line)  # a header line: 431
            return
        self._refused = True
        self.transport.write(
            b"HTTP/1.1 414 URI Too Long\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_TOO_LONG), _TOO_LONG)
        )
        self.transport.loseConnection()

    def too_large(self) -> tuple[bytes, bytes]:
        body = b"413 Request Entity Too Large: the limit is %d bytes\n" % self.max_body
        return b"text/plain; charset=utf-8", body


_TOO_LONG = b"414 URI Too Long: the request line is over the limit\n"


class HTTPBinSite(RPCSite):
    """The site: a bounded channel, an access log, and an C{http.request} event per request.

    @param observatory: where the events go (the process's hub by default).
    """

    requestFactory = HTTPRequest
    protocol = HTTPChannel  # type: ignore[assignment]

    def __init__(
        self,
        root: resource.Resource,
        max_body: int = DEFAULT_MAX_BODY,
        max_line: int = DEFAULT_MAX_LINE,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        access_log: bool = True,
        observatory: Observatory | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(root, max_body=max_body, access_log=access_log, **kw)
        self.max_line = max_line
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes
        self.observatory = observatory if observatory is not None else hub

    def buildProtocol(self, addr: Any) -> Any:
        channel = super().buildProtocol(addr)
        channel.MAX_LENGTH = self.max_line
        channel.maxHeaders = self.max_headers
        channel.totalHeadersSize = self.max_header_bytes
        channel.site_clock = self.reactor
        return channel

    def startFactory(self) -> None:
        super().startFactory()
        if not self.logPath:
            self.logFile = BatchedAccessLog(self.reactor, access_logger)

    def log(self, request: Any) -> None:
        super().log(request)
        started = getattr(request, "started", None)
        duration = self.reactor.seconds() - started if started is not None else 0.0
        self.observatory.record(
            NAME,
            "http.request",
            session_of(request.transport),
            _request_fields,
            request.method,
            request.path,
            request.code,
            request.sentLength,
            duration,
        )
