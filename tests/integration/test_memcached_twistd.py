"""zoo-memcached with real clients: FOPNP's squares.py (both editions) and interactive
session, pymemcache, a byte-for-byte comparison with Debian's memcached, eviction, and
a client that never reads."""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import wirecompare
from conftest import require_tool
from probes import memcached as probe_memcached
from slowclients import flood_without_reading, pipeline_then_read, rss_kib

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

BOOKS = Path(__file__).parent / "books"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def memcached_server(*extra: str) -> Iterator[int]:
    """Debian's memcached on a free loopback port, one thread, no UDP, ready to answer."""
    server = require_tool("memcached")
    port = free_port()
    user = ["-u", pwd.getpwuid(os.getuid()).pw_name] if os.geteuid() == 0 else []
    args = [server, "-U", "0", "-l", "127.0.0.1", "-p", str(port), "-t", "1", *user, *extra]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"version\r\n")
                    if s.recv(100).startswith(b"VERSION "):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("memcached did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def zoo(workdir: Path) -> Iterator[TwistdProcess]:
    with TwistdProcess(["zoo-memcached", "--port", "0"], workdir / "zoo") as z:
        yield z


def test_probe(zoo: TwistdProcess) -> None:
    """The runner's probe passes against a fresh zoo-memcached."""
    probe_memcached({"host": "127.0.0.1", "port": zoo.port("memcached")})


# The books ------------------------------------------------------------------------------


@pytest.mark.parametrize("program", ["squares.py", "squares_2e.py"])
def test_book_squares(zoo: TwistdProcess, program: str) -> None:
    """squares.py prints ten timings that fall as the cache warms, and caches sq:N = N*N."""
    port = zoo.port("memcached")
    result = subprocess.run(
        [sys.executable, str(BOOKS / program)],
        env={**os.environ, "ZOO_PORT": str(port)},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    match = re.fullmatch(r"Ten successive runs:\s*((?: ?\d+\.\d\ds){10}) ?\n", result.stdout)
    assert match, result.stdout
    times = [float(t) for t in match.group(1).replace("s", " ").split()]
    assert times[-1] < times[0], times  # the cache warmed
    import memcache

    mc = memcache.Client([f"127.0.0.1:{port}"])
    cached = mc.get_multi([f"sq:{n}" for n in range(5001)])
    assert len(cached) > 2500  # 20,000 requests over 5,001 numbers
    assert all(value == int(key[3:]) ** 2 for key, value in cached.items())


def test_book_interactive_session(zoo: TwistdProcess) -> None:
    """FOPNP's session: set('user:19', {...}) is True, get gives an equal dict, a miss None."""
    import memcache

    mc = memcache.Client([f"127.0.0.1:{zoo.port('memcached')}"])
    assert mc.set("user:19", {"name": "Lancelot", "quest": "Grail"}) is True
    assert mc.get("user:19") == {"name": "Lancelot", "quest": "Grail"}
    assert mc.set("sq:42", 1764) is True
    assert mc.get("sq:42") == 1764
    assert mc.get("sq:43") is None


def test_pymemcache(zoo: TwistdProcess) -> None:
    """pymemcache's commands each get the answer it expects."""
    from pymemcache.client.base import Client

    c = Client(("127.0.0.1", zoo.port("memcached")), timeout=5)
    assert c.set("a", b"1", expire=100, noreply=False) is True
    assert c.get_many(["a", "b"]) == {"a": b"1"}
    assert c.add("a", b"x", noreply=False) is False
    assert c.replace("b", b"x", noreply=False) is False
    assert c.append("a", b"0", noreply=False) is True
    assert c.prepend("a", b"1", noreply=False) is True
    assert c.get("a") == b"110"
    assert c.incr("a", 5) == 115
    assert c.decr("a", 200) == 0
    value, cas = c.gets("a")
    assert c.cas("a", b"9", int(cas) + 1, noreply=False) is False
    assert c.cas("a", b"9", cas, noreply=False) is True
    assert c.touch("a", 100, noreply=False) is True
    assert c.delete("a", noreply=False) is True
    assert c.delete("a", noreply=False) is False
    assert c.version().startswith(b"1.6")
    assert int(c.stats()[b"get_hits"]) >= 2
    assert c.flush_all(noreply=False) is True
    with pytest.raises(Exception, match="too large"):
        c.set("big", b"x" * (1024 * 1024), noreply=False)
    assert c.set("after", b"ok", noreply=False) is True  # the connection still works


# Byte-for-byte comparison with memcached ------------------------------------------------

# (connection, bytes to send). Every reply on every connection is recorded and must be
# identical, but for CAS values (memcached counts them across the whole server).
SESSION: list[tuple[int, bytes]] = [
    (0, b"get\r\nget a b\r\nset a 0 0 1\r\nx\r\nget a b a\r\ngets a\r\n"),
    (1, b"set k foo 0 1\r\nx\r\nset k 0 0 -1\r\nx\r\nset k 0 0 1\r\nxyz\r\nget k\r\n"),
    (1, b"set k 0 0 3\r\nab\r\n\r\nget k\r\nset a 0 0 1\r\nx\rget a\r\n"),
    (2, b"set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\nincr n 18446744073709551615\r\nget n\r\n"),
    (2, b"incr n x\r\nincr zz 1\r\nset s 0 0 1\r\na\r\nincr s 1\r\ndecr n 100\r\nincr n 1x\r\n"),
    (2, b"incr n 01\r\nincr n 999\r\nget n\r\nincr n +1\r\nincr n 18446744073709551616\r\n"),
    (
        2,
        b"set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\nget n\r\nset n 0 0 2\r\n 1\r\nincr n 1\r\n",
    ),
    (0, b"delete a 5\r\ndelete a 0\r\ndelete a noreply\r\ndelete a\r\ndelete\r\ndelete a b c\r\n"),
    (0, b"foo\r\nFOO bar\r\nGET a\r\n\r\n\r\nset\r\nset a\r\nset a 0 0\r\nset a 0 0 1 2 3\r\n"),
    (3, b"touch a 10\r\ntouch\r\ngat 10 a\r\ngats 10 a\r\ngat\r\ntouch a x\r\ngat x a\r\n"),
    (3, b"verbosity\r\nverbosity 1\r\nverbosity 1 noreply\r\nverbosity x\r\nverbosity 1 2 3\r\n"),
    (3, b"set a 0 0 1 noreply\r\nx\r\nappend a 0 0 1\r\ny\r\nprepend a 0 0 1\r\nz\r\nget a\r\n"),
    (
        3,
        b"append q 0 0 1\r\ny\r\nadd a 0 0 1\r\nx\r\nreplace q 0 0 1\r\nx\r\nreplace a 5 0 1\r\nr\r\n",
    ),
    (1, b"cas a 0 0 1\r\nx\r\ncas q 0 0 1 99\r\nx\r\ncas a 0 0 1 abc\r\nx\r\n"),
    # (memcached drops the replies it has not sent yet when a get names a key too long:
    # "set ...; get a KEY251" answers only the error. Not imitated, so one get a step.)
    (1, b"get " + b"k" * 251 + b"\r\n"),
    (1, b"get a " + b"k" * 251 + b" a\r\n"),
    (1, b"get " + b"k" * 250 + b"\r\n"),
    (1, b"set " + b"k" * 250 + b" 0 0 1\r\nx\r\nget " + b"k" * 250 + b"\r\n"),
    (0, b"get " + b"a " * 2000 + b"\r\n"),
    (
        0,
        b"set a 0 -1 1\r\nx\r\nget a\r\nset t 0 2592001 1\r\nx\r\nget t\r\nset a 0 2592000 1\r\nx\r\n",
    ),
    (0, b"get a\r\nget a\n\r\nset a 4294967297 0 1\r\nx\r\nget a\r\nset a -1 0 1\r\nx\r\n"),
    (0, b"set a\tb 0 0 1\r\nx\r\nget a\tb\r\nset k\x01 0 0 1\r\nx\r\nget k\x01\r\n"),
    (1, b"set a 0 0 1 noreply\r\nxx\r\nget a\r\nset a 0 0 1 garbage\r\nx\r\nincr a 1 2\r\n"),
    (1, b"set  a  0  0  1\r\ny\r\nget a\r\nset a 0 0 0\r\n\r\nget a\r\nset a 0 0 01\r\nx\r\n"),
    (4, b"set big 0 0 1\r\nx\r\nset big 0 0 2000000\r\n" + b"x" * 2000002 + b"get big\r\n"),
    (4, b"set b 0 0 1\r\nx\r\nset b 0 0 2000000 noreply\r\n" + b"x" * 2000002 + b"get b\r\n"),
    (4, b"set c 0 0 1\r\nx\r\nappend c 0 0 1048576\r\n" + b"y" * 1048578 + b"get c\r\n"),
    (4, b"add c 0 0 1048576\r\n" + b"y" * 1048578 + b"get c\r\nset d 0 0 1000000\r\n"),
    (4, b"d" * 1000000 + b"\r\nget d\r\n"),
    (2, b"flush_all x\r\nflush_all 0 noreply\r\nflush_all 1 2 3\r\nget n\r\nflush_all\r\n"),
    (2, b"set a 0 0 1\r\nx\r\nflush_all -1\r\nget a\r\ntouch a -1\r\n"),
    (2, b"set a 0 0 1\r\nx\r\ntouch a -1\r\nget a\r\nincr\r\nincr a\r\nincr a 1 noreply x\r\n"),
    (
        2,
        b"decr "
        + b"k" * 251
        + b" 1\r\ntouch "
        + b"k" * 251
        + b" 1\r\ndelete "
        + b"k" * 251
        + b"\r\n",
    ),
    (2, b"stats reset\r\nstats nope\r\nquit\r\nget a\r\n"),
    (3, b"quit x\r\n"),
]


def record(port: int) -> list[list[bytes]]:
    """Play SESSION on five connections; CAS values (counted server-wide) become CAS."""
    return wirecompare.record(
        port, SESSION, 5, lambda got: re.sub(rb"(VALUE \S+ \d+ \d+) \d+\r\n", rb"\1 CAS\r\n", got)
    )


def test_byte_identical_to_memcached(zoo: TwistdProcess) -> None:
    """The same session against Debian's memcached and zoo-memcached yields the same bytes."""
    with memcached_server() as port:
        want = record(port)
    got = record(zoo.port("memcached"))
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        assert g == w, f"step {i} {SESSION[i][1][:200]!r}"
    assert any(b"VALUE" in b"".join(step) for step in want)  # the session did fetch


# Limits -------------------------------------------------------------------------------------


def test_lru_eviction_under_memory_limit(workdir: Path) -> None:
    """With --memory-limit 1, storing 4 MB keeps the newest items and counts evictions."""
    from pymemcache.client.base import Client

    with TwistdProcess(["zoo-memcached", "--port", "0", "--memory-limit", "1"], workdir) as z:
        c = Client(("127.0.0.1", z.port("memcached")), timeout=5)
        value = b"v" * 4000
        for i in range(1000):
            c.set(f"k{i}", value, noreply=False)
            if i % 100 == 0:
                assert c.get("k0") == value  # used often: stays
        assert c.get("k1") is None
        assert c.get("k999") == value and c.get("k0") == value
        stats = c.stats()
        assert int(stats[b"bytes"]) <= 1024 * 1024
        assert int(stats[b"evictions"]) > 700


def test_non_reading_client_memory_bounded(zoo: TwistdProcess) -> None:
    """A client pipelining gets of a 1 MB item and never reading: the server stops reading it."""
    port = zoo.port("memcached")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"set big 0 0 1000000\r\n" + b"b" * 1000000 + b"\r\n")
        assert s.recv(100) == b"STORED\r\n"
    assert zoo.proc is not None
    before = rss_kib(zoo.proc.pid)
    # 30 MB of "get big big ..." asks for ~400 GB of replies.
    flood_without_reading(port, b"get" + b" big" * 100 + b"\r\n")
    assert rss_kib(zoo.proc.pid) - before < 16 * 1024
    probe_memcached({"host": "127.0.0.1", "port": port})  # and others are still served


def test_backed_up_replies_then_quit(zoo: TwistdProcess) -> None:
    """Commands pipelined with quit behind stuck replies: every reply arrives, then the close."""
    got = pipeline_then_read(
        zoo.port("memcached"), b"set a 0 0 5\r\nhello\r\n" + b"get a a a a\r\n" * 2000 + b"quit\r\n"
    )
    assert got.count(b"VALUE a 0 5\r\n") == 8000 and got.endswith(b"END\r\n")


def test_garbage_and_long_line(zoo: TwistdProcess) -> None:
    """Binary garbage gets ERRORs; an endless line gets CLIENT_ERROR line too long and a close."""
    port = zoo.port("memcached")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(bytes(range(256)) + b"\r\n" + b"z" * 5000)
        got = b""
        while chunk := s.recv(4096):
            got += chunk
    assert got.endswith(b"CLIENT_ERROR line too long\r\n") and got.startswith(b"ERROR\r\n")
    probe_memcached({"host": "127.0.0.1", "port": port})
    assert "Traceback" not in zoo.output


# The control plane ---------------------------------------------------------------------------


def test_control_plane_keys_item_events_and_reset(workdir: Path) -> None:
    """With --admin: keys and one item are listed, commands are events, a reset empties the cache."""
    import json
    import urllib.request

    from pymemcache.client.base import Client

    with TwistdProcess(["zoo-memcached", "--port", "0", "--admin", "tcp:0"], workdir) as z:
        base, token = z.admin()

        def call(path: str, method: str = "GET") -> object:
            request = urllib.request.Request(
                base + path, headers={"Authorization": f"Bearer {token}"}, method=method
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.load(answer)

        c = Client(("127.0.0.1", z.port("memcached")), timeout=5)
        c.set("sq:42", b"1764", noreply=False)
        c.set("user:19", b"Lancelot", noreply=False)
        assert c.get("nope") is None
        keys = call("/api/memcached/keys?prefix=sq:")
        assert [k["key"] for k in keys["keys"]] == ["sq:42"]  # type: ignore[index]
        assert call("/api/memcached/keys/user:19")["text"] == "Lancelot"  # type: ignore[index]
        events = call("/api/events?service=memcached")["events"]  # type: ignore[index]
        seen = {
            (e["fields"]["command"], e["fields"]["key"], e["fields"]["result"])
            for e in events
            if e["kind"] == "memcached.command"
        }
        assert {("set", "sq:42", "STORED"), ("get", "nope", "miss")} <= seen
        call("/api/reset", "POST")
        assert c.get("sq:42") is None
        assert call("/api/memcached/keys")["count"] == 0  # type: ignore[index]


def test_noreply_commands_keep_the_command_clock_reset(workdir: Path) -> None:
    """A client sending only noreply sets (pymemcache's default) is not cut off by the command deadline."""
    from pymemcache.client.base import Client

    args = ["zoo-memcached", "--port", "0", "--command-timeout", "1"]
    with TwistdProcess(args, workdir) as z:
        c = Client(("127.0.0.1", z.port("memcached")), timeout=5)
        deadline = time.monotonic() + 2.5
        n = 0
        while time.monotonic() < deadline:
            c.set(f"k{n}", b"v")  # noreply: nothing comes back
            n += 1
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", z.port("memcached")), timeout=5) as s:
            s.sendall(b"set half 0 0 5\r\nab")  # an unfinished block is still timed
            assert s.recv(100) == b""
        assert c.get(f"k{n - 1}") == b"v"  # the same connection, still open
        assert int(c.stats()[b"total_connections"]) == 2
