"""zoo-http over real sockets: curl, requests, httpx, urllib, http.client, the book's sessions,
Debian's httpbin under gunicorn as the reference, and bad input."""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from conftest import require_tool
from probes import probe

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

BOOKS = Path(__file__).parent / "books"
#: Debian's httpbin is installed for the system Python, which /usr/bin/gunicorn runs.
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwistdProcess]:
    args = ["zoo-http", "--port", "0", "--command-timeout", "2", "--max-delay", "3"]
    with TwistdProcess(args, tmp_path_factory.mktemp("http")) as z:
        yield z
        assert z.proc is not None and z.proc.poll() is None, "the server died"
        assert "Traceback" not in z.output, z.output


@pytest.fixture(scope="module")
def base(zoo: TwistdProcess) -> str:
    return f"http://127.0.0.1:{zoo.port('http')}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def httpbin_reference() -> Iterator[str]:
    """Debian's python3-httpbin under gunicorn, one sync worker; yields its base URL."""
    require_tool("gunicorn")
    check = subprocess.run([SYSTEM_PYTHON, "-c", "import httpbin"], capture_output=True)
    if check.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("python3-httpbin is not installed (see .ci/apt/http.txt)")
        pytest.skip("python3-httpbin is not installed (apt-get install python3-httpbin)")
    port = _free_port()
    proc = subprocess.Popen(
        [SYSTEM_PYTHON, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", "httpbin:app"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("gunicorn httpbin did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def reference() -> Iterator[str]:
    with httpbin_reference() as url:
        yield url


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [require_tool("curl"), "-s", "--max-time", "20", *args], capture_output=True, timeout=30
    )


# -- the book ------------------------------------------------------------------------


def test_probe(zoo: TwistdProcess) -> None:
    """The torture test's probe for zoo-http passes against it."""
    [entry] = zoo.listeners
    probe(entry)


def test_book_get_ip_with_curl(base: str) -> None:
    """FOPNP 3rd edition: curl's GET /ip answers 200 with httpbin's JSON origin."""
    out = curl("-i", base + "/ip").stdout.decode()
    head, _, body = out.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200 OK")
    assert "Content-Type: application/json" in head
    assert "Access-Control-Allow-Origin: *" in head
    assert "Access-Control-Allow-Credentials: true" in head
    assert json.loads(body) == {"origin": "127.0.0.1"}


def test_book_get_ip_raw_socket(base: str) -> None:
    """The book's request bytes, as printed (curl/7.35.0, Host: localhost:8000), on a socket."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            b"GET /ip HTTP/1.1\r\nUser-Agent: curl/7.35.0\r\nHost: localhost:8000\r\n"
            b"Accept: */*\r\nConnection: close\r\n\r\n"
        )
        got = b""
        while chunk := s.recv(4096):
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in head
    assert json.loads(body) == {"origin": "127.0.0.1"}


def test_book_http_sessions(base: str) -> None:
    """FOPNP 2nd edition's chapter 9 sessions (verbose_http.py and urllib) run against zoo-http."""
    out = subprocess.run(
        [sys.executable, str(BOOKS / "http_sessions.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ZOO_HTTP": base},
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    lines = text.splitlines()
    # GET and the Host header: the request as urllib sends it, the response's head.
    assert "GET /html HTTP/1.1" in lines and f"Host: {base[7:]}" in lines
    assert lines[lines.index("== Payloads and persistent connections") - 5 :][:2] == ["200", "OK"]
    # Persistent connections: the same socket, then a new one after Connection: close.
    persistent = lines.index("== Payloads and persistent connections")
    assert lines[persistent + 1 : persistent + 3] == ["True", "False"]
    # The form POST is answered 302 Found and urllib follows it with a GET.
    assert "POST /zipcity.php HTTP/1.1" in lines and "inputstring=Atlanta%2C+GA" in lines
    assert "HTTP/1.1 302 Found" in lines
    assert "Location: /MapClick.php?CityName=Atlanta&state=GA" in lines
    assert "200 /MapClick.php?CityName=Atlanta&state=GA" in lines
    # User-Agent spoofing, compression, HEAD, Basic auth, cookies.
    assert '  "user-agent": "Mozilla/5.0 (Windows; U; MSIE 7.0; Windows NT 6.0; en-US)"' in lines
    compression = lines.index("== Compression")
    assert "Content-Encoding: gzip" in lines and lines[-1] == "}"
    assert lines[lines.index("== The HEAD method") - 2 :][:2] == ["True", "1"]
    assert lines[lines.index("== The HEAD method") + 1] == "b''"
    assert compression < lines.index("== The HEAD method")
    assert '  "user": "guido"' in lines and "401 Unauthorized" in lines
    assert "Set-Cookie: PREF=ID=94381994af6d5c77; Path=/" in lines
    assert "Cookie: PREF=ID=94381994af6d5c77" in lines and "['PREF']" in lines


# -- curl ----------------------------------------------------------------------------


def test_curl_head_redirects_gzip_chunked_http10(base: str) -> None:
    """curl: HEAD, -L through /redirect/3, --compressed /gzip, a chunked upload, HTTP/1.0."""
    head = curl("-I", base + "/bytes/100").stdout.decode()
    assert "Content-Length: 100" in head and head.endswith("\r\n\r\n")
    followed = curl("-L", "-w", "%{num_redirects}", base + "/redirect/3").stdout.decode()
    body, _, hops = followed.rpartition("}\n")
    assert hops == "3" and json.loads(body + "}")["url"] == base + "/get"
    assert json.loads(curl("--compressed", base + "/gzip").stdout)["gzipped"] is True
    chunked = curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@-", base + "/post")
    assert chunked.returncode == 0 and json.loads(chunked.stdout)["data"] == ""
    up = subprocess.run(
        [require_tool("curl"), "-s", "-H", "Transfer-Encoding: chunked",
         "-H", "Content-Type: text/plain", "--data-binary", "@-", base + "/post"],
        input=b"hello chunks", capture_output=True, timeout=30,
    )  # fmt: skip
    assert json.loads(up.stdout)["data"] == "hello chunks"
    old = curl("-i", "--http1.0", base + "/get").stdout
    assert old.startswith(b"HTTP/1.0 200 OK")


def test_curl_keep_alive_and_connection_close(base: str) -> None:
    """curl reuses one connection for two URLs, and not after Connection: close."""
    kept = curl("-v", base + "/ip", base + "/uuid").stderr.decode()
    assert "Re-using existing connection" in kept or "Reusing existing" in kept
    closed = curl("-v", "-H", "Connection: close", base + "/ip", base + "/uuid").stderr.decode()
    assert "Re-using existing connection" not in closed and "Reusing existing" not in closed


def test_curl_cookies_and_auth(base: str, tmp_path: Path) -> None:
    """curl's cookie jar keeps /cookies/set's cookie; -u passes /basic-auth."""
    jar = str(tmp_path / "jar")
    out = curl("-L", "-c", jar, "-b", jar, base + "/cookies/set?flavour=oatmeal").stdout
    assert json.loads(out) == {"cookies": {"flavour": "oatmeal"}}
    ok = curl("-u", "user:passwd", base + "/basic-auth/user/passwd").stdout
    assert json.loads(ok) == {"authenticated": True, "user": "user"}
    code = curl("-o", "/dev/null", "-w", "%{http_code}", base + "/basic-auth/user/passwd")
    assert code.stdout == b"401"


# -- requests and httpx --------------------------------------------------------------


def test_requests_session(base: str) -> None:
    """requests: JSON and form posts, redirects, cookies, auth, streaming lines, a timeout."""
    with requests.Session() as s:
        assert s.post(base + "/post", json={"a": [1, 2]}).json()["json"] == {"a": [1, 2]}
        assert s.put(base + "/put", data={"k": "v"}).json()["form"] == {"k": "v"}
        files = {"f": ("a.txt", b"file body", "text/plain")}
        assert s.post(base + "/post", files=files).json()["files"] == {"f": "file body"}
        r = s.get(base + "/redirect/2")
        assert r.url == base + "/get" and [h.status_code for h in r.history] == [302, 302]
        s.get(base + "/cookies/set?k=v")
        assert s.get(base + "/cookies").json() == {"cookies": {"k": "v"}}
        assert s.get(base + "/basic-auth/u/p", auth=("u", "p")).status_code == 200
        assert s.get(base + "/status/418").status_code == 418
        with s.get(base + "/stream/4", stream=True) as r:
            assert [json.loads(line)["id"] for line in r.iter_lines()] == [0, 1, 2, 3]
        with pytest.raises(requests.exceptions.ReadTimeout):
            s.get(base + "/delay/3", timeout=0.5)
        assert s.get(base + "/gzip").json()["gzipped"] is True  # decoded by requests
        assert s.get(base + "/range/26", headers={"Range": "bytes=0-2"}).content == b"abc"


def test_httpx_client(base: str) -> None:
    """httpx: keep-alive pool, redirects, deflate, bearer, etag 304, response headers."""
    with httpx.Client(base_url=base, follow_redirects=True, timeout=10) as c:
        r = c.get("/absolute-redirect/2")
        assert r.status_code == 200 and len(r.history) == 2
        assert c.get("/deflate").json()["deflated"] is True
        assert c.get("/bearer", headers={"Authorization": "Bearer t"}).json()["token"] == "t"
        assert c.get("/etag/x", headers={"If-None-Match": '"x"'}).status_code == 304
        r = c.get("/response-headers", params={"X-Zoo": "yes"})
        assert r.headers["X-Zoo"] == "yes" and r.json()["X-Zoo"] == "yes"
        r = c.request("DELETE", "/anything/thing", content=b"bye")
        assert r.json()["method"] == "DELETE" and r.json()["data"] == "bye"
        assert c.head("/get").headers["content-length"] == str(len(c.get("/get").content))
        assert c.get("/drip", params={"numbytes": 5, "duration": 0.2}).content == b"*****"


# -- urllib and http.client ----------------------------------------------------------


def test_urllib_and_http_client(base: str) -> None:
    """urllib follows a POST's 302; http.client keeps one socket and sends chunked bodies."""
    data = b"inputstring=Phoenix%2C+AZ"
    with urllib.request.urlopen(base + "/zipcity.php", data, timeout=10) as r:
        assert r.url.endswith("/MapClick.php?CityName=Phoenix&state=AZ")
        assert b"Forecast for Phoenix, AZ" in r.read()
    port = int(base.rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/get")
    sock = c.sock
    assert c.getresponse().read()
    c.request("POST", "/post", body=iter([b"one ", b"two"]), encode_chunked=True,
              headers={"Transfer-Encoding": "chunked"})  # fmt: skip
    assert json.loads(c.getresponse().read())["data"] == "one two"
    assert c.sock is sock
    c.close()


# -- httpbin as the reference --------------------------------------------------------


def _shape(url: str, base: str, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    r = requests.request(method, url + path, allow_redirects=False, timeout=10, **kw)
    try:
        body = r.json()
    except ValueError:
        return r.status_code, {"location": r.headers.get("Location")}
    if isinstance(body, dict):
        if path.startswith("/response-headers"):
            # The body lists its own length; httpbin prints compact JSON, zoo-http indents.
            body.pop("Content-Length")
        if "url" in body:
            body["url"] = body["url"].replace(url, "BASE")
        headers = body.get("headers")
        if isinstance(headers, dict):
            headers.pop("Host", None)
            headers.pop("Connection", None)
            ctype = headers.get("Content-Type", "")
            if ctype.startswith("multipart/"):  # requests picks a new boundary each time
                headers["Content-Type"] = ctype.split(";")[0]
    return r.status_code, body


REFERENCE_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/get?a=1&a=2&b=3", {"headers": {"X-Foo": "bar"}}),
    ("POST", "/post", {"json": {"n": 1, "s": ["x"]}}),
    ("POST", "/post?q=1", {"data": {"f": "1", "g": "é"}}),
    ("POST", "/post", {"files": {"up": ("a.txt", b"content", "text/plain")}, "data": {"x": "y"}}),
    ("PUT", "/put", {"data": b"\xff\x00binary"}),
    ("PATCH", "/patch", {"data": b"plain"}),
    ("DELETE", "/delete", {}),
    ("PUT", "/anything/a/b?z=9", {"data": b"[1,2]"}),
    ("GET", "/ip", {}),
    ("GET", "/headers", {"headers": {"X-One": "1"}}),
    ("GET", "/user-agent", {"headers": {"User-Agent": "zoo-test/1"}}),
    ("GET", "/cookies", {"headers": {"Cookie": "a=1; b=2"}}),
    ("GET", "/cookies/set?x=1", {}),
    ("GET", "/redirect/3", {}),
    ("GET", "/redirect/1", {}),
    ("GET", "/relative-redirect/2", {}),
    ("GET", "/redirect-to?url=/get&status_code=307", {}),
    ("GET", "/status/204", {}),
    ("GET", "/basic-auth/u/p", {"auth": ("u", "p")}),
    ("GET", "/bearer", {"headers": {"Authorization": "Bearer tok"}}),
    ("GET", "/response-headers?X-A=1&X-A=2", {}),
    ("GET", "/etag/abc", {"headers": {"If-Match": '"nope"'}}),
    ("GET", "/cache", {"headers": {"If-None-Match": "x"}}),
    ("GET", "/hidden-basic-auth/u/p", {}),
]


def test_same_shapes_as_httpbin(base: str, reference: str) -> None:
    """For each case, zoo-http's status and JSON equal Debian httpbin's (hosts aside)."""
    for method, path, kw in REFERENCE_CASES:
        ours = _shape(base, base, method, path, **kw)
        theirs = _shape(reference, reference, method, path, **kw)
        assert ours == theirs, (method, path)


def test_same_key_sets_as_httpbin(base: str, reference: str) -> None:
    """Endpoints whose values differ by nature (time, randomness) have httpbin's keys."""
    for path in ("/gzip", "/deflate", "/uuid", "/cache", "/delay/0"):  # Debian's has no /json
        ours = requests.get(base + path, timeout=10)
        theirs = requests.get(reference + path, timeout=10)
        assert ours.status_code == theirs.status_code, path
        assert set(ours.json()) == set(theirs.json()), path
        assert ours.headers["Content-Type"] == theirs.headers["Content-Type"], path
    ours_lines = requests.get(base + "/stream/2", timeout=10).text.splitlines()
    theirs_lines = requests.get(reference + "/stream/2", timeout=10).text.splitlines()
    assert [set(json.loads(x)) for x in ours_lines] == [set(json.loads(x)) for x in theirs_lines]
    for path in ("/bytes/100", "/range/100", "/robots.txt"):
        ours, theirs = requests.get(base + path), requests.get(reference + path)
        assert len(ours.content) == len(theirs.content), path
    assert (
        requests.get(base + "/range/100").content == requests.get(reference + "/range/100").content
    )


# -- bad input -----------------------------------------------------------------------


def _raw(base: str, data: bytes, wait: float = 10) -> bytes:
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass
    return got


def test_bad_input_gets_http_errors_and_server_stays_up(base: str) -> None:
    """Oversized header (431), long URI (414), many headers (400), garbage (400), big body (413)."""
    assert _raw(base, b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n").startswith(
        b"HTTP/1.1 431"
    )
    assert _raw(base, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 414")
    many = b"".join(b"X-%d: v\r\n" % i for i in range(500))
    assert _raw(base, b"GET /get HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n").startswith(
        b"HTTP/1.1 400"
    )
    assert _raw(base, b"\x00\xff garbage \x01\r\n\r\n").startswith(b"HTTP/1.1 400")
    big = _raw(base, b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc")
    assert big.startswith(b"HTTP/1.1 413")
    status = curl("-o", "/dev/null", "-w", "%{http_code}", base + "/ip").stdout
    assert status == b"200"


def test_slow_body_times_out(base: str) -> None:
    """A body that never completes gets 408 at the command deadline (2 s here) and a close."""
    started = time.monotonic()
    got = _raw(base, b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", wait=20)
    assert got.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 10


def test_delay_is_capped(base: str) -> None:
    """/delay/60 answers after the cap (--max-delay 3), not a minute."""
    started = time.monotonic()
    assert requests.get(base + "/delay/60", timeout=30).status_code == 200
    assert 2.5 < time.monotonic() - started < 10


# -- TLS and events ------------------------------------------------------------------


def test_tls(tmp_path: Path) -> None:
    """--tls serves HTTPS; httpbin's url says https."""
    with TwistdProcess(["zoo-http", "--port", "0", "--tls"], tmp_path) as z:
        [entry] = z.listeners
        assert entry["tls"]
        probe(entry)
        out = curl("-k", f"https://127.0.0.1:{entry['port']}/get").stdout
        assert json.loads(out)["url"].startswith("https://127.0.0.1:")


def test_requests_appear_as_events(tmp_path: Path) -> None:
    """Each request is an http.request event in the control plane, with its session's transcript."""
    with TwistdProcess(["zoo-http", "--port", "0", "--admin", "tcp:0"], tmp_path) as z:
        port = z.port("http")
        assert requests.get(f"http://127.0.0.1:{port}/status/418", timeout=10).status_code == 418
        admin, token = z.admin()
        request = urllib.request.Request(
            admin + "/api/events?service=http", headers={"Authorization": f"Bearer {token}"}
        )
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(request, timeout=10) as answer:
                events = json.load(answer)["events"]
            done = [e for e in events if e["kind"] == "http.request"]
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        [event] = done
        assert event["fields"]["path"] == "/status/418" and event["fields"]["status"] == 418
        assert event["session"].startswith("http-")
        kinds = {e["kind"] for e in events}
        assert "session.opened" in kinds, kinds
        transcript = urllib.request.Request(
            f"{admin}/api/sessions/{event['session']}/transcript.txt",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(transcript, timeout=10) as answer:
            text = answer.read().decode()
        assert "GET /status/418 HTTP/1.1" in text and "418 I'm a teapot" in text, text


def test_gzip_body_is_real_gzip(base: str) -> None:
    """/gzip's bytes are gzip as urllib receives them (no transparent decoding)."""
    with urllib.request.urlopen(base + "/gzip", timeout=10) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(r.read()))["gzipped"] is True
    assert (
        base64.b64decode("em9vLWh0dHA=")
        == urllib.request.urlopen(base + "/base64/em9vLWh0dHA=", timeout=10).read()
    )


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_client_that_never_reads_keeps_memory_bounded(zoo: TwistdProcess, base: str) -> None:
    """20000 pipelined /bytes/102400 never read: the server grows by a few MB, not by GBs."""
    assert zoo.proc is not None
    before = _rss_kib(zoo.proc.pid)
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        request = b"GET /bytes/102400 HTTP/1.1\r\nHost: x\r\n\r\n"
        for _ in range(20000):
            try:
                s.send(request)
            except BlockingIOError:
                time.sleep(0.001)
        time.sleep(1)
        grown = _rss_kib(zoo.proc.pid) - before
    assert grown < 20 * 1024, f"grew by {grown} KiB"
    assert requests.get(base + "/ip", timeout=10).status_code == 200
