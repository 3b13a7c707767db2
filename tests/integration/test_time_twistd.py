"""zoo-time over real sockets: rdate over TCP and UDP, nc, the book's UDP client."""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
from conftest import require_tool
from probes import probe
from slowclients import flood_without_reading, rss_kib

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

ALL = [
    "zoo-time",
    "--port", "0", "--rfc868-port", "0", "--daytime-port", "0",
    "--udp", "0", "--rfc868-udp", "0", "--daytime-udp", "0",
]  # fmt: skip


def rdate_time(stdout: str) -> float:
    """rdate -p prints the remote time as ctime() in the local zone, e.g. 'Sat Nov 21 06:28:53 2026'."""
    line = stdout.strip().splitlines()[-1]
    for fmt in ("%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M:%S %Z %Y"):
        try:
            return datetime.strptime(line.split(": ", 1)[-1], fmt).timestamp()
        except ValueError:
            continue
    return parsedate_to_datetime(line).timestamp()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory):
    with TwistdProcess(ALL, tmp_path_factory.mktemp("time")) as z:
        yield z


@pytest.mark.parametrize("udp", [False, True])
def test_rdate(zoo: TwistdProcess, udp: bool) -> None:
    """Debian's rdate -p (print only, set nothing) shows the right time over TCP and UDP (-u)."""
    rdate = require_tool("rdate")
    port = zoo.port("time", "UDP" if udp else "TCP", index=1)
    args = [rdate, "-p", *(["-u"] if udp else []), "-o", str(port), "127.0.0.1"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=20, env={"TZ": "UTC"})
    assert out.returncode == 0, out.stderr
    assert abs(rdate_time(out.stdout) - time.time()) < 5, out.stdout


def test_nc_iso(zoo: TwistdProcess) -> None:
    """nc: 'time' lines get ISO times with the same line ending; other lines a clear error."""
    nc = require_tool("nc")
    out = subprocess.run(
        [nc, "-N", "127.0.0.1", str(zoo.port("time", index=0))],
        input=b"time\r\nwhat time is it\r\ntime\n",
        capture_output=True,
        timeout=10,
    )
    first, error, last, rest = out.stdout.split(b"\n")
    assert rest == b""
    assert first.endswith(b"\r") and not last.endswith(b"\r")
    assert error == b"error: unknown request 'what time is it'; send 'time'\r"
    for line in (first, last):
        when = datetime.fromisoformat(line.decode().strip())
        assert when.utcoffset().total_seconds() == 0
        assert abs(when.timestamp() - time.time()) < 5


@pytest.mark.parametrize("request_line", [b"time\n", b"x\n"])
def test_iso_client_that_never_reads(zoo: TwistdProcess, request_line: bytes) -> None:
    """30 MB of requests (good, or bad ones whose error replies are 25x longer), no reply
    read: the server stops reading and stays small (bad ones grew it by 515 MB before)."""
    assert zoo.proc is not None
    before = rss_kib(zoo.proc.pid)
    flood_without_reading(zoo.port("time"), request_line)
    grown = rss_kib(zoo.proc.pid) - before
    assert grown < 16 * 1024, f"server grew by {grown} KiB"
    with socket.create_connection(("127.0.0.1", zoo.port("time")), timeout=10) as s:
        s.sendall(b"time\n")
        assert s.recv(100).endswith(b"+00:00\n")


def test_book_udp_client(zoo: TwistdProcess) -> None:
    """The exercise's UDP client: send b'time', get one datagram fromisoformat() parses."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"time", ("127.0.0.1", zoo.port("time", "UDP", index=0)))
        data, server = s.recvfrom(4096)
    assert abs(datetime.fromisoformat(data.decode()).timestamp() - time.time()) < 5


def test_book_tcp_client(zoo: TwistdProcess) -> None:
    """A recv()-once TCP client sending bare b'time' gets exactly the ISO string."""
    with socket.create_connection(("127.0.0.1", zoo.port("time", index=0)), timeout=5) as s:
        s.sendall(b"time")
        data = s.recv(1000)
    assert datetime.fromisoformat(data.decode()).tzinfo is not None


def test_daytime_nc(zoo: TwistdProcess) -> None:
    """Daytime over TCP (nc -N: FIN at once) and UDP (socat): one RFC 867 line, current UTC time."""
    nc = require_tool("nc")
    socat = require_tool("socat")
    tcp = subprocess.run(
        [nc, "-N", "127.0.0.1", str(zoo.port("time", index=2))],
        capture_output=True,
        timeout=10,
        stdin=subprocess.DEVNULL,
    ).stdout
    udp = subprocess.run(
        [socat, "-T2", "-", f"UDP:127.0.0.1:{zoo.port('time', 'UDP', index=2)}"],
        input=b"\n",
        capture_output=True,
        timeout=10,
    ).stdout
    for line in (tcp, udp):
        parsed = datetime.strptime(line.decode(), "%A, %B %d, %Y %H:%M:%S-UTC\r\n")
        assert abs(parsed.replace(tzinfo=UTC).timestamp() - time.time()) < 5


def test_every_listener_probes(zoo: TwistdProcess) -> None:
    """The runner's probe accepts all six listeners (three services, TCP and UDP)."""
    assert len(zoo.listeners) == 6
    for entry in zoo.listeners:
        probe(entry)


def test_all_three_in_runner(workdir) -> None:
    """echo, blocks and time run together inside `twistd -n zoo`, TCP and UDP, and all answer."""
    with TwistdProcess(
        [
            "zoo",
            "--with", "echo --port 0 --udp 0 --upper",
            "--with", "blocks --port 0 --mode echo",
            "--with", "time --port 0 --rfc868-port 0 --daytime-port 0 --rfc868-udp 0",
        ],
        workdir,
    ) as zoo:  # fmt: skip
        kinds = sorted((e["service"], e["type"]) for e in zoo.listeners)
        assert kinds == [
            ("admin", "TCP"),
            ("blocks", "TCP"),
            ("echo", "TCP"),
            ("echo", "UDP"),
            ("time", "TCP"),
            ("time", "TCP"),
            ("time", "TCP"),
            ("time", "UDP"),
        ]
        for entry in zoo.listeners:
            probe(entry)
