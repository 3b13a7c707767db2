"""The command deadline on real sockets: a client trickling a byte at a time is closed."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

DEADLINE = 2.0  # --command-timeout for every service here; the idle timeout stays 300 s


def trickle(port: int, data: bytes, every: float = 0.5) -> tuple[float, bytes]:
    """Send C{data} one byte every C{every} s after reading the greeting; keep going
    (repeating it) until the server closes. Return the seconds that took and what
    the server said after the greeting."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setblocking(False)
        time.sleep(0.2)
        try:
            s.recv(4096)  # the greeting, if the protocol has one
        except BlockingIOError:
            pass
        start = time.monotonic()
        said = b""
        i = 0
        while time.monotonic() - start < 20:
            try:
                s.send(data[i % len(data) : i % len(data) + 1])
            except OSError:
                break
            i += 1
            time.sleep(every)
            try:
                chunk = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not chunk:
                break
            said += chunk
        return time.monotonic() - start, said


def test_tricklers_are_closed_with_the_protocols_words(workdir) -> None:
    """A byte every 0.5 s: SMTP, FTP, Lancelot and XML-RPC close near the deadline, in their words."""
    every = 0.5
    flag = f"--port 0 --command-timeout {DEADLINE:g}"
    args = ["zoo"]
    for name in ("smtp", "ftp", "lancelot", "xmlrpc"):
        args += ["--with", f"{name} {flag}"]
    cases = {
        "smtp": (b"HELO trickle.example", b"421 4.4.2 "),
        "ftp": (b"USER trickle", b"421 "),
        "lancelot": (b"What is your name", b"Error: question not finished in time."),
        "xmlrpc": (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\n", b"HTTP/1.1 408 Request Timeout"),
    }
    with TwistdProcess(args, workdir) as zoo:
        with ThreadPoolExecutor(len(cases)) as pool:
            runs = {
                name: pool.submit(trickle, zoo.port(name), data, every)
                for name, (data, _) in cases.items()
            }
            results = {name: run.result() for name, run in runs.items()}
        log = zoo.output
    for name, (_, words) in cases.items():
        took, said = results[name]
        assert said.startswith(words), (name, said)
        # The sweep runs every quarter deadline: closed within about 1.25 deadlines.
        assert DEADLINE * 0.7 < took < DEADLINE * 1.25 + 2 * every, (name, took)
    assert "no complete command within" in log
    assert "Traceback" not in log, log
