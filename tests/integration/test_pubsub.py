"""zoo-pubsub with real clients: the book's programs, redis-cli, redis-py, txredisapi, nc,
a byte-for-byte comparison with redis-server, slow subscribers, and two nodes through Redis."""

from __future__ import annotations

import json
import os
import queue
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import wirecompare
from conftest import require_tool
from probes import pubsub as probe_pubsub

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A private redis-server on 127.0.0.1:PORT with no persistence, ready to answer."""
    server = require_tool("redis-server")
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--daemonize", "no", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(100) == b"+PONG\r\n":
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@contextmanager
def redis_server(workdir: Path, *extra: str) -> Iterator[int]:
    port = free_port()
    proc = start_redis(port, workdir / f"redis-{port}", *extra)
    try:
        yield port
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def zoo(workdir: Path) -> Iterator[TwistdProcess]:
    with TwistdProcess(["zoo-pubsub", "--port", "0"], workdir / "zoo") as z:
        yield z


def recv_exactly(s: socket.socket, n: int, timeout: float = 5.0) -> bytes:
    s.settimeout(timeout)
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def read_lines(pipe: Any, n: int, timeout: float = 10.0) -> list[str]:
    """Read C{n} lines from a text pipe, failing (not hanging) after C{timeout} seconds."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(pipe.readline()) for _ in range(n)], daemon=True
    ).start()
    try:
        return [lines.get(timeout=timeout).rstrip("\n") for _ in range(n)]
    except queue.Empty:
        raise AssertionError(f"fewer than {n} lines within {timeout}s") from None


def wait_numsub(port: int, channel: bytes, want: int, timeout: float = 10.0) -> None:
    """Wait until C{channel} has C{want} subscribers (PUBSUB NUMSUB)."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        while time.monotonic() < deadline:
            s.sendall(
                b"*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$%d\r\n%b\r\n" % (len(channel), channel)
            )
            reply = s.recv(1000)
            if reply.endswith(b":%d\r\n" % want):
                return
            time.sleep(0.05)
    raise AssertionError(f"{channel!r} never had {want} subscribers")


def test_probe(zoo: TwistdProcess) -> None:
    """The runner's probe passes against a fresh zoo-pubsub."""
    probe_pubsub({"host": "127.0.0.1", "port": zoo.port("pubsub")})


BOOK_PUB = """
import redis
import random

random.seed(17)
conn = redis.Redis(port=PORT)
cats = ['siamese', 'persian', 'maine coon', 'norwegian forest']
hats = ['stovepipe', 'bowler', 'tam-o-shanter', 'fedora']
for msg in range(10):
    cat = random.choice(cats)
    hat = random.choice(hats)
    print('Publish: %s wears a %s' % (cat, hat))
    conn.publish(cat, hat)
"""

BOOK_SUB = """
import redis
conn = redis.Redis(port=PORT)

topics = ['maine coon', 'persian']
sub = conn.pubsub()
sub.subscribe(topics)
for msg in sub.listen():
    if msg['type'] == 'message':
        cat = msg['channel']
        hat = msg['data']
        print('Subscribe: %s wears a %s' % (cat, hat))
"""


def test_book_redis_pub_sub(zoo: TwistdProcess, workdir: Path) -> None:
    """The book's redis_sub.py prints exactly the messages of its topics that redis_pub.py sent."""
    port = zoo.port("pubsub")
    (workdir / "redis_pub.py").write_text(BOOK_PUB.replace("PORT", str(port)))
    (workdir / "redis_sub.py").write_text(BOOK_SUB.replace("PORT", str(port)))
    sub = subprocess.Popen(
        [sys.executable, "-u", "redis_sub.py"], cwd=workdir, stdout=subprocess.PIPE, text=True
    )
    try:
        wait_numsub(port, b"maine coon", 1)
        wait_numsub(port, b"persian", 1)
        pub = subprocess.run(
            [sys.executable, "redis_pub.py"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert pub.returncode == 0, pub.stderr
        sent = [
            line.removeprefix("Publish: ").split(" wears a ") for line in pub.stdout.splitlines()
        ]
        want = [
            f"Subscribe: {str(cat.encode())} wears a {str(hat.encode())}"
            for cat, hat in sent
            if cat in ("maine coon", "persian")
        ]
        assert len(sent) == 10 and want
        got = read_lines(sub.stdout, len(want))
        assert got == want
    finally:
        sub.kill()
        sub.wait()


BOOKS = Path(__file__).parent / "books"
LUCY = re.compile(r"Lucy got a b'(\w+)' at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ , only (\d+) left")


def test_book_lucy_gets_every_chocolate_once_in_order(zoo: TwistdProcess) -> None:
    """Exercise 17.4: Lucy (BLPOP, 0.5 s a piece) gets each piece once, in order, as the backlog shrinks."""
    import redis

    port = zoo.port("pubsub")
    env = {**os.environ, "ZOO_PORT": str(port)}
    lucy = subprocess.Popen(
        [sys.executable, "-u", str(BOOKS / "redis_lucy.py")], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        conn = redis.Redis(port=port)
        pieces = ["truffle", "cherry", "caramel", "nougat", "cherry", "truffle"]
        conn.rpush("chocolates", *pieces[:2])  # the belt outruns Lucy at once...
        time.sleep(0.2)
        conn.rpush("chocolates", *pieces[2:])  # ...and again
        lines = read_lines(lucy.stdout, len(pieces), timeout=20)
        got = [LUCY.fullmatch(line) for line in lines]
        assert all(got), lines
        assert [m.group(1) for m in got] == pieces  # FIFO, exactly once
        remaining = [int(m.group(2)) for m in got]
        assert remaining[-1] == 0 and remaining == sorted(remaining, reverse=True), remaining
        assert conn.llen("chocolates") == 0
    finally:
        lucy.kill()
        lucy.wait()


def test_book_chocolate_supply_feeds_lucy(zoo: TwistdProcess) -> None:
    """The book's conveyor belt and Lucy run together: she prints pieces of its varieties."""
    env = {**os.environ, "ZOO_PORT": str(zoo.port("pubsub"))}
    procs = [
        subprocess.Popen(
            [sys.executable, "-u", str(BOOKS / name)], env=env, stdout=subprocess.PIPE, text=True
        )
        for name in ("redis_lucy.py", "redis_choc_supply.py")
    ]
    try:
        lines = read_lines(procs[0].stdout, 3, timeout=20)
        for line in lines:
            m = LUCY.fullmatch(line)
            assert m and m.group(1) in ("truffle", "cherry", "caramel", "nougat"), line
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_blocked_clients_fifo_timeout_and_disconnect(zoo: TwistdProcess) -> None:
    """redis-py BLPOP times out with None; a blocked client that hangs up is not served."""
    import redis

    port = zoo.port("pubsub")
    conn = redis.Redis(port=port)
    started = time.monotonic()
    assert conn.blpop("belt", 0.3) is None
    assert 0.25 < time.monotonic() - started < 5
    gone = socket.create_connection(("127.0.0.1", port))
    gone.sendall(b"BLPOP belt 0\r\n")
    first = socket.create_connection(("127.0.0.1", port), timeout=5)
    time.sleep(0.1)
    first.sendall(b"BLPOP belt 0\r\n")
    time.sleep(0.1)
    gone.close()
    time.sleep(0.2)
    assert conn.rpush("belt", "a", "b") == 2
    want = b"*2\r\n$4\r\nbelt\r\n$1\r\na\r\n"
    assert recv_exactly(first, len(want)) == want
    assert conn.lrange("belt", 0, -1) == [b"b"]
    first.close()


def test_redis_cli_publish_subscribe(zoo: TwistdProcess) -> None:
    """redis-cli subscribes (to a name with a space) and publishes; PUBLISH counts the receiver."""
    cli = require_tool("redis-cli")
    port = str(zoo.port("pubsub"))
    sub = subprocess.Popen(
        [cli, "-p", port, "subscribe", "maine coon"], stdout=subprocess.PIPE, text=True
    )
    try:
        wait_numsub(int(port), b"maine coon", 1)
        out = subprocess.run(
            [cli, "-p", port, "publish", "maine coon", "tam-o-shanter"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        assert out.stdout.strip() == "1"
        lines = [line.strip() for line in read_lines(sub.stdout, 6)]
        assert lines == ["subscribe", "maine coon", "1", "message", "maine coon", "tam-o-shanter"]
        numsub = subprocess.run(
            [cli, "-p", port, "pubsub", "numsub", "maine coon"], capture_output=True, text=True
        )
        assert numsub.stdout.split("\n")[:2] == ["maine coon", "1"]
    finally:
        sub.kill()
        sub.wait()


def test_redis_cli_subscribers_of_one_pipeline(zoo: TwistdProcess) -> None:
    """Three redis-cli subscribers, two on one channel and one on it and another, get
    a pipeline of PUBLISHes sent in one write (one read: the broker joins each
    subscriber's frames, and shares the join between the two with the same frames):
    every message, in order, and only its own channels'."""
    cli = require_tool("redis-cli")
    port = zoo.port("pubsub")
    subs = [
        subprocess.Popen([cli, "-p", str(port), "subscribe", *names], stdout=subprocess.PIPE, text=True)
        for names in (["news"], ["news"], ["news", "sport"])
    ]  # fmt: skip
    try:
        wait_numsub(port, b"news", 3)
        wait_numsub(port, b"sport", 1)
        sent = [(b"news", b"n1"), (b"sport", b"s1"), (b"news", b"n2"), (b"news", b"n3")]
        pipeline = b"".join(
            b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(c), c, len(m), m)
            for c, m in sent
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as pub:
            pub.sendall(pipeline)
            replies = b""
            while replies.count(b"\r\n") < len(sent):
                replies += pub.recv(1000)
        assert replies == b":3\r\n:1\r\n:3\r\n:3\r\n"
        news = ["message", "news", "n1", "message", "news", "n2", "message", "news", "n3"]
        for sub in subs[:2]:
            assert read_lines(sub.stdout, 3 + 9)[3:] == news
        both = read_lines(subs[2].stdout, 6 + 12)[6:]
        assert both == news[:3] + ["message", "sport", "s1"] + news[3:]
    finally:
        for sub in subs:
            sub.kill()
            sub.wait()


def test_nc_inline_commands(zoo: TwistdProcess) -> None:
    """nc with inline commands (quotes included) subscribes and receives; PING answers."""
    nc = require_tool("nc")
    port = zoo.port("pubsub")
    proc = subprocess.Popen(
        [nc, "127.0.0.1", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b'PING\r\nSUBSCRIBE "norwegian forest"\r\n')
        proc.stdin.flush()
        wait_numsub(port, b"norwegian forest", 1)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as pub:
            pub.sendall(b"PUBLISH 'norwegian forest' fedora\r\n")
            assert recv_exactly(pub, 4) == b":1\r\n"
        want = (
            b"+PONG\r\n*3\r\n$9\r\nsubscribe\r\n$16\r\nnorwegian forest\r\n:1\r\n"
            b"*3\r\n$7\r\nmessage\r\n$16\r\nnorwegian forest\r\n$6\r\nfedora\r\n"
        )
        got = b""
        deadline = time.monotonic() + 5
        while len(got) < len(want) and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.1)[0]:
                got += os.read(proc.stdout.fileno(), 4096)
        assert got == want
    finally:
        proc.kill()
        proc.wait()


TXREDIS_CLIENT = """
import json, sys
from twisted.internet import reactor, defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint
import txredisapi

PORT = int(sys.argv[1])
got = []

class Sub(txredisapi.SubscriberProtocol):
    def messageReceived(self, pattern, channel, message):
        got.append([pattern, channel, message])

class F(txredisapi.SubscriberFactory):
    protocol = Sub

@defer.inlineCallbacks
def main():
    f = F()
    f.charset = None
    f.startConnecting(TCP4ClientEndpoint(reactor, "127.0.0.1", PORT))
    handler = yield f.deferred
    conn = f.pool[0]
    yield conn.subscribe([b"persian"])  # a bare bytes value would be iterated byte by byte
    yield conn.psubscribe([b"maine*"])
    pub = yield txredisapi.Connection("127.0.0.1", PORT)
    n1 = yield pub.publish("persian", "bowler")
    n2 = yield pub.publish("maine coon", "fedora")
    for _ in range(50):
        if len(got) == 2:
            break
        yield task.deferLater(reactor, 0.05, lambda: None)
    yield pub.disconnect()
    yield handler.disconnect()
    print(json.dumps({"counts": [n1, n2], "got": [[x.decode() if x else x for x in m] for m in got]}))

def run():
    d = main()
    d.addErrback(lambda f: (print(f.getTraceback(), file=sys.stderr)))
    d.addBoth(lambda _: reactor.stop())

reactor.callWhenRunning(run)
reactor.run()
"""


def test_txredisapi_client(zoo: TwistdProcess, workdir: Path) -> None:
    """txredisapi 1.6 subscribes, pattern-subscribes and publishes through zoo-pubsub."""
    script = workdir / "txclient.py"
    script.write_text(TXREDIS_CLIENT)
    out = subprocess.run(
        [sys.executable, str(script), str(zoo.port("pubsub"))],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["counts"] == [1, 1]
    assert result["got"] == [[None, "persian", "bowler"], ["maine*", "maine coon", "fedora"]]


# Byte-for-byte comparison with redis-server ----------------------------------------------

# (connection, bytes to send); every reply and pushed message on every connection is
# recorded and must be identical. Avoids what Redis orders by hash (several patterns
# matching one message for one client, PUBSUB CHANNELS, UNSUBSCRIBE of several channels).
SESSION: list[tuple[int, bytes]] = [
    (0, b"*3\r\n$9\r\nSUBSCRIBE\r\n$10\r\nmaine coon\r\n$7\r\npersian\r\n"),
    (1, b"*3\r\n$7\r\nPUBLISH\r\n$10\r\nmaine coon\r\n$9\r\nstovepipe\r\n"),
    (1, b"PUBLISH siamese fedora\r\n"),
    (1, b"publish persian bowler\r\nPUBLISH 'maine coon' \"tam-o-shanter\"\r\n"),
    (0, b"PING\r\nPING hello\r\n"),
    (0, b"PUBLISH persian x\r\nECHO x\r\n"),
    (0, b"UNSUBSCRIBE persian\r\nPSUBSCRIBE norwegian*\r\n"),
    (1, b'PUBLISH "norwegian forest" bowler\r\nPUBLISH persian fedora\r\n'),
    (2, b"*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\n\x00\xff \r\n\r\n"),
    (1, b"*3\r\n$7\r\nPUBLISH\r\n$5\r\n\x00\xff \r\n\r\n$0\r\n\r\n"),
    (2, b"PSUBSCRIBE [a-\xff]\r\n"),
    (1, b"*3\r\n$7\r\nPUBLISH\r\n$1\r\n\x00\r\n$1\r\nz\r\nPUBLISH b y\r\n"),
    (0, b"PUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nPING\r\n"),
    # (multibulk: Redis reads an inline command as a C string and stalls at a NUL byte)
    (
        1,
        b"*5\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$7\r\npersian\r\n$5\r\n\x00\xff \r\n\r\n$1\r\nm\r\n",
    ),
    (1, b"PUBSUB NUMPAT\r\nPUBSUB CHANNELS maine*\r\n"),
    (
        1,
        b"FOO a b\r\nfoo\r\nPUBLISH a\r\nPUBSUB\r\nPUBSUB nope\r\nPUBSUB CHANNELS a b\r\nPUBSUB NUMPAT x\r\n",
    ),
    (1, b"SELECT 0\r\nSELECT x\r\nAUTH secret\r\nHELLO 4\r\nHELLO x\r\nECHO\r\nPING a b\r\n"),
    (1, b"SUBSCRIBE\r\nsubscribe c\r\nECHO x\r\nFOO x\r\nRESET\r\nPING\r\n"),
    (3, b"*1\r\n$4\r\nPING\r\n*1\r\n:1\r\n"),
    (4, b'PING\r\nPUBLISH "unbalanced x\r\n'),
    (5, b"*2\r\n$4\r\nPING\r\n$-5\r\n"),
    (6, b"*abc\r\n"),
    (7, b"*1\r\n\xff\r\n"),
    (2, b"QUIT\r\nPING\r\n"),
]

# The same with RESP3, as redis-py 8 speaks by default.
SESSION3: list[tuple[int, bytes]] = [
    (0, b"HELLO 3\r\n"),
    (0, b"CLIENT GETNAME\r\nUNSUBSCRIBE\r\nSUBSCRIBE a b\r\nPING\r\nPING x\r\n"),
    (0, b"PUBSUB NUMSUB a\r\nPUBSUB NUMPAT\r\nECHO x\r\nPUBLISH a x\r\n"),
    (1, b"PUBLISH a hi\r\nPUBLISH b there\r\n"),
    (0, b"PSUBSCRIBE a*\r\nUNSUBSCRIBE b\r\n"),
    (1, b"PUBLISH a hi\r\nPUBLISH abc x\r\n"),
    (0, b"FOO\r\nHELLO 2\r\nPING\r\nHELLO 3\r\n"),
    (0, b"PUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nRESET\r\nPING\r\nHELLO 4\r\nHELLO\r\n"),
    (1, b"HELLO 3\r\nSUBSCRIBE c\r\nPUBLISH c me\r\nQUIT\r\n"),
]

# Lists (exercise 17.4): pushes, pops, blocking pops served in order, timeouts, errors.
SESSION_LISTS: list[tuple[int, bytes]] = [
    (0, b"DEL a b\r\nRPUSH a x y z\r\nLPUSH a w v\r\nLRANGE a 0 -1\r\nLLEN a\r\nLLEN nope\r\n"),
    (0, b"EXISTS a a nope\r\nLPOP a\r\nRPOP a 2\r\nLPOP a 0\r\nLPOP a -1\r\nLPOP a x\r\n"),
    (0, b"LPOP nope\r\nLPOP nope 2\r\nLPOP nope 0\r\nRPOP a 10\r\nEXISTS a\r\nLPOP a 1\r\n"),
    (0, b"RPUSH\r\nRPUSH a\r\nLPOP\r\nLPOP a 1 2\r\nLRANGE a 0\r\nLRANGE a x 1\r\n"),
    (0, b"LRANGE nope 0 -1\r\nBLPOP a\r\nBLPOP a x\r\nBLPOP a -1\r\nBLPOP a nan\r\n"),
    (0, b'BLPOP a 1e400\r\nBLPOP a inf\r\nBLPOP a 1e5000\r\nBLPOP a 1_0\r\nBLPOP a " 1"\r\n'),
    (0, b"BLPOP a 0.01\r\nBRPOP a 1e-2\r\nBLPOP a 0x1p-6\r\nBRPOP a .02\r\n"),
    (0, b"LPOP a 99999999999999999999\r\nLRANGE a 0 99999999999999999999\r\nDEL\r\nEXISTS\r\n"),
    (0, b"RPUSH l 1 2 3 4 5\r\nLRANGE l -100 100\r\nLRANGE l 2 1\r\nLRANGE l -2 -1\r\n"),
    (0, b"LRANGE l 5 10\r\nLRANGE l -3 -4\r\nBLPOP nope l 0\r\nBRPOP l 0\r\nDEL l l\r\n"),
    (1, b"BLPOP k 0\r\nPING\r\nLLEN k\r\n"),
    (2, b"BRPOP j k 0\r\n"),
    (3, b"BLPOP k j 0\r\n"),
    (0, b"RPUSH k 1 2\r\nLRANGE k 0 -1\r\nEXISTS k\r\n"),
    (0, b"LPUSH j a b\r\nRPUSH k 3 4\r\nLLEN k\r\n"),
    (4, b"BLPOP t 0.05\r\nECHO after\r\n"),
    (5, b"SUBSCRIBE c\r\nRPUSH a 1\r\nLLEN a\r\nBLPOP a 0\r\nRESET\r\nRPUSH a 1\r\n"),
    (
        6,
        b"*3\r\n$5\r\nRPUSH\r\n$3\r\n\x00\xff \r\n$0\r\n\r\n*2\r\n$4\r\nLPOP\r\n$3\r\n\x00\xff \r\n",
    ),
    (7, b"BLPOP q 0\r\nQUIT\r\n"),
    (0, b"rpush q 1\r\nLLEN q\r\n"),
]

# The same lists with RESP3, as redis-py 8 speaks by default.
SESSION_LISTS3: list[tuple[int, bytes]] = [
    (0, b"HELLO 3\r\nLPOP nope\r\nLPOP nope 2\r\nBLPOP nope 0.01\r\nRPUSH a 1\r\n"),
    (0, b"LPOP a 5\r\nLRANGE a 0 -1\r\nRPUSH a 1\r\nBLPOP a 0\r\nEXISTS a\r\n"),
    (1, b"HELLO 3\r\nBRPOP a 0\r\nPING\r\n"),
    (0, b"RPUSH a x\r\nSUBSCRIBE c\r\nRPUSH a y\r\nLLEN a\r\n"),
]


def record(port: int, session: list[tuple[int, bytes]] = SESSION) -> list[list[bytes]]:
    """Play a session on eight connections; client ids (which count connections) become ID."""
    return wirecompare.record(
        port, session, 8, lambda got: re.sub(rb"(\$2\r\nid\r\n):\d+", rb"\1:ID", got)
    )


@pytest.mark.parametrize(
    "session",
    [SESSION, SESSION3, SESSION_LISTS, SESSION_LISTS3],
    ids=["resp2", "resp3", "lists-resp2", "lists-resp3"],
)
def test_byte_identical_to_redis(
    zoo: TwistdProcess, workdir: Path, session: list[tuple[int, bytes]]
) -> None:
    """The same session against redis-server and zoo-pubsub yields the same bytes on every connection."""
    with redis_server(workdir) as redis_port:
        want = record(redis_port, session)
    got = record(zoo.port("pubsub"), session)
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        assert g == w, f"step {i} {session[i]!r}"
    delivered = (
        b"message",
        b"*2\r\n$1\r\n",
    )  # a published message, a (blocking) pop's [key, value]
    assert any(d in b"".join(step) for step in want for d in delivered)  # the session did deliver


# Slow consumers ---------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_non_reading_subscriber_disconnected(workdir: Path) -> None:
    """A subscriber that stops reading is cut off at the hard limit; others get everything; RSS stays bounded."""
    args = ["zoo-pubsub", "--port", "0", "--output-hard-limit", "4mb", "--output-soft-limit", "2mb",
            "--output-soft-seconds", "2"]  # fmt: skip
    with TwistdProcess(args, workdir / "zoo") as zoo:
        port = zoo.port("pubsub")
        assert zoo.proc is not None
        before = rss_kib(zoo.proc.pid)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", port))
        slow.sendall(b"SUBSCRIBE hats\r\n")
        reader = socket.create_connection(("127.0.0.1", port), timeout=10)
        reader.sendall(b"SUBSCRIBE hats\r\n")
        wait_numsub(port, b"hats", 2)
        recv_exactly(reader, len(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nhats\r\n:1\r\n"))
        payload = b"h" * 65536
        frame = b"*3\r\n$7\r\nmessage\r\n$4\r\nhats\r\n$65536\r\n" + payload + b"\r\n"
        count = 400  # 26 MB: far past the 4 MB limit
        received = 0
        peak = 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as pub:
            command = b"*3\r\n$7\r\nPUBLISH\r\n$4\r\nhats\r\n$65536\r\n" + payload + b"\r\n"
            for i in range(count):
                pub.sendall(command)
                assert recv_exactly(pub, 3) in (b":2\r", b":1\r")
                recv_exactly(pub, 1)
                received += len(recv_exactly(reader, len(frame)))
                if i % 20 == 0:
                    peak = max(peak, rss_kib(zoo.proc.pid))
        assert received == count * len(frame)
        wait_numsub(port, b"hats", 1)
        assert "disconnecting slow subscriber" in zoo.output
        assert "hard limit" in zoo.output
        # Without the limit zoo would hold ~26 MB for the slow one; with it, a few MB.
        assert peak - before < 20 * 1024, (before, peak)
        slow.close()
        reader.close()


# Two nodes through Redis --------------------------------------------------------------------


def test_two_nodes_through_redis_with_restart(workdir: Path) -> None:
    """Two nodes share channels through Redis: every message reaches every subscriber exactly once,
    before and after Redis restarts; while it is down, local delivery goes on."""
    import redis

    redis_port = free_port()
    redis_dir = workdir / "redis"
    proc = start_redis(redis_port, redis_dir)
    url = f"redis://127.0.0.1:{redis_port}"
    try:
        with (
            TwistdProcess(["zoo-pubsub", "--port", "0", "--redis", url], workdir / "a") as a,
            TwistdProcess(["zoo-pubsub", "--port", "0", "--redis", url], workdir / "b") as b,
        ):
            ra = redis.Redis(port=a.port("pubsub"))
            rb = redis.Redis(port=b.port("pubsub"))
            subs = {
                "a-chan": ra.pubsub(ignore_subscribe_messages=True),
                "b-chan": rb.pubsub(ignore_subscribe_messages=True),
                "b-pat": rb.pubsub(ignore_subscribe_messages=True),
                "a-both": ra.pubsub(ignore_subscribe_messages=True),
            }
            subs["a-chan"].subscribe("cats")
            subs["b-chan"].subscribe("cats")
            subs["b-pat"].psubscribe("ca*")
            subs["a-both"].subscribe("cats")
            subs["a-both"].psubscribe("c*")
            expected_per_msg = {"a-chan": 1, "b-chan": 1, "b-pat": 1, "a-both": 2}

            def drain(seconds: float) -> dict[str, list[tuple[str | None, bytes]]]:
                got: dict[str, list[tuple[str | None, bytes]]] = {k: [] for k in subs}
                deadline = time.monotonic() + seconds
                for name, ps in subs.items():
                    while True:
                        m = ps.get_message(timeout=max(0.01, deadline - time.monotonic()))
                        if m is None:
                            break
                        got[name].append((m["pattern"] and m["pattern"].decode(), m["data"]))
                return got

            def until_bridged(tag: str) -> None:
                """Publish probes on each node until the other node's subscribers see one."""
                deadline = time.monotonic() + 30
                n = 0
                while time.monotonic() < deadline:
                    n += 1
                    ra.publish("cats", f"{tag}-a-{n}")
                    rb.publish("cats", f"{tag}-b-{n}")
                    got = drain(0.3)
                    if any(d.startswith(f"{tag}-a".encode()) for _, d in got["b-chan"]) and any(
                        d.startswith(f"{tag}-b".encode()) for _, d in got["a-chan"]
                    ):
                        drain(0.3)
                        return
                raise AssertionError(f"nodes not bridged ({tag})\n{a.output}\n{b.output}")

            def check_round(tag: str) -> None:
                sent = []
                for i in range(30):
                    for node, r in (("a", ra), ("b", rb)):
                        body = f"{tag}-{node}-{i}".encode()
                        r.publish("cats", body)
                        sent.append(body)
                got = drain(2.0)
                for name, msgs in got.items():
                    bodies = [d for _, d in msgs]
                    for body in sent:
                        assert bodies.count(body) == expected_per_msg[name], (name, body, bodies)
                    assert len(bodies) == len(sent) * expected_per_msg[name], name

            until_bridged("warmup")
            # Each node subscribed in Redis to exactly what its clients use.
            backbone = redis.Redis(port=redis_port)
            assert backbone.pubsub_channels() == [b"cats"]
            assert dict(backbone.pubsub_numsub("cats")) == {b"cats": 2}
            assert backbone.pubsub_numpat() == 2  # ca* from b, c* from a
            check_round("first")

            proc.kill()
            proc.wait()
            ra.publish("cats", "during-outage")
            got = drain(1.0)
            assert [d for _, d in got["a-chan"]] == [b"during-outage"]
            assert got["b-chan"] == [] and got["b-pat"] == []

            proc = start_redis(redis_port, redis_dir)
            until_bridged("after-restart")
            check_round("second")
            assert "unavailable" in a.output and "unavailable" in b.output
            for ps in subs.values():
                ps.close()
    finally:
        proc.kill()
        proc.wait()


def test_tap_import_does_not_import_txredisapi() -> None:
    """Importing the tap module and parsing --redis import neither txredisapi nor the reactor."""
    code = (
        "import sys\n"
        "from zoo.tap.pubsub import Options\n"
        "o = Options(); o.parseOptions(['--redis', 'redis://127.0.0.1:7000'])\n"
        "print(sorted(m for m in ('txredisapi', 'twisted.internet.reactor') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_half_close_and_garbage(zoo: TwistdProcess) -> None:
    """A client that half-closes still gets its replies; garbage gets an error and a close; the broker stays up."""
    port = zoo.port("pubsub")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"PING\r\nPUBSUB NUMSUB x\r\n")
        s.shutdown(socket.SHUT_WR)
        assert recv_exactly(s, 100) == b"+PONG\r\n*2\r\n$1\r\nx\r\n:0\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"*2\r\n\x00\xff\xfe garbage\r\n")
        assert recv_exactly(s, 100) == b"-ERR Protocol error: expected '$', got '\x00'\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"x" * (70 * 1024))  # an inline command with no end
        assert recv_exactly(s, 100) == b"-ERR Protocol error: too big inline request\r\n"
    probe_pubsub({"host": "127.0.0.1", "port": port})


def test_redis_cli_over_tls(workdir: Path) -> None:
    """With --tls, redis-cli --tls verifies the zoo's development CA and publishes."""
    cli = require_tool("redis-cli")
    with TwistdProcess(["zoo-pubsub", "--port", "0", "--tls"], workdir / "zoo") as zoo:
        ca = workdir / "zoo" / "state" / "tls" / "ca.pem"
        args = [cli, "--tls", "--cacert", str(ca), "-h", "localhost", "-p", str(zoo.port("pubsub"))]
        out = subprocess.run([*args, "ping"], capture_output=True, text=True, timeout=10)
        assert out.stdout.strip() == "PONG", out.stderr
        out = subprocess.run(
            [*args, "publish", "x", "y"], capture_output=True, text=True, timeout=10
        )
        assert out.stdout.strip() == "0", out.stderr


def test_list_caps_from_the_command_line(workdir: Path) -> None:
    """--max-keys and --max-list-memory hold: redis-py gets Redis's OOM error, nothing changes."""
    import redis

    args = ["zoo-pubsub", "--port", "0", "--max-keys", "2", "--max-list-memory", "1kb"]
    with TwistdProcess(args, workdir / "zoo") as z:
        conn = redis.Redis(port=z.port("pubsub"))
        conn.rpush("a", "x")
        conn.rpush("b", "y")
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            conn.rpush("c", "z")
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            conn.rpush("a", "x" * 1024)
        assert conn.exists("a", "b", "c") == 2 and conn.llen("a") == 1
