"""The control plane's own operations: health, services, events, wait-for, sessions, reset, faults.

They are L{zoo.inspect.Route}s like the ones services offer, so one adapter
(L{zoo.admin.web}) serves both and one generator (L{zoo.admin.openapi}) describes
both. Handlers take a L{Call} and return plain values, a L{RawBody}, a Deferred, or
an L{EventStream} (which the adapter turns into Server-Sent Events).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from twisted.internet import defer

from zoo.admin import metrics, query
from zoo.admin.faults import FaultRoutes
from zoo.admin.rpc import RpcCaller
from zoo.admin.sessions import chunks, sessions, transcript_text
from zoo.admin.sessions import faults as fired_faults
from zoo.events import Event, Filter, Observatory
from zoo.faults.model import Registry
from zoo.faults.model import registry as fault_registry
from zoo.inspect import ApiError, Call, RawBody, Route

#: The service name of the control plane (its listeners and its marks).
NAME = "admin"
#: The longest a wait-for request may wait, in seconds.
MAX_WAIT = 300.0
DEFAULT_WAIT = 30.0
#: Events of the waited-for service shown when a wait times out.
SHOWN_ON_TIMEOUT = 20

_STREAM_EXTRA = {"keepalive": "Seconds between keep-alive comments (default 15)."}


@dataclass(frozen=True)
class EventStream:
    """What the stream operation returns: the adapter sends these events as SSE."""

    filter: Filter
    after: int
    keepalive: float


def _no_bound() -> list[Any]:
    return []


class ControlPlane:
    """The operations under C{/livez}, C{/readyz}, C{/metrics} and C{/api/...}.

    @param hub: the observatory served.
    @param listeners: returns the process's bound listeners (L{zoo.tap._service.Bound}).
    @param pending: returns the listeners not bound yet (empty once ready).
    """

    def __init__(
        self,
        hub: Observatory,
        listeners: Callable[[], list[Any]] = _no_bound,
        pending: Callable[[], list[str]] = list,
        faults: Registry | None = None,
    ) -> None:
        self.hub = hub
        self.faults = FaultRoutes(faults if faults is not None else fault_registry)
        self.listeners = listeners
        self.pending = pending
        #: The Redis relay (L{zoo.admin.relay.EventRelay}) that shares resets, if any.
        self.relay: Any = None
        self.registry = metrics.registry(hub, lambda: self.listeners())
        #: Calls XML-RPC methods for the web page (L{zoo.admin.rpc}).
        self.rpc = RpcCaller(lambda: self.listeners())

    def routes(self) -> list[Route]:
        """Every operation, with the path it is served at (absolute here)."""
        filters = dict(query.FILTER_QUERY)
        return [
            Route("GET", "/livez", self.livez, "Liveness: answers while the process runs."),
            Route("GET", "/readyz", self.readyz, "Readiness: 200 once every listener is bound."),
            Route("GET", "/metrics", self.metrics, "Prometheus metrics of the observatory."),
            Route("GET", "/api/services", self.services, "Services, listeners, event counts."),
            Route("POST", "/api/reset", self.reset_all, "Reset every service: data and events."),
            Route(
                "POST",
                "/api/services/{name}/reset",
                self.reset_one,
                "Reset one service: its stored data, events and counters.",
            ),
            Route(
                "GET",
                "/api/events",
                self.events,
                "Kept events matching the filters, oldest first, and a cursor.",
                {**filters, "limit": f"Most events returned (0 to {query.MAX_LIMIT})."},
            ),
            Route(
                "GET",
                "/api/events/stream",
                self.stream,
                "Server-Sent Events: kept then live events matching the filters.",
                {**filters, **_STREAM_EXTRA},
            ),
            Route(
                "GET",
                "/api/events/wait",
                self.wait,
                "Answer once an event matching the filters exists after the cursor; 408 at timeout.",
                {
                    **filters,
                    "timeout": f"Seconds to wait (default {DEFAULT_WAIT:g}, most {MAX_WAIT:g}).",
                },
            ),
            Route(
                "POST",
                "/api/marks",
                self.mark,
                "Add a mark to the event log (service admin, kind mark): a JSON object "
                "with a name and any other fields, e.g. a test noting where it starts.",
            ),
            Route(
                "GET",
                "/api/sessions",
                self.session_list,
                "Sessions seen (from session.* events).",
                {"service": "Only this service's sessions.", "open": "true or false."},
            ),
            Route("GET", "/api/sessions/{id}", self.session, "One session."),
            Route(
                "GET",
                "/api/sessions/{id}/transcript",
                self.transcript,
                "A session's transcript as JSON chunks.",
            ),
            Route(
                "GET",
                "/api/sessions/{id}/transcript.txt",
                self.transcript_txt,
                "A session's transcript as a plain-text C:/S: dialogue.",
            ),
            self.rpc.route(),
            *self.faults.routes(),
        ]

    # -- health ---------------------------------------------------------------------------

    def livez(self, call: Call) -> dict[str, Any]:
        return {"status": "ok", "node": self.hub.node}

    def readyz(self, call: Call) -> dict[str, Any]:
        waiting = self.pending()
        if waiting:
            raise ApiError(503, f"not ready: not listening yet: {', '.join(waiting)}")
        return {"status": "ready", "listeners": len(self.listeners())}

    def metrics(self, call: Call) -> RawBody:
        return RawBody(*metrics.render(self.registry))

    # -- services -------------------------------------------------------------------------

    def services(self, call: Call) -> dict[str, Any]:
        bound = self.listeners()
        names = sorted(set(self.hub.services()) | {b.service for b in bound})
        stats = self.hub.stats()
        out = []
        for name in names:
            kinds = {k: n for (s, k), n in sorted(self.hub.counts.items()) if s == name}
            entry: dict[str, Any] = {
                "name": name,
                "listeners": [asdict(b) for b in bound if b.service == name],
                "events": {**stats.get(name, {}), "by_kind": kinds},
            }
            inspector = self.hub.inspectors.get(name)
            if inspector is not None:
                entry["inspector"] = inspector.describe()
                entry["routes"] = [
                    {"method": r.method, "path": f"/api/{name}{r.path}", "summary": r.summary}
                    for r in inspector.routes()
                ]
            out.append(entry)
        return {"node": self.hub.node, "cursor": self.hub.last_seq, "services": out}

    def _known(self, name: str) -> bool:
        return name in self.hub.services() or any(b.service == name for b in self.listeners())

    def reset_all(self, call: Call) -> dict[str, Any]:
        if self.relay is not None:
            self.relay.reset(None)
        return {"reset": self.hub.reset(), "cursor": self.hub.last_seq}

    def reset_one(self, call: Call) -> dict[str, Any]:
        name = call.params["name"]
        if not self._known(name):
            raise ApiError(404, f"no service {name!r} (see /api/services)")
        if self.relay is not None:
            self.relay.reset(name)
        return {"reset": self.hub.reset(name), "cursor": self.hub.last_seq}

    # -- events ---------------------------------------------------------------------------

    def events(self, call: Call) -> dict[str, Any]:
        asked = query.wanted(call.query, extra=("limit",))
        limit = query.DEFAULT_LIMIT
        if "limit" in asked.extra:
            limit = query.whole("limit", asked.extra["limit"], 0, query.MAX_LIMIT)
        # The cursor is read before the scan: everything up to it has been looked at.
        scanned = self.hub.last_seq
        found = self.hub.events(asked.filter, asked.after, limit + 1) if limit else []
        more = len(found) > limit
        found = found[:limit]
        cursor = found[-1].seq if more else max(scanned, asked.after)
        return {
            "events": [e.to_json() for e in found],
            "cursor": cursor,
            "more": more,
            "filter": query.describe(asked.filter),
        }

    def stream(self, call: Call) -> EventStream:
        asked = query.wanted(call.query, extra=("keepalive", "last-event-id"))
        after = asked.after
        resume = asked.extra.get("last-event-id")
        if resume:
            after = max(after, query.whole("Last-Event-ID", resume))
        keepalive = 15.0
        if "keepalive" in asked.extra:
            keepalive = query.seconds("keepalive", asked.extra["keepalive"], 3600)
        return EventStream(asked.filter, after, keepalive)

    def wait(self, call: Call) -> defer.Deferred[dict[str, Any]]:
        asked = query.wanted(call.query, extra=("timeout",))
        timeout = DEFAULT_WAIT
        if "timeout" in asked.extra:
            timeout = query.seconds("timeout", asked.extra["timeout"], MAX_WAIT)
        started = self.hub.clock.seconds()
        d = self.hub.wait(asked.filter, asked.after, timeout)

        def answer(event: Event | None) -> dict[str, Any]:
            if event is None:
                raise ApiError(408, self._timed_out(asked, timeout))
            return {
                "event": event.to_json(),
                "cursor": event.seq,
                "waited": round(self.hub.clock.seconds() - started, 6),
            }

        return d.addCallback(answer)

    def _timed_out(self, asked: query.Wanted, timeout: float) -> Any:
        """The 408 body: what was asked, and what did arrive for that service and kind."""
        near = Filter.of(asked.filter.service, asked.filter.kind)
        arrived = self.hub.events(near, asked.after)
        kinds = Counter(
            e.kind
            for e in self.hub.events(Filter.of(asked.filter.service), asked.after)
            if not e.kind.startswith("wire.")
        )
        return {
            "error": f"timeout: no matching event within {timeout:g} s",
            "filter": query.describe(asked.filter),
            "after": asked.after,
            "cursor": self.hub.last_seq,
            "arrived": [e.to_json() for e in arrived[-SHOWN_ON_TIMEOUT:]],
            "arrived_count": len(arrived),
            "kinds_after_cursor": dict(sorted(kinds.items())),
        }

    def mark(self, call: Call) -> dict[str, Any]:
        try:
            fields = json.loads(call.body or b"null")
        except ValueError as e:
            raise ApiError(400, f"the body is not JSON: {e}") from None
        if not isinstance(fields, dict) or not isinstance(fields.get("name"), str):
            raise ApiError(400, 'the body must be a JSON object with a "name" string')
        event = self.hub.emit(NAME, "mark", None, **fields)
        if event is None:
            raise ApiError(409, "the observatory is off")
        return {"event": event.to_json(), "cursor": event.seq}

    # -- sessions -------------------------------------------------------------------------

    def session_list(self, call: Call) -> dict[str, Any]:
        unknown = set(call.query) - {"service", "open"}
        if unknown:
            raise ApiError(400, f"unknown parameter {sorted(unknown)[0]!r} (known: service, open)")
        service = call.query.get("service") or None
        is_open = call.query.get("open")
        if is_open not in (None, "true", "false"):
            raise ApiError(400, f"open: {is_open!r} is not true or false")
        found = sessions(self.hub.events(Filter.of(service, "session.")))
        listed = [r for r in found.values() if is_open is None or r["open"] == (is_open == "true")]
        return {"sessions": listed}

    def _session(self, session_id: str) -> tuple[dict[str, Any], list[Event]]:
        events = self.hub.events(Filter.of(session=session_id))
        record = sessions(events).get(session_id)
        if record is None:
            if not events:
                raise ApiError(404, f"no session {session_id!r} (see /api/sessions)")
            first = events[0]  # its session.* events were dropped by retention
            record = {"id": session_id, "service": first.service, "node": first.node}
        return record, events

    def session(self, call: Call) -> dict[str, Any]:
        record, events = self._session(call.params["id"])
        wire = [e for e in events if e.kind.startswith("wire.")]
        others = [e.to_json() for e in events if not e.kind.startswith(("wire.", "session."))]
        return {**record, "chunks": len(wire), "events": others}

    def transcript(self, call: Call) -> dict[str, Any]:
        record, events = self._session(call.params["id"])
        return {"session": record, "chunks": chunks(events), "faults": fired_faults(events)}

    def transcript_txt(self, call: Call) -> RawBody:
        record, events = self._session(call.params["id"])
        text = transcript_text(record, events)
        return RawBody(text.encode("utf-8"), "text/plain; charset=utf-8", f"{record['id']}.txt")
