"""Sessions and their transcripts, read back from the observatory's events.

A service reports a connection as C{session.*} events (opened, tls, user, closed)
and the bytes each side sent as C{wire.in} / C{wire.out} chunks, all carrying the
session's id. This module folds them into one record per session and renders a
transcript as JSON chunks or as a plain-text C{C:}/C{S:} dialogue. It is pure: it
reads a list of events and returns plain values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from zoo.events import Event

#: The fields of C{session.*} events copied into a session record, per kind.
_COPIED = {
    "session.opened": ("peer", "listener", "tls"),
    "session.tls": ("version", "cipher", "client_cert"),
    "session.user": ("user",),
    "session.closed": ("bytes_in", "bytes_out", "duration"),
}


def sessions(events: Iterable[Event]) -> dict[str, dict[str, Any]]:
    """Fold C{session.*} events (oldest first) into one record per session id.

    A record has C{id}, C{service}, C{node}, C{open} (no C{session.closed} seen),
    C{opened} and C{closed} times (C{None} when not seen, for instance dropped by
    retention), and the fields of its C{session.*} events; a C{session.tls} event
    sets C{tls} to a dict of its version, cipher and client certificate.
    """
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.session is None or not event.kind.startswith("session."):
            continue
        record = found.get(event.session)
        if record is None:
            record = found[event.session] = {
                "id": event.session,
                "service": event.service,
                "node": event.node,
                "open": True,
                "opened": None,
                "closed": None,
                "user": None,
            }
        fields = event.fields
        if event.kind == "session.opened":
            record["opened"] = event.time
            record.update({k: fields[k] for k in _COPIED[event.kind] if k in fields})
        elif event.kind == "session.tls":
            record["tls"] = {k: fields.get(k) for k in _COPIED[event.kind]}
            record["tls_started"] = event.seq
        elif event.kind in _COPIED:
            record.update({k: fields[k] for k in _COPIED[event.kind] if k in fields})
        if event.kind == "session.closed":
            record["open"] = False
            record["closed"] = event.time
    return found


def chunks(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The transcript chunks (C{wire.in}/C{wire.out} events) as JSON objects, oldest first."""
    out = []
    for event in events:
        if event.kind not in ("wire.in", "wire.out"):
            continue
        chunk = {
            "seq": event.seq,
            "time": event.time,
            "direction": "in" if event.kind == "wire.in" else "out",
        }
        chunk.update(event.fields)
        out.append(chunk)
    return out


def faults(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The C{fault.fired} events among C{events}, as JSON objects (seq, time, fields)."""
    return [{"seq": e.seq, "time": e.time, **e.fields} for e in events if e.kind == "fault.fired"]


def fault_line(event: Event) -> str:
    """A transcript's line for a C{fault.fired} event: where it falls in the dialogue."""
    fields = event.fields
    return f"-- fault {fields.get('fault')} fired: {escape(str(fields.get('spec', '')))} --"


def _escape_char(c: str) -> str:
    if c == "\\":
        return "\\\\"
    if c == "\t":
        return "\\t"
    if c == "\r":
        return "\\r"
    if " " <= c <= "~":
        return c
    return f"\\x{ord(c):02x}"


def escape(text: str) -> str:
    """Show C{text} (bytes decoded as latin-1) in printable ASCII: C{\\xNN}, C{\\r}, C{\\t}."""
    return "".join(map(_escape_char, text))


def transcript_text(record: dict[str, Any], events: Iterable[Event]) -> str:
    """A session's dialogue as text: C{C:} lines the client sent, C{S:} lines the server sent.

    Each chunk is cut at its line feeds; a line ending in CRLF or LF is shown without
    its ending, any other control or non-ASCII byte as C{\\xNN} (a lone CR as C{\\r}),
    and a chunk that ends mid-line is shown with a trailing C{\\} so a reader sees
    that the next chunk continues it. A line marks where TLS started, a line where
    each fault fired (C{fault.fired}), and redacted chunks say so.
    """
    head = [f"# session {record['id']} ({record['service']})"]
    for key in ("peer", "listener", "user", "node"):
        if record.get(key):
            head.append(f"# {key}: {record[key]}")
    lines = head + [""]
    tls_at = record.get("tls_started")
    tls_shown = False
    events = list(events)
    faults = [e for e in events if e.kind == "fault.fired"]
    for chunk in chunks(events):
        while faults and faults[0].seq < chunk["seq"]:
            lines.append(fault_line(faults.pop(0)))
        if tls_at is not None and not tls_shown and chunk["seq"] > tls_at:
            tls = record.get("tls") or {}
            detail = ", ".join(str(tls[k]) for k in ("version", "cipher") if tls.get(k))
            lines.append(f"-- TLS started{f' ({detail})' if detail else ''} --")
            tls_shown = True
        who = "C" if chunk["direction"] == "in" else "S"
        data = str(chunk.get("data", ""))
        note = "  [redacted]" if chunk.get("redacted") else ""
        parts = data.split("\n")
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            if last and part == "" and n > 0:
                break  # the chunk ended with a line feed
            shown = escape(part.removesuffix("\r") if not last else part)
            more = " \\" if last else ""
            lines.append(f"{who}: {shown}{more}{note}")
    lines += [fault_line(e) for e in faults]
    if tls_at is not None and not tls_shown:
        lines.append("-- TLS started --")
    if not record.get("open", True):
        lines.append(f"-- closed after {record.get('duration', '?')} s --")
    return "\n".join(lines) + "\n"
