"""How a service lets the control plane look at, seed and clear what it stores.

A service that stores things (mail, files, pub-sub messages) registers an
L{Inspector} on the observatory (C{hub.inspectors[name] = inspector}). The control
plane mounts each of its L{Route}s under C{/api/<name>/}, lists them in its OpenAPI
description, and turns what a handler returns into the HTTP answer:

- a JSON-serialisable value becomes a C{200} JSON body;
- a L{RawBody} is sent as it is, with its content type (and a download name);
- an L{ApiError} becomes its status with C{{"error": message}}.

Handlers are plain synchronous functions (or return a Deferred) with no HTTP in
them, so they are unit-tested without a web server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol


class ApiError(Exception):
    """An answer other than success, in the control plane's words.

    @ivar status: the HTTP status (400 bad input, 404 unknown id, 409 conflict, ...).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RawBody:
    """Bytes to send as they are (a message's raw source, a file, an attachment).

    C{data} may be an open binary file instead of bytes: it is streamed to the
    client (never read whole into memory) and closed when sent.

    @ivar policy: the Content Security Policy to send them with, instead of the
        control plane's default (a sandbox where nothing runs or loads).
    """

    data: bytes | BinaryIO
    content_type: str = "application/octet-stream"
    filename: str | None = None
    policy: str | None = None


@dataclass(frozen=True)
class Call:
    """One request to a route, as the handler sees it.

    @ivar params: the path's C{{name}} parts, decoded.
    @ivar query: the query string, one value per name (the last one wins).
    @ivar body: the request body (C{b""} when none).
    @ivar content_type: the request's C{Content-Type}.
    """

    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""


@dataclass(frozen=True)
class Route:
    """One operation: C{GET /api/<service>/messages/{id}} and what answers it.

    @ivar method: C{GET}, C{POST}, C{PUT} or C{DELETE}.
    @ivar path: below C{/api/<service>}, with C{{name}} placeholders for one path
        segment each (C{"/messages/{id}/raw"}).
    @ivar handler: called with a L{Call}.
    @ivar summary: one line for the OpenAPI description.
    @ivar query: the query parameters it reads, name to one-line description.
    """

    method: str
    path: str
    handler: Callable[[Call], Any]
    summary: str
    query: Mapping[str, str] = field(default_factory=dict)


class Inspector(Protocol):
    """What a service offers the control plane about its stored things."""

    def describe(self) -> dict[str, Any]:
        """A summary for C{GET /api/services} (counts, where things are stored)."""

    def routes(self) -> list[Route]:
        """The operations mounted under C{/api/<service>}."""


def query_limit(call: Call, default: int, most: int) -> int:
    """The request's C{limit} query parameter: C{default} if absent, at most C{most}.

    @raise ApiError: 400 for a limit that is not a whole number or is negative.
    """
    text = call.query.get("limit")
    if text is None:
        return default
    try:
        limit = int(text)
    except ValueError:
        raise ApiError(400, f"limit must be a whole number, not {text[:40]!r}") from None
    if limit < 0:
        raise ApiError(400, "limit must not be negative")
    return min(limit, most)


def register(observatory: Any, name: str, inspector: Any) -> None:
    """Register C{inspector} as C{name} on C{observatory}, with its C{reset()} (if any).

    Registering again (a service made twice in one process) replaces the inspector;
    the reset hook, added once, always calls the one registered now.
    """
    first = name not in observatory.inspectors
    observatory.inspectors[name] = inspector
    if first and hasattr(inspector, "reset"):

        def reset() -> None:
            current = observatory.inspectors.get(name)
            if current is not None and hasattr(current, "reset"):
                current.reset()

        observatory.on_reset(name, reset)


__all__ = ["ApiError", "Call", "Inspector", "RawBody", "Route", "query_limit", "register"]
