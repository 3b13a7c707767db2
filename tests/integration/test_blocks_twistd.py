"""zoo-blocks over real sockets: the book's client, nc, oversized and truncated frames."""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
from conftest import require_tool
from probes import probe

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

BOOK = [
    b"Beautiful is better than ugly.",
    b"Explicit is better than implicit.",
    b"Simple is better than complex.",
]
HEADER = struct.Struct("!I")


def put(sock: socket.socket, message: bytes) -> None:
    """The book's put(), with sendall."""
    sock.sendall(HEADER.pack(len(message)) + message)


def recv_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(1 << 16):
        out += chunk
    return out


def wait_for(zoo: TwistdProcess, text: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while text not in zoo.output and time.monotonic() < deadline:
        time.sleep(0.05)
    return zoo.output


def test_book_client_sink(workdir: Path) -> None:
    """The book's blocks.py client (SHUT_RD, three puts, empty put): three messages logged."""
    with TwistdProcess(["zoo-blocks", "--port", "0"], workdir) as zoo:
        with socket.create_connection(("127.0.0.1", zoo.port("blocks")), timeout=5) as s:
            s.shutdown(socket.SHUT_RD)
            for m in BOOK:
                put(s, m)
            put(s, b"")
        out = wait_for(zoo, "closed after 3 blocks")
        for m in BOOK:
            assert f"Message says: {m.decode()!r}" in out
        assert "end of series (3 blocks)" in out
        probe(zoo.listeners[0])


def test_nc_echo_mode(workdir: Path) -> None:
    """nc sending the book's exact bytes gets them back framed in echo mode."""
    nc = require_tool("nc")
    stream = b"".join(HEADER.pack(len(m)) + m for m in BOOK) + HEADER.pack(0)
    with TwistdProcess(["zoo-blocks", "--port", "0", "--mode", "echo"], workdir) as zoo:
        out = subprocess.run(
            [nc, "-N", "127.0.0.1", str(zoo.port())], input=stream, capture_output=True, timeout=30
        )
    assert out.stdout == stream


def test_large_block_echo(workdir: Path) -> None:
    """An 8 MiB block (far above Twisted's 99,999-byte limit) comes back whole."""
    body = bytes(range(256)) * (8 * 4096)
    with TwistdProcess(["zoo-blocks", "--port", "0", "--mode", "echo"], workdir) as zoo:
        with socket.create_connection(("127.0.0.1", zoo.port()), timeout=30) as s:
            import threading

            got: list[bytes] = []
            t = threading.Thread(target=lambda: got.append(recv_all(s)))
            t.start()
            put(s, body)
            s.shutdown(socket.SHUT_WR)
            t.join(60)
    assert got == [HEADER.pack(len(body)) + body]


def test_oversized_header(workdir: Path) -> None:
    """A header above --max-block gets a framed error, the connection closes, others carry on."""
    with TwistdProcess(
        ["zoo-blocks", "--port", "0", "--mode", "echo", "--max-block", "1000"], workdir
    ) as zoo:
        port = zoo.port()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as other:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(HEADER.pack(5000) + b"x" * 100)
                got = recv_all(s)
            message = b"error: block of 5000 bytes is larger than the limit of 1000 bytes"
            assert got == HEADER.pack(len(message)) + message
            put(other, b"fine")
            assert other.recv(100) == HEADER.pack(4) + b"fine"
        assert "block of 5000 bytes is larger than the limit" in wait_for(zoo, "5000 bytes")


@pytest.mark.parametrize(
    "sent, message",
    [
        (b"\x00\x00", "socket closed 2 bytes into a 4-byte message"),
        (HEADER.pack(30) + b"Beautiful", "socket closed 9 bytes into a 30-byte message"),
    ],
)
def test_truncated(workdir: Path, sent: bytes, message: str) -> None:
    """EOF inside a header or body is logged as the book's EOFError; the server stays up."""
    with TwistdProcess(["zoo-blocks", "--port", "0"], workdir) as zoo:
        with socket.create_connection(("127.0.0.1", zoo.port()), timeout=5) as s:
            s.sendall(sent)
        assert f"EOFError: {message}" in wait_for(zoo, message)
        probe(zoo.listeners[0])
