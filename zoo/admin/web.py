"""The control plane's HTTP adapter: routing, the token, JSON answers and the event stream.

One leaf L{AdminResource} serves the control plane's own routes and, under
C{/api/<service>/}, the routes of every inspector registered on the observatory at
the time of the request. It checks the token, matches the path and the method,
builds a L{Call}, and turns what the handler returns into the answer (see
L{zoo.inspect}). Errors are JSON (C{{"error": "..."}}) with a 400, 401, 404, 405 or
408 status; an unexpected exception is a 500 with a short message and one log line,
never a traceback. No CORS header is ever sent, and requests are not access-logged
(a C{?token=} would end up in the log).

C{/} and C{/static/...} are the web page (L{zoo.admin.page}): files shipped in the
package, served without the token (they hold no data and no token; the page asks
for the token and sends it with every API call) under a strict Content Security
Policy.
"""

from __future__ import annotations

import hmac
import io
import json
import os
from collections.abc import Callable
from typing import Any, BinaryIO
from urllib.parse import unquote

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.protocols.basic import FileSender
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.resource import Resource
from zope.interface import implementer

from zoo.admin import page
from zoo.admin.api import ControlPlane, EventStream
from zoo.admin.openapi import document
from zoo.events import BadFilter, Event
from zoo.inspect import ApiError, Call, RawBody, Route

log = Logger()

#: The largest request body accepted (seeding a message or a file).
MAX_BODY = 64 * 1024 * 1024
#: Paths answered without the token.
OPEN_PATHS = frozenset({"/livez"})
#: The Content Security Policy of every API answer: opened in a browser (a file, an
#: attachment, a message's source), nothing in it runs, loads or submits.
API_POLICY = "sandbox; default-src 'none'"


def _split(path: str) -> list[str]:
    return [unquote(p, errors="strict") for p in path.strip("/").split("/")] if path != "/" else []


def _matches(template: str, parts: list[str]) -> dict[str, str] | None:
    want = template.strip("/").split("/")
    if len(want) != len(parts):
        return None
    params = {}
    for w, p in zip(want, parts, strict=True):
        if w.startswith("{") and w.endswith("}"):
            if not p:
                return None
            params[w[1:-1]] = p
        elif w != p:
            return None
    return params


class AdminResource(Resource):
    """Serves a L{ControlPlane} and the observatory's inspectors, behind a bearer token."""

    isLeaf = True

    def __init__(self, plane: ControlPlane, token: str, clock: IReactorTime | None = None) -> None:
        super().__init__()
        self.plane = plane
        self.token = token
        self.clock = clock or plane.hub.clock
        self._own = plane.routes() + [
            Route("GET", "/openapi.json", self.openapi, "This API's OpenAPI 3 description.")
        ]

    # -- routes ---------------------------------------------------------------------------

    def all_routes(self) -> list[Route]:
        """The control plane's routes, then each inspector's under C{/api/<service>}."""
        routes = list(self._own)
        for name, inspector in sorted(self.plane.hub.inspectors.items()):
            for r in inspector.routes():
                routes.append(
                    Route(r.method.upper(), f"/api/{name}{r.path}", r.handler, r.summary, r.query)
                )
        return routes

    def openapi(self, call: Call) -> dict[str, Any]:
        return document(self.all_routes(), OPEN_PATHS)

    def _route(self, method: str, parts: list[str]) -> tuple[Route, dict[str, str]]:
        allowed = []
        for route in self.all_routes():
            params = _matches(route.path, parts)
            if params is None:
                continue
            if route.method == method:
                return route, params
            allowed.append(route.method)
        if allowed:
            raise _MethodNotAllowed(sorted(set(allowed)))
        raise ApiError(404, "no such endpoint (see /openapi.json)")

    # -- requests -------------------------------------------------------------------------

    def render(self, request: server.Request) -> Any:
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-content-type-options", b"nosniff")
        if page.is_page_path(request.path):
            return self._page(request)
        request.setHeader(b"content-security-policy", API_POLICY.encode("ascii"))
        request.setHeader(b"referrer-policy", b"no-referrer")
        try:
            route, call = self._call(request)
        except _MethodNotAllowed as e:
            request.setHeader(b"allow", ", ".join(e.allowed).encode())
            allowed = ", ".join(e.allowed)
            return self._error(request, 405, f"method not allowed (allowed: {allowed})")
        except ApiError as e:
            return self._error(request, e.status, e.message)
        except ValueError as e:  # undecodable path, query or header
            return self._error(request, 400, f"bad request: {e}")
        try:
            result = route.handler(call)
        except ApiError as e:
            return self._error(request, e.status, e.message)
        except BadFilter as e:
            return self._error(request, 400, str(e))
        except Exception as e:
            return self._crash(request, e)
        return self._answer(request, result)

    def _call(self, request: server.Request) -> tuple[Route, Call]:
        """Check the token, find the route, and read the request into a L{Call}."""
        path = request.path.decode("ascii")
        parts = _split(path)
        query = self._query(request)
        if path not in OPEN_PATHS and not self._authorised(request, query):
            request.setHeader(b"www-authenticate", b'Bearer realm="zoo"')
            raise ApiError(401, "a token is required: Authorization: Bearer TOKEN or ?token=")
        query.pop("token", None)
        method = request.method.decode("ascii", "replace").upper()
        route, params = self._route(method, parts)
        if route.handler == self.plane.stream:
            resume = request.getHeader(b"last-event-id")
            if resume:
                query["last-event-id"] = resume.decode("ascii")
        content_type = (request.getHeader(b"content-type") or b"").decode("latin-1")
        return route, Call(params, query, self._body(request), content_type)

    def _query(self, request: server.Request) -> dict[str, str]:
        query: dict[str, str] = {}
        args: dict[bytes, list[bytes]] = request.args or {}
        for name, values in args.items():
            query[name.decode("utf-8")] = values[-1].decode("utf-8")
        return query

    def _authorised(self, request: server.Request, query: dict[str, str]) -> bool:
        given = query.get("token", "")
        header = (request.getHeader(b"authorization") or b"").decode("latin-1")
        if header[:7].lower() == "bearer ":
            given = header[7:].strip()
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def _body(self, request: server.Request) -> bytes:
        content = request.content
        if content is None:
            return b""
        content.seek(0)
        data: bytes = content.read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            raise ApiError(413, f"request body larger than {MAX_BODY} bytes")
        return data

    def _page(self, request: server.Request) -> bytes:
        """Serve one of the page's files, with its security headers; no token needed."""
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"allow", b"GET, HEAD")
            return self._error(request, 405, "method not allowed (allowed: GET, HEAD)")
        found = page.asset(request.path)
        if found is None:
            return self._error(request, 404, "no such file")
        data, content_type = found
        for name, value in page.HEADERS.items():
            request.setHeader(name.encode("ascii"), value.encode("ascii"))
        request.setHeader(b"content-type", content_type.encode("ascii"))
        return data

    # -- answers --------------------------------------------------------------------------

    def _answer(self, request: server.Request, result: Any) -> Any:
        if isinstance(result, defer.Deferred):
            gone: list[bool] = []

            def left(_: Failure) -> None:
                gone.append(True)
                result.cancel()

            request.notifyFinish().addErrback(left)
            result.addCallbacks(
                lambda value: self._late(request, value, gone),
                lambda f: self._late_failure(request, f, gone),
            )
            return server.NOT_DONE_YET
        if isinstance(result, EventStream):
            _Stream(self.plane, request, result, self.clock).start()
            return server.NOT_DONE_YET
        if isinstance(result, RawBody):
            request.setHeader(b"content-type", result.content_type.encode("latin-1"))
            if result.policy is not None:
                request.setHeader(b"content-security-policy", result.policy.encode("ascii"))
            if result.filename is not None:
                safe = "".join(c for c in result.filename if c.isprintable() and c not in '"\\')
                request.setHeader(b"content-disposition", f'attachment; filename="{safe}"'.encode())
            if isinstance(result.data, bytes):
                return result.data
            _send_file(request, result.data)
            return server.NOT_DONE_YET
        return self._json(request, 200, result)

    def _late(self, request: server.Request, value: Any, gone: list[bool]) -> None:
        if gone:
            return
        body = self._answer(request, value)
        if body is not server.NOT_DONE_YET:
            request.write(body)
            request.finish()

    def _late_failure(self, request: server.Request, failure: Failure, gone: list[bool]) -> None:
        if gone or failure.check(defer.CancelledError):
            return
        if failure.check(ApiError):
            error = failure.value
            body = self._error(request, error.status, error.message)
        else:
            body = self._crash(request, failure.value)
        request.write(body)
        request.finish()

    def _json(self, request: server.Request, status: int, value: Any) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return json.dumps(value, default=str, indent=1).encode("utf-8") + b"\n"

    def _error(self, request: server.Request, status: int, message: Any) -> bytes:
        body = message if isinstance(message, dict) else {"error": message}
        return self._json(request, status, body)

    def _crash(self, request: server.Request, error: BaseException) -> bytes:
        log.error(
            "admin: {method} {path} failed: {kind}: {error}",
            method=request.method.decode("ascii", "replace"),
            path=request.path.decode("ascii", "replace"),
            kind=type(error).__name__,
            error=str(error),
        )
        return self._error(request, 500, f"internal error: {type(error).__name__}")


class _MethodNotAllowed(Exception):
    def __init__(self, allowed: list[str]) -> None:
        super().__init__(allowed)
        self.allowed = allowed


@implementer(IPushProducer)
class _Stream:
    """One Server-Sent Events response: kept events, then live ones, with keep-alives.

    It is a push producer for the connection: while the client reads too slowly
    (the transport paused it), live events are not written; when it resumes, the
    events missed are sent from the observatory's kept history. Memory stays
    bounded whatever the client does, and nothing is lost unless retention dropped it.
    """

    def __init__(
        self, plane: ControlPlane, request: server.Request, asked: EventStream, clock: IReactorTime
    ) -> None:
        self.plane = plane
        self.request = request
        self.asked = asked
        self.clock = clock
        self.unsubscribe: Callable[[], None] | None = None
        self.ticker: LoopingCall | None = None
        self.last = asked.after
        self.paused = False

    def start(self) -> None:
        request = self.request
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"x-accel-buffering", b"no")
        request.registerProducer(self, True)
        request.write(b": zoo event stream\n\n")
        self.unsubscribe = self.plane.hub.subscribe(self.on_event)
        self.catch_up()
        self.ticker = LoopingCall(self.keepalive)
        self.ticker.clock = self.clock
        self.ticker.start(self.asked.keepalive, now=False)
        request.notifyFinish().addBoth(self.stop)

    def catch_up(self) -> None:
        """Send the kept events that match after the last one sent, until paused."""
        for event in self.plane.hub.events(self.asked.filter, self.last):
            if self.paused:
                return
            self.send(event)

    def on_event(self, event: Event) -> None:
        if not self.paused and event.seq > self.last and self.asked.filter(event):
            self.send(event)

    def send(self, event: Event) -> None:
        self.last = event.seq
        data = json.dumps(event.to_json(), default=str)
        self.request.write(f"id: {event.seq}\ndata: {data}\n\n".encode())

    def keepalive(self) -> None:
        if not self.paused:
            self.request.write(b": keep-alive\n\n")

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        if self.paused and self.unsubscribe is not None:
            self.paused = False
            self.catch_up()

    def stopProducing(self) -> None:
        self.stop(None)

    def stop(self, _: Any) -> None:
        if self.unsubscribe is not None:
            self.unsubscribe()
            self.unsubscribe = None
        if self.ticker is not None and self.ticker.running:
            self.ticker.stop()


def _send_file(request: server.Request, f: BinaryIO) -> None:
    """Stream the open file C{f} as C{request}'s body, then finish and close it."""
    try:
        request.setHeader(b"content-length", b"%d" % os.fstat(f.fileno()).st_size)
    except (OSError, ValueError):
        pass
    if request.method == b"HEAD":
        f.close()
        request.finish()
        return

    gone: list[bool] = []

    def done(_: Any) -> None:
        f.close()
        if not gone and not request.finished:
            request.finish()

    def lost(_: Any) -> None:
        gone.append(True)  # the client went away mid-file
        f.close()

    request.notifyFinish().addErrback(lost)
    FileSender().beginFileTransfer(f, request).addBoth(done)


class AdminRequest(server.Request):
    """A request whose body is kept in memory, and only up to L{MAX_BODY} + 1 bytes.

    twisted.web spools a large body to a temporary file, without limit, before the
    resource sees it; here the bytes past the cap are counted and dropped, and the
    resource answers 413 (L{AdminResource._body}).
    """

    _received = 0
    content: Any

    def gotLength(self, length: int | None) -> None:
        self.content = io.BytesIO()

    def handleContentChunk(self, data: bytes) -> None:
        room = MAX_BODY + 1 - self._received
        self._received += len(data)
        if room > 0:
            self.content.write(data[:room])


class AdminSite(server.Site):
    """A site that keeps no access log (a C{?token=} query would be written to it)."""

    noisy = False
    requestFactory = AdminRequest

    def log(self, request: Any) -> None:
        pass


def site(plane: ControlPlane, token: str) -> AdminSite:
    """The twisted.web site serving C{plane} behind C{token}."""
    made = AdminSite(AdminResource(plane, token))
    made.displayTracebacks = False
    return made
