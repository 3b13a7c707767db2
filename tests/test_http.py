"""zoo-http in memory: raw HTTP bytes through the real site and channel on a StringTransport."""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import json
import random
import sys
import uuid
import zlib
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python import usage

from zoo.events import Filter, Observatory
from zoo.http import Limits, make_site
from zoo.http.answers import byte_range, etags
from zoo.http.echo import flatten, header_dict, json_safe, parse_body
from zoo.tap import http as tap


class _Sock:
    def __init__(self, data: bytes) -> None:
        self.file = io.BytesIO(data)

    def makefile(self, mode: str) -> io.BytesIO:
        return self.file


class Reply:
    """One parsed response: status, headers (case-insensitive), body (chunks joined)."""

    def __init__(self, raw: bytes, method: str = "GET") -> None:
        response = http.client.HTTPResponse(_Sock(raw), method=method)  # type: ignore[arg-type]
        response.begin()
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()
        self.chunked = response.chunked
        self.rest = response.fp.read() if response.fp else b""

    def json(self) -> Any:
        return json.loads(self.body)


class Conn:
    """One HTTP connection to a fresh zoo-http site, in memory, with a fake clock."""

    def __init__(self, observatory: Observatory | None = None, **kw: Any) -> None:
        self.reactor = MemoryReactorClock()
        limits = kw.pop("limits", None)
        self.site = make_site(
            limits, reactor=self.reactor, access_log=False, observatory=observatory, **kw
        )
        self.site.resource.rng = random.Random(1)
        self.channel = self.site.buildProtocol(None)
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.channel.dataReceived(data)

    def take(self) -> bytes:
        out = self.transport.value()
        self.transport.clear()
        return out

    def request(
        self, method: str, path: str, *headers: str, body: bytes | None = None, version="1.1"
    ) -> Reply:
        lines = [f"{method} {path} HTTP/{version}", "Host: zoo.test:8000", *headers]
        if body is not None and not any(h.lower().startswith("transfer-encoding") for h in headers):
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        return Reply(self.take(), method)

    def get(self, path: str, *headers: str) -> Reply:
        return self.request("GET", path, *headers)


@pytest.fixture
def conn() -> Conn:
    return Conn()


# -- the echo endpoints --------------------------------------------------------------


def test_get_shape(conn: Conn) -> None:
    """/get answers args (a repeated name as a list), headers, origin and url, as httpbin."""
    r = conn.get("/get?a=1&a=2&b=x%20y", "User-Agent: t/1", "X-Foo: 1", "X-Foo: 2")
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.json() == {
        "args": {"a": ["1", "2"], "b": "x y"},
        "headers": {"Host": "zoo.test:8000", "User-Agent": "t/1", "X-Foo": "1,2"},
        "origin": "192.168.1.1",
        "url": "http://zoo.test:8000/get?a=1&a=2&b=x%20y",
    }
    assert r.body.endswith(b"}\n") and b'\n  "args"' in r.body


def test_post_json(conn: Conn) -> None:
    """/post echoes a JSON body in data and json, with empty form and files."""
    r = conn.request("POST", "/post", "Content-Type: application/json", body=b'{"n": [1, 2]}')
    doc = r.json()
    assert set(doc) == {"args", "data", "files", "form", "headers", "json", "origin", "url"}
    assert doc["data"] == '{"n": [1, 2]}' and doc["json"] == {"n": [1, 2]}
    assert doc["form"] == {} and doc["files"] == {}


def test_post_urlencoded_form(conn: Conn) -> None:
    """A URL-encoded body goes to form (data empty, json null), as a form-parsing server does."""
    body = b"inputstring=Atlanta%2C+GA&x=1&x=2"
    r = conn.request(
        "POST", "/post", "Content-Type: application/x-www-form-urlencoded", body=body
    ).json()
    assert r["form"] == {"inputstring": "Atlanta, GA", "x": ["1", "2"]}
    assert r["data"] == "" and r["json"] is None


def test_post_multipart_with_file(conn: Conn) -> None:
    """A multipart body splits into form fields and files (a binary file as a data: URL)."""
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="up"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello file\r\n"
        b'--XyZ\r\nContent-Disposition: form-data; name="bin"; filename="b.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n\xff\xfe\x00\r\n--XyZ--\r\n"
    )
    r = conn.request(
        "POST", "/post", "Content-Type: multipart/form-data; boundary=XyZ", body=body
    ).json()
    assert r["form"] == {"field": "value"}
    assert r["files"]["up"] == "hello file"
    assert r["files"]["bin"] == "data:application/octet-stream;base64," + base64.b64encode(
        b"\xff\xfe\x00"
    ).decode("ascii")


def test_binary_body_is_data_url() -> None:
    """A body that is not UTF-8 is echoed as a base64 data: URL."""
    assert json_safe(b"\x80abc") == "data:application/octet-stream;base64,gGFiYw=="
    assert json_safe("é".encode()) == "é"


def test_put_patch_delete_and_method_not_allowed(conn: Conn) -> None:
    """/put, /patch, /delete echo their bodies; the wrong method gets 405 with Allow."""
    for method in ("PUT", "PATCH", "DELETE"):
        r = conn.request(method, f"/{method.lower()}", body=b"x=1")
        assert r.status == 200 and r.json()["data"] == "x=1"
    r = conn.request("POST", "/get", body=b"")
    assert r.status == 405 and r.headers["Allow"] == "GET, HEAD, OPTIONS"
    r = conn.get("/post")
    assert r.status == 405 and "POST" in r.headers["Allow"]


def test_anything_echoes_method_and_path(conn: Conn) -> None:
    """/anything/... accepts any method and adds the method to the /post shape."""
    r = conn.request("PATCH", "/anything/a/b?q=1", body=b"[1]").json()
    assert r["method"] == "PATCH" and r["json"] == [1]
    assert r["url"] == "http://zoo.test:8000/anything/a/b?q=1" and r["args"] == {"q": "1"}


def test_ip_headers_user_agent(conn: Conn) -> None:
    """/ip gives the origin (X-Forwarded-For wins), /headers hides proxy headers, /user-agent."""
    assert conn.get("/ip").json() == {"origin": "192.168.1.1"}
    assert conn.get("/ip", "X-Forwarded-For: 10.1.2.3").json() == {"origin": "10.1.2.3"}
    headers = conn.get("/headers", "Via: proxy", "X-Test: y").json()["headers"]
    assert headers == {"Host": "zoo.test:8000", "X-Test": "y"}
    shown = conn.get("/headers?show_env=1", "Via: proxy").json()["headers"]
    assert shown["Via"] == "proxy"
    assert conn.get("/user-agent", "User-Agent: curl/8").json() == {"user-agent": "curl/8"}


def test_header_dict_joins_repeats() -> None:
    """Repeated request headers are joined with commas under one name."""
    assert header_dict([(b"A", [b"1", b"2"]), (b"X-Real-Ip", [b"h"])]) == {"A": "1,2"}


def test_flatten_and_parse_body() -> None:
    """Pairs flatten to strings or lists; an unknown content type leaves the body as data."""
    assert flatten([("a", "1"), ("b", "2"), ("a", "3")]) == {"a": ["1", "3"], "b": "2"}
    assert parse_body("text/plain", b"hi") == ("hi", {}, {})


# -- status codes and redirects ------------------------------------------------------


def test_status_codes(conn: Conn) -> None:
    """/status/N answers N, with httpbin's extras for 3xx, 401, 418; garbage is 400."""
    assert conn.get("/status/204").status == 204
    r = conn.get("/status/302")
    assert r.status == 302 and r.headers["Location"] == "/redirect/1"
    r = conn.get("/status/401")
    assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic realm=")
    r = conn.get("/status/418")
    assert r.status == 418 and b"teapot" in r.body and "X-More-Info" in r.headers
    r = conn.request("POST", "/status/500", body=b"")
    assert r.status == 500
    assert conn.get("/status/abc").status == 400
    assert conn.get("/status/99").status == 400


def test_status_choices_follow_weights(conn: Conn) -> None:
    """/status/A,B:W picks among codes; a zero weight is never picked."""
    seen = {conn.get("/status/200,201:1,500:0").status for _ in range(40)}
    assert seen == {200, 201}


def test_redirects(conn: Conn) -> None:
    """/redirect, /relative-redirect, /absolute-redirect count down to /get."""
    assert conn.get("/redirect/3").headers["Location"] == "/relative-redirect/2"
    assert conn.get("/redirect/1").headers["Location"] == "/get"
    absolute = conn.get("/redirect/2?absolute=true")
    assert absolute.headers["Location"] == "http://zoo.test:8000/absolute-redirect/1"
    assert conn.get("/relative-redirect/1").headers["Location"] == "/get"
    r = conn.get("/absolute-redirect/1")
    assert r.status == 302 and r.headers["Location"] == "http://zoo.test:8000/get"
    assert conn.get("/redirect/0").status == 400
    assert conn.get("/redirect/x").status == 404


def test_redirect_to(conn: Conn) -> None:
    """/redirect-to sends Location as given, with a 3xx status_code if asked; no url is 400."""
    r = conn.get("/redirect-to?url=http%3A%2F%2Fexample.com%2F&status_code=307")
    assert r.status == 307 and r.headers["Location"] == "http://example.com/"
    r = conn.request("POST", "/redirect-to?url=/get&status_code=200", body=b"")
    assert r.status == 302
    assert conn.get("/redirect-to").status == 400


# -- cookies and auth ----------------------------------------------------------------


def test_cookies(conn: Conn) -> None:
    """/cookies lists Cookie:, /cookies/set sets and /cookies/delete expires, then 302."""
    assert conn.get("/cookies", "Cookie: a=1; b=two").json() == {"cookies": {"a": "1", "b": "two"}}
    r = conn.get("/cookies/set?flavour=oatmeal&n=2")
    assert r.status == 302 and r.headers["Location"] == "/cookies"
    assert sorted(r.headers.get_all("Set-Cookie")) == ["flavour=oatmeal; Path=/", "n=2; Path=/"]
    r = conn.get("/cookies/set/k/v")
    assert r.headers["Set-Cookie"] == "k=v; Path=/"
    r = conn.get("/cookies/delete?k")
    assert r.status == 302 and "Max-Age=0" in r.headers["Set-Cookie"]
    assert r.headers["Set-Cookie"].startswith("k=;")


def _basic(user: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth(conn: Conn) -> None:
    """/basic-auth/U/P: 200 with the user for the right pair, 401 and a challenge otherwise."""
    r = conn.get("/basic-auth/guido/van0ranje!", _basic("guido", "van0ranje!"))
    assert r.status == 200 and r.json() == {"authenticated": True, "user": "guido"}
    r = conn.get("/basic-auth/guido/van0ranje!", _basic("guido", "wrong"))
    assert r.status == 401 and "WWW-Authenticate" in r.headers
    assert conn.get("/basic-auth/u/p").status == 401
    assert conn.get("/hidden-basic-auth/u/p").status == 404
    assert conn.get("/hidden-basic-auth/u/p", _basic("u", "p")).status == 200


def test_bearer(conn: Conn) -> None:
    """/bearer: 401 with a Bearer challenge without a token, the token echoed with one."""
    r = conn.get("/bearer")
    assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert conn.get("/bearer", "Authorization: Basic x").status == 401
    r = conn.get("/bearer", "Authorization: Bearer s3cret")
    assert r.json() == {"authenticated": True, "token": "s3cret"}


# -- encodings -----------------------------------------------------------------------


def test_gzip_and_deflate(conn: Conn) -> None:
    """/gzip and /deflate send compressed JSON with Content-Encoding, as httpbin."""
    r = conn.get("/gzip")
    assert r.headers["Content-Encoding"] == "gzip"
    doc = json.loads(gzip.decompress(r.body))
    assert doc["gzipped"] is True and doc["method"] == "GET" and "headers" in doc
    r = conn.get("/deflate")
    assert r.headers["Content-Encoding"] == "deflate"
    assert json.loads(zlib.decompress(r.body))["deflated"] is True


def test_brotli_without_module_says_so(conn: Conn, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a brotli module, /brotli answers 501 and says why."""
    monkeypatch.setitem(sys.modules, "brotli", None)
    r = conn.get("/brotli")
    assert r.status == 501 and b"brotli" in r.body


def test_encoding_utf8(conn: Conn) -> None:
    """/encoding/utf8 is a UTF-8 page with characters outside Latin-1 and the BMP."""
    r = conn.get("/encoding/utf8")
    assert "charset=utf-8" in r.headers["Content-Type"]
    text = r.body.decode("utf-8")
    assert "Здравствуй" in text and "🐍" in text


# -- generated bodies ----------------------------------------------------------------


def test_stream_lines(conn: Conn) -> None:
    """/stream/N sends N JSON lines with ids 0..N-1, chunked; N is capped at 100."""
    r = conn.get("/stream/3?x=1")
    assert r.chunked
    lines = [json.loads(line) for line in r.body.splitlines()]
    assert [line["id"] for line in lines] == [0, 1, 2]
    assert set(lines[0]) == {"id", "url", "args", "headers", "origin"}
    assert len(conn.get("/stream/1000").body.splitlines()) == 100


def test_bytes_seeded_and_capped(conn: Conn) -> None:
    """/bytes/N: N random bytes, the same for the same seed; at most 100 KiB."""
    a, b = conn.get("/bytes/64?seed=7"), conn.get("/bytes/64?seed=7")
    assert len(a.body) == 64 and a.body == b.body
    assert a.headers["Content-Type"] == "application/octet-stream"
    assert conn.get("/bytes/64?seed=8").body != a.body
    assert len(conn.get("/bytes/10000000").body) == 100 * 1024
    assert conn.get("/bytes/4?seed=x").status == 400


def test_stream_bytes_chunked(conn: Conn) -> None:
    """/stream-bytes/N sends N bytes chunked in chunk_size pieces."""
    conn.send(b"GET /stream-bytes/25?chunk_size=10&seed=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    raw = conn.take()
    head, _, chunks = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert chunks.startswith(b"a\r\n") and b"\r\n5\r\n" in chunks
    assert len(Reply(raw).body) == 25


def test_range_requests(conn: Conn) -> None:
    """/range/N: 200 for all, 206 with Content-Range for a part, 416 outside; letters a-z."""
    r = conn.get("/range/30")
    assert r.status == 200 and r.body == b"abcdefghijklmnopqrstuvwxyzabcd"
    assert r.headers["Accept-Ranges"] == "bytes" and r.headers["ETag"] == "range30"
    r = conn.get("/range/30", "Range: bytes=2-5")
    assert r.status == 206 and r.body == b"cdef" and r.headers["Content-Range"] == "bytes 2-5/30"
    r = conn.get("/range/30", "Range: bytes=-3")
    assert r.body == b"bcd"
    r = conn.get("/range/30", "Range: bytes=40-50")
    assert r.status == 416 and r.headers["Content-Range"] == "bytes */30"
    assert conn.get("/range/0").status == 404


def test_byte_range_parser() -> None:
    """Range headers: open-ended, suffix, past the end, and ones left whole."""
    assert byte_range(b"bytes=5-", 10) == (5, 9)
    assert byte_range(b"bytes=5-100", 10) == (5, 9)
    assert byte_range(b"bytes=-0", 10) == (None, None)
    assert byte_range(b"items=1-2", 10) == (0, 9)
    assert byte_range(b"bytes=1-2,4-5", 10) == (0, 9)


# -- time: /delay and /drip ----------------------------------------------------------


def test_delay_waits_on_the_clock(conn: Conn) -> None:
    """/delay/N answers after N seconds of the injected clock, not before."""
    conn.send(b"GET /delay/2?a=b HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.reactor.advance(1.9)
    assert conn.take() == b""
    conn.reactor.advance(0.2)
    doc = Reply(conn.take()).json()
    assert doc["args"] == {"a": "b"} and set(doc) == {
        "args",
        "data",
        "files",
        "form",
        "headers",
        "origin",
        "url",
    }


def test_delay_is_capped() -> None:
    """/delay/600 waits only the cap (10 s by default, --max-delay)."""
    conn = Conn(limits=Limits(max_delay=3))
    conn.send(b"GET /delay/600 HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.reactor.advance(3)
    assert Reply(conn.take()).status == 200
    assert conn.get("/delay/nan").status == 400


def test_delay_cancelled_when_client_leaves(conn: Conn) -> None:
    """A client that leaves during /delay leaves no timer behind."""
    conn.send(b"GET /delay/5 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(conn.reactor.getDelayedCalls()) == 1
    conn.channel.connectionLost(Exception("gone"))
    assert conn.reactor.getDelayedCalls() == []


def test_drip_spreads_bytes_over_duration(conn: Conn) -> None:
    """/drip sends numbytes stars over duration after delay, with its Content-Length and code."""
    conn.send(b"GET /drip?numbytes=5&duration=1&delay=1&code=201 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.take() == b""
    conn.reactor.advance(1)
    first = conn.take()
    assert b"201 Created" in first and b"Content-Length: 5" in first and first.endswith(b"*")
    for _ in range(4):
        conn.reactor.advance(0.2)
    raw = first + conn.take()
    assert Reply(raw).body == b"*****"
    assert conn.get("/drip?numbytes=0").status == 400


def test_drip_caps_bytes_and_writes() -> None:
    """A huge /drip is capped in bytes and sent in at most 100 writes a second."""
    conn = Conn(limits=Limits(max_drip_bytes=1000))
    conn.send(b"GET /drip?numbytes=999999&duration=0.5 HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.reactor.pump([0.01] * 60)
    r = Reply(conn.take())
    assert r.headers["Content-Length"] == "1000" and r.body == b"*" * 1000


# -- caching -------------------------------------------------------------------------


def test_cache_and_cache_control(conn: Conn) -> None:
    """/cache: 304 for a conditional request, else the /get shape with ETag and Last-Modified."""
    r = conn.get("/cache")
    assert r.status == 200 and "ETag" in r.headers and "Last-Modified" in r.headers
    assert set(r.json()) == {"args", "headers", "origin", "url"}
    assert conn.get("/cache", "If-None-Match: x").status == 304
    assert conn.get("/cache", "If-Modified-Since: Sat, 20 Sep 2014 00:18:00 GMT").status == 304
    assert conn.get("/cache/60").headers["Cache-Control"] == "public, max-age=60"


def test_etag(conn: Conn) -> None:
    """/etag/E: If-None-Match E gives 304, If-Match other gives 412, else 200 with ETag."""
    assert conn.get("/etag/abc").headers["ETag"] == "abc"
    assert conn.get("/etag/abc", 'If-None-Match: "x", "abc"').status == 304
    assert conn.get("/etag/abc", "If-None-Match: *").status == 304
    assert conn.get("/etag/abc", 'If-Match: "x"').status == 412
    assert conn.get("/etag/abc", 'If-Match: "abc"').status == 200
    assert etags(b'W/"a", b') == ["a", "b"]


# -- headers, documents, forms -------------------------------------------------------


def test_response_headers(conn: Conn) -> None:
    """/response-headers sets the query as headers and lists them with the true length."""
    r = conn.get("/response-headers?X-Zoo=1&X-Zoo=2&Server-Timing=db")
    assert r.headers.get_all("X-Zoo") == ["1", "2"]
    doc = r.json()
    assert doc["X-Zoo"] == ["1", "2"] and doc["Server-Timing"] == "db"
    assert doc["Content-Length"] == str(len(r.body)) == r.headers["Content-Length"]


def test_uuid_and_base64(conn: Conn) -> None:
    """/uuid gives a version 4 UUID; /base64/X decodes URL-safe base64 (unpadded too), garbage is 400."""
    assert uuid.UUID(conn.get("/uuid").json()["uuid"]).version == 4
    assert conn.get("/base64/em9vLWh0dHA=").body == b"zoo-http"
    assert conn.get("/base64/em9vLWh0dHA").body == b"zoo-http"
    assert conn.get("/base64/%25%25%25").status == 400


@pytest.mark.parametrize(
    ("path", "ctype", "fragment"),
    [
        ("/json", "application/json", b'"slideshow"'),
        ("/html", "text/html; charset=utf-8", b"<h1>"),
        ("/xml", "application/xml", b"<slideshow"),
        ("/robots.txt", "text/plain", b"Disallow: /deny"),
        ("/deny", "text/plain", b"robots.txt"),
        ("/forms/post", "text/html; charset=utf-8", b'action="/post"'),
        ("/forms/zipcity", "text/html; charset=utf-8", b'name="inputstring"'),
        ("/", "text/html; charset=utf-8", b"/get"),
    ],
)
def test_documents(conn: Conn, path: str, ctype: str, fragment: bytes) -> None:
    """The fixed documents have httpbin's content types and their expected content."""
    r = conn.get(path)
    assert r.status == 200 and r.headers["Content-Type"] == ctype and fragment in r.body


def test_json_shape(conn: Conn) -> None:
    """/json is a slideshow with author, date, slides and title, as httpbin's."""
    show = conn.get("/json").json()["slideshow"]
    assert set(show) == {"author", "date", "slides", "title"}
    assert all({"title", "type"} <= set(slide) for slide in show["slides"])


def test_images(conn: Conn) -> None:
    """/image/png is a PNG, /image/svg an SVG, /image follows Accept (406 when it cannot)."""
    r = conn.get("/image/png")
    assert r.headers["Content-Type"] == "image/png" and r.body.startswith(b"\x89PNG\r\n\x1a\n")
    assert conn.get("/image/svg").body.lstrip().startswith(b"<?xml")
    assert conn.get("/image", "Accept: image/svg+xml").headers["Content-Type"] == "image/svg+xml"
    assert conn.get("/image", "Accept: text/plain").status == 406


def test_book_form_post_redirects(conn: Conn) -> None:
    """FOPNP's form: POST inputstring to /zipcity.php, 302 to /MapClick.php, which names it."""
    body = b"inputstring=Atlanta%2C+GA"
    r = conn.request(
        "POST", "/zipcity.php", "Content-Type: application/x-www-form-urlencoded", body=body
    )
    assert r.status == 302
    assert r.headers["Location"] == "/MapClick.php?CityName=Atlanta&state=GA"
    page = conn.get(r.headers["Location"])
    assert page.status == 200 and b"Forecast for Atlanta, GA" in page.body
    bad = conn.request("POST", "/zipcity.php", body=b"")
    assert bad.status == 400


def test_unknown_path_and_options(conn: Conn) -> None:
    """An unknown path is 404; OPTIONS answers a CORS preflight with what is allowed."""
    assert conn.get("/nope").status == 404
    assert conn.get("/get/extra").status == 404
    r = conn.request(
        "OPTIONS", "/post", "Origin: http://a.test", "Access-Control-Request-Headers: X-A"
    )
    assert r.status == 200 and "POST" in r.headers["Allow"]
    assert r.headers["Access-Control-Allow-Origin"] == "http://a.test"
    assert r.headers["Access-Control-Allow-Headers"] == "X-A"


# -- HTTP itself: HEAD, keep-alive, versions, chunked bodies -------------------------


def test_head_has_get_length_and_no_body(conn: Conn) -> None:
    """HEAD answers with the Content-Length a GET would have, and no body."""
    get = conn.get("/json")
    conn.send(b"HEAD /json HTTP/1.1\r\nHost: zoo.test:8000\r\n\r\n")
    raw = conn.take()
    assert raw.endswith(b"\r\n\r\n")
    assert b"Content-Length: %d\r\n" % len(get.body) in raw


def test_keep_alive_and_connection_close(conn: Conn) -> None:
    """HTTP/1.1 keeps the connection; Connection: close closes it after the answer."""
    conn.get("/get")
    conn.get("/ip")
    assert not conn.transport.disconnecting
    r = conn.get("/ip", "Connection: close")
    assert r.status == 200 and conn.transport.disconnecting


def test_http_1_0_closes() -> None:
    """An HTTP/1.0 request is answered in HTTP/1.0 and the connection closes."""
    conn = Conn()
    conn.send(b"GET /ip HTTP/1.0\r\n\r\n")
    raw = conn.take()
    assert raw.startswith(b"HTTP/1.0 200 OK") and conn.transport.disconnecting


def test_chunked_request_body(conn: Conn) -> None:
    """A chunked request body is reassembled and echoed."""
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    r = conn.request("POST", "/post", "Transfer-Encoding: chunked", body=body)
    assert r.json()["data"] == "hello world"


def test_pipelined_requests_answered_in_order(conn: Conn) -> None:
    """Two requests in one packet get two answers, in order."""
    conn.send(
        b"GET /status/201 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/202 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    raw = conn.take()
    assert raw.index(b"201 Created") < raw.index(b"202 Accepted")


# -- bad input -----------------------------------------------------------------------


def test_long_request_line_is_414() -> None:
    """A request line over --max-line gets 414 and a close."""
    conn = Conn(max_line=100)
    conn.send(b"GET /" + b"a" * 200)
    raw = conn.take()
    assert raw.startswith(b"HTTP/1.1 414 URI Too Long") and conn.transport.disconnecting


def test_long_header_line_is_431() -> None:
    """A header line over --max-line gets 431 and a close."""
    conn = Conn(max_line=100)
    conn.send(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 200)
    assert conn.take().startswith(b"HTTP/1.1 431") and conn.transport.disconnecting


def test_too_many_headers_is_400() -> None:
    """More headers than --max-headers gets 400 and a close."""
    conn = Conn(max_headers=10)
    conn.send(b"GET /get HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(20)) + b"\r\n")
    assert conn.take().startswith(b"HTTP/1.1 400") and conn.transport.disconnecting


def test_too_many_header_bytes_is_400() -> None:
    """More header bytes than --max-header-bytes gets 400 and a close."""
    conn = Conn(max_header_bytes=1000)
    conn.send(
        b"GET /get HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 80) for i in range(20))
    )
    assert conn.take().startswith(b"HTTP/1.1 400") and conn.transport.disconnecting


def test_body_over_cap_is_413_before_reading() -> None:
    """A Content-Length over --max-body gets 413 (plain text) before the body is read."""
    conn = Conn(max_body=100)
    conn.send(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    raw = conn.take()
    assert raw.startswith(b"HTTP/1.1 413") and b"Content-Type: text/plain" in raw
    assert b"limit is 100 bytes" in raw


def test_garbage_request_line_is_400(conn: Conn) -> None:
    """A request line that is not HTTP gets 400 and a close."""
    conn.send(b"\x16\x03\x01 hello there\r\n\r\n")
    assert conn.take().startswith(b"HTTP/1.1 400") and conn.transport.disconnecting


def test_slow_request_times_out_with_408(conn: Conn) -> None:
    """When the shared command deadline passes mid-request, the client gets 408 and a close."""
    conn.send(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    conn.channel.command_timed_out()  # what the connection layer calls at the deadline
    assert conn.take().startswith(b"HTTP/1.1 408") and conn.transport.disconnecting


# -- events and options --------------------------------------------------------------


def test_request_event() -> None:
    """Each request is an http.request event: method, path, status, bytes, duration, session."""
    obs = Observatory(MemoryReactorClock(), enabled=True)
    conn = Conn(observatory=obs)
    conn.transport.session = "http-3"  # type: ignore[attr-defined]  # as the connection layer does
    r = conn.get("/status/418")
    conn.send(b"GET /delay/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.reactor.advance(1.5)
    first, delayed = obs.events(Filter.of("http", "http.request"))
    assert first.session == "http-3"
    assert first.fields == {
        "method": "GET",
        "path": "/status/418",
        "status": 418,
        "bytes": len(r.body),
        "duration": 0.0,
    }
    assert delayed.fields["path"] == "/delay/1" and delayed.fields["duration"] == 1.5


def test_options_parse_and_build() -> None:
    """zoo-http's options parse its limits and build a service; bad values are usage errors."""
    options = tap.Options()
    options.parseOptions(["--port", "0", "--max-delay", "3", "--max-headers", "20"])
    assert options["max-delay"] == 3.0 and options["max-headers"] == 20
    assert tap.makeService(options) is not None
    with pytest.raises(usage.UsageError):
        tap.Options().parseOptions(["--max-body", "0"])
    assert tap.Options.default_port == 8000


def test_drip_cancelled_when_client_leaves(conn: Conn) -> None:
    """A client that leaves in the middle of /drip leaves no timer behind."""
    conn.send(b"GET /drip?numbytes=10&duration=5 HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.reactor.advance(0)
    conn.reactor.advance(0.5)
    assert b"*" in conn.take() and len(conn.reactor.getDelayedCalls()) == 1
    conn.channel.connectionLost(Exception("gone"))
    assert conn.reactor.getDelayedCalls() == []


def test_absolute_form_request_target(conn: Conn) -> None:
    """A request target in absolute form (as sent to a proxy) is served by its path."""
    r = conn.get("http://example.test/get?a=1")
    assert r.status == 200 and r.json()["url"] == "http://example.test/get?a=1"
    assert conn.get("http://example.test").status == 200  # the index


def test_chunked_body_over_cap_is_413() -> None:
    """A chunked body is refused with 413 once its chunks pass --max-body."""
    conn = Conn(max_body=10)
    conn.send(b"POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.send(b"8\r\n12345678\r\n8\r\n12345678\r\n")
    assert conn.take().startswith(b"HTTP/1.1 413")


def test_pipelined_answers_wait_for_a_backed_up_client() -> None:
    """While the client reads no answers (the transport backed up), the next pipelined
    request waits until the previous answer drains: one answer ahead, not hundreds."""
    from zoo.testing import End

    conn = Conn()
    transport = End()  # pauses its producer past 64 KiB, as TCP does
    conn.channel = conn.site.buildProtocol(None)
    conn.channel.makeConnection(transport)
    conn.channel.dataReceived(b"GET /bytes/102400 HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
    assert transport.value().count(b"HTTP/1.1 200") == 1
    assert transport.producerState == "paused"
    for _ in range(3):
        transport.clear()
        transport.drained()
        assert transport.value().count(b"HTTP/1.1 200") == 1
