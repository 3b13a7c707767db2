"""zoo-memcached in memory: the store, the text protocol, back-pressure, events, the inspector."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from zoo.events import Observatory
from zoo.inspect import ApiError, Call
from zoo.memcached.inspector import MemcachedInspector, register
from zoo.memcached.protocol import BUDGET, MemcachedFactory
from zoo.memcached.session import Session
from zoo.memcached.store import RELATIVE_MAX, Store, item_size


def session(clock: Clock | None = None, **kw: int) -> Session:
    return Session(Store(clock or Clock(), **kw), Observatory(Clock()))


def talk(s: Session, data: bytes) -> bytes:
    s.feed(data)
    out = b""
    while s.busy:
        out += s.run()
    return out


# -- the commands ----------------------------------------------------------------------


def test_set_get_multi_key_and_gets():
    """set stores; get answers several keys (repeats and misses too) then END; gets adds CAS."""
    s = session()
    assert talk(s, b"set sq:42 0 0 4\r\n1764\r\n") == b"STORED\r\n"
    assert talk(s, b"get sq:42 nope sq:42\r\n") == (
        b"VALUE sq:42 0 4\r\n1764\r\nVALUE sq:42 0 4\r\n1764\r\nEND\r\n"
    )
    assert talk(s, b"gets sq:42\r\n") == b"VALUE sq:42 0 4 1\r\n1764\r\nEND\r\n"


def test_add_replace_append_prepend():
    """add only new keys, replace only old ones; append/prepend keep the old flags."""
    s = session()
    assert talk(s, b"add k 5 0 1\r\nb\r\nadd k 0 0 1\r\nx\r\n") == b"STORED\r\nNOT_STORED\r\n"
    assert talk(s, b"replace q 0 0 1\r\nx\r\nappend q 0 0 1\r\nx\r\n") == b"NOT_STORED\r\n" * 2
    assert talk(s, b"append k 9 0 1\r\nc\r\nprepend k 9 0 1\r\na\r\n") == b"STORED\r\n" * 2
    assert talk(s, b"get k\r\n") == b"VALUE k 5 3\r\nabc\r\nEND\r\n"
    assert talk(s, b"replace k 1 0 1\r\nz\r\nget k\r\n") == b"STORED\r\nVALUE k 1 1\r\nz\r\nEND\r\n"


def test_cas():
    """cas stores only with the current CAS value: EXISTS otherwise, NOT_FOUND without item."""
    s = session()
    talk(s, b"set k 0 0 1\r\nx\r\n")
    cas = int(talk(s, b"gets k\r\n").split(b"\r\n")[0].split()[-1])
    assert talk(s, b"cas k 0 0 1 %d\r\ny\r\n" % (cas + 1)) == b"EXISTS\r\n"
    assert talk(s, b"cas k 0 0 1 %d\r\ny\r\n" % cas) == b"STORED\r\n"
    assert talk(s, b"cas k 0 0 1 %d\r\nz\r\n" % cas) == b"EXISTS\r\n"
    assert talk(s, b"cas nope 0 0 1 1\r\nz\r\n") == b"NOT_FOUND\r\n"
    assert talk(s, b"cas k 0 0 1 abc\r\n") == b"CLIENT_ERROR bad command line format\r\n"


def test_delete_and_its_usage_error():
    """delete answers DELETED/NOT_FOUND; a time other than 0 gets memcached's usage line."""
    s = session()
    talk(s, b"set k 0 0 1\r\nx\r\n")
    assert talk(s, b"delete k 5\r\n") == (
        b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
    )
    assert talk(s, b"delete k 0\r\ndelete k\r\n") == b"DELETED\r\nNOT_FOUND\r\n"


def test_incr_decr_wrap_and_padding():
    """incr wraps at 2**64, decr stops at 0 and pads a shorter number with spaces."""
    s = session()
    talk(s, b"set n 0 0 2\r\n10\r\n")
    assert talk(s, b"decr n 1\r\nget n\r\n") == b"9\r\nVALUE n 0 2\r\n9 \r\nEND\r\n"
    assert talk(s, b"incr n 18446744073709551615\r\n") == b"8\r\n"
    assert talk(s, b"decr n 100\r\n") == b"0\r\n"
    assert talk(s, b"incr n 1000\r\nget n\r\n") == b"1000\r\nVALUE n 0 4\r\n1000\r\nEND\r\n"
    assert talk(s, b"incr n 18446744073709551616\r\nincr n -1\r\n") == (
        b"CLIENT_ERROR invalid numeric delta argument\r\n" * 2
    )
    assert talk(s, b"incr zz 1\r\n") == b"NOT_FOUND\r\n"
    talk(s, b"set s 0 0 1\r\na\r\n")
    assert talk(s, b"incr s 1\r\n") == (
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    )


def test_noreply_silences_results_and_errors_of_that_command():
    """noreply silences the command's answer, even a bad data chunk, and nothing else."""
    s = session()
    assert talk(s, b"set k 0 0 1 noreply\r\nx\r\nincr k 1 noreply\r\ndelete q noreply\r\n") == b""
    assert talk(s, b"set k 0 0 1 noreply\r\nxx\r\nget k\r\n") == (
        b"ERROR\r\nVALUE k 0 1\r\nx\r\nEND\r\n"  # the "\n" left of the block is a line
    )
    assert talk(s, b"set k 0 0 1 garbage\r\ny\r\n") == b"STORED\r\n"


def test_bad_data_chunk_reads_exactly_the_block():
    """A block not ending in CRLF is refused, and parsing goes on right after its length."""
    s = session()
    assert talk(s, b"set k 0 0 1\r\nxyz\r\nget k\r\n") == (
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"
    )


def test_bad_command_lines():
    """Unknown commands, wrong arity, long keys and non-numbers get memcached's words."""
    s = session()
    assert talk(s, b"foo\r\nGET a\r\n\r\nget\r\nset a 0 0\r\n") == b"ERROR\r\n" * 5
    assert (
        talk(s, b"set k foo 0 1\r\nx\r\n") == b"CLIENT_ERROR bad command line format\r\nERROR\r\n"
    )
    assert talk(s, b"set k 0 0 -1\r\n") == b"CLIENT_ERROR bad command line format\r\n"
    assert talk(s, b"get a " + b"k" * 251 + b"\r\n") == b"CLIENT_ERROR bad command line format\r\n"
    assert talk(s, b"get " + b"k" * 250 + b"\r\n") == b"END\r\n"
    assert talk(s, b"touch a x\r\nflush_all x\r\ngat x a\r\n") == (
        b"CLIENT_ERROR invalid exptime argument\r\n" * 3
    )


def test_unfinished_line_over_the_limit_closes():
    """An unfinished line past 2048 bytes (64 KiB for get) is refused and the session closes."""
    s = session()
    assert talk(s, b"x" * 2048) == b""
    assert not s.closing
    assert talk(s, b"x") == b"CLIENT_ERROR line too long\r\n"
    assert s.closing
    g = session()
    assert talk(g, b"get " + b"a " * 20000) == b""
    assert not g.closing


def test_too_large_item_is_refused_and_its_block_swallowed():
    """Over 1 MiB: SERVER_ERROR, the block is thrown away as it comes, a set drops the old value."""
    s = session()
    talk(s, b"set k 0 0 1\r\nx\r\nset j 0 0 1\r\ny\r\n")
    size = 1024 * 1024
    assert talk(s, b"set k 0 0 %d\r\n" % size) == b"SERVER_ERROR object too large for cache\r\n"
    assert talk(s, b"a" * (size // 2)) == b""
    assert talk(s, b"a" * (size // 2) + b"\r\nget k\r\n") == b"END\r\n"
    assert talk(s, b"add j 0 0 %d\r\n" % size + b"a" * size + b"\r\nget j\r\n") == (
        b"SERVER_ERROR object too large for cache\r\nVALUE j 0 1\r\ny\r\nEND\r\n"
    )
    largest = size - item_size(b"k", b"")
    assert talk(s, b"set k 0 0 %d\r\n" % largest + b"b" * largest + b"\r\n") == b"STORED\r\n"


def test_flags_wrap_at_32_bits_as_in_memcached():
    """Flags are memcached's 32 bits: larger numbers wrap, negative ones are refused."""
    s = session()
    assert talk(s, b"set a 4294967297 0 1\r\nx\r\nget a\r\n") == (
        b"STORED\r\nVALUE a 1 1\r\nx\r\nEND\r\n"
    )
    assert talk(s, b"set a -1 0 1\r\n") == b"CLIENT_ERROR bad command line format\r\n"


# -- time ------------------------------------------------------------------------------


def test_relative_absolute_and_negative_expiry():
    """Up to 30 days is relative, more is a Unix time, negative is already expired."""
    clock = Clock()
    clock.advance(1_800_000_000)
    s = session(clock)
    talk(s, b"set r 0 0 10 1\r\nx\r\n".replace(b"0 10 1", b"10 1"))
    talk(s, b"set a 0 %d 1\r\nx\r\n" % (1_800_000_000 + 20))
    talk(s, b"set p 0 %d 1\r\nx\r\n" % (RELATIVE_MAX + 1))
    talk(s, b"set n 0 -1 1\r\nx\r\n")
    assert talk(s, b"get r a p n\r\n") == b"VALUE r 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
    clock.advance(10)
    assert talk(s, b"get r a\r\n") == b"VALUE a 0 1\r\nx\r\nEND\r\n"
    clock.advance(10)
    assert talk(s, b"get a\r\n") == b"END\r\n"


def test_touch_and_gat():
    """touch and gat set a new expiry time; gats also gives the CAS value."""
    clock = Clock()
    s = session(clock)
    talk(s, b"set k 0 5 1\r\nx\r\n")
    assert talk(s, b"touch k 100\r\ntouch q 1\r\n") == b"TOUCHED\r\nNOT_FOUND\r\n"
    clock.advance(50)
    assert talk(s, b"gat 0 k\r\n") == b"VALUE k 0 1\r\nx\r\nEND\r\n"
    clock.advance(1000)
    assert talk(s, b"gats 1 k\r\n") == b"VALUE k 0 1 1\r\nx\r\nEND\r\n"
    clock.advance(1)
    assert talk(s, b"get k\r\n") == b"END\r\n"


def test_flush_all_now_and_later():
    """flush_all empties now; flush_all N forgets, N seconds later, what was stored before."""
    clock = Clock()
    s = session(clock)
    talk(s, b"set a 0 0 1\r\nx\r\n")
    assert talk(s, b"flush_all\r\nget a\r\n") == b"OK\r\nEND\r\n"
    talk(s, b"set a 0 0 1\r\nx\r\n")
    assert talk(s, b"flush_all 2\r\nget a\r\n") == b"OK\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
    clock.advance(2)
    assert talk(s, b"get a\r\n") == b"END\r\n"
    talk(s, b"set a 0 0 1\r\ny\r\n")
    assert talk(s, b"get a\r\n") == b"VALUE a 0 1\r\ny\r\nEND\r\n"


# -- memory ----------------------------------------------------------------------------


def test_lru_eviction_under_the_memory_cap():
    """Past the cap the least recently used item goes; a get makes an item recent."""
    one = item_size(b"k0", b"x" * 100)
    s = session(memory=3 * one)
    for i in range(3):
        talk(s, b"set k%d 0 0 100\r\n" % i + b"x" * 100 + b"\r\n")
    talk(s, b"get k0\r\n")
    talk(s, b"set k3 0 0 100\r\n" + b"x" * 100 + b"\r\n")
    assert list(s.store.items) == [b"k2", b"k0", b"k3"]
    assert s.store.bytes == 3 * one
    assert s.store.stats.evictions == 1
    assert b"STAT evictions 1\r\n" in talk(s, b"stats\r\n")


def test_stats_and_version_and_verbosity():
    """stats reports counters (reset by stats reset); version and verbosity answer."""
    s = session()
    talk(s, b"set a 0 0 1\r\nx\r\nget a b\r\n")
    stats = talk(s, b"stats\r\n")
    assert stats.endswith(b"END\r\n")
    for line in (b"STAT get_hits 1", b"STAT get_misses 1", b"STAT cmd_set 1", b"STAT curr_items 1"):
        assert line + b"\r\n" in stats
    assert talk(s, b"stats reset\r\nstats nope\r\n") == b"RESET\r\nERROR\r\n"
    assert b"STAT get_hits 0\r\n" in talk(s, b"stats\r\n")
    assert talk(s, b"version\r\n") == b"VERSION 1.6.18\r\n"
    assert talk(s, b"verbosity 1\r\nverbosity\r\nverbosity x\r\n") == (
        b"OK\r\nERROR\r\nCLIENT_ERROR bad command line format\r\n"
    )


def test_quit_closes_after_earlier_replies():
    """quit answers nothing and closes, after the replies before it."""
    s = session()
    assert talk(s, b"version\r\nquit\r\nversion\r\n") == b"VERSION 1.6.18\r\n"
    assert s.closing


def test_multi_get_answers_a_budget_at_a_time():
    """A multi-key get of big values is answered in several runs of about the budget."""
    s = session()
    talk(s, b"set big 0 0 100000\r\n" + b"v" * 100000 + b"\r\n")
    s.feed(b"get" + b" big" * 10 + b"\r\n")
    first = s.run(250_000)
    assert first.count(b"VALUE") == 3 and s.busy
    rest = s.run(10**9)
    assert rest.count(b"VALUE") == 7 and rest.endswith(b"END\r\n") and not s.busy


# -- the Twisted adapter ---------------------------------------------------------------


def connect(factory: MemcachedFactory) -> tuple[object, StringTransport]:
    transport = StringTransport()
    transport.session = "memcached-1"  # as the connection layer marks it
    proto = factory.buildProtocol(None)
    proto.makeConnection(transport)
    return proto, transport


def test_protocol_stops_answering_while_the_client_does_not_read():
    """With the transport backed up, no more commands run; when it drains, they resume."""
    factory = MemcachedFactory(clock=Clock(), observatory=Observatory(Clock()))
    proto, transport = connect(factory)
    proto.dataReceived(b"set big 0 0 200000\r\n" + b"v" * 200000 + b"\r\n")
    assert transport.value() == b"STORED\r\n"
    transport.clear()
    proto.gate.pauseProducing()  # what TCP does when its buffer passes 64 KiB
    proto.dataReceived(b"get big\r\n" * 50)
    assert transport.value() == b""
    assert transport.producerState == "paused"
    proto.gate.resumeProducing()
    assert transport.value().count(b"VALUE big") == 50


def test_protocol_pauses_between_budgets_of_one_get():
    """A long multi-key get stops when the transport backs up mid-way, and finishes later."""
    factory = MemcachedFactory(clock=Clock(), observatory=Observatory(Clock()))
    transport = StringTransport()
    backing_up = []
    real_write = transport.write

    def write(data: bytes) -> None:  # a transport whose buffer fills at each write
        real_write(data)
        if backing_up:
            proto.gate.pauseProducing()

    transport.write = write  # type: ignore[method-assign]
    proto = factory.buildProtocol(None)
    proto.makeConnection(transport)
    proto.dataReceived(b"set big 0 0 100000\r\n" + b"v" * 100000 + b"\r\n")
    transport.clear()
    backing_up.append(True)
    proto.dataReceived(b"get" + b" big" * 20 + b"\r\n")
    assert 0 < len(transport.value()) <= BUDGET + 200_000
    assert not transport.value().endswith(b"END\r\n")
    backing_up.clear()
    proto.gate.resumeProducing()
    assert transport.value().count(b"VALUE big") == 20
    assert transport.value().endswith(b"END\r\n")


def test_protocol_quit_and_line_too_long_close():
    """quit closes the connection; so does a line past the limit, after its error."""
    factory = MemcachedFactory(clock=Clock(), observatory=Observatory(Clock()))
    proto, transport = connect(factory)
    proto.dataReceived(b"quit\r\n")
    assert transport.disconnecting
    proto, transport = connect(factory)
    proto.dataReceived(b"y" * 5000)
    assert transport.value() == b"CLIENT_ERROR line too long\r\n"
    assert transport.disconnecting


# -- events and the inspector ----------------------------------------------------------


def test_events_for_commands_and_evictions():
    """Each command is a memcached.command event (hit/miss per key); evictions are reported."""
    obs = Observatory(Clock(), enabled=True)
    one = item_size(b"a", b"x")
    factory = MemcachedFactory(memory=2 * one, clock=Clock(), observatory=obs)
    proto, _ = connect(factory)
    proto.dataReceived(b"set a 0 0 1\r\nx\r\nget a b\r\nset b 0 0 1\r\nx\r\nset c 0 0 1\r\nx\r\n")
    seen = [(e.kind, e.session, e.fields) for e in obs.events()]
    assert seen == [
        ("memcached.command", "memcached-1", {"command": "set", "key": "a", "result": "STORED", "size": 1}),
        ("memcached.command", "memcached-1", {"command": "get", "key": "a", "result": "hit"}),
        ("memcached.command", "memcached-1", {"command": "get", "key": "b", "result": "miss"}),
        ("memcached.command", "memcached-1", {"command": "set", "key": "b", "result": "STORED", "size": 1}),
        ("memcached.evicted", None, {"key": "a"}),
        ("memcached.command", "memcached-1", {"command": "set", "key": "c", "result": "STORED", "size": 1}),
    ]  # fmt: skip


def test_no_events_when_nobody_observes():
    """With the observatory off, commands record nothing."""
    obs = Observatory(Clock(), enabled=False)
    factory = MemcachedFactory(clock=Clock(), observatory=obs)
    proto, transport = connect(factory)
    proto.dataReceived(b"set a 0 0 1\r\nx\r\nget a\r\n")
    assert transport.value().endswith(b"END\r\n")
    assert obs.events() == []


def test_inspector_lists_gets_and_resets():
    """The inspector lists live keys (with a prefix), shows one item, and reset empties the cache."""
    obs = Observatory(Clock(), enabled=True)
    clock = Clock()
    factory = MemcachedFactory(clock=clock, observatory=obs)
    inspector = register(factory.store, obs)
    proto, _ = connect(factory)
    proto.dataReceived(b"set sq:1 3 0 1\r\n1\r\nset sq:2 0 0 1\r\n4\r\nset user:19 0 1 2\r\nhi\r\n")
    listing = inspector.keys(Call(query={"prefix": "sq:"}))
    assert [k["key"] for k in listing["keys"]] == ["sq:1", "sq:2"]
    assert listing["keys"][0]["flags"] == 3
    assert inspector.item(Call(params={"key": "user:19"}))["text"] == "hi"
    clock.advance(2)
    with pytest.raises(ApiError) as e:
        inspector.item(Call(params={"key": "user:19"}))
    assert e.value.status == 404
    with pytest.raises(ApiError):
        inspector.keys(Call(query={"limit": "x"}))
    assert inspector.describe()["items"] == 3
    obs.reset("memcached")
    assert inspector.describe()["items"] == 0
    assert isinstance(obs.inspectors["memcached"], MemcachedInspector)


# -- the quick path ----------------------------------------------------------------------

QUICK_CASES = [
    b"get sq:42\r\n",
    b"get nope\r\n",
    b"get sq:42 nope\r\n",
    b"get \r\n",
    b"get a\r\r\n",
    b"get a\n\r\n",
    b"get " + b"k" * 251 + b"\r\n",
    b"set sq:42 5 0 3\r\nabc\r\n",
    b"set sq:42 5 0 3\r\nabcd\r\n",
    b"set sq:42 5 0 3\r\nab\r\n",
    b"set a\nb 0 0 1\r\nx\r\n",
    b"set sq:42 4294967297 0 1\r\nx\r\n",
    b"set sq:42 0 100 1\r\nx\r\n",
    b"set sq:42 0 0 1 noreply\r\nx\r\n",
    b"set  sq:42 0 0 1\r\nx\r\n",
    b"set sq:42 0 0 1048576\r\n" + b"x" * 1048576 + b"\r\n",
    b"get sq:42\r\nget sq:42\r\n",
]


@pytest.mark.parametrize("data", QUICK_CASES)
def test_quick_path_answers_as_the_general_path(data: bytes):
    """Whatever the quick path answers, the general path answers the same, with the same effect."""
    quick, general = session(), session()
    for s in (quick, general):
        talk(s, b"set sq:42 1 0 4\r\n1764\r\n")
    reply = quick.quick(data)
    want = talk(general, data)
    if reply is not None:
        assert reply == want
    else:
        assert talk(quick, data) == want
    after = b"get sq:42 a\r\n"
    assert talk(quick, after) == talk(general, after)


def test_quick_path_reports_the_same_events():
    """Observed, the quick path records the events the general path would."""
    quick, general = session(), session()
    for s in (quick, general):
        s.observatory.enabled = True
    data = [b"set k 3 0 1\r\nx\r\n", b"get k\r\n", b"get nope\r\n"]
    assert all(quick.quick(d) is not None for d in data)
    for d in data:
        talk(general, d)
    fields = [[(e.kind, e.fields) for e in s.observatory.events()] for s in (quick, general)]
    assert fields[0] == fields[1] and len(fields[0]) == 3


def test_quick_path_is_taken_for_plain_get_and_set():
    """A plain get or set is answered by the quick path (it is there at all)."""
    s = session()
    assert s.quick(b"set k 0 0 1\r\nx\r\n") == b"STORED\r\n"
    assert s.quick(b"get k\r\n") == b"VALUE k 0 1\r\nx\r\nEND\r\n"
    assert s.quick(b"delete k\r\n") is None


def test_between_commands():
    """The session is between commands only once a command and its data block are read whole."""
    s = session()
    assert s.between_commands
    talk(s, b"set k 0 0 5\r\nab")
    assert not s.between_commands
    talk(s, b"cde\r\n")
    assert s.between_commands
    talk(s, b"get k")
    assert not s.between_commands
