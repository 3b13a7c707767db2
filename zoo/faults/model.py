"""The fault model: what a fault is, its one-line spec, and the registry of faults in force.

A spec is one line of words (split like a shell command line, so a reply with
spaces is quoted)::

    SPEC  := POINT[=VALUE] WORD*
    POINT := tcp:KIND | udp:KIND | FAMILY:COMMAND
    WORD  := first=N | every=K | p=P | seed=S              (when)
           | service=NAME | listener=PORT | client=IP
           | user=NAME | mailbox=TEXT | session=ID         (scope)
           | dir=in|out | jitter=S | delay=S | id=NAME     (details)

Byte faults (C{tcp:KIND}, on every TCP service and under TLS on the plaintext):
C{latency=S} (with C{jitter=S}), C{bandwidth=BYTES/S}, C{slice=BYTES} (with
C{delay=S} between pieces), C{close=N} (close after N bytes), C{reset[=N]} (a TCP RST,
at once or after N bytes), C{hang[=N]} (stop passing bytes either way), C{slow-close=S}
(the server's close waits), C{refuse} (a new connection is closed at once). C{dir=}
says which way (C{out}, server to client, unless said). I{When} counts connections.

Datagram faults (C{udp:KIND}, on every UDP service): C{loss}, C{delay=S} (with
C{jitter}), C{duplicate[=N]}, C{reorder} (held until the next datagram has passed).
I{When} counts datagrams.

Protocol faults (C{smtp}, C{pop3}, C{imap}, C{ftp}, C{resp}, C{rpc}, C{http}, C{ssh},
C{sftp}, then a command, method, endpoint or point): the value is the answer in the protocol's words
(C{smtp:RCPT=451}, C{ftp:STOR='452 Disk full'}, C{resp:GET=ERR}, C{rpc:add=fault},
C{ssh:exec=3}), or C{drop} (close the connection there), C{reset} (abort it), C{hang}
(never answer). I{When} counts the commands that reach that point in scope.

The decision is deterministic: C{first=N} and C{every=K} count occurrences, and
C{p=P} draws from a generator seeded with C{seed} (a random seed, shown in the
listing and in every C{fault.fired} event, when none is given).
"""

from __future__ import annotations

import itertools
import random
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from zoo.events import Observatory, hub

#: Byte fault kinds: the type of the value (None: it takes none), and its default.
BYTE_KINDS: dict[str, tuple[type | None, Any]] = {
    "latency": (float, None),
    "bandwidth": (int, None),
    "slice": (int, None),
    "close": (int, 0),
    "reset": (int, 0),
    "hang": (int, 0),
    "slow-close": (float, None),
    "refuse": (None, None),
}
#: Datagram fault kinds.
UDP_KINDS: dict[str, tuple[type | None, Any]] = {
    "loss": (None, None),
    "delay": (float, None),
    "duplicate": (int, 1),
    "reorder": (None, None),
}
#: Protocol families and the services (plugins) that speak each.
FAMILIES: dict[str, tuple[str, ...]] = {
    "smtp": ("smtp",),
    "pop3": ("pop3",),
    "imap": ("imap",),
    "ftp": ("ftp",),
    "resp": ("pubsub",),
    "rpc": ("xmlrpc", "msgpackrpc", "zmq"),
    "http": ("http",),
    "ssh": ("ssh",),
    "sftp": ("ssh",),
}
#: Families whose command names are matched without regard to case.
CASELESS = {"smtp", "pop3", "imap", "ftp", "resp"}
#: Protocol fault values that are not replies.
ACTIONS = ("drop", "reset", "hang")
_SCOPES = ("service", "listener", "client", "user", "mailbox", "session")
_ALIASES = {"channel": "mailbox", "path": "mailbox", "arg": "mailbox"}
#: The most faults a registry holds (a control plane client in a loop must not grow us).
MAX_FAULTS = 1000


class FaultError(ValueError):
    """A spec or a fault that cannot be used; the message says why."""


@dataclass
class Fault:
    """One fault: where, what, when, for whom, and how often it fired.

    @ivar point: C{"tcp"}, C{"udp"}, or C{"FAMILY.COMMAND"} (C{"smtp.RCPT"}).
    @ivar kind: the byte or datagram kind, or the command, method or point name.
    @ivar value: the kind's parameter or the protocol answer (C{None}: the default).
    @ivar seen: occurrences in scope so far; @ivar fired: how many of them it fired on.
    """

    id: str
    family: str
    kind: str
    value: Any = None
    direction: str = "out"
    jitter: float = 0.0
    delay: float = 0.0
    first: int | None = None
    every: int | None = None
    p: float | None = None
    seed: int | None = None
    scope: dict[str, str] = field(default_factory=dict)
    spec: str = ""
    seen: int = 0
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(1 << 32)
        self.rng = random.Random(self.seed)

    @property
    def point(self) -> str:
        if self.family in ("tcp", "udp"):
            return self.family
        return f"{self.family}.{self.kind}"

    def in_scope(self, **facts: str | None) -> bool:
        """Whether an occurrence with these C{facts} is in this fault's scope.

        The facts are C{service}, C{listener} (C{host:port}; a scope of the port or
        C{host:port} matches), C{client} (an address), C{user}, C{mailbox} (a
        recipient, a mailbox, a path, a channel: it matches a scope it contains,
        without regard to case) and C{session}. A fact the caller does not know is
        out of any scope that names it.
        """
        for name, want in self.scope.items():
            have = facts.get(name)
            if have is None:
                return False
            if name == "listener":
                if have != want and have.rpartition(":")[2] != want:
                    return False
            elif name == "mailbox":
                if want.lower() not in have.lower():
                    return False
            elif have != want:
                return False
        return True

    def decide(self) -> bool:
        """Count one occurrence in scope; C{True} if the fault fires on it."""
        self.seen += 1
        n = self.seen
        if self.first is not None and n > self.first:
            return False
        if self.every is not None and n % self.every:
            return False
        if self.p is not None and self.rng.random() >= self.p:
            return False
        self.fired += 1
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "spec": self.spec,
            "point": self.point,
            "kind": self.kind,
            "value": self.value,
            "dir": self.direction,
            "first": self.first,
            "every": self.every,
            "p": self.p,
            "seed": self.seed,
            "scope": dict(self.scope),
            "seen": self.seen,
            "fired": self.fired,
        }


def _number(key: str, text: str, kind: type, low: float = 0) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value != value or value < low or value in (float("inf"),):
        what = "a whole number" if kind is int else "a number"
        raise FaultError(f"{key}={text!r}: not {what} >= {low:g}")
    return value


def _kind_value(key: str, text: str | None, table: dict[str, tuple[type | None, Any]]) -> Any:
    kind, default = table[key]
    if text is None:
        if kind is not None and default is None:
            raise FaultError(f"{key} needs a value ({key}=...)")
        return default
    if kind is None:
        raise FaultError(f"{key} takes no value")
    return _number(key, text, kind)


def parse(spec: str, service: str | None = None, id: str = "") -> Fault:
    """Parse a one-line C{spec} (see the module docstring) into a L{Fault}.

    @param service: the service scope when the spec names none (a plugin's C{--fault}).
    @raise FaultError: the spec is not valid; the message names the bad word.
    """
    try:
        words = shlex.split(spec)
    except ValueError as e:
        raise FaultError(f"{spec!r}: {e}") from None
    if not words:
        raise FaultError("an empty fault spec")
    head, *rest = words
    family, colon, point = head.partition(":")
    family = family.lower()
    if not colon or not point:
        raise FaultError(f"{head!r}: a fault starts with tcp:KIND, udp:KIND or PROTOCOL:COMMAND")
    name, eq, raw = point.partition("=")
    given: str | None = raw if eq else None
    fields: dict[str, Any] = {"family": family}
    if family == "tcp" or family == "udp":
        table = BYTE_KINDS if family == "tcp" else UDP_KINDS
        name = name.lower()
        if name not in table:
            raise FaultError(f"{family}:{name}: unknown; one of {', '.join(table)}")
        fields["value"] = _kind_value(name, given, table)
    elif family in FAMILIES:
        if not name:
            raise FaultError(f"{head!r}: which command?")
        if family in CASELESS:
            name = name.upper()
        fields["value"] = given if given else None
    else:
        raise FaultError(f"{family!r}: unknown; tcp, udp or one of {', '.join(FAMILIES)}")
    fields["kind"] = name
    scope: dict[str, str] = {}
    for word in rest:
        key, eq, text = word.partition("=")
        key = _ALIASES.get(key.lower(), key.lower())
        if not eq or not text:
            raise FaultError(f"{word!r}: expected KEY=VALUE")
        if key == "first" or key == "every":
            fields[key] = _number(key, text, int, 1)
        elif key == "p":
            p = _number(key, text, float)
            if p > 1:
                raise FaultError(f"p={text}: a probability is between 0 and 1")
            fields["p"] = p
        elif key == "seed":
            fields["seed"] = _number(key, text, int)
        elif key == "dir":
            if text not in ("in", "out"):
                raise FaultError(f"dir={text}: in or out")
            fields["direction"] = text
        elif key == "jitter" or key == "delay":
            fields[key] = _number(key, text, float)
        elif key == "id":
            id = text
        elif key in _SCOPES:
            scope[key] = text
        else:
            raise FaultError(
                f"{key!r}: unknown; first, every, p, seed, {', '.join(_SCOPES)}, "
                "dir, jitter, delay or id"
            )
    if service is not None and "service" not in scope:
        scope["service"] = service
    return Fault(id=id, scope=scope, spec=spec.strip(), **fields)


class Registry:
    """The faults in force in one process, by point, and how each fired.

    Protocols ask it through L{zoo.faults.hook.at}; the connection layer asks
    L{byte_faults} once per connection; the control plane lists, adds and removes.

    @param observatory: where C{fault.fired} events go (L{zoo.events.hub}).
    """

    def __init__(self, observatory: Observatory | None = None) -> None:
        self.observatory = observatory if observatory is not None else hub
        self._by_id: dict[str, Fault] = {}
        #: The faults at each point (C{"tcp"}, C{"smtp.RCPT"}...): empty when none.
        self.points: dict[str, list[Fault]] = {}
        #: Goes up whenever a fault is removed (byte layers then drop what is gone).
        self.removals = 0
        self._ids = itertools.count(1)

    def add(self, fault: Fault | str, service: str | None = None) -> Fault:
        """Put C{fault} (a L{Fault} or a spec) in force; return it, with its id."""
        if isinstance(fault, str):
            fault = parse(fault, service)
        if len(self._by_id) >= MAX_FAULTS:
            raise FaultError(f"already {MAX_FAULTS} faults; delete some first")
        if not fault.id:
            fault.id = f"f{next(self._ids)}"
            while fault.id in self._by_id:
                fault.id = f"f{next(self._ids)}"
        elif fault.id in self._by_id:
            raise FaultError(f"a fault with id {fault.id!r} exists")
        self._by_id[fault.id] = fault
        self.points.setdefault(fault.point, []).append(fault)
        return fault

    def remove(self, fault_id: str) -> Fault | None:
        """Take a fault out of force at once; return it (C{None} if there was none)."""
        fault = self._by_id.pop(fault_id, None)
        if fault is not None:
            self.removals += 1
            at = self.points[fault.point]
            at.remove(fault)
            if not at:
                del self.points[fault.point]
        return fault

    def clear(self) -> None:
        """No faults at all."""
        self.removals += 1
        self._by_id.clear()
        self.points.clear()

    def get(self, fault_id: str) -> Fault | None:
        return self._by_id.get(fault_id)

    def __iter__(self) -> Any:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def byte_faults(self, service: str) -> list[Fault]:
        """The byte faults that may apply to C{service}'s connections (usually none)."""
        return [f for f in self.points.get("tcp", ()) if f.scope.get("service", service) == service]

    def decide(self, point: str, **facts: Any) -> Fault | None:
        """The first fault at C{point} in scope of C{facts} that fires on this occurrence.

        Every fault at the point in scope counts the occurrence until one fires.
        """
        for fault in self.points.get(point, ()):
            if fault.in_scope(**facts) and fault.decide():
                return fault
        return None

    def report(self, fault: Fault, service: str, session: str | None, **detail: Any) -> None:
        """Emit C{fault.fired} for C{fault} (the events stream and the session's transcript)."""
        obs = self.observatory
        if obs.enabled:
            obs.emit(
                service,
                "fault.fired",
                session,
                fault=fault.id,
                spec=fault.spec,
                point=fault.point,
                what=fault.kind,
                value=fault.value,
                fired=fault.fired,
                seed=fault.seed,
                **detail,
            )

    def add_all(self, specs: Iterable[str], service: str | None = None) -> list[Fault]:
        """Add several specs (all or none: a bad one adds nothing)."""
        parsed = [parse(s, service) for s in specs]
        return [self.add(f) for f in parsed]


#: The process's faults: the services consult it unless given another.
registry = Registry()

__all__ = ["Fault", "FaultError", "Registry", "parse", "registry"]
