"""A small synchronous client of the control plane (L{zoo.admin}), for tests and scripts.

Standard library only (C{http.client}), so any test suite can use it: no Twisted,
no reactor, no event loop. Every call is one HTTP request on a kept-alive
connection (one per thread)::

    from zoo.client import Client

    api = Client.from_state_dir("http://127.0.0.1:8900", "~/.local/share/zoo")
    api.reset("smtp")
    send_the_invoice()
    event = api.wait_for(service="smtp", kind="mail.stored",
                         match={"to": "alice@example.com"}, timeout=5)
    message = api.message(event.fields["ids"][0])

Waiting is done by the server (C{/api/events/wait}): the call returns as soon as
the event exists, never by polling. When nothing matches in time it raises
L{ZooTimeout}, an C{AssertionError} whose message lists what did arrive.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

__all__ = ["Client", "Event", "Fault", "ZooError", "ZooTimeout"]

#: Seconds a request may take beyond the wait it asks the server for.
_SLACK = 10.0
#: Events shown in a L{ZooTimeout} message (the server sends at most 20).
_SHOWN = 10
#: Fields left out of an event's one-line summary (long, and said by others).
_NOISY = frozenset({"paths", "ids", "mailboxes", "data", "stored", "truncated"})


class ZooError(Exception):
    """The control plane answered with an error (the status and its JSON C{error})."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = body


@dataclass(frozen=True)
class Event:
    """One event, as the control plane shows it (see the observatory's docs)."""

    seq: int
    time: float
    service: str
    kind: str
    session: str | None
    node: str
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            seq=data["seq"],
            time=data["time"],
            service=data["service"],
            kind=data["kind"],
            session=data.get("session"),
            node=data.get("node", ""),
            fields=dict(data.get("fields") or {}),
        )

    def __getitem__(self, name: str) -> Any:
        """A field: C{event["to"]} is C{event.fields["to"]}."""
        return self.fields[name]

    def summary(self) -> str:
        """One line: C{#12 smtp mail.stored [smtp-3] from='a@x' to=['b@y'] subject='Hi'}."""
        shown = " ".join(
            f"{k}={_short(v)}"
            for k, v in self.fields.items()
            if k not in _NOISY and v not in (None, "")
        )
        where = f" [{self.session}]" if self.session else ""
        return f"#{self.seq} {self.service} {self.kind}{where} {shown}".rstrip()


def _short(value: Any, most: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= most else text[: most - 1] + "…"


class ZooTimeout(AssertionError):
    """A wait ended with no matching event; the message says what did arrive.

    @ivar filter: what was waited for (service, kind, session, match).
    @ivar arrived: the events of that service and kind after the cursor (the last 20).
    @ivar arrived_count: how many there were in all.
    @ivar kinds: the service's other events after the cursor, counted by kind.
    """

    def __init__(self, answer: Mapping[str, Any], timeout: float) -> None:
        self.filter: dict[str, Any] = dict(answer.get("filter") or {})
        self.arrived = [Event.from_json(e) for e in answer.get("arrived") or []]
        self.arrived_count: int = answer.get("arrived_count", len(self.arrived))
        self.kinds: dict[str, int] = dict(answer.get("kinds_after_cursor") or {})
        self.timeout = timeout
        super().__init__(self._explain())

    def _explain(self) -> str:
        wanted = ", ".join(f"{k}={v!r}" for k, v in self.filter.items()) or "any event"
        lines = [f"zoo: no event with {wanted} within {self.timeout:g} s"]
        near = {k: v for k, v in self.filter.items() if k in ("service", "kind")}
        near_text = " ".join(str(v) for v in near.values()) or "events"
        if not self.arrived_count:
            lines.append(f"  no {near_text} arrived at all")
        else:
            lines.append(f"  what did arrive ({self.arrived_count} {near_text}):")
            shown = self.arrived[-_SHOWN:]
            if self.arrived_count > len(shown):
                lines.append(f"    ... {self.arrived_count - len(shown)} earlier")
            lines += [f"    {e.summary()}" for e in shown]
        if self.kinds:
            counted = ", ".join(f"{k} {n}" for k, n in self.kinds.items())
            lines.append(f"  every event of the service meanwhile: {counted}")
        return "\n".join(lines)


def _query(params: Mapping[str, Any]) -> str:
    pairs = [(k, _text(v)) for k, v in params.items() if v is not None]
    return "?" + urlencode(pairs) if pairs else ""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _filters(
    service: str | None,
    kind: str | None,
    session: str | None,
    match: Mapping[str, Any] | None,
    after: int,
) -> dict[str, Any]:
    params: dict[str, Any] = {"service": service, "kind": kind, "session": session}
    for name, value in (match or {}).items():
        params[f"match.{name}"] = value
    if after:
        params["after"] = after
    return params


class Client:
    """The control plane at C{url}, with its token.

    Safe to share between threads: each thread keeps its own connection.

    @param url: C{http://127.0.0.1:PORT} (the admin listener).
    @param token: the bearer token (C{STATE_DIR/admin-token}).
    @param timeout: seconds any request may take (a wait gets its own timeout more).
    """

    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the control plane's URL must be http://HOST:PORT, not {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._host = parts.hostname
        self._port = parts.port or 80
        self._local = threading.local()

    @classmethod
    def from_state_dir(cls, url: str, state_dir: str | Path, **kw: Any) -> Client:
        """A client with the token kept in C{state_dir/admin-token}."""
        token = (Path(state_dir).expanduser() / "admin-token").read_text(encoding="ascii")
        return cls(url, token.strip(), **kw)

    # -- HTTP -------------------------------------------------------------------------------

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self._host, self._port)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def close(self) -> None:
        """Close this thread's connection (the next call opens a new one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def raw(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> tuple[int, str, bytes]:
        """Send one request; return C{(status, content type, body)} whatever the status."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if content_type:
            headers["Content-Type"] = content_type
        target = path + _query(params or {})
        wait = self.timeout if timeout is None else timeout
        for attempt in (1, 2):
            conn = self._connection(wait)
            reused = conn.sock is not None
            try:
                conn.request(method, target, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server had closed: try once on a new one.
                self.close()
                if attempt == 2 or not reused:
                    raise
                continue
            except BaseException:
                self.close()
                raise
            if answer.will_close:
                self.close()
            return answer.status, answer.getheader("Content-Type", ""), data
        raise AssertionError("unreachable")  # pragma: no cover

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request; return its JSON (or its bytes if not JSON).

        @raise ZooError: for any status from 400 up.
        """
        status, kind, data = self.raw(method, path, params, body, content_type, timeout)
        decoded: Any = data
        if kind.startswith("application/json"):
            decoded = json.loads(data)
        if status >= 400:
            message = decoded.get("error", "") if isinstance(decoded, dict) else repr(data[:200])
            raise ZooError(status, message, decoded)
        return decoded

    def _json(self, method: str, path: str, value: Any, **params: Any) -> Any:
        return self.call(method, path, params, json.dumps(value).encode(), "application/json")

    # -- health and services ----------------------------------------------------------------

    def livez(self) -> dict[str, Any]:
        return self.call("GET", "/livez")  # type: ignore[no-any-return]

    def readyz(self) -> dict[str, Any]:
        return self.call("GET", "/readyz")  # type: ignore[no-any-return]

    def services(self) -> list[dict[str, Any]]:
        """Every service: its listeners, event counts, inspector and routes."""
        return self.call("GET", "/api/services")["services"]  # type: ignore[no-any-return]

    def reset(self, service: str | None = None) -> list[str]:
        """Forget a service's events and stored data (every service's if C{None}).

        @return: the services reset.
        """
        path = "/api/reset" if service is None else f"/api/services/{service}/reset"
        return self.call("POST", path)["reset"]  # type: ignore[no-any-return]

    # -- events -----------------------------------------------------------------------------

    def cursor(self) -> int:
        """The current cursor: pass it as C{after} to see only what happens from now on."""
        return self.call("GET", "/api/events", {"limit": 0})["cursor"]  # type: ignore[no-any-return]

    def events(
        self,
        service: str | None = None,
        kind: str | None = None,
        *,
        session: str | None = None,
        match: Mapping[str, Any] | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[Event]:
        """Kept events that match, oldest first.

        @param kind: a kind (C{mail.stored}) or a prefix ending in a dot (C{file.}).
        @param match: field values (C{{"to": "alice@example.com"}}; dotted names look inside).
        @param after: a cursor: only later events.
        """
        params = _filters(service, kind, session, match, after)
        params["limit"] = limit
        found = self.call("GET", "/api/events", params)["events"]
        return [Event.from_json(e) for e in found]

    def wait_for(
        self,
        service: str | None = None,
        kind: str | None = None,
        *,
        session: str | None = None,
        match: Mapping[str, Any] | None = None,
        after: int = 0,
        timeout: float = 10.0,
    ) -> Event:
        """The first matching event after C{after}, as soon as it exists (the server waits).

        An event kept from before the call counts, so a test may wait after the
        thing happened.

        @raise ZooTimeout: nothing matched within C{timeout} seconds; the message
            lists the events of that service and kind that did arrive.
        """
        __tracebackhide__ = True  # pytest shows the test's line, not this one
        params = _filters(service, kind, session, match, after)
        params["timeout"] = f"{timeout:g}"
        try:
            answer = self.call("GET", "/api/events/wait", params, timeout=timeout + _SLACK)
        except ZooError as e:
            if e.status == 408 and isinstance(e.body, dict):
                raise ZooTimeout(e.body, timeout) from None
            raise
        return Event.from_json(answer["event"])

    def mark(self, name: str, **fields: Any) -> Event:
        """Add a C{mark} event (service C{admin}) with these fields: a note in the log."""
        answer = self._json("POST", "/api/marks", {"name": name, **fields})
        return Event.from_json(answer["event"])

    # -- sessions and transcripts -----------------------------------------------------------

    def sessions(
        self, service: str | None = None, open: bool | None = None
    ) -> list[dict[str, Any]]:
        """Sessions seen (each with C{id}, C{service}, C{peer}, C{user}, C{open}, ...)."""
        params = {"service": service, "open": open}
        return self.call("GET", "/api/sessions", params)["sessions"]  # type: ignore[no-any-return]

    def session(self, session_id: str) -> dict[str, Any]:
        """One session, with its transcript chunk count and its other events."""
        return self.call("GET", f"/api/sessions/{_seg(session_id)}")  # type: ignore[no-any-return]

    def transcript(self, session_id: str) -> list[dict[str, Any]]:
        """A session's transcript chunks (C{direction}, C{data}, C{command} or C{reply})."""
        answer = self.call("GET", f"/api/sessions/{_seg(session_id)}/transcript")
        return answer["chunks"]  # type: ignore[no-any-return]

    def transcript_text(self, session_id: str) -> str:
        """A session's dialogue as C{C:}/C{S:} lines."""
        data = self.call("GET", f"/api/sessions/{_seg(session_id)}/transcript.txt")
        return bytes(data).decode("utf-8", "replace")

    # -- mail (zoo-smtp's inspector, shared by pop3 and imap) ---------------------------------

    def mailboxes(self) -> list[dict[str, Any]]:
        return self.call("GET", "/api/smtp/mailboxes")  # type: ignore[no-any-return]

    def messages(
        self, mailbox: str | None = None, q: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Stored messages, newest first (C{id}, C{from}, C{to}, C{subject}, ...)."""
        params = {"mailbox": mailbox, "q": q, "limit": limit}
        return self.call("GET", "/api/smtp/messages", params)  # type: ignore[no-any-return]

    def message(self, message_id: str) -> dict[str, Any]:
        """One message: headers, C{text}, C{html}, C{attachments}."""
        return self.call("GET", f"/api/smtp/messages/{_seg(message_id)}")  # type: ignore[no-any-return]

    def message_source(self, message_id: str) -> bytes:
        """One message's source, as stored."""
        return bytes(self.call("GET", f"/api/smtp/messages/{_seg(message_id)}/raw"))

    def delete_message(self, message_id: str) -> None:
        self.call("DELETE", f"/api/smtp/messages/{_seg(message_id)}")

    def seed_message(
        self,
        to: str | Iterable[str],
        subject: str = "",
        text: str = "",
        *,
        sender: str = "zoo@localhost",
        cc: str | Iterable[str] = (),
        html: str | None = None,
    ) -> list[str]:
        """Store a message as if it came over SMTP; return the ids of its copies."""
        spec: dict[str, Any] = {
            "from": sender,
            "to": [to] if isinstance(to, str) else list(to),
            "cc": [cc] if isinstance(cc, str) else list(cc),
            "subject": subject,
            "text": text,
        }
        if html is not None:
            spec["html"] = html
        return self._json("POST", "/api/smtp/messages", spec)["ids"]  # type: ignore[no-any-return]

    def seed_source(self, source: bytes, to: str | Iterable[str] | None = None) -> list[str]:
        """Store an RFC 5322 message (recipients from C{to}, or its To and Cc headers)."""
        listed = None if to is None else ",".join([to] if isinstance(to, str) else to)
        answer = self.call("POST", "/api/smtp/messages", {"to": listed}, source, "message/rfc822")
        return answer["ids"]  # type: ignore[no-any-return]

    # -- files (zoo-ftp's and zoo-ssh's inspectors) -------------------------------------------

    def roots(self, service: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/api/{service}/roots")  # type: ignore[no-any-return]

    def files(self, service: str, path: str = "/", root: str | None = None) -> list[dict[str, Any]]:
        """The entries of a folder: C{name}, C{path}, C{type}, C{size}, C{uploaded_by}, ..."""
        answer = self.call("GET", f"/api/{service}/files", {"root": root, "path": path})
        return answer["entries"]  # type: ignore[no-any-return]

    def read_file(self, service: str, path: str, root: str | None = None) -> bytes:
        return bytes(self.call("GET", f"/api/{service}/file", {"root": root, "path": path}))

    def put_file(self, service: str, path: str, data: bytes, root: str | None = None) -> None:
        """Store a file (folders made as needed), reported as C{file.uploaded} by C{api}."""
        params = {"root": root, "path": path}
        self.call("PUT", f"/api/{service}/file", params, data, "application/octet-stream")

    def delete_file(self, service: str, path: str, root: str | None = None) -> None:
        self.call("DELETE", f"/api/{service}/file", {"root": root, "path": path})

    # -- pub-sub ----------------------------------------------------------------------------

    def channels(self) -> dict[str, Any]:
        return self.call("GET", "/api/pubsub/channels")  # type: ignore[no-any-return]

    def publish(self, channel: str, message: str) -> int:
        """Publish as a client would; return how many subscribers got it."""
        answer = self._json("POST", "/api/pubsub/publish", {"channel": channel, "message": message})
        return answer["receivers"]  # type: ignore[no-any-return]

    def published(
        self, channel: str | None = None, service: str = "pubsub"
    ) -> list[dict[str, Any]]:
        """Messages published (to C{channel}), oldest first: C{channel}, C{payload}, C{size}, ..."""
        match = {"channel": channel} if channel is not None else None
        return [e.fields for e in self.events(service, "pubsub.published", match=match)]

    # -- RPC --------------------------------------------------------------------------------

    def calls(self, method: str | None = None, service: str = "xmlrpc") -> list[dict[str, Any]]:
        """RPC calls answered (of C{method}), oldest first: C{method}, C{params}, C{result}
        or C{fault}, C{protocol}, C{duration_ms}."""
        match = {"method": method} if method is not None else None
        return [e.fields for e in self.events(service, "rpc.called", match=match)]

    # -- faults -----------------------------------------------------------------------------

    def faults(self) -> list[dict[str, Any]]:
        """The faults in force, with their counters (C{seen}, C{fired}); see docs/faults.rst."""
        return self.call("GET", "/api/faults")["faults"]  # type: ignore[no-any-return]

    def add_fault(self, spec: str, service: str | None = None) -> Fault:
        """Put a fault in force (C{"smtp:RCPT=451 first=2"}), scoped to C{service} if given.

        @raise ZooError: a bad spec (400, the message names the word).
        """
        value: dict[str, Any] = {"spec": spec}
        if service is not None:
            value["service"] = service
        made = self._json("POST", "/api/faults", value)["fault"]
        return Fault(self, made["id"], made["spec"])

    def delete_fault(self, fault_id: str) -> dict[str, Any]:
        """Take a fault out of force at once; return it with its final counters."""
        return self.call("DELETE", f"/api/faults/{_seg(fault_id)}")["deleted"]  # type: ignore[no-any-return]


@dataclass
class Fault:
    """A fault in force in a running zoo; a context manager that deletes it at exit.

    @ivar id: its id on the control plane; @ivar spec: its spec.
    """

    client: Client = field(repr=False)
    id: str
    spec: str

    def counters(self) -> dict[str, Any]:
        """The fault as the control plane lists it now (C{seen}, C{fired}, C{seed}...)."""
        return self.client.call("GET", f"/api/faults/{_seg(self.id)}")["fault"]  # type: ignore[no-any-return]

    @property
    def fired(self) -> int:
        """How often it has fired so far."""
        return int(self.counters()["fired"])

    @property
    def seen(self) -> int:
        """How many occurrences in its scope it has seen so far."""
        return int(self.counters()["seen"])

    def delete(self) -> None:
        """Take it out of force (nothing if it is gone already)."""
        try:
            self.client.delete_fault(self.id)
        except ZooError as e:
            if e.status != 404:
                raise

    def __enter__(self) -> Fault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()


def _seg(value: str) -> str:
    """C{value} quoted as one path segment."""
    return quote(value, safe="@~:+,=")
