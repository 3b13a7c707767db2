"""--workers N under twistd: N processes share each TCP listener, and the state stays right."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import subprocess
import time
from pathlib import Path

import pytest
from test_pubsub import recv_exactly, redis_server

from zoo.testing import TWISTD, TwistdProcess

pytestmark = pytest.mark.integration


def listening_sockets(port: int) -> int:
    """How many sockets listen on C{port} on this machine (from /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            count += 1
    return count


def wait_for_sockets(port: int, n: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while listening_sockets(port) < n:
        assert time.monotonic() < deadline, f"fewer than {n} sockets listen on {port}"
        time.sleep(0.05)


def test_mail_is_spread_over_the_workers_and_stored_once(tmp_path: Path) -> None:
    """60 mails, one connection each, to zoo-smtp --workers 2: all 60 stored once, by both processes."""
    with TwistdProcess(["zoo-smtp", "--port", "0", "--workers", "2"], tmp_path) as zoo:
        port = zoo.port()
        wait_for_sockets(port, 2)
        for i in range(60):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.sendmail(
                    "me@example.com", ["box@example.com"], f"Subject: {i}\r\n\r\nhi\r\n"
                )
        box = tmp_path / "state" / "mail" / "box@example.com" / "new"
        deadline = time.monotonic() + 10
        while len(list(box.iterdir())) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        names = [p.name for p in box.iterdir()]
        subjects = sorted(
            int(re.search(rb"Subject: (\d+)", p.read_bytes()).group(1))  # type: ignore[union-attr]
            for p in box.iterdir()
        )
        assert subjects == list(range(60))  # every message, once
        pids = {re.search(r"P(\d+)Q", n).group(1) for n in names}  # type: ignore[union-attr]
        assert len(pids) == 2, pids  # stored by two processes
        assert "Traceback" not in zoo.output, zoo.output


def test_pubsub_workers_deliver_each_message_once_through_redis(tmp_path: Path) -> None:
    """Subscribers spread over 2 workers each get every message exactly once, in order."""
    with redis_server(tmp_path) as redis_port:
        args = [
            "zoo-pubsub",
            "--port",
            "0",
            "--workers",
            "2",
            "--redis",
            f"redis://127.0.0.1:{redis_port}",
        ]
        with TwistdProcess(args, tmp_path / "zoo") as zoo:
            port = zoo.port()
            wait_for_sockets(port, 2)
            subscribers = []
            for _ in range(8):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"SUBSCRIBE news\r\n")
                assert recv_exactly(s, 33) == b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
                subscribers.append(s)
            time.sleep(0.5)  # the bridges' SUBSCRIBE reaches Redis

            def frame(body: bytes) -> bytes:
                return b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$3\r\n%s\r\n" % body

            # One publisher: its messages arrive in the order it sent them.
            with socket.create_connection(("127.0.0.1", port)) as pub:
                for i in range(50):
                    pub.sendall(b"PUBLISH news m%02d\r\n" % i)
                    assert recv_exactly(pub, 4).startswith(b":")
            in_order = b"".join(frame(b"m%02d" % i) for i in range(50))
            for s in subscribers:
                assert recv_exactly(s, len(in_order), timeout=10) == in_order
            # Publishers on many connections (so on both workers): each message once.
            for i in range(30):
                with socket.create_connection(("127.0.0.1", port)) as pub:
                    pub.sendall(b"PUBLISH news n%02d\r\n" % i)
                    assert recv_exactly(pub, 4).startswith(b":")
            for s in subscribers:
                got = recv_exactly(s, len(frame(b"n00")) * 30, timeout=10)
                bodies = sorted(re.findall(rb"\$3\r\n(n\d\d)\r\n", got))
                assert bodies == [b"n%02d" % i for i in range(30)]
                s.settimeout(0.3)
                with pytest.raises(socket.timeout):
                    s.recv(1)  # and nothing more: no message twice
                s.close()
            assert "Traceback" not in zoo.output, zoo.output


def test_workers_stop_with_worker_zero(tmp_path: Path) -> None:
    """Killing worker 0 outright (SIGKILL) ends the other workers too."""
    zoo = TwistdProcess(["zoo-lancelot", "--port", "0", "--workers", "3"], tmp_path).start()
    try:
        port = zoo.port()
        wait_for_sockets(port, 3)
        assert zoo.proc is not None
        os.kill(zoo.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while listening_sockets(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert listening_sockets(port) == 0
    finally:
        zoo.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["zoo-pubsub", "--port", "0", "--workers", "2"], "--workers needs --redis"),
        (
            ["zoo", "--with", "echo --port 0", "--workers", "2", "--admin", "tcp:0"],
            "--events-redis",
        ),
    ],
)
def test_workers_refuse_what_they_cannot_keep_right(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Pub-sub without its Redis bridge, or the control plane without the relay, is a usage error."""
    out = subprocess.run(
        [*TWISTD, "-n", "--pidfile=", *args],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "ZOO_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert out.returncode != 0
    assert message in out.stdout + out.stderr


def test_the_control_plane_sees_every_workers_mail(tmp_path: Path) -> None:
    """twistd zoo --workers 2 --events-redis: worker 0's API lists the mail both workers stored."""
    import json
    import urllib.request

    with redis_server(tmp_path) as redis_port:
        url = f"redis://127.0.0.1:{redis_port}"
        args = [
            "zoo",
            "--with",
            "smtp --port 0",
            "--workers",
            "2",
            "--admin",
            "tcp:0",
            "--events-redis",
            url,
        ]
        with TwistdProcess(args, tmp_path / "zoo") as zoo:
            port = zoo.port("smtp")
            wait_for_sockets(port, 2)
            time.sleep(1.0)  # the worker's relay connects to Redis
            for i in range(20):
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                    client.sendmail(
                        "me@example.com", ["box@example.com"], f"Subject: {i}\r\n\r\nhi\r\n"
                    )
            base, token = zoo.admin()
            found: list[dict] = []
            deadline = time.monotonic() + 10
            while len(found) < 20 and time.monotonic() < deadline:
                request = urllib.request.Request(
                    base + "/api/events?kind=mail.stored&limit=100",
                    headers={"Authorization": f"Bearer {token}"},
                )
                with urllib.request.urlopen(request, timeout=10) as answer:
                    found = json.loads(answer.read())["events"]
                time.sleep(0.1)
            assert len(found) == 20
            assert len({e["node"] for e in found}) == 2  # from both workers
            assert "Traceback" not in zoo.output, zoo.output
