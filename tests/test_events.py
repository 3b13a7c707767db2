"""The event model: retention, filters, cursors, subscribers, wait-for and reset, in memory."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import use_implementation
from twisted.internet.task import Clock

from zoo import events
from zoo.events import EVENT_OVERHEAD, Event, Filter, Observatory


@pytest.fixture(autouse=True, params=["python", "c"])
def recorder_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: with the two-value recorder in Python (the reference), and
    with its C twin (zoo._twisted._speedups.Pair)."""
    return use_implementation(request, monkeypatch, events, "_speedups", None, lambda c: c)


def _hub(**kw) -> tuple[Observatory, Clock]:
    clock = Clock()
    clock.advance(1_700_000_000)
    return Observatory(clock, enabled=True, node="test", **kw), clock


def test_emit_is_a_no_op_until_enabled() -> None:
    """A disabled observatory keeps nothing and returns None."""
    hub = Observatory(Clock())
    assert hub.emit("smtp", "mail.stored", to=["a@example.com"]) is None
    assert hub.events() == []
    hub.enable()
    assert hub.emit("smtp", "mail.stored") is not None


def test_events_are_numbered_and_timed() -> None:
    """Each event gets the next sequence number and the clock's time."""
    hub, clock = _hub()
    first = hub.emit("ftp", "file.uploaded", "ftp-1", path="/a")
    clock.advance(2)
    second = hub.emit("smtp", "mail.stored", "smtp-2")
    assert first is not None and second is not None
    assert (first.seq, second.seq) == (1, 2)
    assert second.time - first.time == 2
    assert [e.seq for e in hub.events()] == [1, 2]


def test_filters_by_service_kind_prefix_session_and_fields() -> None:
    """Filters match service, exact kind or a kind prefix, session, and field values."""
    hub, _ = _hub()
    hub.emit("smtp", "mail.stored", "s-1", to=["Alice@Example.com", "bob@example.com"], size=25)
    hub.emit("smtp", "session.opened", "s-1")
    hub.emit("ftp", "file.uploaded", "f-1", path="/x", user={"name": "alice"})
    assert [e.kind for e in hub.events(Filter.of(service="smtp"))] == [
        "mail.stored",
        "session.opened",
    ]
    assert len(hub.events(Filter.of(kind="mail."))) == 1
    assert len(hub.events(Filter.of(kind="mail"))) == 0  # not a prefix without the dot
    assert len(hub.events(Filter.of(session="f-1"))) == 1
    # a list field contains the value; addresses compare case-insensitively
    assert len(hub.events(Filter.of(match={"to": "alice@example.com"}))) == 1
    assert len(hub.events(Filter.of(match={"size": "25"}))) == 1  # query strings are text
    assert len(hub.events(Filter.of(match={"user.name": "alice"}))) == 1
    assert hub.events(Filter.of(match={"user.name": "bob"})) == []


def test_cursor_returns_only_later_events() -> None:
    """after=N returns events with seq > N, in order."""
    hub, _ = _hub()
    for n in range(5):
        hub.emit("echo", "echo.exchanged", n=n)
    assert [e.fields["n"] for e in hub.events(after=3)] == [3, 4]
    assert [e.fields["n"] for e in hub.events(after=0, limit=2)] == [0, 1]


def test_retention_by_count_per_service() -> None:
    """A service keeps at most max_events; the oldest go first and are counted; others keep theirs."""
    hub, _ = _hub(max_events=3)
    hub.emit("ftp", "file.uploaded", path="/keep")
    for n in range(10):
        hub.emit("smtp", "mail.stored", n=n)
    assert [e.fields["n"] for e in hub.events(Filter.of(service="smtp"))] == [7, 8, 9]
    assert hub.stats()["smtp"]["dropped"] == 7
    assert len(hub.events(Filter.of(service="ftp"))) == 1


def test_retention_by_bytes() -> None:
    """A service's kept fields stay within max_bytes (one event always stays)."""
    hub, _ = _hub(max_bytes=2000)
    for _ in range(20):
        hub.emit("smtp", "mail.stored", body="x" * 500)
    assert hub.stats()["smtp"]["bytes"] <= 2000
    assert 1 <= len(hub.events()) <= 3


def test_subscribers_see_each_event_and_a_failing_one_is_removed() -> None:
    """Subscribers get every new event; one that raises is dropped, the others go on."""
    hub, _ = _hub()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    unsubscribe = hub.subscribe(seen.append)
    hub.subscribe(broken)
    hub.emit("pubsub", "pubsub.published", channel="news")
    hub.emit("pubsub", "pubsub.published", channel="news")
    assert len(seen) == 2
    unsubscribe()
    hub.emit("pubsub", "pubsub.published", channel="news")
    assert len(seen) == 2


def test_wait_fires_on_a_later_matching_event() -> None:
    """wait() fires as soon as a matching event is emitted, not before, with that event."""
    hub, _ = _hub()
    got: list[Event | None] = []
    hub.wait(Filter.of(kind="mail.stored", match={"to": "a@example.com"})).addCallback(got.append)
    hub.emit("smtp", "mail.stored", to=["b@example.com"])
    assert got == []
    event = hub.emit("smtp", "mail.stored", to=["a@example.com"])
    assert got == [event]


def test_wait_counts_an_event_that_came_before_it_after_the_cursor() -> None:
    """An event already kept after the cursor answers the wait at once; one before it does not."""
    hub, clock = _hub()
    early = hub.emit("ftp", "file.uploaded", path="/a")
    assert early is not None
    got: list[Event | None] = []
    hub.wait(Filter.of(kind="file.uploaded"), after=0).addCallback(got.append)
    assert got == [early]
    late: list[Event | None] = []
    hub.wait(Filter.of(kind="file.uploaded"), after=early.seq, timeout=5).addCallback(late.append)
    clock.advance(4.9)
    assert late == []
    clock.advance(0.2)
    assert late == [None]  # timed out


def test_cancelled_wait_is_forgotten() -> None:
    """Cancelling a wait removes it and its timer."""
    hub, clock = _hub()
    d = hub.wait(Filter.of(kind="x"), timeout=10)
    d.addErrback(lambda f: None)
    d.cancel()
    assert hub._waiters == [] and clock.getDelayedCalls() == []


def test_reset_one_service_or_all() -> None:
    """reset(service) clears its events, counters and stored data; reset() clears every service."""
    hub, _ = _hub()
    cleared: list[str] = []
    hub.on_reset("smtp", lambda: cleared.append("smtp"))
    hub.on_reset("ftp", lambda: cleared.append("ftp"))
    hub.emit("smtp", "mail.stored")
    hub.emit("ftp", "file.uploaded")
    assert hub.reset("smtp") == ["smtp"]
    assert cleared == ["smtp"]
    assert [e.service for e in hub.events()] == ["ftp"]
    assert ("smtp", "mail.stored") not in hub.counts
    hub.reset()
    assert hub.events() == [] and sorted(cleared) == ["ftp", "smtp", "smtp"]


def test_session_ids_are_unique() -> None:
    """Session ids name their service and never repeat in a process."""
    hub, _ = _hub()
    ids = {hub.session_id("smtp") for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith("smtp-") for i in ids)


def test_transcript_chunks_have_their_own_budget() -> None:
    """wire.* events are kept apart: a long transcript never pushes a service's other events out."""
    hub, _ = _hub(max_events=5)
    hub.emit("smtp", "mail.stored", n=1)
    for n in range(50):
        hub.emit("smtp", "wire.in", "smtp-1", data="NOOP\r\n", n=n)
    kinds = [e.kind for e in hub.events(Filter.of(service="smtp"))]
    assert kinds.count("mail.stored") == 1 and kinds.count("wire.in") == 5
    assert hub.stats()["smtp"]["wire_dropped"] == 45 and hub.stats()["smtp"]["dropped"] == 0
    hub.reset("smtp")
    assert hub.events() == []


def test_a_too_deep_event_is_kept_without_recursion_error() -> None:
    """Fields nested 20,000 deep (a client's RPC params) are kept; their size is estimated."""
    hub, _ = _hub()
    deep: list = [1]
    for _ in range(20_000):
        deep = [deep]
    event = hub.emit("xmlrpc", "rpc.called", params=deep)
    assert event is not None and 64 < event.size < 1000


def test_forget_returns_to_a_new_observatorys_state() -> None:
    """forget() turns observation off and drops events, hooks, inspectors and waiters."""
    hub, clock = _hub()
    hub.transcripts = True
    hub.on_reset("smtp", lambda: None)
    hub.inspectors["smtp"] = object()
    hub.emit("smtp", "mail.stored")
    hub.wait(Filter.of(kind="never"), timeout=5)
    hub.forget()
    assert not hub.enabled and not hub.transcripts
    assert hub.events() == [] and hub.services() == [] and clock.getDelayedCalls() == []


def test_transcript_chunks_get_a_quarter_of_the_byte_budget() -> None:
    """A service's wire.* chunks stay within max_bytes / 4; its other events keep the whole budget.

    A store over its budget is cut to seven eighths of it, so what is kept lies
    between that (less one event) and the budget.
    """
    hub, _ = _hub(max_bytes=40_000)
    for _ in range(100):
        hub.emit("imap", "wire.out", "imap-1", data="x" * 1000)
        hub.emit("imap", "mail.read", data="y" * 300)
    stats = hub.stats()["imap"]
    assert 10_000 * 7 // 8 - 1_400 <= stats["wire_bytes"] <= 10_000
    assert 40_000 * 7 // 8 - 700 <= stats["bytes"] <= 40_000


def test_recorded_events_build_their_fields_only_when_read() -> None:
    """record() keeps the raw values; the fields are built once, on first read, and filters see them."""
    hub, _ = _hub()
    built: list[bytes] = []

    def build(question: bytes, answer: bytes) -> dict:
        built.append(question)
        return {"question": question.decode(), "answer": answer.decode()}

    hub.record("lancelot", "lancelot.answered", "l-1", build, b"Quest?", b"Grail.")
    [event] = hub.events()
    assert built == []  # read, but not its fields
    assert event.size == 320 + 6 + 6 and event.kind == "lancelot.answered"
    [found] = hub.events(Filter.of(match={"answer": "Grail."}))
    assert found.fields == {"question": "Quest?", "answer": "Grail."}
    assert found.to_json()["fields"]["question"] == "Quest?"
    assert built == [b"Quest?"]  # built once


def test_recorded_events_reach_subscribers_and_waits_built() -> None:
    """A live subscriber and a wait get a recorded event with its fields."""
    hub, _ = _hub()
    seen: list[dict] = []
    hub.subscribe(lambda e: seen.append(e.fields))
    got: list[Event | None] = []
    hub.wait(Filter.of(match={"n": 2})).addCallback(got.append)
    hub.record("pubsub", "pubsub.published", None, lambda n: {"n": n}, 1)
    hub.record("pubsub", "pubsub.published", None, lambda n: {"n": n}, 2)
    assert seen == [{"n": 1}, {"n": 2}]
    assert got and got[0] is not None and got[0].fields == {"n": 2}
    assert Observatory(Clock()).record("x", "y", None, dict) is None  # off: nothing kept


def test_recorder_events_interleave_with_emitted_ones_in_order() -> None:
    """Raw recorder events and emitted events read back as one sequence, oldest first, with fields."""
    hub, _ = _hub()
    rec = hub.recorder("lancelot", "lancelot.answered", lambda q: {"q": q.decode()})
    rec("l-1", 330, b"a")
    hub.emit("lancelot", "session.opened", "l-2")
    rec("l-2", 330, b"b")
    rec("l-2", 330, b"c")
    events = hub.events(Filter.of(service="lancelot"))
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.fields.get("q") for e in events] == ["a", None, "b", "c"]
    assert [e.session for e in events] == ["l-1", "l-2", "l-2", "l-2"]
    assert hub.last_seq == 4
    assert hub.counts[("lancelot", "lancelot.answered")] == 3


def test_recorder_respects_the_budgets_and_reset() -> None:
    """Recorder events count against max_events and max_bytes, and reset forgets them and their counts."""
    hub, _ = _hub(max_events=100, max_bytes=1_000_000)
    rec = hub.recorder("pubsub", "pubsub.published", lambda n: {"n": n})
    for n in range(1000):
        rec(None, 80, n)  # 80 bytes of raw values, and the event's own overhead
    kept = hub.events()
    assert 100 * 7 // 8 <= len(kept) <= 100
    assert kept[-1].fields == {"n": 999}  # the newest stay, the oldest go
    assert hub.stats()["pubsub"]["dropped"] == 1000 - len(kept)
    assert hub.stats()["pubsub"]["bytes"] == (80 + EVENT_OVERHEAD) * len(kept)
    hub.reset("pubsub")
    assert hub.events() == [] and ("pubsub", "pubsub.published") not in hub.counts
    rec(None, 400, 1)  # the recorder still works after a reset
    assert [e.fields for e in hub.events()] == [{"n": 1}]


def test_recorder_delivers_at_once_to_a_waiting_client() -> None:
    """While someone waits or is subscribed, a recorder event is built and delivered at once."""
    hub, _ = _hub()
    rec = hub.recorder("lancelot", "lancelot.answered", lambda q: {"q": q})
    got: list[Event | None] = []
    hub.wait(Filter.of(match={"q": "grail"})).addCallback(got.append)
    assert hub.live
    rec("l-1", 330, "holy")
    rec("l-1", 330, "grail")
    assert got and got[0] is not None and got[0].fields == {"q": "grail"}
    assert not hub.live  # the wait is over: back to raw recording


def test_forget_keeps_handed_out_recorders_working() -> None:
    """After forget() a recorder obtained earlier records into the emptied observatory."""
    hub, _ = _hub()
    rec = hub.recorder("echo", "echo.closed", lambda n: {"n": n})
    rec(None, 330, 1)
    hub.forget()
    assert hub.events() == []
    hub.enable()
    rec(None, 330, 2)
    assert [e.fields for e in hub.events()] == [{"n": 2}]


def test_recorder_accounts_are_folded_before_every_read() -> None:
    """Counts, stats and events include what a recorder holds unfolded (fewer than FOLD events)."""
    from zoo.events import FOLD

    hub, _ = _hub()
    rec = hub.recorder("lancelot", "lancelot.answered", lambda n: {"n": n})
    for n in range(FOLD + 5):  # one fold, and five events past it
        rec.record("l-1", 400, n)
    assert hub.counts[("lancelot", "lancelot.answered")] == FOLD + 5
    assert hub.stats()["lancelot"]["bytes"] == (400 + EVENT_OVERHEAD) * (FOLD + 5)
    assert [e.fields["n"] for e in hub.events()] == list(range(FOLD + 5))
    hub.reset("lancelot")  # with nothing pending, then with three
    for n in range(3):
        rec.record("l-1", 400, n)
    hub.reset("lancelot")
    rec.record("l-1", 400, 7)
    assert hub.counts[("lancelot", "lancelot.answered")] == 1
    assert [e.fields for e in hub.events()] == [{"n": 7}]
    assert hub.stats()["lancelot"]["bytes"] == 400 + EVENT_OVERHEAD


def test_recorder_memory_stays_within_fold_of_the_limits_between_reads() -> None:
    """Without any read, a store holds at most FOLD events more than max_events."""
    from zoo.events import FOLD

    hub, _ = _hub(max_events=100)
    rec = hub.recorder("pubsub", "pubsub.published", lambda n: {"n": n})
    for n in range(5000):
        rec.record(None, 400, n)
        assert len(hub._stores["pubsub"].items) <= 100 + FOLD
    assert hub.stats()["pubsub"]["kept"] + hub.stats()["pubsub"]["dropped"] == 5000


@pytest.mark.parametrize("values", [1, 2, 3])
def test_large_events_settle_before_a_sixteenth_of_the_budget(values: int) -> None:
    """A recorder settles once what it recorded since passes a sixteenth of its store's
    byte budget, not only every FOLD events: between reads, large events keep the
    store within that of its budget (one event, and FOLD events' overhead, aside).

    (Two and three values take the C recorder where zoo's speedups are built, one
    the Python closure.)
    """
    from zoo.events import FOLD, FOLD_SHARE

    budget = 1_000_000
    hub, _ = _hub(max_events=10**6, max_bytes=budget)
    build = {1: lambda a: {}, 2: lambda a, b: {}, 3: lambda a, b, c: {}}[values]
    rec = hub.recorder("pubsub", "pubsub.published", build)
    store = hub._stores["pubsub"]
    size = 9_000
    for n in range(2000):
        rec.record(None, size, *range(values))
        held = sum(entry[4] + EVENT_OVERHEAD for entry in store.items)  # settled or not
        assert held <= budget + (budget >> FOLD_SHARE) + size + FOLD * EVENT_OVERHEAD, n
    stats = hub.stats()["pubsub"]
    assert stats["kept"] + stats["dropped"] == 2000
    assert stats["bytes"] <= budget
    assert stats["bytes"] == stats["kept"] * (size + EVENT_OVERHEAD)


def test_trimming_keeps_exact_accounts_of_emitted_and_recorded_events() -> None:
    """Retention drops the oldest entries of both sorts and keeps exact byte accounts.

    Emitted events and recorded ones share a store; whichever limit binds (the count
    or the bytes, with sizes from tiny to large), what is kept is the newest run of
    events, the byte account equals the sum of their sizes, and kept + dropped equals
    everything that went in.
    """
    import random

    from zoo.events import FOLD

    rng = random.Random(1406)
    for max_events, max_bytes in ((50, 10**9), (10**6, 40_000), (80, 30_000)):
        hub, _ = _hub(max_events=max_events, max_bytes=max_bytes)
        rec = hub.recorder("smtp", "smtp.recorded", lambda n, pad: {"n": n})
        sizes: dict[int, int] = {}
        for n in range(3000):
            if rng.random() < 0.3:
                event = hub.emit("smtp", "mail.stored", None, n=n, pad="x" * rng.randrange(0, 2000))
                assert event is not None
                sizes[event.seq] = event.size
            else:
                pad = rng.randrange(0, 3000)
                rec(None, pad, n, pad)
                sizes[hub.last_seq] = pad + EVENT_OVERHEAD
            store = hub._stores["smtp"]
            assert len(store.items) <= max_events + FOLD  # bounded between reads too
        kept = hub.events(Filter.of(service="smtp"))
        stats = hub.stats()["smtp"]
        assert [e.fields["n"] for e in kept] == list(range(3000 - len(kept), 3000))
        assert stats["bytes"] == sum(sizes[e.seq] for e in kept)
        assert stats["kept"] == len(kept) and stats["kept"] + stats["dropped"] == 3000
        assert len(kept) <= max_events and stats["bytes"] <= max_bytes


def test_a_new_max_events_keeps_the_newest_and_the_accounts() -> None:
    """enable(max_events=...) after events were kept: the newest stay, bytes stay exact,
    and recorders handed out earlier keep recording into the resized store."""
    hub, _ = _hub(max_events=1000)
    rec = hub.recorder("lancelot", "lancelot.answered", lambda n: {"n": n})
    for n in range(500):
        rec(None, n % 50, n)
    hub.enable(max_events=100)
    assert [e.fields["n"] for e in hub.events()] == list(range(400, 500))
    assert hub.stats()["lancelot"]["bytes"] == sum(n % 50 + EVENT_OVERHEAD for n in range(400, 500))
    for n in range(500, 650):
        rec(None, n % 50, n)
    assert [e.fields["n"] for e in hub.events()] == list(range(550, 650))
    stats = hub.stats()["lancelot"]
    assert stats["bytes"] == sum(n % 50 + EVENT_OVERHEAD for n in range(550, 650))
    assert stats["kept"] + stats["dropped"] == 650


def test_a_two_value_recorder_keeps_what_the_general_one_keeps() -> None:
    """record for a build of two values (its own closure) gives the same entries,
    events, accounts and live deliveries as the general record, under both limits."""

    def pair(a: bytes, b: bytes) -> dict[str, str]:
        return {"q": a.decode(), "a": b.decode()}

    def general(a: bytes, b: bytes, *rest: bytes) -> dict[str, str]:
        return pair(a, b)

    results = []
    for build in (pair, general):
        hub, clock = _hub(max_events=40, max_bytes=40 * (EVENT_OVERHEAD + 9))
        rec = hub.recorder("lancelot", "lancelot.answered", build)
        pair_recorder = getattr(rec.record, "__name__", type(rec.record).__name__)
        assert (pair_recorder in ("record_pair", "Pair")) == (build is pair)
        for n in range(100):
            rec.record(f"lancelot-{n % 3}", 2 + n % 11, b"q%d" % n, b"a")
            clock.advance(1)
        live: list[object] = []
        hub.subscribe(live.append)
        rec.record("lancelot-9", 3, b"qq", b"a")
        kept = [(e.seq, e.time, e.session, e.fields) for e in hub.events()]
        stats = hub.stats()["lancelot"]
        results.append((kept, stats, [(e.seq, e.fields) for e in live]))  # type: ignore[attr-defined]
    assert results[0] == results[1]
    kept, stats, live = results[0]
    assert live == [(101, {"q": "qq", "a": "a"})]
    assert kept[-1][3] == {"q": "qq", "a": "a"} and stats["dropped"] > 0


def test_a_three_value_recorder_keeps_what_the_general_one_keeps(recorder_impl: str) -> None:
    """record for a build of three values (the C Pair with values=3 where built) gives
    the same entries, events, accounts and live deliveries as the general record, under
    both limits; a call with the wrong number of values is refused, not kept."""

    def triple(a: bytes, b: bytes, n: int) -> dict[str, Any]:
        return {"channel": a.decode(), "payload": b.decode(), "receivers": n}

    def general(a: bytes, b: bytes, n: int, *rest: Any) -> dict[str, Any]:
        return triple(a, b, n)

    results = []
    for build in (triple, general):
        hub, clock = _hub(max_events=40, max_bytes=40 * (EVENT_OVERHEAD + 9))
        rec = hub.recorder("pubsub", "pubsub.published", build)
        in_c = type(rec.record).__name__ == "Pair"
        assert in_c == (build is triple and recorder_impl == "c")
        if in_c:
            assert rec.record.values == 3
            with pytest.raises(TypeError):
                rec.record("pubsub-1", 2, b"c", b"p")
        for n in range(100):
            rec.record(f"pubsub-{n % 3}", 2 + n % 11, b"c%d" % n, b"p", n % 4)
            clock.advance(1)
        live: list[object] = []
        hub.subscribe(live.append)
        rec.record("pubsub-9", 3, b"cc", b"p", 7)
        kept = [(e.seq, e.time, e.session, e.fields) for e in hub.events()]
        stats = hub.stats()["pubsub"]
        results.append((kept, stats, [(e.seq, e.fields) for e in live]))  # type: ignore[attr-defined]
    assert results[0] == results[1]
    kept, stats, live = results[0]
    assert live == [(101, {"channel": "cc", "payload": "p", "receivers": 7})]
    assert kept[-1][3] == {"channel": "cc", "payload": "p", "receivers": 7}
    assert stats["dropped"] > 0 and len(kept) == 40


def test_recorded_events_take_the_time_of_their_turn_only_when_shared() -> None:
    """Unshared, each recorded event takes the clock's time; sharing a turn cell, the
    events until the cell is emptied take the first one's time (the same float)."""
    hub, clock = _hub()
    rec = hub.recorder("lancelot", "lancelot.answered", lambda q, a: {"q": q})
    rec.record(None, 1, "a", "x")
    clock.advance(1)
    rec.record(None, 1, "b", "x")
    turn: list[Any] = [None]
    hub.share_turns(turn)
    clock.advance(1)
    rec.record(None, 1, "c", "x")
    clock.advance(1)
    rec.record(None, 1, "d", "x")
    turn[0] = None  # the loop starts a new turn
    clock.advance(1)
    rec.record(None, 1, "e", "x")
    events = hub.events()
    start = 1_700_000_000
    assert [e.time - start for e in events] == [0, 1, 2, 2, 4]
    assert events[2].time is events[3].time


def test_a_long_turn_numbers_every_event_once_in_order() -> None:
    """In one shared turn, events recorded with one, two and three values and
    emitted get consecutive sequence numbers in the order they came, past the
    offsets a turn's first number can carry, and keep their fields and time."""
    hub, clock = _hub(max_events=5000)
    turn: list[Any] = [None]
    hub.share_turns(turn)
    pair = hub.recorder("t", "t.pair", lambda n, _: {"n": n})
    three = hub.recorder("t", "t.three", lambda n, _a, _b: {"n": n})
    batch = hub.recorder("t", "t.batch", lambda n: {"n": n})
    n = 0
    for _ in range(4):
        for _ in range(150):
            n += 1
            pair.record("s", 1, n, 0)
            n += 1
            three.record("s", 1, n, 0, 0)
        for m in range(n + 1, n + 201):
            batch.record("s", 1, m)
        n += 200
        n += 1
        hub.emit("t", "t.emitted", "s", n=n)
    clock.advance(5)
    turn[0] = None  # a new turn
    n += 1
    pair.record("s", 1, n, 0)
    events = hub.events()
    assert [e.seq for e in events] == list(range(1, n + 1)) == [e.fields["n"] for e in events]
    assert {e.time for e in events[:-1]} == {1_700_000_000} and events[-1].time == 1_700_000_005
    assert hub.last_seq == n


def test_forget_stops_sharing_turns() -> None:
    """After forget, recorded events take their own time again, as in a new observatory."""
    hub, clock = _hub()
    rec = hub.recorder("lancelot", "lancelot.answered", lambda q, a: {"q": q})
    hub.share_turns([None])
    hub.forget()
    hub.enable()
    rec.record(None, 1, "a", "x")
    clock.advance(1)
    rec.record(None, 1, "b", "x")
    assert [e.time for e in hub.events()] == [1_700_000_000, 1_700_000_001]
