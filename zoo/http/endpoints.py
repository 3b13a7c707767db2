"""httpbin's endpoints as one twisted.web leaf resource.

L{HTTPBin} routes on the first path segment to a handler. A handler takes the
request and the remaining segments and returns the body (bytes) or
C{NOT_DONE_YET} when it answers later (C{/delay}, C{/drip}, C{/stream}).
Bodies and JSON shapes follow httpbin's; the caps are in L{Limits}.
"""

from __future__ import annotations

import base64
import binascii
import gzip as _gzip
import html
import json
import math
import random
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode

from twisted.internet.interfaces import IReactorTime
from twisted.web import http, resource, server

from zoo.faults.hook import at, reply_code
from zoo.faults.model import registry as fault_registry
from zoo.http import pages
from zoo.http.answers import (
    ANY,
    BODY_KEYS,
    EPOCH,
    GET_KEYS,
    HTML,
    JSON,
    OCTETS,
    URLSAFE,
    BadRequest,
    NotFound,
    Timer,
    answer_json,
    base_url,
    byte_range,
    chunk_size,
    dump,
    etags,
    number,
    origin_form,
    parse_cookies,
    path_int,
    query_args,
    redirect,
    status_answer,
)
from zoo.http.echo import describe, flatten, query_pairs


@dataclass
class Limits:
    """The caps on what one request can make zoo-http do."""

    #: C{/delay/N} waits at most this many seconds (httpbin's cap too).
    max_delay: float = 10.0
    #: C{/drip}'s C{duration} and C{delay} are each capped at this many seconds.
    max_drip_seconds: float = 10.0
    #: C{/drip} sends at most this many bytes.
    max_drip_bytes: int = 1024 * 1024
    #: C{/bytes}, C{/stream-bytes} and C{/range} send at most this many bytes.
    max_bytes: int = 100 * 1024
    #: C{/stream/N} sends at most this many lines.
    max_lines: int = 100
    #: C{/redirect/N} and friends accept N up to this.
    max_redirects: int = 100


Handler = Callable[[server.Request, list[str]], "bytes | int"]


class HTTPBin(resource.Resource):
    """httpbin's endpoints on twisted.web.

    @param clock: the reactor's time, for C{/delay} and C{/drip}.
    @param limits: the caps on waiting and sizes.
    @param rng: random numbers for C{/status} choices and unseeded C{/bytes}.
    """

    isLeaf = True

    def __init__(
        self,
        clock: IReactorTime,
        limits: Limits | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.limits = limits if limits is not None else Limits()
        self.rng = rng if rng is not None else random.Random()
        self.routes: dict[str, tuple[tuple[bytes, ...], Handler]] = {}
        for name, methods, handler in self._table():
            self.routes[name] = (methods, handler)

    def _table(self) -> list[tuple[str, tuple[bytes, ...], Handler]]:
        get = (b"GET", b"HEAD")
        return [
            ("", get, self.index),
            ("get", get, self.get),
            ("post", (b"POST",), self.body_echo),
            ("put", (b"PUT",), self.body_echo),
            ("patch", (b"PATCH",), self.body_echo),
            ("delete", (b"DELETE",), self.body_echo),
            ("anything", ANY, self.anything),
            ("ip", get, self.ip),
            ("uuid", get, self.new_uuid),
            ("headers", get, self.headers),
            ("user-agent", get, self.user_agent),
            ("status", ANY, self.status),
            ("redirect", get, self.redirect),
            ("relative-redirect", get, self.relative_redirect),
            ("absolute-redirect", get, self.absolute_redirect),
            ("redirect-to", ANY, self.redirect_to),
            ("cookies", get, self.cookies),
            ("basic-auth", get, self.basic_auth),
            ("hidden-basic-auth", get, self.hidden_basic_auth),
            ("bearer", get, self.bearer),
            ("gzip", get, self.gzipped),
            ("deflate", get, self.deflated),
            ("brotli", get, self.brotli),
            ("stream", get, self.stream_lines),
            ("bytes", get, self.random_bytes),
            ("stream-bytes", get, self.stream_bytes),
            ("delay", ANY, self.delay),
            ("drip", get, self.drip),
            ("cache", get, self.cache),
            ("etag", get, self.etag),
            ("range", get, self.ranged),
            ("response-headers", (b"GET", b"HEAD", b"POST"), self.response_headers),
            ("base64", get, self.decode_base64),
            ("json", get, self.sample_json),
            ("html", get, self.page(pages.HTML, HTML)),
            ("xml", get, self.page(pages.XML, b"application/xml")),
            ("robots.txt", get, self.page(pages.ROBOTS, b"text/plain")),
            ("deny", get, self.page(pages.DENY, b"text/plain")),
            ("encoding", get, self.encoding),
            ("forms", get, self.forms),
            ("image", get, self.image),
            ("zipcity.php", (b"POST",), self.zipcity),
            ("MapClick.php", get, self.mapclick),
        ]

    # -- dispatch -----------------------------------------------------------------------

    def render(self, request: server.Request) -> bytes | int:
        origin = request.getHeader(b"origin")
        request.setHeader(b"access-control-allow-origin", origin or b"*")
        request.setHeader(b"access-control-allow-credentials", b"true")
        path = origin_form(request.path).decode("latin-1")
        segments = [unquote(s) for s in path.split("/")[1:]]
        route = self.routes.get(segments[0]) if segments else None
        if route is None:
            return self.not_found(request)
        methods, handler = route
        if fault_registry.points:
            hit = at(request.transport, "http", segments[0], mailbox=path)
            if hit is not None:
                return self._faulted(request, hit)
        if request.method == b"OPTIONS":
            return self.options(request, methods)
        if request.method not in methods:
            request.setResponseCode(http.NOT_ALLOWED)
            request.setHeader(b"allow", b", ".join((*methods, b"OPTIONS")))
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"405 Method Not Allowed: %s answers %s\n" % (
                request.path,
                b", ".join(methods),
            )
        try:
            body = handler(request, segments[1:])
            if request.method == b"HEAD" and isinstance(body, bytes):
                # The length a GET would have, and no body (twisted.web logs a
                # warning for each HEAD answer that comes with one).
                request.setHeader(b"content-length", b"%d" % len(body))
                return b""
            return body
        except NotFound:
            return self.not_found(request)
        except BadRequest as e:
            request.setResponseCode(http.BAD_REQUEST)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return f"400 Bad Request: {e}\n".encode()

    def _faulted(self, request: server.Request, hit: Any) -> bytes | int:
        """A fault at C{http:ENDPOINT} (L{zoo.faults.hook}): a status, or no answer."""
        if hit.action == "reply":
            code, text = reply_code(hit.value, 503, "Service Unavailable (zoo fault)")
            request.setResponseCode(code)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return f"{code} {text}\n".encode()
        hit.perform(request.transport, lambda value: None)
        return server.NOT_DONE_YET  # hang, or the connection is gone

    def not_found(self, request: server.Request) -> bytes:
        request.setResponseCode(http.NOT_FOUND)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"404 Not Found: no such endpoint; GET / lists them\n"

    def options(self, request: server.Request, methods: tuple[bytes, ...]) -> bytes:
        """A CORS preflight or an C{OPTIONS} probe: what the endpoint allows."""
        request.setHeader(b"allow", b", ".join((*methods, b"OPTIONS")))
        request.setHeader(
            b"access-control-allow-methods", b"GET, POST, PUT, DELETE, PATCH, OPTIONS"
        )
        request.setHeader(b"access-control-max-age", b"3600")
        wanted = request.getHeader(b"access-control-request-headers")
        if wanted is not None:
            request.setHeader(b"access-control-allow-headers", wanted)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return b""

    def page(self, body: bytes, content_type: bytes) -> Handler:
        def serve(request: server.Request, rest: list[str]) -> bytes:
            if rest:
                raise NotFound
            request.setHeader(b"content-type", content_type)
            return body

        return serve

    # -- echo ---------------------------------------------------------------------------

    def index(self, request: server.Request, rest: list[str]) -> bytes:
        request.setHeader(b"content-type", HTML)
        return pages.INDEX

    def get(self, request: server.Request, rest: list[str]) -> bytes:
        if rest:
            raise NotFound
        return answer_json(request, describe(request, *GET_KEYS))

    def body_echo(self, request: server.Request, rest: list[str]) -> bytes:
        if rest:
            raise NotFound
        return answer_json(request, describe(request, *BODY_KEYS))

    def anything(self, request: server.Request, rest: list[str]) -> bytes:
        return answer_json(request, describe(request, *BODY_KEYS, "method"))

    def ip(self, request: server.Request, rest: list[str]) -> bytes:
        return answer_json(request, describe(request, "origin"))

    def new_uuid(self, request: server.Request, rest: list[str]) -> bytes:
        return answer_json(
            request, {"uuid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4))}
        )

    def headers(self, request: server.Request, rest: list[str]) -> bytes:
        return answer_json(request, describe(request, "headers"))

    def user_agent(self, request: server.Request, rest: list[str]) -> bytes:
        agent = request.getHeader(b"user-agent")
        return answer_json(
            request, {"user-agent": agent.decode("latin-1") if agent is not None else None}
        )

    # -- status codes -------------------------------------------------------------------

    def status(self, request: server.Request, rest: list[str]) -> bytes:
        if len(rest) != 1:
            raise NotFound
        choices: list[tuple[int, float]] = []
        for choice in rest[0].split(","):
            code_text, _, weight_text = choice.partition(":")
            try:
                code = int(code_text)
                weight = float(weight_text) if weight_text else 1.0
            except ValueError:
                raise BadRequest(f"invalid status code {choice!r}") from None
            if not 100 <= code <= 599 or not weight >= 0 or not math.isfinite(weight):
                raise BadRequest(f"invalid status code {choice!r}")
            choices.append((code, weight))
        if len(choices) == 1:
            code = choices[0][0]
        else:
            codes, weights = zip(*choices, strict=True)
            if not sum(weights) > 0:
                raise BadRequest("the weights add up to nothing")
            code = self.rng.choices(codes, weights)[0]
        return status_answer(request, code)

    # -- redirects ----------------------------------------------------------------------

    def _hops(self, rest: list[str]) -> int:
        if len(rest) != 1:
            raise NotFound
        n = path_int(rest[0])
        if not 1 <= n <= self.limits.max_redirects:
            raise BadRequest(f"the number of redirects must be 1 to {self.limits.max_redirects}")
        return n

    def redirect(self, request: server.Request, rest: list[str]) -> bytes:
        n = self._hops(rest)
        absolute = query_args(request).get("absolute", "false").lower() == "true"
        if n == 1:
            return redirect(request, base_url(request, absolute) + "/get", page=True)
        kind = "absolute" if absolute else "relative"
        return redirect(
            request, f"{base_url(request, absolute)}/{kind}-redirect/{n - 1}", page=True
        )

    def relative_redirect(self, request: server.Request, rest: list[str]) -> bytes:
        n = self._hops(rest)
        return redirect(request, "/get" if n == 1 else f"/relative-redirect/{n - 1}")

    def absolute_redirect(self, request: server.Request, rest: list[str]) -> bytes:
        n = self._hops(rest)
        base = base_url(request, True)
        target = f"{base}/get" if n == 1 else f"{base}/absolute-redirect/{n - 1}"
        return redirect(request, target, page=True)

    def redirect_to(self, request: server.Request, rest: list[str]) -> bytes:
        args = query_args(request)
        if "url" not in args:
            raise BadRequest("redirect-to needs ?url=")
        code = http.FOUND
        if "status_code" in args:
            try:
                wanted = int(args["status_code"])
            except ValueError:
                raise BadRequest("status_code must be a number") from None
            if 300 <= wanted < 400:
                code = wanted
        return redirect(request, args["url"], code)

    # -- cookies and auth ---------------------------------------------------------------

    def cookies(self, request: server.Request, rest: list[str]) -> bytes:
        if not rest:
            return answer_json(request, {"cookies": parse_cookies(request)})
        if rest[0] == "set" and len(rest) == 3:
            pairs = [(rest[1], rest[2])]
        elif rest[0] == "set" and len(rest) == 1:
            pairs = query_pairs(request.uri)
        elif rest[0] == "delete" and len(rest) == 1:
            for name, _ in query_pairs(request.uri):
                request.addCookie(
                    name.encode(), b"", path=b"/", max_age=b"0", expires=EPOCH.encode()
                )
            return redirect(request, "/cookies", page=True)
        else:
            raise NotFound
        for name, value in pairs:
            request.addCookie(name.encode(), value.encode(), path=b"/")
        return redirect(request, "/cookies", page=True)

    def _basic(self, request: server.Request, rest: list[str], refusal: int) -> bytes:
        if len(rest) != 2:
            raise NotFound
        user, password = rest
        if request.getUser() != user.encode() or request.getPassword() != password.encode():
            return status_answer(request, refusal)
        return answer_json(request, {"authenticated": True, "user": user})

    def basic_auth(self, request: server.Request, rest: list[str]) -> bytes:
        return self._basic(request, rest, http.UNAUTHORIZED)

    def hidden_basic_auth(self, request: server.Request, rest: list[str]) -> bytes:
        return self._basic(request, rest, http.NOT_FOUND)

    def bearer(self, request: server.Request, rest: list[str]) -> bytes:
        scheme, _, token = (request.getHeader(b"authorization") or b"").partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            request.setResponseCode(http.UNAUTHORIZED)
            request.setHeader(b"www-authenticate", b"Bearer")
            return b""
        return answer_json(
            request, {"authenticated": True, "token": token.strip().decode("latin-1")}
        )

    # -- encodings ----------------------------------------------------------------------

    def gzipped(self, request: server.Request, rest: list[str]) -> bytes:
        body = dump({"gzipped": True, **describe(request, "headers", "method", "origin")})
        request.setHeader(b"content-type", JSON)
        request.setHeader(b"content-encoding", b"gzip")
        return _gzip.compress(body, mtime=0)

    def deflated(self, request: server.Request, rest: list[str]) -> bytes:
        body = dump({"deflated": True, **describe(request, "headers", "method", "origin")})
        request.setHeader(b"content-type", JSON)
        request.setHeader(b"content-encoding", b"deflate")
        return zlib.compress(body)

    def brotli(self, request: server.Request, rest: list[str]) -> bytes:
        try:
            import brotli  # type: ignore[import-not-found]
        except ImportError:
            request.setResponseCode(http.NOT_IMPLEMENTED)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"501 Not Implemented: this zoo-http has no brotli module installed\n"
        body = dump({"brotli": True, **describe(request, "headers", "method", "origin")})
        request.setHeader(b"content-type", JSON)
        request.setHeader(b"content-encoding", b"br")
        return bytes(brotli.compress(body))

    def encoding(self, request: server.Request, rest: list[str]) -> bytes:
        if rest != ["utf8"]:
            raise NotFound
        request.setHeader(b"content-type", HTML)
        return pages.UTF8

    # -- generated bodies ---------------------------------------------------------------

    def _random(self, request: server.Request) -> random.Random:
        seed = query_args(request).get("seed")
        if seed is None:
            return self.rng
        try:
            return random.Random(int(seed))
        except ValueError:
            raise BadRequest("seed must be a whole number") from None

    def _size(self, rest: list[str]) -> int:
        if len(rest) != 1:
            raise NotFound
        return max(0, min(path_int(rest[0]), self.limits.max_bytes))

    def random_bytes(self, request: server.Request, rest: list[str]) -> bytes:
        n = self._size(rest)
        request.setHeader(b"content-type", OCTETS)
        return self._random(request).randbytes(n)

    def stream_bytes(self, request: server.Request, rest: list[str]) -> int:
        n = self._size(rest)
        chunk = chunk_size(request)
        data = self._random(request).randbytes(n)
        request.setHeader(b"content-type", OCTETS)
        for start in range(0, n, chunk):
            request.write(data[start : start + chunk])
        request.finish()
        return server.NOT_DONE_YET

    def stream_lines(self, request: server.Request, rest: list[str]) -> int:
        if len(rest) != 1:
            raise NotFound
        n = max(0, min(path_int(rest[0]), self.limits.max_lines))
        shape = describe(request, "url", "args", "headers", "origin")
        request.setHeader(b"content-type", JSON)
        for i in range(n):
            shape["id"] = i
            request.write(json.dumps(shape).encode() + b"\n")
        request.finish()
        return server.NOT_DONE_YET

    def ranged(self, request: server.Request, rest: list[str]) -> bytes:
        if len(rest) != 1:
            raise NotFound
        size = path_int(rest[0])
        request.setHeader(b"etag", b"range%d" % size)
        request.setHeader(b"accept-ranges", b"bytes")
        if not 0 < size <= self.limits.max_bytes:
            request.setResponseCode(http.NOT_FOUND)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"number of bytes must be in the range (0, %d]\n" % self.limits.max_bytes
        first, last = byte_range(request.getHeader(b"range"), size)
        if first is None or last is None:
            request.setResponseCode(http.REQUESTED_RANGE_NOT_SATISFIABLE)
            request.setHeader(b"content-range", b"bytes */%d" % size)
            return b""
        request.setHeader(b"content-type", OCTETS)
        if (first, last) != (0, size - 1):
            request.setResponseCode(http.PARTIAL_CONTENT)
        request.setHeader(b"content-range", b"bytes %d-%d/%d" % (first, last, size))
        return bytes(ord("a") + i % 26 for i in range(first, last + 1))

    # -- time ---------------------------------------------------------------------------

    def delay(self, request: server.Request, rest: list[str]) -> int:
        if len(rest) != 1:
            raise NotFound
        seconds = max(0.0, min(number(rest[0], 0, "delay"), self.limits.max_delay))
        shape = describe(request, "args", "data", "files", "form", "headers", "origin", "url")

        def answer() -> None:
            request.setHeader(b"content-type", JSON)
            body = dump(shape)
            request.setHeader(b"content-length", b"%d" % len(body))
            request.write(body)
            request.finish()

        Timer(self.clock, request).later(seconds, answer)
        return server.NOT_DONE_YET

    def drip(self, request: server.Request, rest: list[str]) -> bytes | int:
        if rest:
            raise NotFound
        args = query_args(request)
        cap = self.limits.max_drip_seconds
        duration = max(0.0, min(number(args.get("duration"), 2, "duration"), cap))
        first = max(0.0, min(number(args.get("delay"), 0, "delay"), cap))
        numbytes = int(number(args.get("numbytes"), 10, "numbytes"))
        code = int(number(args.get("code"), 200, "code"))
        if numbytes <= 0:
            raise BadRequest("numbytes must be positive")
        if not 200 <= code <= 599:
            raise BadRequest("code must be 200 to 599")
        numbytes = min(numbytes, self.limits.max_drip_bytes)
        # At most 100 writes a second: a big drip goes out in slices.
        ticks = max(1, min(numbytes, math.ceil(duration * 100)))
        pause = duration / ticks
        request.setResponseCode(code)
        request.setHeader(b"content-type", OCTETS)
        request.setHeader(b"content-length", b"%d" % numbytes)
        sent = [0]

        def tick() -> None:
            share = numbytes * (sent[0] + 1) // ticks - numbytes * sent[0] // ticks
            request.write(b"*" * share)
            sent[0] += 1
            if sent[0] < ticks:
                timer.later(pause, tick)
            else:
                request.finish()

        timer = Timer(self.clock, request)
        timer.later(first, tick)
        return server.NOT_DONE_YET

    # -- caching ------------------------------------------------------------------------

    def cache(self, request: server.Request, rest: list[str]) -> bytes:
        if rest:
            if len(rest) != 1:
                raise NotFound
            seconds = path_int(rest[0])
            request.setHeader(b"cache-control", b"public, max-age=%d" % seconds)
            return self.get(request, [])
        if request.getHeader(b"if-modified-since") or request.getHeader(b"if-none-match"):
            return status_answer(request, http.NOT_MODIFIED)
        request.setHeader(b"last-modified", http.datetimeToString(self.clock.seconds()))
        request.setHeader(b"etag", uuid.UUID(int=self.rng.getrandbits(128), version=4).hex.encode())
        return self.get(request, [])

    def etag(self, request: server.Request, rest: list[str]) -> bytes:
        if len(rest) != 1:
            raise NotFound
        tag = rest[0]
        none_match = etags(request.getHeader(b"if-none-match"))
        match = etags(request.getHeader(b"if-match"))
        if none_match:
            if tag in none_match or "*" in none_match:
                request.setHeader(b"etag", tag.encode())
                return status_answer(request, http.NOT_MODIFIED)
        elif match and tag not in match and "*" not in match:
            return status_answer(request, http.PRECONDITION_FAILED)
        request.setHeader(b"etag", tag.encode())
        return self.get(request, [])

    # -- headers, decoding, documents ---------------------------------------------------

    def response_headers(self, request: server.Request, rest: list[str]) -> bytes:
        pairs = query_pairs(request.uri)
        for name, value in pairs:
            request.responseHeaders.addRawHeader(name.encode(), value.encode())
        shape: dict[str, Any] = flatten(pairs)
        shape["Content-Type"] = "application/json"
        # The body lists Content-Length, which depends on the body: settle it.
        shape["Content-Length"] = "0"
        body = dump(shape)
        while shape["Content-Length"] != str(len(body)):
            shape["Content-Length"] = str(len(body))
            body = dump(shape)
        request.setHeader(b"content-type", JSON)
        return body

    def decode_base64(self, request: server.Request, rest: list[str]) -> bytes:
        if len(rest) != 1:
            raise NotFound
        value = rest[0]
        try:
            padded = (value + "=" * (-len(value) % 4)).translate(URLSAFE)
            decoded = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("not base64url data; try /base64/em9vLWh0dHA=") from None
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return decoded

    def sample_json(self, request: server.Request, rest: list[str]) -> bytes:
        return answer_json(request, pages.SLIDESHOW)

    def forms(self, request: server.Request, rest: list[str]) -> bytes:
        forms = {"post": pages.FORM, "zipcity": pages.ZIPCITY_FORM}
        if len(rest) != 1 or rest[0] not in forms:
            raise NotFound
        request.setHeader(b"content-type", HTML)
        return forms[rest[0]]

    def image(self, request: server.Request, rest: list[str]) -> bytes:
        kinds = {"png": (b"image/png", pages.PNG), "svg": (b"image/svg+xml", pages.SVG)}
        if not rest:
            accept = (request.getHeader(b"accept") or b"").decode("latin-1").lower()
            kind = next((k for k in ("png", "svg") if f"image/{k}" in accept), None)
            if kind is None and ("image/*" in accept or "*/*" in accept or not accept):
                kind = "png"
            if kind is None:
                return status_answer(request, http.NOT_ACCEPTABLE)
        elif len(rest) == 1 and rest[0] in kinds:
            kind = rest[0]
        else:
            raise NotFound
        content_type, body = kinds[kind]
        request.setHeader(b"content-type", content_type)
        return body

    # -- FOPNP's weather form -----------------------------------------------------------

    def zipcity(self, request: server.Request, rest: list[str]) -> bytes:
        """The book's form target: a POST that answers 302 to the page of the result."""
        form = describe(request, "form")["form"]
        place = form.get("inputstring", "")
        if isinstance(place, list):
            place = place[0]
        city, _, state = place.partition(",")
        if not city.strip():
            raise BadRequest("inputstring must name a city, like 'Atlanta, GA'")
        query = urlencode({"CityName": city.strip(), "state": state.strip()})
        return redirect(request, f"/MapClick.php?{query}", page=True)

    def mapclick(self, request: server.Request, rest: list[str]) -> bytes:
        args = query_args(request)
        city, state = args.get("cityname", "nowhere"), args.get("state", "")
        request.setHeader(b"content-type", HTML)
        place = html.escape(f"{city}, {state}" if state else city)
        return (
            "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<title>Forecast for {place}</title></head>\n"
            f"<body><h1>Forecast for {place}</h1>\n"
            "<p>Clear skies over the zoo; the forecast never changes.</p></body></html>\n"
        ).encode()
