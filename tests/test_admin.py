"""The control plane in memory: token, routes, filters, wait-for, the stream, sessions, reset."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.test.requesthelper import DummyRequest

from zoo.admin.api import ControlPlane
from zoo.admin.web import AdminResource
from zoo.events import Observatory
from zoo.inspect import ApiError, Call, RawBody, Route
from zoo.tap._service import Bound

TOKEN = "s3cret-token"


class Request(DummyRequest):
    """A DummyRequest that keeps a push producer (DummyRequest only drives pull ones)."""

    producer: Any = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None


class Answer:
    """What a request got back."""

    def __init__(self, request: Request) -> None:
        self.request = request

    @property
    def status(self) -> int:
        return self.request.responseCode or 200

    @property
    def body(self) -> bytes:
        return b"".join(self.request.written)

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        value = self.request.responseHeaders.getRawHeaders(name)
        return value[-1] if value else None


class Plane:
    """An observatory, its control plane and resource, on a fake clock."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.hub = Observatory(self.clock, enabled=True, node="test")
        self.bound: list[Bound] = [Bound("echo", "TCP", "127.0.0.1", 7007, "tcp:7007")]
        self.waiting: list[str] = []
        self.plane = ControlPlane(self.hub, lambda: self.bound, lambda: self.waiting)
        self.resource = AdminResource(self.plane, TOKEN, self.clock)

    def request(
        self,
        path: str,
        method: str = "GET",
        bearer: str | None = TOKEN,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        **args: str,
    ) -> Answer:
        request = Request([])
        request.method = method.encode()
        request.path = path.encode()
        request.uri = path.encode()
        request.content = io.BytesIO(body)
        for name, value in args.items():
            request.addArg(name.replace("__", ".").encode(), value.encode())
        if bearer is not None:
            request.requestHeaders.setRawHeaders(b"authorization", [f"Bearer {bearer}".encode()])
        for name, value in (headers or {}).items():
            request.requestHeaders.setRawHeaders(name.encode(), [value.encode()])
        result = self.resource.render(request)
        if result is not server.NOT_DONE_YET:
            request.write(result)
            request.finish()
        return Answer(request)


@pytest.fixture
def zoo() -> Plane:
    return Plane()


# -- the token ------------------------------------------------------------------------------


def test_livez_needs_no_token(zoo: Plane) -> None:
    """/livez answers without a token."""
    answer = zoo.request("/livez", bearer=None)
    assert answer.status == 200 and answer.json()["status"] == "ok"


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_everything_else_needs_the_token(zoo: Plane, token: str | None) -> None:
    """A missing or wrong token is a 401 JSON error, on every other path, even unknown ones."""
    for path in ("/api/services", "/readyz", "/metrics", "/openapi.json", "/nope"):
        answer = zoo.request(path, bearer=token)
        assert answer.status == 401, path
        assert "token" in answer.json()["error"]
        assert answer.header("www-authenticate") == 'Bearer realm="zoo"'


def test_token_in_query_string(zoo: Plane) -> None:
    """?token= works (for EventSource and downloads), and is not a filter."""
    _some(zoo)
    answer = zoo.request("/api/events", bearer=None, token=TOKEN)
    assert answer.status == 200, answer.body
    assert len(answer.json()["events"]) == 4
    assert zoo.request("/api/events", bearer=None, token="nope").status == 401


def test_no_cors_headers(zoo: Plane) -> None:
    """No Access-Control-* header is sent, and OPTIONS is not a route."""
    answer = zoo.request("/api/services")
    names = [n.lower() for n, _ in answer.request.responseHeaders.getAllRawHeaders()]
    assert not [n for n in names if n.startswith(b"access-control")]
    assert zoo.request("/api/services", method="OPTIONS").status == 405


# -- routing and errors -----------------------------------------------------------------------


def test_unknown_path_is_404_and_wrong_method_405(zoo: Plane) -> None:
    """An unknown path is a 404, a known one with the wrong method a 405 naming the allowed."""
    assert zoo.request("/api/nothing").status == 404
    answer = zoo.request("/api/reset")
    assert answer.status == 405 and answer.header("allow") == "POST"
    assert "POST" in answer.json()["error"]


@pytest.mark.parametrize(
    ("args", "word"),
    [
        ({"bogus": "1"}, "unknown parameter 'bogus'"),
        ({"after": "-1"}, "after"),
        ({"after": "x"}, "after"),
        ({"limit": "x"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"match.": "x"}, "match."),
        ({"match.a..b": "x"}, "match.a..b"),
        ({"service": ""}, "service"),
    ],
)
def test_bad_filters_are_400(zoo: Plane, args: dict[str, str], word: str) -> None:
    """A bad filter is a 400 whose message names the parameter."""
    answer = zoo.request("/api/events", **args)
    assert answer.status == 400
    assert word in answer.json()["error"]


def test_a_failing_handler_is_a_500_without_traceback(zoo: Plane) -> None:
    """A handler's unexpected exception is a short 500 JSON error, never a traceback."""

    class Broken:
        def describe(self) -> dict[str, Any]:
            return {}

        def routes(self) -> list[Route]:
            return [Route("GET", "/boom", lambda call: 1 / 0, "fails")]

    zoo.hub.inspectors["broken"] = Broken()
    answer = zoo.request("/api/broken/boom")
    assert answer.status == 500
    assert answer.json() == {"error": "internal error: ZeroDivisionError"}
    assert b"Traceback" not in answer.body


# -- services, health, metrics ----------------------------------------------------------------


def test_services_lists_listeners_stats_and_inspectors(zoo: Plane) -> None:
    """/api/services lists bound services, services with events, counts and inspectors."""
    zoo.hub.emit("smtp", "mail.stored", "smtp-1", to=["a@example.com"])
    zoo.hub.inspectors["smtp"] = Seeded()
    services = {s["name"]: s for s in zoo.request("/api/services").json()["services"]}
    assert set(services) == {"echo", "smtp"}
    assert services["echo"]["listeners"][0]["port"] == 7007
    assert services["smtp"]["events"]["by_kind"] == {"mail.stored": 1}
    assert services["smtp"]["events"]["kept"] == 1
    assert services["smtp"]["inspector"] == {"things": 0}
    assert {r["path"] for r in services["smtp"]["routes"]} >= {"/api/smtp/things/{id}"}


def test_readyz_waits_for_every_listener(zoo: Plane) -> None:
    """/readyz is 503 naming a listener not bound yet, 200 once all are."""
    zoo.waiting = ["smtp tcp:25"]
    answer = zoo.request("/readyz")
    assert answer.status == 503 and "smtp tcp:25" in answer.json()["error"]
    zoo.waiting = []
    assert zoo.request("/readyz").json() == {"status": "ready", "listeners": 1}


def test_metrics_read_the_hub(zoo: Plane) -> None:
    """/metrics reports events by service and kind, open sessions and listeners."""
    zoo.hub.emit("smtp", "session.opened", "smtp-1", peer="127.0.0.1:5000")
    zoo.hub.emit("smtp", "mail.stored", "smtp-1")
    zoo.hub.emit("smtp", "session.opened", "smtp-2")
    zoo.hub.emit("smtp", "session.closed", "smtp-2")
    answer = zoo.request("/metrics")
    text = answer.body.decode()
    assert answer.header("content-type").startswith("text/plain")
    assert 'zoo_events_total{kind="mail.stored",service="smtp"} 1.0' in text
    assert 'zoo_sessions_open{service="smtp"} 1.0' in text
    assert 'zoo_listeners{service="echo"} 1.0' in text
    assert 'zoo_events_kept{service="smtp",store="events"} 4.0' in text


# -- events ------------------------------------------------------------------------------


def _some(zoo: Plane) -> None:
    zoo.hub.emit("smtp", "mail.stored", "smtp-1", to=["Alice@example.com"], env={"size": 10})
    zoo.hub.emit("smtp", "session.closed", "smtp-1")
    zoo.hub.emit("ftp", "file.uploaded", "ftp-2", path="/a")
    zoo.hub.emit("smtp", "mail.stored", "smtp-3", to=["bob@example.com"], env={"size": 20})


def test_events_filter_and_cursor(zoo: Plane) -> None:
    """/api/events applies service, kind prefix, session, dotted field matches and after."""
    _some(zoo)

    def seqs(**args: str) -> list[int]:
        answer = zoo.request("/api/events", **args)
        assert answer.status == 200, answer.body
        return [e["seq"] for e in answer.json()["events"]]

    assert seqs() == [1, 2, 3, 4]
    assert seqs(service="smtp") == [1, 2, 4]
    assert seqs(kind="mail.") == [1, 4]
    assert seqs(kind="mail") == []
    assert seqs(session="ftp-2") == [3]
    assert seqs(**{"match.to": "alice@example.com"}) == [1]
    assert seqs(**{"match.env.size": "20"}) == [4]
    assert seqs(after="2") == [3, 4]


def test_events_limit_gives_a_cursor_to_continue(zoo: Plane) -> None:
    """With a limit the cursor is the last event returned; paging with it misses nothing."""
    _some(zoo)
    first = zoo.request("/api/events", limit="3").json()
    assert [e["seq"] for e in first["events"]] == [1, 2, 3]
    assert first["more"] is True and first["cursor"] == 3
    rest = zoo.request("/api/events", limit="3", after=str(first["cursor"])).json()
    assert [e["seq"] for e in rest["events"]] == [4]
    assert rest["more"] is False and rest["cursor"] == 4
    assert zoo.request("/api/events", limit="0").json() == {
        "events": [],
        "cursor": 4,
        "more": False,
        "filter": {},
    }


def test_events_cursor_covers_what_did_not_match(zoo: Plane) -> None:
    """With no match the cursor still moves to the newest event scanned."""
    _some(zoo)
    answer = zoo.request("/api/events", service="pubsub").json()
    assert answer["events"] == [] and answer["cursor"] == 4


# -- wait-for -------------------------------------------------------------------------------


def test_wait_answers_at_once_for_an_earlier_event(zoo: Plane) -> None:
    """A matching event kept before the request answers it at once."""
    _some(zoo)
    answer = zoo.request("/api/events/wait", **{"match.to": "bob@example.com"})
    assert answer.status == 200
    assert answer.json()["event"]["seq"] == 4 and answer.json()["cursor"] == 4


def test_wait_answers_when_the_event_arrives(zoo: Plane) -> None:
    """The answer comes the moment a matching event after the cursor is emitted."""
    _some(zoo)
    answer = zoo.request("/api/events/wait", kind="mail.stored", after="4", timeout="10")
    assert answer.request.finished == 0
    zoo.clock.advance(1)
    zoo.hub.emit("smtp", "session.opened", "smtp-5")
    assert answer.request.finished == 0
    zoo.clock.advance(1)
    zoo.hub.emit("smtp", "mail.stored", "smtp-5", to=["c@example.com"])
    assert answer.request.finished == 1 and answer.status == 200
    assert answer.json()["event"]["seq"] == 6
    assert answer.json()["waited"] == 2


def test_wait_timeout_is_408_showing_what_arrived(zoo: Plane) -> None:
    """At timeout the 408 body shows the filter and the events of that service and kind."""
    _some(zoo)
    answer = zoo.request(
        "/api/events/wait",
        service="smtp",
        kind="mail.stored",
        after="1",
        timeout="5",
        **{"match.to": "carol@example.com"},
    )
    zoo.clock.advance(4.9)
    assert answer.request.finished == 0
    zoo.clock.advance(0.2)
    assert answer.status == 408
    body = answer.json()
    assert "timeout" in body["error"]
    assert body["filter"]["match"] == {"to": "carol@example.com"}
    assert [e["fields"]["to"] for e in body["arrived"]] == [["bob@example.com"]]
    assert body["kinds_after_cursor"] == {"mail.stored": 1, "session.closed": 1}


@pytest.mark.parametrize("timeout", ["0", "301", "x", "-1", "nan"])
def test_wait_timeout_is_bounded(zoo: Plane, timeout: str) -> None:
    """A timeout outside (0, 300] seconds is a 400."""
    answer = zoo.request("/api/events/wait", timeout=timeout)
    assert answer.status == 400 and "timeout" in answer.json()["error"]


def test_wait_stops_when_the_client_goes(zoo: Plane) -> None:
    """A client that disconnects leaves no waiter behind, and nothing is written."""
    answer = zoo.request("/api/events/wait", kind="mail.stored", timeout="100")
    assert zoo.hub._waiters
    answer.request.processingFailed(Failure(ConnectionError("gone")))
    assert not zoo.hub._waiters
    zoo.hub.emit("smtp", "mail.stored")
    assert answer.body == b""


# -- the stream ---------------------------------------------------------------------------------


def _sse(body: bytes) -> list[dict[str, Any]]:
    out = []
    for block in body.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "data" in lines:
            out.append({"id": int(lines["id"]), **json.loads(lines["data"])})
    return out


def test_stream_sends_kept_then_live_events(zoo: Plane) -> None:
    """The stream sends matching kept events after the cursor, then live ones, with ids."""
    _some(zoo)
    answer = zoo.request("/api/events/stream", service="smtp", after="1")
    assert answer.header("content-type") == "text/event-stream; charset=utf-8"
    assert [e["id"] for e in _sse(answer.body)] == [2, 4]
    zoo.hub.emit("ftp", "file.deleted")
    zoo.hub.emit("smtp", "mail.stored", "smtp-9")
    events = _sse(answer.body)
    assert [(e["id"], e["kind"]) for e in events][-1] == (6, "mail.stored")
    assert len(events) == 3


def test_stream_resumes_from_last_event_id(zoo: Plane) -> None:
    """Last-Event-ID resumes after the last event the client saw."""
    _some(zoo)
    answer = zoo.request("/api/events/stream", headers={"Last-Event-ID": "3"})
    assert [e["id"] for e in _sse(answer.body)] == [4]


def test_stream_keepalive_and_clean_end(zoo: Plane) -> None:
    """Keep-alive comments come on the clock; a gone client is unsubscribed and timers stop."""
    answer = zoo.request("/api/events/stream", keepalive="10")
    zoo.clock.advance(10)
    assert answer.body.endswith(b": keep-alive\n\n")
    assert len(zoo.hub._subscribers) == 1
    answer.request.processingFailed(Failure(ConnectionError("gone")))
    assert zoo.hub._subscribers == [] and zoo.clock.getDelayedCalls() == []


# -- sessions and transcripts ---------------------------------------------------------------------


def _session(zoo: Plane) -> None:
    h = zoo.hub
    h.emit("smtp", "session.opened", "smtp-1", peer="127.0.0.1:5000", listener="tcp:25", tls=False)
    h.emit("smtp", "wire.out", "smtp-1", data="220 zoo ESMTP\r\n", size=15, reply=220)
    h.emit("smtp", "wire.in", "smtp-1", data="STARTTLS\r\n", size=10, command="STARTTLS")
    h.emit("smtp", "wire.out", "smtp-1", data="220 go ahead\r\n", size=14, reply=220)
    h.emit("smtp", "session.tls", "smtp-1", version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384")
    h.emit("smtp", "wire.in", "smtp-1", data="AUTH PLAIN ***\r\n", size=30, redacted=True)
    h.emit("smtp", "session.user", "smtp-1", user="alice")
    h.emit("smtp", "wire.in", "smtp-1", data="DATA\r\nbin\x00\xe9ry\r\nhalf", size=20)
    h.emit("smtp", "mail.stored", "smtp-1", to=["bob@example.com"])
    h.emit("smtp", "session.closed", "smtp-1", bytes_in=60, bytes_out=29, duration=0.5)
    h.emit("ftp", "session.opened", "ftp-2", peer="127.0.0.1:5001")


def test_sessions_are_derived_from_session_events(zoo: Plane) -> None:
    """/api/sessions folds session.* events; service and open filter the list."""
    _session(zoo)
    listed = {s["id"]: s for s in zoo.request("/api/sessions").json()["sessions"]}
    assert set(listed) == {"smtp-1", "ftp-2"}
    smtp = listed["smtp-1"]
    assert smtp["user"] == "alice" and smtp["open"] is False and smtp["duration"] == 0.5
    assert smtp["tls"] == {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                           "client_cert": None}  # fmt: skip
    assert [s["id"] for s in zoo.request("/api/sessions", service="ftp").json()["sessions"]] == [
        "ftp-2"
    ]
    assert [s["id"] for s in zoo.request("/api/sessions", open="true").json()["sessions"]] == [
        "ftp-2"
    ]
    assert zoo.request("/api/sessions", open="maybe").status == 400


def test_one_session_and_its_transcript(zoo: Plane) -> None:
    """A session shows its domain events; its transcript lists the wire chunks in order."""
    _session(zoo)
    session = zoo.request("/api/sessions/smtp-1").json()
    assert session["chunks"] == 5
    assert [e["kind"] for e in session["events"]] == ["mail.stored"]
    chunks = zoo.request("/api/sessions/smtp-1/transcript").json()["chunks"]
    assert [c["direction"] for c in chunks] == ["out", "in", "out", "in", "in"]
    assert chunks[1]["command"] == "STARTTLS" and chunks[3]["redacted"] is True


def test_transcript_text_download(zoo: Plane) -> None:
    """The text transcript has C:/S: lines, the TLS start, escaped bytes and a download name."""
    _session(zoo)
    answer = zoo.request("/api/sessions/smtp-1/transcript.txt")
    assert answer.header("content-type") == "text/plain; charset=utf-8"
    assert answer.header("content-disposition") == 'attachment; filename="smtp-1.txt"'
    lines = answer.body.decode().splitlines()
    dialogue = lines[lines.index("") + 1 :]
    assert dialogue == [
        "S: 220 zoo ESMTP",
        "C: STARTTLS",
        "S: 220 go ahead",
        "-- TLS started (TLSv1.3, TLS_AES_256_GCM_SHA384) --",
        "C: AUTH PLAIN ***  [redacted]",
        "C: DATA",
        "C: bin\\x00\\xe9ry",
        "C: half \\",
        "-- closed after 0.5 s --",
    ]


def test_unknown_session_is_404(zoo: Plane) -> None:
    """An unknown session id is a 404 for the session and both transcripts."""
    for path in ("/api/sessions/nope", "/api/sessions/nope/transcript",
                 "/api/sessions/nope/transcript.txt"):  # fmt: skip
        answer = zoo.request(path)
        assert answer.status == 404 and "nope" in answer.json()["error"]


# -- reset ----------------------------------------------------------------------------------


def test_reset_one_service_and_all(zoo: Plane) -> None:
    """POST reset clears a service's events and runs its reset hooks; /api/reset does all."""
    cleared: list[str] = []
    zoo.hub.on_reset("smtp", lambda: cleared.append("smtp"))
    zoo.hub.on_reset("ftp", lambda: cleared.append("ftp"))
    _some(zoo)
    answer = zoo.request("/api/services/smtp/reset", method="POST")
    assert answer.json()["reset"] == ["smtp"] and cleared == ["smtp"]
    assert [e["service"] for e in zoo.request("/api/events").json()["events"]] == ["ftp"]
    assert zoo.request("/api/reset", method="POST").status == 200
    assert cleared == ["smtp", "ftp", "smtp"]
    assert zoo.request("/api/events").json()["events"] == []


def test_reset_unknown_service_is_404(zoo: Plane) -> None:
    """Resetting a service nobody knows is a 404; a bound one with no events is fine."""
    assert zoo.request("/api/services/gopher/reset", method="POST").status == 404
    assert zoo.request("/api/services/echo/reset", method="POST").status == 200


# -- inspectors -------------------------------------------------------------------------------


class Seeded:
    """A small inspector: things by id, seeding with a body, raw bytes, errors, Deferreds."""

    def __init__(self) -> None:
        self.things: dict[str, bytes] = {}
        self.later: defer.Deferred[Any] | None = None

    def describe(self) -> dict[str, Any]:
        return {"things": len(self.things)}

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/things", self.list, "List things.", {"prefix": "Only ids so starting."}),
            Route("PUT", "/things/{id}", self.put, "Seed a thing."),
            Route("GET", "/things/{id}", self.get, "A thing's bytes."),
            Route("DELETE", "/things/{id}", self.delete, "Delete a thing."),
            Route("GET", "/later", self.slow, "Answers later."),
        ]

    def list(self, call: Call) -> list[str]:
        return sorted(k for k in self.things if k.startswith(call.query.get("prefix", "")))

    def put(self, call: Call) -> dict[str, Any]:
        self.things[call.params["id"]] = call.body
        return {"stored": call.params["id"], "type": call.content_type}

    def get(self, call: Call) -> RawBody:
        if call.params["id"] not in self.things:
            raise ApiError(404, f"no thing {call.params['id']!r}")
        return RawBody(self.things[call.params["id"]], "application/x-thing", 'a "thing".bin')

    def delete(self, call: Call) -> dict[str, Any]:
        return {"deleted": self.things.pop(call.params["id"], None) is not None}

    def slow(self, call: Call) -> defer.Deferred[Any]:
        self.later = defer.Deferred()
        return self.later


def test_inspector_routes_are_mounted(zoo: Plane) -> None:
    """Inspector routes answer under /api/NAME with path params, query, body and raw bytes."""
    things = zoo.hub.inspectors["things"] = Seeded()
    put = zoo.request("/api/things/things/a%2Fb", method="PUT", body=b"\x00\x01",
                      headers={"Content-Type": "application/x-thing"})  # fmt: skip
    assert put.json() == {"stored": "a/b", "type": "application/x-thing"}
    assert things.things == {"a/b": b"\x00\x01"}
    assert zoo.request("/api/things/things", prefix="a").json() == ["a/b"]
    assert zoo.request("/api/things/things", prefix="z").json() == []
    raw = zoo.request("/api/things/things/a%2Fb")
    assert raw.body == b"\x00\x01" and raw.header("content-type") == "application/x-thing"
    assert raw.header("content-disposition") == 'attachment; filename="a thing.bin"'
    missing = zoo.request("/api/things/things/zzz")
    assert missing.status == 404 and missing.json() == {"error": "no thing 'zzz'"}
    assert zoo.request("/api/things/things/a%2Fb", method="POST").status == 405
    assert zoo.request("/api/things/things/a%2Fb", method="DELETE").json() == {"deleted": True}


def test_inspector_deferreds_answer_later(zoo: Plane) -> None:
    """A handler's Deferred answers when it fires; an ApiError it fails with keeps its status."""
    things = zoo.hub.inspectors["things"] = Seeded()
    answer = zoo.request("/api/things/later")
    assert answer.request.finished == 0 and things.later is not None
    things.later.callback({"done": 1})
    assert answer.json() == {"done": 1}
    failed = zoo.request("/api/things/later")
    things.later.errback(ApiError(409, "busy"))
    assert failed.status == 409 and failed.json() == {"error": "busy"}


def test_openapi_describes_every_route(zoo: Plane) -> None:
    """/openapi.json lists the control plane's and the inspectors' operations and parameters."""
    zoo.hub.inspectors["things"] = Seeded()
    doc = zoo.request("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path in ("/livez", "/api/events", "/api/events/wait", "/api/events/stream",
                 "/api/sessions/{id}/transcript.txt", "/api/services/{name}/reset",
                 "/api/things/things/{id}"):  # fmt: skip
        assert path in paths, path
    assert set(paths["/api/things/things/{id}"]) == {"get", "put", "delete"}
    params = paths["/api/things/things/{id}"]["get"]["parameters"]
    assert params == [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    wait = {p["name"] for p in paths["/api/events/wait"]["get"]["parameters"]}
    assert {"service", "kind", "session", "match.FIELD", "after", "timeout"} <= wait
    assert paths["/livez"]["get"]["security"] == []
    ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(ids) == len(set(ids))


# -- the token file --------------------------------------------------------------------------


def test_token_file_is_private_and_reused(tmp_path: Any) -> None:
    """The token is created 0600 on first use, reused after, and made private if loosened."""
    from zoo.admin.token import load_or_create

    token, path = load_or_create(tmp_path / "state")
    assert len(token) >= 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create(tmp_path / "state")[0] == token
    os.chmod(path, 0o644)
    assert load_or_create(tmp_path / "state")[0] == token
    assert path.stat().st_mode & 0o777 == 0o600


def test_marks_note_a_point_in_the_event_log(zoo: Plane) -> None:
    """POST /api/marks adds an admin 'mark' event a wait can match; bad bodies are 400."""
    waiting = zoo.request("/api/events/wait", kind="mark", **{"match.name": "t1"})
    answer = zoo.request("/api/marks", method="POST", body=b'{"name": "t1", "step": 2}')
    assert answer.json()["event"]["fields"] == {"name": "t1", "step": 2}
    assert waiting.json()["event"]["service"] == "admin"
    for body in (b"", b"[1]", b"{", b'{"name": 3}'):
        assert zoo.request("/api/marks", method="POST", body=body).status == 400


def test_stream_holds_back_while_the_client_is_slow(zoo: Plane) -> None:
    """While the transport pauses the stream nothing is written; on resume the missed events come."""
    answer = zoo.request("/api/events/stream", kind="mark")
    producer = answer.request.producer
    producer.pauseProducing()
    before = answer.body
    zoo.hub.emit("admin", "mark", name="a")
    zoo.hub.emit("smtp", "session.opened")
    zoo.hub.emit("admin", "mark", name="b")
    zoo.clock.advance(60)
    assert answer.body == before
    producer.resumeProducing()
    assert [e["fields"]["name"] for e in _sse(answer.body)] == ["a", "b"]
    zoo.hub.emit("admin", "mark", name="c")
    assert [e["fields"]["name"] for e in _sse(answer.body)] == ["a", "b", "c"]


def test_a_handler_value_error_is_a_500_not_a_400(zoo: Plane) -> None:
    """A ValueError inside a handler is the handler's bug (500), not the client's (400)."""

    class Broken:
        def describe(self) -> dict[str, Any]:
            return {}

        def routes(self) -> list[Route]:
            return [Route("GET", "/v", lambda call: int("x"), "fails")]

    zoo.hub.inspectors["broken"] = Broken()
    answer = zoo.request("/api/broken/v")
    assert answer.status == 500 and answer.json() == {"error": "internal error: ValueError"}


def test_admin_request_keeps_at_most_the_cap_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body past MAX_BODY is counted and dropped as it arrives, in memory, never spooled to disk."""
    from twisted.web.test.requesthelper import DummyChannel

    import zoo.admin.web as web

    monkeypatch.setattr(web, "MAX_BODY", 10)
    request = web.AdminRequest(DummyChannel())
    request.gotLength(10_000_000)  # twisted.web would open a temporary file for this
    assert isinstance(request.content, io.BytesIO)
    for _ in range(1000):
        request.handleContentChunk(b"x" * 7)
    assert request.content.getvalue() == b"x" * 11  # the cap and one byte: enough to answer 413
