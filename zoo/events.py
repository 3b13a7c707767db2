"""The zoo's one event model: what happened inside every service, kept, filtered and waited for.

Every service reports what happens in it as an L{Event}: a session opened or
closed, a mail stored, a file uploaded, a message published, an RPC call, a failed
login. An L{Observatory} keeps the recent events of each service within bounds
(a count and a byte budget per service, the oldest dropped first), hands them to
live subscribers (the control plane's event stream), and answers "wait until an
event like this exists" without polling (L{Observatory.wait}).

Emission is cheap and never blocks a protocol: an event is a small object appended
to a deque. When nobody observes (L{Observatory.enabled} is false, the default
outside C{twistd -n zoo} and C{--admin}) L{Observatory.emit} returns at once, and
protocols test C{observatory.enabled} before they build an event's fields.

Each process has one default observatory, L{hub}, which the services use unless a
test passes its own (C{observatory=} on their factories).

Event kinds are dotted names, service-neutral where the thing is (C{session.opened},
C{session.closed}, C{login.failed}), service-specific otherwise (C{mail.stored},
C{file.uploaded}, C{pubsub.published}, C{rpc.called}, C{ssh.exec}). The fields of
each kind are listed in C{docs/observatory.rst}.
"""

from __future__ import annotations

import inspect
import itertools
import json
import operator
import os
import reprlib
import socket
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from zoo._twisted.speedups import speedups as _speedups

log = Logger()

#: Events kept per service unless configured otherwise.
DEFAULT_MAX_EVENTS = 10_000
#: Bytes of event fields (as JSON, estimated) kept per service.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
#: Where a service's transcript chunks are kept, apart from its other events.
WIRE_SUFFIX = "/wire"
#: A service's transcript chunks get this fraction of its byte budget (4 MiB of
#: 16 MiB by default): with a dozen services, a zoo's worst case stays well under
#: a gigabyte.
WIRE_SHARE = 4


@dataclass(slots=True)
class Event:
    """One thing that happened in one service.

    @ivar seq: this process's sequence number, a cursor: later events have larger ones.
    @ivar time: seconds since the epoch (the reactor's clock).
    @ivar service: the zoo service (C{"smtp"}, C{"ftp"}, ...).
    @ivar kind: what happened (C{"mail.stored"}, ...).
    @ivar session: the session it belongs to, or C{None}.
    @ivar fields: the details, JSON-serialisable.
    @ivar node: the process that saw it (host:pid), for several zoo processes.
    """

    seq: int
    time: float
    service: str
    kind: str
    session: str | None
    fields: dict[str, Any]
    node: str = ""
    size: int = field(default=0, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "service": self.service,
            "kind": self.kind,
            "session": self.session,
            "node": self.node,
            "fields": self.fields,
        }


_FIELDS = Event.__dict__["fields"]  # the slot, written once a lazy event is built


class LazyEvent(Event):
    """An event whose fields are built from raw values only when someone reads them.

    The hot paths (a Lancelot answer, a published message, a stored mail) keep the
    bytes they already have; decoding, cutting and parsing them happens when the
    control plane reads the event, or at once when a live subscriber or a wait is
    looking. See L{Observatory.record}.
    """

    __slots__ = ("_build",)

    def __init__(
        self,
        time: float,
        service: str,
        kind: str,
        session: str | None,
        node: str,
        size: int,
        build: tuple[Callable[..., dict[str, Any]], tuple[Any, ...]],
    ) -> None:
        self.seq = 0
        self.time = time
        self.service = service
        self.kind = kind
        self.session = session
        self.node = node
        self.size = size
        self._build: tuple[Callable[..., dict[str, Any]], tuple[Any, ...]] | None = build

    @property  # type: ignore[override]
    def fields(self) -> dict[str, Any]:  # type: ignore[override]
        build = self._build
        if build is not None:
            self._build = None
            _FIELDS.__set__(self, build[0](*build[1]))
        return _FIELDS.__get__(self)  # type: ignore[no-any-return]


class BadFilter(ValueError):
    """A filter the observatory cannot apply (an unknown key or a malformed value)."""


@dataclass(frozen=True, slots=True)
class Filter:
    """Which events a query or a wait wants.

    @ivar service: only this service's events (or C{None} for all).
    @ivar kind: this kind, or a prefix ending in C{.} (C{"mail."}), or C{None}.
    @ivar session: only this session's events.
    @ivar match: field values that must be equal, by name; a dotted name looks inside
        nested dicts, and a list field matches when it contains the value
        (C{{"to": "alice@example.com"}} matches a mail to several recipients).
    """

    service: str | None = None
    kind: str | None = None
    session: str | None = None
    match: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(
        cls,
        service: str | None = None,
        kind: str | None = None,
        session: str | None = None,
        match: Mapping[str, Any] | None = None,
    ) -> Filter:
        return cls(service, kind, session, tuple(sorted((match or {}).items())))

    def __call__(self, event: Event) -> bool:
        if self.service is not None and event.service != self.service:
            return False
        if self.kind is not None:
            if self.kind.endswith("."):
                if not event.kind.startswith(self.kind):
                    return False
            elif event.kind != self.kind:
                return False
        if self.session is not None and event.session != self.session:
            return False
        for name, want in self.match:
            if not _field_matches(event.fields, name, want):
                return False
        return True


def _field_matches(fields: Mapping[str, Any], name: str, want: Any) -> bool:
    value: Any = fields
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    if isinstance(value, list | tuple):
        return any(_equal(v, want) for v in value)
    return _equal(value, want)


def _equal(value: Any, want: Any) -> bool:
    if isinstance(value, str) and isinstance(want, str):
        return value.lower() == want.lower() if "@" in want else value == want
    if isinstance(want, str) and not isinstance(value, str):
        return str(value) == want  # a query string's "25" matches the number 25
    return bool(value == want)


_FLAT = (str, int, float, bool, type(None))
#: An entry's size (see L{_Store}).
_SIZE = operator.itemgetter(4)
#: The largest offset a recorded entry holds from its turn's sequence number (a new
#: turn starts beyond it, so offsets stay ints that Python does not allocate).
_OFFSETS = 255


def bounded_deque(entries: Any, cap: int) -> deque[tuple[Any, ...]]:
    """A store's entries: the newest C{cap} of C{entries}, in a deque bounded at C{cap}."""
    return deque(entries, maxlen=cap)


#: What a store keeps its entries in, C{_entries(iterable, cap)}: the C ring where
#: zoo's speedups are built and on, else a bounded deque.
_entries: Callable[[Any, int], Any] = _speedups.Ring if _speedups is not None else bounded_deque

#: Runs an iterator to its end, keeping nothing (a deque of no length).
_drain: Callable[[Any], None] = deque(maxlen=0).extend
#: What an event and its dict take in memory beside their text (measured with tracemalloc):
#: what a L{Recorder} adds to the size of the raw values its caller keeps.
EVENT_OVERHEAD = 320
_BASE = EVENT_OVERHEAD


def _estimate(fields: Mapping[str, Any]) -> int:
    # The common event is a few short strings and numbers: add their lengths up,
    # which costs a tenth of serialising them. Anything nested is measured as JSON.
    size = _BASE
    for name, value in fields.items():
        if isinstance(value, str):
            size += len(name) + len(value) + 6
        elif isinstance(value, _FLAT):
            size += len(name) + 12
        else:
            return size + _measure(fields)
    return size


def _measure(fields: Mapping[str, Any]) -> int:
    try:
        return len(json.dumps(fields, default=str))
    except (TypeError, ValueError, RecursionError):
        # Too deep to serialise (a client's 20,000 nested arrays): what reprlib shows.
        return len(reprlib.repr(fields))


class _Store:
    """The events kept for one service (or one service's transcript chunks).

    C{items} holds one tuple per event. An event recorded on a hot path is
    C{(turn, offset, recorder, session, size, *raw)}: C{recorder} is its
    L{Recorder}, C{raw} the values its fields are built from, in the same tuple,
    and C{turn} is C{(time, seq)} shared by the events recorded in one reactor turn
    (L{Observatory.share_turns}), the event's own sequence number being C{seq +
    offset}. It becomes a L{LazyEvent} only when somebody reads it
    (L{Observatory._settle}), as C{(seq, time, None, session, size, event)}, which is
    what any other event is from the start. C{size} is the event's estimated size
    less L{EVENT_OVERHEAD}. C{offset} and C{size} are most often small numbers, which
    Python does not allocate, and C{turn} is shared: an event keeps its tuple and
    nothing else of its own (the raw values aside), so there is little to allocate,
    keep and free, and every entry being a tuple lets retention add up the sizes of
    what it drops in C.

    C{items} is bounded (C{maxlen}, the observatory's C{max_events}): appending to
    a full store drops its oldest entry then and there, in C, while that memory is
    about to be reused for the new one. Whoever appends to a full store first
    takes the oldest entry's size off the store's bytes (a recorder at its next
    fold). The byte budget is kept by L{Observatory._trim}.

    Where zoo's speedups are built, C{items} is a C{zoo._twisted._speedups.Ring}
    rather than a deque: the same operations, with each entry's items kept in a
    slot of the ring, so that the C recorder writes an event there with no tuple to
    make and free and no call (a tuple is made when Python reads an entry).
    """

    __slots__ = ("items", "bytes", "appended", "budget", "fresh")

    def __init__(self, budget: int, cap: int) -> None:
        self.items: deque[tuple[Any, ...]] = _entries((), cap)
        self.bytes = 0
        #: Entries appended since the last clear (the kept ones and the dropped).
        self.appended = 0
        self.budget = budget
        #: Raw entries appended since the last settle, as of the recorders' last
        #: folds: at least as many as the store still holds (they are all among the
        #: newest; some may have been dropped since).
        self.fresh = 0

    @property
    def dropped(self) -> int:
        """Entries dropped by retention since the last clear."""
        return self.appended - len(self.items)

    def clear(self) -> None:
        self.items.clear()
        self.bytes = self.appended = self.fresh = 0

    def resize(self, cap: int) -> None:
        """Keep at most C{cap} entries from now on (the newest, if there are more)."""
        self.items = _entries(self.items, cap)
        self.bytes = sum(map(_SIZE, self.items)) + len(self.items) * _BASE


#: How many events a L{Recorder} records between two settlings of its accounts
#: (L{Recorder.fold}) at most. It settles them sooner once the sizes recorded since
#: the last settling pass a sixteenth of its store's byte budget (L{FOLD_SHARE}), so
#: a store holds at most that, one event more, and this many events' overhead beyond
#: its byte budget per recorder between two reads. Its count limit is exact.
FOLD = 1024

#: The share of a store's byte budget a recorder records before it settles:
#: C{budget >> FOLD_SHARE} bytes.
FOLD_SHARE = 4


def _arity(build: Callable[..., Any]) -> int | None:
    """How many positional values C{build} takes, if exactly that many (else C{None})."""
    try:
        params = list(inspect.signature(build).parameters.values())
    except (TypeError, ValueError):
        return None
    if all(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        for p in params
    ):
        return len(params)
    return None


class SequenceState:
    """An observatory's last event number and live flag (L{Observatory.last_seq},
    L{Observatory.live}), kept where the recorders reach them in one step.

    Its C twin, C{zoo._twisted._speedups.Sequence} (used where it is built), holds
    them as C fields: the C recorder (C{Pair}) numbers an event with no attribute
    lookup and no int object.
    """

    __slots__ = ("last", "live")

    def __init__(self) -> None:
        self.last = 0
        self.live = False


class _Counts:
    """A recorder's shared counters, in Python (see L{Recorder._bind})."""

    __slots__ = ("left", "pending", "gone", "fold_at")

    def __init__(self) -> None:
        self.left = FOLD
        self.pending = 0
        self.gone = 0
        self.fold_at = 0


class Recorder:
    """Records one kind of event of one service on a hot path (see L{Observatory.recorder}).

    C{recorder.record(session, size, *raw)} (or calling the recorder, a little
    slower) costs a tuple appended to the store: no L{Event}, no fields, no
    notifications while nobody is subscribed or waiting. C{size} is what C{raw}
    holds, in bytes (the lengths of its bytes and strings); the recorder adds
    L{EVENT_OVERHEAD} for the event itself. When somebody is (the
    control plane's stream, a wait-for), the event is built and delivered at once.

    The store's accounts (events not yet settled, bytes, the per-kind count) and its
    limits are brought up to date every L{FOLD} events and before anything reads the
    store (L{fold}), not at every event. C{record}, C{fold} and C{forget} are
    closures over that state: a closure's call costs about two thirds
    of a method's. For a C{build} of exactly two values (most hot paths) C{record}
    takes those two by name and builds the entry in one step: the closure
    C{record_pair}, or where zoo's C speedups are built its C twin
    (C{zoo._twisted._speedups.Pair}, about half its cost), which holds the counters
    the closures share and calls C{record_pair} for a live delivery. A C{build} of
    three values (a PUBLISH's channel, payload and receivers) gets the same C twin
    where it is built (and the general C{record} where it is not): its events keep
    the three values themselves, not a container of them, so that an event pushed
    out of a full store frees fewer objects.
    """

    __slots__ = (
        "observatory",
        "service",
        "kind",
        "build",
        "store",
        "count",
        "record",
        "fold",
        "forget",
    )

    def __init__(
        self,
        observatory: Observatory,
        service: str,
        kind: str,
        build: Callable[..., dict[str, Any]],
        store: _Store,
    ) -> None:
        self.observatory = observatory
        self.service = service
        self.kind = kind
        self.build = build
        self.store = store
        #: How many events this recorder recorded since the last reset (after L{fold}).
        self.count = 0
        self._bind()

    def _bind(self) -> None:
        """Make C{record}, C{fold} and C{forget} for the store as it is.

        Called again when the store's deque is replaced (a new C{max_events}), after
        a fold, so nothing unsettled is lost.
        """
        obs = self.observatory
        service, kind, build, store = self.service, self.kind, self.build, self.store
        items = store.items
        cap = items.maxlen
        append = items.append
        obs.now()  # (resolves the clock once)
        now = obs.now
        # A reactor turn (Observatory.share_turns), shared by the events recorded in
        # it: the first makes (time, sequence number before it), the others point at
        # it with their offset from that number, a small int Python keeps (a new one
        # after 255). Unshared, every event makes its own: it is written to a slot
        # nobody reads, so turn[0] stays None.
        shared = obs.turns is not None
        turn: list[Any] = obs.turns if shared else [None, None]  # type: ignore[assignment]
        slot = 0 if shared else 1
        node = obs.node
        sq = obs._sequence  # last (the newest event's number) and live, in one step
        me = self
        # The counters the four closures share: events before the next fold (left),
        # bytes recorded since it (pending), bytes with their overhead of the entries
        # appending has pushed out (gone). On an object, not in cells, so that the C
        # record_pair (_speedups.Pair) can hold them: it is that object when used.
        c: Any = _Counts()

        def record(session: str | None, size: int, *raw: Any) -> None:
            """Record an event of C{session} whose fields are C{build(*raw)}.

            C{size}: the bytes C{raw} holds (L{EVENT_OVERHEAD} is added here).

            The caller checks L{Observatory.enabled} first (that is what keeps
            emission free when nobody observes).
            """
            if sq.live:
                fold()
                obs.add(LazyEvent(now(), service, kind, session, node, _BASE + size, (build, raw)))
                return
            seq = sq.last = sq.last + 1
            if len(items) == cap:  # the append drops the oldest entry: count its bytes
                c.gone += items[0][4] + _BASE
            at = turn[0]
            if at is None or seq - at[1] > _OFFSETS:
                at = turn[slot] = (now(), seq - 1)
            append((at, seq - at[1], me, session, size) + raw)
            c.pending += size
            c.left -= 1
            if not c.left or c.pending > c.fold_at:
                fold()

        def record_pair(session: str | None, size: int, first: Any, second: Any) -> None:
            """L{record} for a C{build} of two values, the hot paths' shape (a question
            and its answer, a transcript chunk and its size): the entry is one tuple
            built at once, with no tuple of the raw values to pack and concatenate
            (about a sixth of L{record}'s cost in a loop)."""
            if sq.live:
                fold()
                obs.add(
                    LazyEvent(
                        now(), service, kind, session, node, _BASE + size, (build, (first, second))
                    )
                )
                return
            seq = sq.last = sq.last + 1
            if len(items) == cap:
                c.gone += items[0][4] + _BASE
            at = turn[0]
            if at is None or seq - at[1] > _OFFSETS:
                at = turn[slot] = (now(), seq - 1)
            append((at, seq - at[1], me, session, size, first, second))
            c.pending += size
            c.left -= 1
            if not c.left or c.pending > c.fold_at:
                fold()

        def fold() -> None:
            """Bring the store's accounts up to date with what was recorded since; trim it."""
            n = FOLD - c.left
            if not n and not c.gone:
                return
            c.left = FOLD
            store.fresh += n
            store.appended += n
            me.count += n
            store.bytes += c.pending + n * _BASE - c.gone
            c.pending = c.gone = 0
            c.fold_at = store.budget >> FOLD_SHARE  # (the budget may have changed)
            if store.bytes > store.budget:
                obs._trim(store)

        def forget() -> None:
            """The store was emptied: nothing recorded since the last fold is left either."""
            c.left = FOLD
            c.pending = c.gone = 0
            me.count = 0

        values = _arity(build)
        if values not in (2, 3) or _speedups is None or not isinstance(sq, _speedups.Sequence):
            self.record: Callable[..., None] = record_pair if values == 2 else record
        else:  # the same steps in C; the Python ones deliver live
            live = record_pair if values == 2 else record
            c = _speedups.Pair(obs, items, cap, turn, slot, now, me, live, fold, FOLD, values)
            self.record = c
        c.fold_at = store.budget >> FOLD_SHARE
        self.fold = fold
        self.forget = forget

    def __call__(self, session: str | None, size: int, *raw: Any) -> None:
        """L{record}."""
        self.record(session, size, *raw)


class _Waiter:
    __slots__ = ("filter", "deferred", "timer")

    def __init__(self, wanted: Filter, d: defer.Deferred[Event | None]) -> None:
        self.filter = wanted
        self.deferred = d
        self.timer: Any = None


class Observatory:
    """Keeps, streams and waits for the events of every service in one process.

    @param clock: the reactor (C{seconds()}, C{callLater}); the global reactor if C{None}.
    @param enabled: start observing at once (otherwise L{enable} does it).
    @param max_events: the most events kept per service.
    @param max_bytes: the most bytes of fields kept per service (estimated as JSON);
        its transcript chunks get a quarter of that again (L{WIRE_SHARE}).
    """

    def __init__(
        self,
        clock: IReactorTime | None = None,
        enabled: bool = False,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        node: str | None = None,
    ) -> None:
        self._clock = clock
        self.enabled = enabled
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.node = node or f"{socket.gethostname()}:{os.getpid()}"
        #: L{last_seq} and L{live}, where the recorders reach them (the C twin where
        #: zoo's speedups are built and on).
        self._sequence: Any = _speedups.Sequence() if _speedups is not None else SequenceState()
        #: A reactor turn's time, shared by its events (L{share_turns}), or C{None}.
        self.turns: list[Any] | None = None
        self._stores: dict[str, _Store] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._recorders: dict[tuple[str, str, Any], Recorder] = {}
        #: Per service, the recorders of its session events (L{zoo.sessions}' cache).
        self.session_recorders: dict[str, tuple[Recorder, Recorder]] = {}
        self._subscribers: list[Callable[[Event], None]] = []
        self._waiters: list[_Waiter] = []
        self._resetters: dict[str, list[Callable[[], None]]] = {}
        #: Whether services record transcripts ("wire." events); needs L{enabled} too.
        self.transcripts = False
        #: Per service, the object that answers the control plane's questions about
        #: its stored things (see L{zoo.inspect}).
        self.inspectors: dict[str, Any] = {}
        self._sessions = itertools.count(1)
        #: Added to session ids, to keep them unique across several zoo processes
        #: (the control plane's Redis relay sets it to C{"@" + node}).
        self.session_suffix = ""

    @property
    def last_seq(self) -> int:
        """The newest event's sequence number: a cursor for "what comes after now"."""
        return self._sequence.last  # type: ignore[no-any-return]

    @last_seq.setter
    def last_seq(self, value: int) -> None:
        self._sequence.last = value

    @property
    def live(self) -> bool:
        """Whether anyone is subscribed or waiting: then events are built at once."""
        return self._sequence.live  # type: ignore[no-any-return]

    @live.setter
    def live(self, value: bool) -> None:
        self._sequence.live = value

    # -- configuration ------------------------------------------------------------------

    @property
    def clock(self) -> IReactorTime:
        if self._clock is None:
            from twisted.internet import reactor

            self._clock = reactor  # type: ignore[assignment]
        assert self._clock is not None
        return self._clock

    def now(self) -> float:
        """The clock's time (replaced by the clock's own C{seconds} on first use)."""
        self.now = self.clock.seconds  # type: ignore[method-assign]
        return self.now()

    def enable(
        self,
        max_events: int | None = None,
        max_bytes: int | None = None,
        transcripts: bool | None = None,
    ) -> None:
        """Start keeping events (the control plane calls this when it starts)."""
        if transcripts is not None:
            self.transcripts = transcripts
        if max_events is not None and max_events != self.max_events:
            self._fold()  # settle every recorder before the deques they append to change
            self.max_events = max_events
            for store in self._stores.values():
                store.resize(max_events)
            for recorder in self._recorders.values():
                recorder._bind()
        if max_bytes is not None:
            self.max_bytes = max_bytes
            for where, store in self._stores.items():
                store.budget = self._budget(where)
        self.enabled = True

    def share_turns(self, turns: list[Any]) -> None:
        """Let the events recorded in one reactor turn share one timestamp.

        C{turns} is a one-item list that the reactor's loop sets to C{None} as each
        turn begins and ends (L{zoo._twisted.poll}); the first event recorded in a
        turn puts C{(time, sequence number before it)} there and the others point at
        it, each with its offset from that number. A turn handles every socket ready
        at once, so those events differ in time by at most the turn's length (well
        under a millisecond at 100 busy connections), and each keeps no float and no
        sequence number of its own. With transcripts on (three events a request), a
        Lancelot server's throughput gained 4.3% from the shared time and 2.2% more
        from the shared number (C{bench/together.py}). Events delivered live (a
        stream, a wait-for) take their own time still.
        """
        self._fold()
        self.turns = turns
        for recorder in self._recorders.values():
            recorder._bind()

    def session_id(self, service: str) -> str:
        """A new session id, unique in this process: C{"smtp-12"} (and L{session_suffix})."""
        return f"{service}-{next(self._sessions)}{self.session_suffix}"

    def on_reset(self, service: str, reset: Callable[[], None]) -> None:
        """Register what resetting C{service} clears besides its events (its stored data)."""
        self._resetters.setdefault(service, []).append(reset)

    def services(self) -> list[str]:
        """The services that have events, a reset hook or an inspector."""
        names = {k.removesuffix(WIRE_SUFFIX) for k, store in self._stores.items() if store.items}
        return sorted(names | set(self._resetters) | set(self.inspectors))

    @property
    def counts(self) -> dict[tuple[str, str], int]:
        """Events recorded per (service, kind) since the last reset (retention aside)."""
        self._fold()
        counts = dict(self._counts)
        for recorder in self._recorders.values():
            if recorder.count:
                key = (recorder.service, recorder.kind)
                counts[key] = counts.get(key, 0) + recorder.count
        return counts

    # -- emission -------------------------------------------------------------------------

    def _budget(self, where: str) -> int:
        return self.max_bytes // WIRE_SHARE if where.endswith(WIRE_SUFFIX) else self.max_bytes

    def _store(self, service: str, kind: str) -> _Store:
        # Transcript chunks ("wire." kinds) have a budget of their own, so a busy
        # session's bytes never push a service's other events out.
        where = service + WIRE_SUFFIX if kind.startswith("wire.") else service
        store = self._stores.get(where)
        if store is None:
            store = self._stores[where] = _Store(self._budget(where), self.max_events)
        return store

    def recorder(self, service: str, kind: str, build: Callable[..., dict[str, Any]]) -> Recorder:
        """A L{Recorder} for C{kind} events of C{service} whose fields are C{build(*raw)}.

        For hot paths (an answer, a published message, a transcript chunk): get it once,
        then C{recorder(session, size, *raw)} for each event while L{enabled}. The same
        arguments give the same recorder.
        """
        key = (service, kind, build)
        recorder = self._recorders.get(key)
        if recorder is None:
            recorder = Recorder(self, service, kind, build, self._store(service, kind))
            self._recorders[key] = recorder
        return recorder

    def emit(
        self, service: str, kind: str, session: str | None = None, **fields: Any
    ) -> Event | None:
        """Record that C{kind} happened in C{service}; return the event (C{None} if off)."""
        if not self.enabled:
            return None
        return self.add(Event(0, self.now(), service, kind, session, fields, self.node))

    def record(
        self,
        service: str,
        kind: str,
        session: str | None,
        build: Callable[..., dict[str, Any]],
        *raw: Any,
    ) -> None:
        """Like L{emit}, but the fields are C{build(*raw)}, built only when read.

        C{raw} is what the protocol already holds (bytes, numbers), and C{build} turns
        it into the event's fields later. The size kept against the budget is
        estimated from C{raw}. (L{recorder} is the same, looked up once.)
        """
        if not self.enabled:
            return
        size = 0
        for value in raw:
            size += len(value) if isinstance(value, bytes | str) else 12
        self.recorder(service, kind, build)(session, size, *raw)

    def add(self, event: Event) -> Event:
        """Keep C{event} (numbering it anew in this process) and tell the observers."""
        event.seq = self.last_seq = self.last_seq + 1
        if not event.size:  # an emitter may size its event itself (transcript chunks do)
            event.size = _estimate(event.fields)
        store = self._store(event.service, event.kind)
        items = store.items
        if len(items) == items.maxlen:  # the append drops the oldest entry
            store.bytes -= items[0][4] + _BASE
        items.append((event.seq, event.time, None, event.session, event.size - _BASE, event))
        store.appended += 1
        store.bytes += event.size
        key = (event.service, event.kind)
        self._counts[key] = self._counts.get(key, 0) + 1
        if store.bytes > store.budget:
            self._trim(store)
        if self._subscribers:
            for subscriber in list(self._subscribers):
                try:
                    subscriber(event)
                except Exception:
                    log.failure("observatory: a subscriber failed; it is removed")
                    self.unsubscribe(subscriber)
        if self._waiters:
            for waiter in [w for w in self._waiters if w.filter(event)]:
                self._finish(waiter, event)
        return event

    def _trim(self, store: _Store) -> None:
        """Drop C{store}'s oldest events: it is over its byte budget.

        (The count needs no trimming: the store's deque is bounded.) It is cut to
        seven eighths of the budget, so that a busy service trims once every few
        hundred events rather than at every one; the newest event always stays.
        The entries are dropped by C: the ring's own C{trim} where zoo's speedups
        are built, else a walk of L{itertools} over the deque.
        """
        items = store.items
        over = store.bytes - (store.budget - (store.budget >> 3))
        if _speedups is not None and type(items) is _speedups.Ring:
            gone = items.trim(over, _BASE)[1]  # type: ignore[attr-defined]
            store.bytes -= gone
            store.fresh = min(store.fresh, len(items))
            return
        n = gone = 0
        for size in map(_SIZE, itertools.islice(items, 0, len(items) - 1)):
            n += 1
            gone += size + _BASE
            over -= size + _BASE
            if over <= 0:
                break
        _drain(itertools.starmap(items.popleft, itertools.repeat((), n)))
        store.bytes -= gone
        store.fresh = min(store.fresh, len(items))

    def _fold(self) -> None:
        """Settle every recorder's accounts (before anything reads the stores)."""
        for recorder in self._recorders.values():
            recorder.fold()

    def _settle(self, store: _Store) -> deque[tuple[Any, ...]]:
        """Turn the raw entries C{store} holds into L{LazyEvent}s, in place; its entries.

        Afterwards every entry's last item (C{entry[5]}) is its L{Event}.
        """
        self._fold()
        fresh = store.fresh
        items = store.items
        if fresh:
            store.fresh = 0
            i = len(items)
            while fresh and i:  # the raw entries are among the newest: look from the end
                i -= 1
                entry = items[i]
                recorder = entry[2]
                if recorder is not None:
                    at, offset, _, session, size = entry[:5]
                    when, seq = at[0], at[1] + offset
                    fresh -= 1
                    event = LazyEvent(
                        when,
                        recorder.service,
                        recorder.kind,
                        session,
                        self.node,
                        _BASE + size,
                        (recorder.build, entry[5:]),
                    )
                    event.seq = seq
                    items[i] = (seq, when, None, session, size, event)
        return items

    # -- reading --------------------------------------------------------------------------

    def events(
        self, wanted: Filter | None = None, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        """The kept events that C{wanted} matches with C{seq > after}, oldest first."""
        wanted = wanted or Filter()
        if wanted.service is not None:
            stores = [
                self._stores.get(wanted.service),
                self._stores.get(wanted.service + WIRE_SUFFIX),
            ]
        else:
            stores = list(self._stores.values())
        found: list[Event] = []
        for store in stores:
            if store is None:
                continue
            for entry in reversed(self._settle(store)):
                if entry[0] <= after:
                    break
                event = entry[5]
                if wanted(event):
                    found.append(event)
        found.sort(key=lambda e: e.seq)
        return found[:limit] if limit is not None else found

    def _listening(self) -> None:
        self.live = bool(self._subscribers or self._waiters)

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        """Call C{subscriber(event)} for every new event; returns the unsubscribe call."""
        self._subscribers.append(subscriber)
        self._listening()
        return lambda: self.unsubscribe(subscriber)

    def unsubscribe(self, subscriber: Callable[[Event], None]) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)
        self._listening()

    def wait(
        self, wanted: Filter, after: int = 0, timeout: float = 30.0
    ) -> defer.Deferred[Event | None]:
        """Fire with the first event C{wanted} matches with C{seq > after}, or C{None} at timeout.

        An event kept from before the call counts, so a test may start waiting after
        the thing it waits for happened. Cancelling the Deferred stops the wait.
        """
        earlier = self.events(wanted, after, limit=1)
        if earlier:
            return defer.succeed(earlier[0])
        waiter: _Waiter

        def cancel(_: Any) -> None:
            self._drop(waiter)

        d: defer.Deferred[Event | None] = defer.Deferred(cancel)
        waiter = _Waiter(wanted, d)
        waiter.timer = self.clock.callLater(max(timeout, 0.0), self._finish, waiter, None)
        self._waiters.append(waiter)
        self._listening()
        return d

    def _drop(self, waiter: _Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        self._listening()
        if waiter.timer is not None and waiter.timer.active():
            waiter.timer.cancel()

    def _finish(self, waiter: _Waiter, event: Event | None) -> None:
        self._drop(waiter)
        if not waiter.deferred.called:
            waiter.deferred.callback(event)

    # -- reset ------------------------------------------------------------------------------

    def reset(self, service: str | None = None) -> list[str]:
        """Forget the events and counters of C{service} (or all) and clear its stored data.

        @return: the services reset.
        """
        names = [service] if service is not None else self.services()
        for name in names:
            for where in (name, name + WIRE_SUFFIX):
                store = self._stores.get(where)
                if store is not None:
                    store.clear()
            for key in [k for k in self._counts if k[0] == name]:
                del self._counts[key]
            for recorder in self._recorders.values():
                if recorder.service == name:
                    recorder.forget()
            for reset in self._resetters.get(name, []):
                reset()
        return names

    def forget(self) -> None:
        """Back to a new observatory's state: off, nothing kept, no hooks, no inspectors.

        For test suites that share the process-wide L{hub} between tests. (Recorders
        handed out stay valid: their stores are emptied, not replaced.)
        """
        for waiter in list(self._waiters):
            self._drop(waiter)
        self.enabled = self.transcripts = False
        for store in self._stores.values():
            store.clear()
        self._counts.clear()
        for recorder in self._recorders.values():
            recorder.forget()
        if self.turns is not None:  # each event its own time again
            self.turns = None
            for recorder in self._recorders.values():
                recorder._bind()
        self._subscribers.clear()
        self._listening()
        self._resetters.clear()
        self.inspectors.clear()

    def stats(self) -> dict[str, dict[str, int]]:
        """Per service: events kept, bytes kept, events dropped by retention."""
        self._fold()
        empty = _Store(0, 1)
        out = {}
        for name in self.services():
            store = self._stores.get(name, empty)
            wire = self._stores.get(name + WIRE_SUFFIX, empty)
            out[name] = {
                "kept": len(store.items),
                "bytes": store.bytes,
                "dropped": store.dropped,
                "wire_kept": len(wire.items),
                "wire_bytes": wire.bytes,
                "wire_dropped": wire.dropped,
            }
        return out


#: The process's observatory: the services use it unless given another.
hub = Observatory()


def session_of(transport: Any) -> str | None:
    """The session id of the connection on C{transport}, or C{None} if it has none.

    The connection layer gives each connection a C{session} attribute; this looks for
    it on C{transport} and the transports it wraps (TLS, the policy wrapper), so a
    protocol needs no knowledge of how it is wrapped.
    """
    for _ in range(8):  # a few layers at most; never loop on a strange chain
        if transport is None:
            return None
        session = getattr(transport, "session", None)
        if isinstance(session, str):
            return session
        transport = getattr(transport, "transport", None)
    return None


def bounded_text(data: bytes | str, limit: int = 1024) -> str:
    """At most C{limit} characters of C{data} as text, for an event's field.

    Bytes are decoded as UTF-8 with undecodable bytes escaped; a cut is marked
    with an ellipsis.
    """
    if isinstance(data, bytes):
        text = data[: limit * 4].decode("utf-8", "backslashreplace")
    else:
        text = data
    return text if len(text) <= limit else text[:limit] + "\u2026"


__all__ = [
    "EVENT_OVERHEAD",
    "BadFilter",
    "Event",
    "Filter",
    "LazyEvent",
    "Observatory",
    "Recorder",
    "bounded_text",
    "hub",
    "session_of",
]
