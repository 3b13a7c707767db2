"""Reading the control plane's event filters from a query string.

C{service}, C{kind} (exact, or a prefix ending in C{.}), C{session},
C{match.FIELD=value} (a dotted C{FIELD} looks inside nested fields), C{after} (a
cursor: a sequence number) and C{limit}. Anything else is refused with a message
naming what is known, so a typo never silently matches everything.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from zoo.events import Filter
from zoo.inspect import ApiError

FILTER_QUERY = {
    "service": "Only this service's events.",
    "kind": "This kind, or every kind under a prefix ending in '.' (mail.).",
    "session": "Only this session's events.",
    "match.FIELD": "A field's value, repeatable; FIELD may be dotted (user.name); "
    "a list field matches when it holds the value.",
    "after": "A cursor: only events with a larger sequence number.",
}
#: Most events one answer carries.
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000


@dataclass(frozen=True)
class Wanted:
    """A parsed query: the filter, the cursor and the extra parameters asked for."""

    filter: Filter
    after: int
    extra: Mapping[str, str]


def whole(name: str, value: str, lowest: int = 0, highest: int | None = None) -> int:
    """C{value} as an integer in range, or a 400 L{ApiError} naming C{name}."""
    try:
        n = int(value, 10)
    except ValueError:
        n = lowest - 1
    if n < lowest or (highest is not None and n > highest):
        top = f" to {highest}" if highest is not None else " or more"
        raise ApiError(400, f"{name}: {value!r} is not a whole number from {lowest}{top}")
    return n


def seconds(name: str, value: str, highest: float) -> float:
    """C{value} as a number of seconds in (0, highest], or a 400 L{ApiError}."""
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not (0 < x <= highest):
        raise ApiError(400, f"{name}: {value!r} is not a number of seconds in (0, {highest:g}]")
    return x


def wanted(query: Mapping[str, str], extra: Collection[str] = ()) -> Wanted:
    """Parse the filter parameters of C{query}; C{extra} names the other parameters allowed.

    @raise ApiError: 400 for an unknown parameter or a malformed value.
    """
    match: dict[str, str] = {}
    plain: dict[str, str | None] = {"service": None, "kind": None, "session": None}
    others: dict[str, str] = {}
    after = 0
    for name, value in query.items():
        if name.startswith("match."):
            field = name[len("match.") :]
            if not field or "" in field.split("."):
                raise ApiError(400, f"{name}: name a field, as in match.to=alice@example.com")
            match[field] = value
        elif name in plain:
            if not value:
                raise ApiError(400, f"{name}: empty value")
            if name == "kind" and value == ".":
                raise ApiError(400, "kind: '.' is not a kind or a prefix")
            plain[name] = value
        elif name == "after":
            after = whole("after", value)
        elif name in extra:
            others[name] = value
        else:
            known = ", ".join([*plain, "match.FIELD", "after", *extra])
            raise ApiError(400, f"unknown parameter {name!r} (known: {known})")
    return Wanted(
        Filter.of(plain["service"], plain["kind"], plain["session"], match), after, others
    )


def describe(f: Filter) -> dict[str, object]:
    """A filter as JSON, to show in answers (what was asked)."""
    shown: dict[str, object] = {
        k: v for k, v in (("service", f.service), ("kind", f.kind), ("session", f.session)) if v
    }
    if f.match:
        shown["match"] = dict(f.match)
    return shown
