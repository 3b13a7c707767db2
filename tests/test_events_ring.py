"""zoo._twisted._speedups.Ring, an event store's entries in C, against the bounded
deque it stands in for (zoo.events.bounded_deque), operation for operation."""

from __future__ import annotations

import gc
import itertools
from collections import deque
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo._twisted.speedups import built

pytestmark = pytest.mark.skipif(built is None, reason="zoo._twisted._speedups not built")

_ITEMS = st.one_of(st.integers(-3, 300), st.binary(max_size=4), st.text(max_size=3), st.none())
_ENTRIES = st.lists(_ITEMS, max_size=11).map(tuple)  # 0..11 items: kept in slots, or whole
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), _ENTRIES),
        st.tuples(st.just("popleft"), st.none()),
        st.tuples(st.just("clear"), st.none()),
        st.tuples(st.just("get"), st.integers(-14, 14)),
        st.tuples(st.just("set"), st.tuples(st.integers(-14, 14), _ENTRIES)),
        st.tuples(st.just("islice"), st.integers(0, 14)),
        st.tuples(st.just("size0"), st.none()),
    ),
    max_size=60,
)


def _apply(store: Any, op: str, arg: Any) -> Any:
    """One operation, as zoo.events does it; its result or the exception's type."""
    try:
        if op == "append":
            return store.append(arg)
        if op == "popleft":
            return store.popleft()
        if op == "clear":
            return store.clear()
        if op == "get":
            return store[arg]
        if op == "set":
            store[arg[0]] = arg[1]
            return None
        if op == "islice":
            return list(itertools.islice(store, 0, arg))
        if op == "size0":
            return store[0][4]
    except (IndexError, TypeError) as e:
        return type(e)
    raise AssertionError(op)


@given(st.integers(1, 12), st.lists(_ENTRIES, max_size=14), _OPS)
@settings(max_examples=500)
def test_the_ring_is_a_bounded_deque(cap: int, start: list[tuple[Any, ...]], ops: Any) -> None:
    """After each operation the ring holds what the deque holds, in order, both ways."""
    ring, twin = built.Ring(start, cap), deque(start, maxlen=cap)  # type: ignore[union-attr]
    assert ring.maxlen == twin.maxlen == cap
    for op, arg in ops:
        assert _apply(ring, op, arg) == _apply(twin, op, arg), (op, arg)
        assert list(ring) == list(twin)
        assert list(reversed(ring)) == list(reversed(twin))
        assert len(ring) == len(twin) and bool(ring) == bool(twin)


def test_a_ring_takes_its_memory_as_entries_come() -> None:
    """A ring bounded at a billion entries costs a few slots until they are used, and
    grows (wrapped or not) without losing or reordering an entry."""
    ring = built.Ring((), 10**9)  # type: ignore[union-attr]
    twin: deque[tuple[Any, ...]] = deque(maxlen=10**9)
    for i in range(100):
        for store in (ring, twin):
            store.append((i, b"x" * (i % 3)))
            if i % 7 == 3:
                store.popleft()  # the oldest slot moves on: growth must unwrap it
    assert list(ring) == list(twin) and ring.maxlen == 10**9


def test_the_ring_refuses_what_a_store_never_holds() -> None:
    """Only tuples go in; a ring has a positive bound; deleting by index is not a store's."""
    ring = built.Ring((), 2)  # type: ignore[union-attr]
    with pytest.raises(TypeError):
        ring.append([1, 2])
    ring.append((1,))
    with pytest.raises(TypeError):
        ring[0] = [1]
    with pytest.raises(TypeError):
        del ring[0]
    with pytest.raises(ValueError):
        built.Ring((), 0)  # type: ignore[union-attr]
    with pytest.raises(IndexError):
        built.Ring((), 1).popleft()  # type: ignore[union-attr]


def test_the_ring_lets_go_of_what_it_drops() -> None:
    """An entry's items are freed when the entry is dropped (full ring, popleft, clear,
    replaced) and when the ring goes; a cycle through a ring is collected."""

    class Thing:
        pass

    def tracked(n: int) -> list[Any]:
        return [Thing() for _ in range(n)]

    import weakref

    things = tracked(6)
    refs = [weakref.ref(t) for t in things]
    ring = built.Ring((), 2)  # type: ignore[union-attr]
    ring.append((things[0], 1))
    ring.append((things[1],) + tuple(range(9)))  # kept whole
    ring.append((things[2], 2))  # drops things[0]'s entry
    ring[0] = (things[3],)  # replaces things[1]'s
    ring.popleft()
    ring.append((things[4],))
    ring.clear()
    ring.append((things[5],))
    del things
    assert [r() is None for r in refs] == [True] * 5 + [False]
    del ring
    assert refs[5]() is None

    holder = Thing()
    cyclic = built.Ring((), 4)  # type: ignore[union-attr]
    cyclic.append((holder, 1))
    holder.ring = cyclic  # type: ignore[attr-defined]
    gone = weakref.ref(holder)
    del holder, cyclic
    gc.collect()
    assert gone() is None


def test_an_iterator_outliving_a_shrunk_ring_stops() -> None:
    """Iterating while the ring shrinks gives what is still there, then stops."""
    ring = built.Ring([(i,) for i in range(5)], 5)  # type: ignore[union-attr]
    forward, backward = iter(ring), reversed(ring)
    assert next(forward) == (0,) and next(backward) == (4,)
    ring.clear()
    assert list(forward) == [] and list(backward) == []


def _recorded(monkeypatch: pytest.MonkeyPatch, entries: Any) -> tuple[list[Any], list[int]]:
    """Events and byte accounts after recording past a small store's bound, with the
    stores' entries kept by C{entries}."""
    from twisted.internet.task import Clock

    from zoo import events

    monkeypatch.setattr(events, "_entries", entries)
    clock = Clock()
    obs = events.Observatory(clock, enabled=True, max_events=5)
    turns: list[Any] = [None]
    obs.share_turns(turns)
    pair = obs.recorder("svc", "two", lambda a, b: {"a": a, "b": b}).record
    triple = obs.recorder("svc", "three", lambda a, b, c: {"a": a, "b": b, "c": c}).record
    accounts = []
    for i in range(40):
        if i % 7 == 0:
            turns[0] = None
            clock.advance(1)
        if i % 3:
            pair(f"s-{i % 4}", i * 10, b"x" * i, i)
        else:
            triple(None, i, b"y", i, "z")
        if i % 9 == 0:
            obs.emit("svc", "other", None, n=i)
        if i % 11 == 0:
            obs._fold()
            accounts.append(obs._stores["svc"].bytes)
    got = [(e.seq, e.time, e.kind, e.session, e.fields) for e in obs.events()]
    obs._fold()
    accounts.append(obs._stores["svc"].bytes)
    return got, accounts


def test_the_c_recorder_keeps_the_same_events_in_a_ring_as_in_a_deque(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The C recorder writing into a ring's slots keeps the same events, numbers, times
    and byte accounts as appending tuples to a bounded deque."""
    from zoo import events

    in_ring = _recorded(monkeypatch, built.Ring)  # type: ignore[union-attr]
    in_deque = _recorded(monkeypatch, events.bounded_deque)
    assert in_ring == in_deque
    assert len(in_ring[0]) == 5


def _walk(items: deque[tuple[Any, ...]], over: int, base: int) -> tuple[int, int]:
    """zoo.events.Observatory._trim's walk over a deque (its way without the speedups)."""
    n = gone = 0
    for size in map(lambda entry: entry[4], itertools.islice(items, 0, len(items) - 1)):
        n += 1
        gone += size + base
        over -= size + base
        if over <= 0:
            break
    for _ in range(n):
        items.popleft()
    return n, gone


@given(
    st.integers(1, 12),
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 900)), min_size=1, max_size=16),
    st.integers(1, 6000),
    st.sampled_from([0, 320]),
)
@settings(max_examples=300)
def test_trim_drops_what_the_python_walk_drops(
    cap: int, shapes: list[tuple[int, int]], over: int, base: int
) -> None:
    """Ring.trim drops the oldest entries, never the newest, until their sizes (item 4,
    whether the entry is kept in a slot or whole) reach over, as the walk does (a store
    over its budget is never empty)."""
    entries = [
        ("at", i, None, "s", size) + ("x",) * extra for i, (extra, size) in enumerate(shapes)
    ]
    ring, twin = built.Ring(entries, cap), deque(entries, maxlen=cap)  # type: ignore[union-attr]
    assert ring.trim(over, base) == _walk(twin, over, base)
    assert list(ring) == list(twin)
