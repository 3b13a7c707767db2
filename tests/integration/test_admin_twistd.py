"""The control plane of a real `twistd -n zoo`, driven by curl and the standard library."""

from __future__ import annotations

import http.client
import json
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tool

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration


class Admin:
    """The running zoo and a small client for its control plane."""

    def __init__(self, zoo: TwistdProcess) -> None:
        self.zoo = zoo
        self.base, self.token = zoo.admin()
        self.port = zoo.port("admin")

    def call(
        self, path: str, method: str = "GET", body: bytes | None = None, token: str | None = ""
    ) -> tuple[int, Any]:
        token = self.token if token == "" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.base + path, body, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def mark(self, name: str, **fields: Any) -> dict[str, Any]:
        status, body = self.call(
            "/api/marks", "POST", json.dumps({"name": name, **fields}).encode()
        )
        assert status == 200, body
        return body["event"]

    def cursor(self) -> int:
        return int(self.call("/api/events?limit=0")[1]["cursor"])


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    workdir = tmp_path_factory.mktemp("admin")
    with TwistdProcess(["zoo", "--with", "echo --port 0"], workdir) as zoo:
        yield Admin(zoo)
        assert zoo.proc is not None and zoo.proc.poll() is None, "the server died"
        assert "Traceback" not in zoo.output, zoo.output


def curl(admin: Admin, path: str, *args: str) -> tuple[int, bytes]:
    """Run curl; return the HTTP status and the body."""
    out = subprocess.run(
        [require_tool("curl"), "-s", "-o", "-", "-w", "\n%{http_code}", *args,
         f"http://127.0.0.1:{admin.port}{path}"],
        capture_output=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    body, _, code = out.rpartition(b"\n")
    return int(code), body


def test_admin_listener_token_file_and_log(admin: Admin) -> None:
    """The admin listener is in the ready file on loopback; the token is 0600 and logged."""
    entry = next(e for e in admin.zoo.listeners if e["service"] == "admin")
    assert entry["host"] == "127.0.0.1"
    token_file = Path(admin.zoo.env["ZOO_STATE_DIR"]) / "admin-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert admin.token in admin.zoo.output and "the control plane is at" in admin.zoo.output


def test_token_required_with_curl(admin: Admin) -> None:
    """curl: /livez is open; everything else is 401 JSON without the token, 200 with it."""
    assert curl(admin, "/livez")[0] == 200
    status, body = curl(admin, "/api/services")
    assert status == 401 and "token" in json.loads(body)["error"]
    assert curl(admin, "/api/services", "-H", "Authorization: Bearer wrong")[0] == 401
    status, body = curl(admin, "/api/services", "-H", f"Authorization: Bearer {admin.token}")
    assert status == 200
    names = {s["name"] for s in json.loads(body)["services"]}
    assert {"admin", "echo"} <= names
    assert curl(admin, f"/readyz?token={admin.token}")[0] == 200
    status, body = curl(admin, f"/metrics?token={admin.token}")
    assert status == 200 and b'zoo_listeners{service="echo"} 1.0' in body
    status, body = curl(admin, f"/openapi.json?token={admin.token}")
    assert status == 200 and "/api/events/wait" in json.loads(body)["paths"]
    status, headers = curl(
        admin, "/api/services", "-I", "-H", f"Authorization: Bearer {admin.token}"
    )
    assert b"access-control" not in headers.lower()


def test_bad_requests_get_json_errors(admin: Admin) -> None:
    """Bad filters are 400, unknown ids and paths 404, wrong methods 405; all JSON."""
    assert admin.call("/api/events?after=x")[0] == 400
    assert admin.call("/api/events?whatever=1")[0] == 400
    assert admin.call("/api/events/wait?timeout=1000")[0] == 400
    assert admin.call("/api/sessions/none-1")[0] == 404
    assert admin.call("/api/nothing")[0] == 404
    status, body = admin.call("/api/reset")
    assert status == 405 and "POST" in body["error"]
    status, _ = curl(admin, "/api/events?after=%ff", "-H", f"Authorization: Bearer {admin.token}")
    assert status == 400


def test_wait_answers_right_after_the_event(admin: Admin) -> None:
    """A pending wait answers as soon as the event is emitted; the latency is small."""
    after = admin.cursor()
    got: list[tuple[float, int, Any]] = []

    def wait() -> None:
        status, body = admin.call(
            f"/api/events/wait?kind=mark&match.name=go&after={after}&timeout=20"
        )
        got.append((time.time(), status, body))

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)  # let the wait reach the server; the wait itself never sleeps
    assert not got
    admin.mark("other")
    event = admin.mark("go")
    waiter.join(20)
    arrived, status, body = got[0]
    assert status == 200 and body["event"]["seq"] == event["seq"]
    latency = arrived - event["time"]
    print(f"wait-for latency, event to answer: {latency * 1000:.1f} ms")
    assert 0 <= latency < 1.0


def test_wait_counts_an_earlier_event(admin: Admin) -> None:
    """An event kept before the wait (after the cursor) answers it at once."""
    after = admin.cursor()
    admin.mark("early")
    started = time.monotonic()
    status, body = admin.call(f"/api/events/wait?match.name=early&after={after}&timeout=30")
    assert status == 200 and body["event"]["fields"]["name"] == "early"
    assert time.monotonic() - started < 5


def test_wait_timeout_shows_what_arrived(admin: Admin) -> None:
    """A wait that times out is a 408 listing what did arrive for that service and kind."""
    after = admin.cursor()
    admin.mark("not-it")
    status, body = admin.call(
        f"/api/events/wait?service=admin&kind=mark&match.name=it&after={after}&timeout=0.5"
    )
    assert status == 408
    assert [e["fields"]["name"] for e in body["arrived"]] == ["not-it"]
    assert body["kinds_after_cursor"] == {"mark": 1}


def test_stream_receives_live_events(admin: Admin) -> None:
    """The SSE stream sends live events as they happen, and the server survives the client going."""
    after = admin.cursor()
    conn = http.client.HTTPConnection("127.0.0.1", admin.port, timeout=10)
    conn.request("GET", f"/api/events/stream?kind=mark&after={after}&token={admin.token}")
    answer = conn.getresponse()
    assert answer.status == 200
    assert answer.getheader("content-type") == "text/event-stream; charset=utf-8"
    names = []
    for n in range(3):
        admin.mark(f"live-{n}")
    while len(names) < 3:
        line = answer.fp.readline().decode()
        if line.startswith("data: "):
            names.append(json.loads(line[6:])["fields"]["name"])
    assert names == ["live-0", "live-1", "live-2"]
    conn.close()
    admin.mark("after-close")
    assert admin.call("/livez")[0] == 200


def test_stream_with_curl_resumes_with_last_event_id(admin: Admin) -> None:
    """curl -N with Last-Event-ID gets the kept events after that id."""
    first = admin.mark("resume-1")
    admin.mark("resume-2")
    out = subprocess.run(
        [require_tool("curl"), "-s", "-N", "--max-time", "1", "-H", f"Last-Event-ID: {first['seq']}",
         f"http://127.0.0.1:{admin.port}/api/events/stream?kind=mark&token={admin.token}"],
        capture_output=True, timeout=30,
    ).stdout.decode()  # fmt: skip
    ids = [int(line[4:]) for line in out.splitlines() if line.startswith("id: ")]
    assert ids and ids[0] == first["seq"] + 1


def test_reset(admin: Admin) -> None:
    """POST /api/reset forgets every event; a service's reset answers; an unknown one is 404."""
    admin.mark("before-reset")
    status, body = admin.call("/api/reset", "POST")
    assert status == 200 and "admin" in body["reset"]
    assert admin.call("/api/events?kind=mark")[1]["events"] == []
    assert admin.call("/api/services/echo/reset", "POST")[0] == 200
    assert admin.call("/api/services/gopher/reset", "POST")[0] == 404


def test_single_plugin_with_admin(tmp_path: Path) -> None:
    """A single plugin serves the control plane with --admin, listed as the service admin."""
    with TwistdProcess(["zoo-echo", "--port", "0", "--admin", "tcp:0"], tmp_path) as zoo:
        assert [e["service"] for e in zoo.listeners] == ["echo", "admin"]
        base, token = zoo.admin()
        request = urllib.request.Request(
            base + "/api/services", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert {s["name"] for s in json.load(answer)["services"]} == {"admin", "echo"}


def test_single_plugin_without_admin(tmp_path: Path) -> None:
    """A single plugin serves no control plane unless asked."""
    with TwistdProcess(["zoo-echo", "--port", "0"], tmp_path) as zoo:
        assert [e["service"] for e in zoo.listeners] == ["echo"]


def test_two_processes_share_events_through_redis(tmp_path: Path) -> None:
    """Two zoo processes with --events-redis: each one's API waits for and lists the other's events."""
    from test_pubsub import redis_server

    with redis_server(tmp_path / "redis") as port:
        url = f"redis://127.0.0.1:{port}"
        args = ["zoo", "--with", "echo --port 0", "--admin", "tcp:0", "--events-redis", url]
        with TwistdProcess(args, tmp_path / "a") as a, TwistdProcess(args, tmp_path / "b") as b:
            one, two = Admin(a), Admin(b)
            node_a = one.call("/livez")[1]["node"]
            # Each relay logs once it holds both connections; wait for those lines.
            deadline = time.monotonic() + 10
            while not all("admin: connected to redis" in z.output for z in (a, b)):
                assert time.monotonic() < deadline, a.output + b.output
                time.sleep(0.05)
            after = two.cursor()
            event = one.mark("from-a")
            status, body = two.call(
                f"/api/events/wait?kind=mark&match.name=from-a&after={after}&timeout=10"
            )
            assert status == 200, body
            assert body["event"]["node"] == node_a and body["event"]["time"] == event["time"]
            assert body["event"]["seq"] > after  # numbered in b's own order
            # A reset through b reaches a before b's next event does.
            assert two.call("/api/reset", "POST")[0] == 200
            cursor_a = one.cursor()
            two.mark("after-reset")
            status, body = one.call(
                f"/api/events/wait?kind=mark&match.name=after-reset&after={cursor_a}&timeout=10"
            )
            assert status == 200, body
            names = [e["fields"]["name"] for e in one.call("/api/events?kind=mark")[1]["events"]]
            assert names == ["after-reset"]
            for z in (a, b):
                assert "Traceback" not in z.output, z.output


def test_big_files_stream_out_and_big_bodies_are_refused(tmp_path: Path) -> None:
    """A 20 MB file under the FTP root comes back byte-identical; a body over the cap gets 413 JSON."""
    with TwistdProcess(["zoo", "--with", "ftp --port 0"], tmp_path) as zoo:
        plane = Admin(zoo)
        root = Path(zoo.env["ZOO_STATE_DIR"]) / "ftp"
        data = bytes(range(256)) * (20 * 4096)
        (root / "big.bin").write_bytes(data)
        headers = {"Authorization": f"Bearer {plane.token}"}
        request = urllib.request.Request(plane.base + "/api/ftp/file?path=/big.bin", None, headers)
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert int(answer.headers["Content-Length"]) == len(data)
            assert answer.read() == data
        from zoo.admin.web import MAX_BODY

        conn = http.client.HTTPConnection("127.0.0.1", plane.port, timeout=60)
        conn.putrequest("PUT", "/api/ftp/file?path=/huge.bin")
        conn.putheader("Authorization", f"Bearer {plane.token}")
        conn.putheader("Content-Length", str(MAX_BODY + 1024 * 1024))
        conn.endheaders()
        chunk = b"z" * (1024 * 1024)
        for _ in range((MAX_BODY + 1024 * 1024) // len(chunk)):
            conn.send(chunk)
        answer = conn.getresponse()
        assert answer.status == 413
        assert "larger than" in json.loads(answer.read())["error"]
        assert not (root / "huge.bin").exists()
        assert "Traceback" not in zoo.output, zoo.output
