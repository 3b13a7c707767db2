"""zoo-zmq and zoo-msgpackrpc over real sockets: pyzmq (libzmq) peers, the books' programs, bad input.

One C{twistd -n zoo} runs zoo-zmq, zoo-msgpackrpc and the zoo-pubsub that the bridge
endpoint republishes. The programs in books/ are the books' listings with only the
ports taken from the environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import zmq
from probes import probe

from zoo.testing import TwistdProcess
from zoo.zmq import ENDPOINTS, books, codec

pytestmark = pytest.mark.integration

BOOKS = Path(__file__).parent / "books"
NAMES = list(ENDPOINTS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwistdProcess]:
    redis_port = _free_port()
    args = [
        "zoo", "--admin", "off",
        "--with", f"pubsub --port {redis_port}",
        "--with", f"zmq --port 0 --bridge-redis redis://127.0.0.1:{redis_port} "
                  "--cats-interval 0.05 --poem-interval 0.02 --fountain-interval 0.05 "
                  "--max-message 65536",
        "--with", "msgpackrpc --port 0",
    ]  # fmt: skip
    with TwistdProcess(args, tmp_path_factory.mktemp("zmq")) as z:
        z.redis_port = redis_port  # type: ignore[attr-defined]
        yield z


def port(zoo: TwistdProcess, name: str) -> int:
    return zoo.port("zmq", "TCP", NAMES.index(name))


def run_book(script: str, env: dict[str, str], *args: str, timeout: float = 30) -> str:
    """Run one of the books' programs to its end; return what it printed."""
    out = subprocess.run(
        [sys.executable, str(BOOKS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def first_lines(script: str, env: dict[str, str], count: int, *args: str) -> list[str]:
    """Start a program that runs forever, read its first C{count} lines, stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-u", str(BOOKS / script), *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while len(lines) < count and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
    finally:
        proc.kill()
        proc.wait()
    assert len(lines) == count, lines
    return lines


def test_every_listener_answers_its_probe(zoo: TwistdProcess) -> None:
    """Each zoo-zmq endpoint and zoo-msgpackrpc pass the probe the torture test uses."""
    entries = [e for e in zoo.listeners if e["service"] in ("zmq", "msgpackrpc")]
    assert len(entries) == len(NAMES) + 1
    for entry in entries:
        probe(entry)


def test_zmq_client(zoo: TwistdProcess) -> None:
    """zmq_client.py prints the five lines of zmq_server.py's answers (the colon included)."""
    out = run_book("zmq_client.py", {"ZOO_PORT": str(port(zoo, "reply"))})
    assert out.splitlines() == [
        f"Sent message #{n}, received Stop saying: message #{n}" for n in range(1, 6)
    ]


def test_exercise_17_2_time(zoo: TwistdProcess) -> None:
    """Exercise 17.2's REQ gets the ISO date and time, within a few seconds of ours."""
    out = run_book("zmq_time_client.py", {"ZOO_PORT": str(port(zoo, "time"))}).strip()
    assert abs(datetime.fromisoformat(out).timestamp() - time.time()) < 5, out


def test_zmq_sub_gets_only_its_cats(zoo: TwistdProcess) -> None:
    """zmq_sub.py prints only maine coons and persians, each wearing one of the hats."""
    lines = first_lines("zmq_sub.py", {"ZOO_PORT": str(port(zoo, "cats"))}, 8)
    for line in lines:
        cat, hat = line.removeprefix("Subscribe: ").split(" wears a ")
        assert cat in ("maine coon", "persian") and hat in books.HATS, line


@pytest.mark.parametrize("topic", ["vowels", "five"])
def test_exercise_17_5_consumers(zoo: TwistdProcess, topic: str) -> None:
    """Each consumer prints the poem's words of its kind in order (from wherever it joined)."""
    expected = [w.decode() for t, w in books.poem_messages() if t.decode() == topic]
    lines = first_lines("zmq_poem_sub.py", {"ZOO_PORT": str(port(zoo, "poem"))}, 12, topic)
    cycle = expected * 2
    starts = [i for i in range(len(expected)) if cycle[i : i + len(lines)] == lines]
    assert starts, lines


def test_queuecrazy(zoo: TwistdProcess) -> None:
    """queuecrazy.py's processors pull words and get them back upper- and lower-cased, in turn."""
    url = "tcp://127.0.0.1:%d"
    out = run_book(
        "queuecrazy.py",
        {
            "ZOO_FOUNTAIN": url % port(zoo, "fountain"),
            "ZOO_UPPER": url % port(zoo, "upper"),
            "ZOO_LOWER": url % port(zoo, "lower"),
            "ZOO_SECONDS": "2",
        },
    )
    words = set(books.builtin_words())
    lines = [line.split(" ", 1) for line in out.splitlines()]
    assert len(lines) >= 6, out
    assert {n for n, _ in lines} == {"1", "2", "3"}, out  # the fountain deals to all three
    assert all(w.lower() in words for _, w in lines), out
    cased = [w for _, w in lines if w.upper() != w.lower()]
    assert any(w.isupper() for w in cased) and any(w.islower() for w in cased), out


def test_pubsub_bridge_feeds_zmq_sub(zoo: TwistdProcess) -> None:
    """redis_pub.py publishing to zoo-pubsub reaches zmq_sub.py through the bridge endpoint."""
    proc = subprocess.Popen(
        [sys.executable, "-u", str(BOOKS / "zmq_sub.py")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "ZOO_PORT": str(port(zoo, "bridge"))},
    )
    try:
        time.sleep(1.5)  # the book's slow joiner: subscribe before anything is published
        published = []
        for _ in range(5):  # until at least one of the ten is a maine coon or a persian
            out = run_book("redis_pub.py", {"ZOO_PORT": str(zoo.redis_port)})  # type: ignore[attr-defined]
            published += [
                line.replace("Publish:", "Subscribe:")
                for line in out.splitlines()
                if line.startswith(("Publish: maine coon ", "Publish: persian "))
            ]
            if published:
                break
        assert proc.stdout is not None
        got = [proc.stdout.readline().rstrip("\n") for _ in published]
    finally:
        proc.kill()
        proc.wait()
    assert got == published


def _raw_peer(port_: int, minor: int, kind: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port_), timeout=5)
    s.sendall(codec.greeting(minor) + codec.ready(kind))
    return s


def _read_items(s: socket.socket, count: int) -> list[tuple[bool, object]]:
    decoder = codec.Decoder()
    data = b""
    while len(data) < 64:
        data += s.recv(4096)
    items = decoder.feed(data[64:])
    while len(items) < count:
        chunk = s.recv(4096)
        assert chunk, items
        items += decoder.feed(chunk)
    return items


def test_zmtp_30_subscriber_by_hand(zoo: TwistdProcess) -> None:
    """A ZMTP 3.0 SUB (greeting minor 0, subscription as a message) gets only its topic."""
    with _raw_peer(port(zoo, "cats"), 0, b"SUB") as s:
        s.sendall(codec.message([b"\x01persian"]))
        items = _read_items(s, 4)
    assert items[0][0] is True  # READY
    messages = [parts for is_command, parts in items[1:]]
    assert all(parts[0] == b"persian" and len(parts) == 2 for parts in messages), messages  # type: ignore[index]


def test_pyzmq_dealer_and_pull(zoo: TwistdProcess) -> None:
    """A pyzmq DEALER gets REP's reply behind the delimiter; two PULLs share the fountain."""
    ctx = zmq.Context()
    try:
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(f"tcp://127.0.0.1:{port(zoo, 'upper')}")
        dealer.send_multipart([b"", b"zip"])
        assert dealer.poll(5000)
        assert dealer.recv_multipart() == [b"", b"ZIP"]
        pulls = [ctx.socket(zmq.PULL) for _ in range(2)]
        for p in pulls:
            p.connect(f"tcp://127.0.0.1:{port(zoo, 'fountain')}")
        for p in pulls:
            assert p.poll(5000), "the fountain never reached this PULL"
            assert p.recv().decode() in books.builtin_words()
    finally:
        ctx.destroy(linger=0)


def test_malformed_greeting_and_oversized_frame(zoo: TwistdProcess) -> None:
    """Garbage instead of a greeting is closed; a frame over --max-message gets ERROR and a close;
    the endpoint goes on answering."""
    with socket.create_connection(("127.0.0.1", port(zoo, "reply")), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")
        got = b""
        while chunk := s.recv(4096):
            got += chunk
        assert got == codec.greeting(1)
    with _raw_peer(port(zoo, "reply"), 1, b"REQ") as s:
        s.sendall(b"\x02" + (1 << 30).to_bytes(8, "big") + b"x" * 1000)
        items = _read_items(s, 2)
        name, data = codec.split_command(items[1][1])  # type: ignore[arg-type]
        assert name == b"ERROR" and b"too large" in data
        assert s.recv(4096) == b""
    test_zmq_client(zoo)


def test_msgpack_client(zoo: TwistdProcess) -> None:
    """msgpack_client.py prints 'Double 8 is 16'."""
    out = run_book("msgpack_client.py", {"ZOO_PORT": str(zoo.port("msgpackrpc"))})
    assert out == "Double 8 is 16\n"


def test_msgpack_rpc_python_client(
    zoo: TwistdProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The book's own library, msgpack-rpc-python 0.4.1 (old raw strings, tornado 4), prints
    'Double 8 is 16'. It needs msgpack-python 0.5, whose `msgpack` module would replace
    zoo's, so pip installs it (from PyPI) into a folder of its own for this one program."""
    legacy = tmp_path_factory.mktemp("msgpack-rpc-python")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(legacy),
         "msgpack-rpc-python==0.4.1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    out = run_book(
        "msgpack_client_book.py",
        {"ZOO_PORT": str(zoo.port("msgpackrpc")), "PYTHONPATH": str(legacy)},
    )
    assert out == "Double 8 is 16\n"


def test_zerorpc_client(zoo: TwistdProcess) -> None:
    """zerorpc_client.py (the real zerorpc, on gevent and pyzmq) prints 'Double 7 is 14'."""
    out = run_book("zerorpc_client.py", {"ZOO_PORT": str(port(zoo, "zerorpc"))})
    assert out == "Double 7 is 14\n"


def test_zerorpc_command_lists_the_methods(zoo: TwistdProcess) -> None:
    """zerorpc's own command, given only the address, lists the methods (_zerorpc_inspect)."""
    command = Path(sys.executable).parent / "zerorpc"
    out = subprocess.run(
        [str(command), f"tcp://127.0.0.1:{port(zoo, 'zerorpc')}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "[zoo]" in out.stdout and "double      Return twice `num`" in out.stdout, out.stdout


def test_no_traceback_in_the_log(zoo: TwistdProcess) -> None:
    """After everything above, the log holds no traceback."""
    assert "Traceback" not in zoo.output, zoo.output


def test_events_sessions_and_transcripts_with_the_control_plane(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """With --admin: zmq.message and rpc.called (zerorpc, msgpack-rpc) events, sessions and
    transcripts of the ZMTP bytes, through the control plane's API."""
    import json
    import urllib.request

    args = [
        "zoo", "--admin", "0",
        "--with", "zmq --port 0 --endpoint reply --endpoint zerorpc",
        "--with", "msgpackrpc --port 0",
    ]  # fmt: skip
    with TwistdProcess(args, tmp_path_factory.mktemp("zmq-observed")) as z:
        base, token = z.admin()

        def events(query: str) -> list[dict[str, object]]:
            request = urllib.request.Request(
                f"{base}/api/events?{query}", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.loads(answer.read())["events"]  # type: ignore[no-any-return]

        run_book("zmq_client.py", {"ZOO_PORT": str(z.port("zmq", "TCP", 0))})
        run_book("zerorpc_client.py", {"ZOO_PORT": str(z.port("zmq", "TCP", 1))})
        run_book("msgpack_client.py", {"ZOO_PORT": str(z.port("msgpackrpc"))})
        time.sleep(0.5)
        messages = events("service=zmq&kind=zmq.message&match.endpoint=reply")
        assert [e["fields"]["parts"] for e in messages][:2] == [  # type: ignore[index]
            ["message #1"],
            ["Stop saying: message #1"],
        ]
        calls = events("kind=rpc.called")
        assert {(e["service"], e["fields"]["protocol"]) for e in calls} == {  # type: ignore[index]
            ("zmq", "zerorpc"),
            ("msgpackrpc", "msgpack-rpc"),
        }
        assert all(e["fields"]["result"] == 2 * e["fields"]["params"][0] for e in calls)  # type: ignore[index]
        session = messages[0]["session"]
        assert session and events(f"session={session}&kind=session.opened")
        wire = events(f"session={session}&kind=wire.")
        assert wire and any("Stop saying" in json.dumps(e["fields"]) for e in wire), wire
