"""zoo-exercises over real sockets: the books' own client programs, then bad input.

The clients in books/ are the books' listings (Python 3 ports of the 2nd edition of
FOPNP; Introducing Python as printed), with only the port taken from C{ZOO_PORT}.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from probes import probe

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

BOOKS = Path(__file__).parent / "books"

ALL = [
    "zoo-exercises",
    "--hey-port", "0", "--length-port", "0", "--sixteen-port", "0", "--streamer-port", "0",
]  # fmt: skip


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory):
    with TwistdProcess(ALL, tmp_path_factory.mktemp("exercises")) as z:
        yield z


def ports(zoo: TwistdProcess) -> dict[str, int]:
    """Each exercise's port: the ready file lists hey (TCP, UDP), length, sixteen, streamer."""
    return {
        "hey": zoo.port("exercises", "TCP", 0),
        "hey-udp": zoo.port("exercises", "UDP", 0),
        "length": zoo.port("exercises", "UDP", 1),
        "sixteen": zoo.port("exercises", "TCP", 1),
        "streamer": zoo.port("exercises", "TCP", 2),
    }


def run_book(script: str, port: int, *args: str, timeout: float = 20) -> str:
    """Run one of the books' client programs against C{port}; return what it printed."""
    out = subprocess.run(
        [sys.executable, str(BOOKS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "ZOO_PORT": str(port)},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def wait_for_log(zoo: TwistdProcess, text: str, timeout: float = 5) -> str:
    """Wait until twistd's log contains C{text}; return the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in zoo.output:
            return zoo.output
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log:\n{zoo.output}")


def test_introducing_python_tcp_client(zoo: TwistdProcess) -> None:
    """tcp_client.py prints 'someone replied b'Are you talking to me?''."""
    out = run_book("ip_tcp_client.py", ports(zoo)["hey"])
    assert re.search(r"^At .* someone replied b'Are you talking to me\?'$", out, re.M), out


def test_introducing_python_udp_client(zoo: TwistdProcess) -> None:
    """udp_client.py gets 'Are you talking to me?' from the server's address."""
    port = ports(zoo)["hey-udp"]
    out = run_book("ip_udp_client.py", port)
    assert f"('127.0.0.1', {port}) said b'Are you talking to me?'" in out, out


def test_udp_local_client(zoo: TwistdProcess) -> None:
    """udp_local.py client prints the book's three lines, the reply counting its 18 bytes."""
    port = ports(zoo)["length"]
    lines = run_book("udp_local.py", port, "client").splitlines()
    assert lines[0] == "Address before sending: ('0.0.0.0', 0)"
    assert re.fullmatch(r"Address after sending \('0\.0\.0\.0', \d+\)", lines[1])
    assert lines[2] == f"The server ('127.0.0.1', {port}) says b'Your data was 18 bytes'"


def test_tcp_sixteen_client(zoo: TwistdProcess) -> None:
    """tcp_sixteen.py client gets 'Farewell, client'; the server logs the book's line."""
    out = run_book("tcp_sixteen.py", ports(zoo)["sixteen"], "client")
    assert out.splitlines()[-1] == "The server said b'Farewell, client'"
    wait_for_log(zoo, "The incoming sixteen-octet message says b'Hi there, server'")


def test_streamer_client(zoo: TwistdProcess) -> None:
    """streamer.py client's three lines arrive whole; the server logs them at end-of-file."""
    run_book("streamer.py", ports(zoo)["streamer"], "client")
    log = wait_for_log(zoo, "Simple is better than complex.")
    assert "Done receiving the message; it says:" in log
    start = log.index("Done receiving the message; it says:")
    text = log[start:].split("\n")[1:4]
    assert [t.strip() for t in text] == [
        "Beautiful is better than ugly.",
        "Explicit is better than implicit.",
        "Simple is better than complex.",
    ]


def test_streamer_server_shuts_its_write_side_at_accept(zoo: TwistdProcess) -> None:
    """Before the client sends anything, a read sees end-of-file: the server shut its side."""
    with socket.create_connection(("127.0.0.1", ports(zoo)["streamer"]), timeout=5) as s:
        assert s.recv(100) == b""
        s.sendall(b"still heard\n")  # the read side of the server is open
    wait_for_log(zoo, "still heard")


def test_udp_remote_backoff_with_drops(tmp_path: Path) -> None:
    """With --drop-first 3, udp_remote.py waits 0.1, 0.2, 0.4, 0.8 s, then gets its reply."""
    args = ["zoo-exercises", "--exercise", "length", "--length-port", "0", "--drop-first", "3"]
    with TwistdProcess(args, tmp_path) as z:
        out = run_book("udp_remote.py", z.port("exercises", "UDP"), "client", "127.0.0.1")
        assert z.output.count("Pretending to drop packet from") == 3
    lines = out.splitlines()
    assert re.fullmatch(r"Client socket name is \('127\.0\.0\.1', \d+\)", lines[0])
    assert lines[1:] == [
        "Waiting up to 0.1 seconds for a reply",
        "Waiting up to 0.2 seconds for a reply",
        "Waiting up to 0.4 seconds for a reply",
        "Waiting up to 0.8 seconds for a reply",
        "The server says b'Your data was 23 bytes'",
    ]


def test_udp_remote_gives_up_when_every_datagram_drops(tmp_path: Path) -> None:
    """With --drop-rate 1 the client's backoff passes 2 s and it raises the book's error."""
    args = ["zoo-exercises", "--exercise", "length", "--length-port", "0", "--drop-rate", "1"]
    with TwistdProcess(args, tmp_path) as z:
        out = subprocess.run(
            [sys.executable, str(BOOKS / "udp_remote.py"), "client", "127.0.0.1"],
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, "ZOO_PORT": str(z.port("exercises", "UDP"))},
        )
    assert out.returncode == 1
    assert "RuntimeError: I think the server is down!" in out.stderr
    assert out.stdout.count("Waiting up to") == 5


def test_oversized_and_garbage_datagrams(zoo: TwistdProcess) -> None:
    """The largest UDP datagram is counted whole; garbage gets the usual replies."""
    p = ports(zoo)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"\xff" * 65507, ("127.0.0.1", p["length"]))
        assert s.recv(100) == b"Your data was 65507 bytes"
        s.sendto(b"", ("127.0.0.1", p["length"]))
        assert s.recv(100) == b"Your data was 0 bytes"
        s.sendto(os.urandom(9000), ("127.0.0.1", p["hey-udp"]))
        assert s.recv(100) == b"Are you talking to me?"


def test_sixteen_short_message_then_half_close(zoo: TwistdProcess) -> None:
    """Five bytes then EOF: the server closes, logging the book's EOFError words."""
    with socket.create_connection(("127.0.0.1", ports(zoo)["sixteen"]), timeout=5) as s:
        s.sendall(b"Hi th")
        s.shutdown(socket.SHUT_WR)
        assert s.recv(100) == b""
    wait_for_log(zoo, "socket closed 5 bytes into a 16-byte message")


def test_hey_half_close_without_a_request(zoo: TwistdProcess) -> None:
    """A client that shuts its write side without a word is closed, not answered."""
    with socket.create_connection(("127.0.0.1", ports(zoo)["hey"]), timeout=5) as s:
        s.shutdown(socket.SHUT_WR)
        assert s.recv(100) == b""
    wait_for_log(zoo, "closed without saying anything")


def test_non_reading_clients_do_not_stop_the_server(zoo: TwistdProcess) -> None:
    """Clients that send a lot and never read leave every exercise answering."""
    p = ports(zoo)
    hogs = []
    for name in ("hey", "sixteen", "streamer"):
        s = socket.create_connection(("127.0.0.1", p[name]), timeout=5)
        s.setblocking(False)
        try:
            for _ in range(64):
                s.send(b"x" * 65536)
        except (BlockingIOError, ConnectionResetError, BrokenPipeError):
            pass
        hogs.append(s)
    try:
        assert "someone replied b'Are you talking to me?'" in run_book("ip_tcp_client.py", p["hey"])
        assert "Farewell, client" in run_book("tcp_sixteen.py", p["sixteen"], "client")
    finally:
        for s in hogs:
            s.close()
    assert "Traceback" not in zoo.output


def test_every_listener_probes(zoo: TwistdProcess) -> None:
    """The shared probe accepts each of the five listeners, and the log has no traceback."""
    for entry in zoo.listeners:
        probe(entry)
    assert "Traceback" not in zoo.output


def test_tls(tmp_path: Path) -> None:
    """With --tls, hey and sixteen answer over TLS; a streamer client's close_notify is its EOF."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with TwistdProcess(["zoo-exercises", "--port", "0", "--tls"], tmp_path) as z:
        p = ports(z)
        for name, request, reply in [
            ("hey", b"Hey!", b"Are you talking to me?"),
            ("sixteen", b"Hi there, server", b"Farewell, client"),
        ]:
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", p[name]), timeout=5)) as s:
                s.sendall(request)
                got = b""
                while chunk := s.recv(100):
                    got += chunk
                assert got == reply
        with ctx.wrap_socket(
            socket.create_connection(("127.0.0.1", p["streamer"]), timeout=5)
        ) as s:
            s.sendall(b"Beautiful is better than ugly.\n")
            s.unwrap()  # close_notify: the end of the stream
        wait_for_log(z, "Done receiving the message; it says:")
        assert "Traceback" not in z.output
