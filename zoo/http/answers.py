"""The pieces of httpbin's answers that several endpoints share.

Status answers with httpbin's extras, redirects, JSON, request values (numbers,
ranges, entity tags, cookies), and a timer that a departing client cancels. The
endpoints themselves are L{zoo.http.endpoints.HTTPBin}.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web import http, server

from zoo.http.echo import query_pairs

JSON = b"application/json"
HTML = b"text/html; charset=utf-8"
OCTETS = b"application/octet-stream"

#: What a GET-like endpoint echoes (C{/get}, C{/cache}, C{/etag}).
GET_KEYS = ("args", "headers", "origin", "url")
#: What a body-carrying endpoint echoes (C{/post}, C{/put}, C{/patch}, C{/delete}).
BODY_KEYS = ("args", "data", "files", "form", "headers", "json", "origin", "url")
ANY = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"TRACE")


class BadRequest(Exception):
    """The request's values are wrong: answer 400 with this message."""


class NotFound(Exception):
    """No such resource: answer 404."""


def dump(value: Any) -> bytes:
    """JSON as httpbin prints it: indented, keys sorted, a final newline."""
    return json.dumps(value, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def answer_json(request: server.Request, value: Any, code: int = http.OK) -> bytes:
    """Answer C{code} with C{value} as httpbin's JSON."""
    request.setResponseCode(code)
    request.setHeader(b"content-type", JSON)
    return dump(value)


def path_int(text: str) -> int:
    """A path segment that must be digits, as Flask's C{int} converter (else 404)."""
    if not (text.isascii() and text.isdigit()):
        raise NotFound
    return int(text, 10)


def number(text: str | None, default: float, name: str) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name} must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be a finite number")
    return value


def query_args(request: server.Request) -> dict[str, str]:
    """The query's values by lower-cased name (the last one wins)."""
    return {k.lower(): v for k, v in query_pairs(request.uri)}


URLSAFE = str.maketrans("-_", "+/")
EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def base_url(request: server.Request, absolute: bool) -> str:
    if not absolute:
        return ""
    scheme = "https" if request.isSecure() else "http"
    host = request.getHeader(b"host")
    if host is None:
        where: Any = request.getHost()
        return f"{scheme}://{where.host}:{where.port}"
    return f"{scheme}://{host.decode('latin-1')}"


def redirect(
    request: server.Request, location: str, code: int = http.FOUND, page: bool = False
) -> bytes:
    """Answer C{code} with C{Location: location} (and a short page if C{page})."""
    request.setResponseCode(code)
    request.setHeader(b"location", location.encode("utf-8"))
    if not page:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return b""
    request.setHeader(b"content-type", HTML)
    target = html.escape(location)
    return (
        "<!DOCTYPE html>\n<title>Redirecting</title>\n<h1>Redirecting</h1>\n"
        f'<p>The answer is at <a href="{target}">{target}</a>.</p>\n'
    ).encode()


#: What some status codes carry besides the code (as httpbin sends).
TEAPOT = b"""
   I'm a teapot (RFC 2324).
        (  )
      .-'--'-.___
     |        |_ )
     '--------'
"""


def status_answer(request: server.Request, code: int) -> bytes:
    """An answer with status C{code}, and what httpbin adds to some codes."""
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    if code in (301, 302, 303, 305, 307):
        request.setHeader(b"location", b"/redirect/1")
    elif code == 401:
        request.setHeader(b"www-authenticate", b'Basic realm="Fake Realm"')
    elif code == 402:
        request.setHeader(b"x-more-info", b"https://www.rfc-editor.org/rfc/rfc9110#section-15.5.3")
        return b"Payment required: the zoo takes no money, but this is what asking looks like.\n"
    elif code == 406:
        request.setHeader(b"content-type", JSON)
        return dump(
            {
                "accept": ["image/png", "image/svg+xml", "image/*"],
                "message": "None of the media types the client accepts is served here.",
            }
        )
    elif code == 407:
        request.setHeader(b"proxy-authenticate", b'Basic realm="Fake Realm"')
    elif code == 418:
        request.setHeader(b"x-more-info", b"https://www.rfc-editor.org/rfc/rfc2324")
        return TEAPOT
    return b""


def parse_cookies(request: server.Request) -> dict[str, str]:
    """The C{Cookie:} headers' name=value pairs."""
    out: dict[str, str] = {}
    for header in request.requestHeaders.getRawHeaders(b"cookie") or []:
        for item in header.decode("latin-1").split(";"):
            name, eq, value = item.strip().partition("=")
            if eq and name:
                out[name] = value.strip('"')
    return out


def etags(header: bytes | None) -> list[str]:
    """The entity tags of an C{If-Match}/C{If-None-Match} header, quotes and C{W/} removed."""
    if not header:
        return []
    tags = []
    for item in header.decode("latin-1").split(","):
        tag = item.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tags.append(tag.strip('"'))
    return tags


def byte_range(header: bytes | None, size: int) -> tuple[int | None, int | None]:
    """The first and last byte of a C{Range: bytes=...} header for C{size} bytes.

    No header (or one this parser does not understand) means the whole thing; a
    range outside the resource gives C{(None, None)} (416).
    """
    if not header:
        return 0, size - 1
    unit, _, spec = header.decode("latin-1").partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return 0, size - 1
    first_text, dash, last_text = spec.strip().partition("-")
    try:
        if not dash:
            return 0, size - 1
        if not first_text:  # a suffix: the last N bytes
            n = int(last_text)
            if n <= 0:
                return None, None
            return max(0, size - n), size - 1
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return 0, size - 1
    last = min(last, size - 1)
    if first > last or first >= size:
        return None, None
    return first, last


def chunk_size(request: server.Request) -> int:
    text = query_args(request).get("chunk_size")
    if text is None:
        return 10 * 1024
    try:
        return max(1, int(text))
    except ValueError:
        raise BadRequest("chunk_size must be a whole number") from None


def origin_form(path: bytes) -> bytes:
    """The path of a request target, also in absolute form (C{GET http://host/get}, as to a proxy)."""
    if path.startswith((b"http://", b"https://")):
        parts = path.split(b"/", 3)
        return b"/" + parts[3] if len(parts) == 4 else b"/"
    return path


class Timer:
    """One pending call for a request that answers later; cancelled if the client leaves."""

    def __init__(self, clock: IReactorTime, request: server.Request) -> None:
        self.clock = clock
        self.call: Any = None
        request.notifyFinish().addErrback(self.cancel)

    def later(self, seconds: float, f: Callable[[], None]) -> None:
        self.call = self.clock.callLater(seconds, f)

    def cancel(self, reason: object = None) -> None:
        if self.call is not None and self.call.active():
            self.call.cancel()
