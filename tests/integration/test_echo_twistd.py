"""zoo-echo over real sockets: nc, half-close, UDP, and a 100 MiB client that never reads."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import require_tool
from probes import probe

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

MiB = 1 << 20


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB, from /proc/PID/status."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def echo_back(port: int, data: bytes) -> bytes:
    """Send everything, half-close, read to EOF (reading and writing concurrently)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        got = bytearray()

        def reader() -> None:
            while chunk := s.recv(1 << 16):
                got.extend(chunk)

        t = threading.Thread(target=reader)
        t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join(30)
        assert not t.is_alive(), "server never closed"
        return bytes(got)


def test_nc_half_close(workdir: Path) -> None:
    """nc -N sends its input and shuts down writing; every byte comes back, then EOF."""
    nc = require_tool("nc")
    data = os.urandom(300_000)
    with TwistdProcess(["zoo-echo", "--port", "0"], workdir) as zoo:
        out = subprocess.run(
            [nc, "-N", "127.0.0.1", str(zoo.port("echo"))],
            input=data,
            capture_output=True,
            timeout=30,
        )
    assert out.stdout == data


def test_udp_nc_and_socat(workdir: Path) -> None:
    """Over UDP (--udp), nc and socat each get their datagram back; TCP still works."""
    nc = require_tool("nc")
    socat = require_tool("socat")
    with TwistdProcess(["zoo-echo", "--port", "0", "--udp", "0"], workdir) as zoo:
        udp = zoo.port("echo", "UDP")
        out = subprocess.run(
            [nc, "-u", "-w1", "127.0.0.1", str(udp)], input=b"Hey!", capture_output=True, timeout=10
        )
        assert out.stdout == b"Hey!"
        out = subprocess.run(
            [socat, "-T2", "-", f"UDP:127.0.0.1:{udp}"],
            input=b"are you talking to me?",
            capture_output=True,
            timeout=10,
        )
        assert out.stdout == b"are you talking to me?"
        for entry in zoo.listeners:
            probe(entry)


def test_udp_public_refused(workdir: Path) -> None:
    """--udp on 0.0.0.0 without --udp-public is refused with a one-line error."""
    from zoo.testing import run_twistd

    out = run_twistd(["-n", "--pidfile=", "zoo-echo", "--udp", "0", "--interface", "0.0.0.0"])
    assert out.returncode == 2
    assert "--udp-public" in out.stderr and "Traceback" not in out.stderr


def test_upper_tcp_deadlock_client(workdir: Path) -> None:
    """The book's tcp_deadlock.py client: 32 bytes, SHUT_WR, exactly the upper-cased 32 back."""
    with TwistdProcess(["zoo-echo", "--port", "0", "--upper"], workdir) as zoo:
        port = zoo.port()
        assert echo_back(port, b"capitalize this!" * 2) == b"CAPITALIZE THIS!CAPITALIZE THIS!"
        big = b"capitalize this!" * (MiB // 16)
        assert echo_back(port, big) == big.upper()
    assert "completed processing" in zoo.output


def test_non_reading_client_bounded_then_intact(workdir: Path) -> None:
    """A client sending 100 MiB without reading stalls with server RSS bounded; then all comes back."""
    total = 100 * MiB
    block = os.urandom(MiB)
    with TwistdProcess(["zoo-echo", "--port", "0"], workdir) as zoo:
        pid = zoo.proc.pid
        port = zoo.port()
        before = rss_kib(pid)["VmRSS"]
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        sent = 0
        s.setblocking(False)
        stalled_since = None
        while sent < total:  # write until the server stops reading us
            try:
                sent += s.send(memoryview(block)[sent % MiB :])
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 1.0:
                    break
                time.sleep(0.01)
        stalled = rss_kib(pid)
        growth = stalled["VmRSS"] - before
        assert growth < 16 * 1024, f"server RSS grew {growth} KiB while the client did not read"
        assert sent < total, "the server read 100 MiB without anyone reading the echo"
        # While this client is stalled, others are served.
        assert echo_back(port, b"still here") == b"still here"

        # Now read everything back while sending the rest.
        s.setblocking(True)
        digest, received = hashlib.sha256(), 0

        def reader() -> None:
            nonlocal received
            while chunk := s.recv(1 << 18):
                digest.update(chunk)
                received += len(chunk)

        t = threading.Thread(target=reader)
        t.start()
        while sent < total:
            sent += s.send(memoryview(block)[sent % MiB :])
        s.shutdown(socket.SHUT_WR)
        t.join(120)
        s.close()
        after = rss_kib(pid)
    growth = stalled["VmRSS"] - before
    print("RSS", before, stalled, after, sent)
    assert growth < 16 * 1024, f"server RSS grew {growth} KiB while the client did not read"
    assert after["VmHWM"] - before < 32 * 1024, (before, stalled, after)
    assert received == total
    assert digest.hexdigest() == hashlib.sha256(block * 100).hexdigest()


def test_tls_echo(workdir: Path) -> None:
    """With --tls, echoed bytes go back through TLS (fast_writer must not bypass it)."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with TwistdProcess(["zoo-echo", "--port", "0", "--tls"], workdir) as zoo:
        raw = socket.create_connection(("127.0.0.1", zoo.port()), timeout=10)
        with ctx.wrap_socket(raw) as s:
            for size in (5, 200_000):
                data = os.urandom(size)
                s.sendall(data)
                got = b""
                while len(got) < size:
                    chunk = s.recv(1 << 16)
                    assert chunk, "server closed"
                    got += chunk
                assert got == data
