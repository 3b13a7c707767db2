"""Bad input against every TCP listener of one `twistd -n zoo`: the zoo stays up, quietly.

Each listener gets garbage bytes, a 1 MiB line with no end, NUL and non-UTF-8 lines,
an immediate half-close, and a reset right after connecting. Afterwards every
listener must still speak its protocol (the probes of the .tac test), and the log
must hold no traceback: the offending client gets the protocol's own error, or is
closed, and nobody else notices.
"""

from __future__ import annotations

import os
import random
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from probes import probe

from zoo.tap import registry
from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

#: How long a bad client waits for the server's answer before giving up on it.
PATIENCE = 3.0


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwistdProcess]:
    args = ["zoo"]
    for name in registry.names():
        extra = " --rfc868-port 0 --daytime-port 0" if name == "time" else ""
        args += ["--with", f"{name} --port 0{extra}"]
    with TwistdProcess(args, tmp_path_factory.mktemp("torture")) as process:
        yield process


def _drain(s: socket.socket) -> bytes:
    """Read what the server says until it closes or falls silent for PATIENCE seconds."""
    s.settimeout(PATIENCE)
    out = b""
    try:
        while len(out) < 1 << 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return out


def _send(port: int, data: bytes, half_close: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed on us mid-send: allowed for garbage
        return _drain(s)


def garbage(port: int) -> None:
    _send(port, random.Random(port).randbytes(64 * 1024))


def long_line(port: int) -> None:
    _send(port, b"A" * (1 << 20))


def nul_and_8bit(port: int) -> None:
    _send(port, b"\x00\xff\xfe\xc3\x28 \x80\x00\r\n" * 64 + b"\xff\xffQUIT\r\n")


def half_close(port: int) -> None:
    _send(port, b"", half_close=True)


def reset(port: int) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.sendall(b"\xff" * 100)
    s.close()  # RST instead of FIN


CASES: list[Callable[[int], None]] = [garbage, long_line, nul_and_8bit, half_close, reset]


def _tcp_listeners(zoo: TwistdProcess) -> list[dict[str, Any]]:
    return [e for e in zoo.listeners if e["type"] == "TCP"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_every_listener_survives(zoo: TwistdProcess, case: Callable[[int], None]) -> None:
    """Each bad client leaves every listener answering its own protocol."""
    for entry in _tcp_listeners(zoo):
        case(entry["port"])
    assert zoo.proc is not None and zoo.proc.poll() is None, zoo.output
    for entry in _tcp_listeners(zoo):
        probe(entry)


def test_no_traceback_in_the_log(zoo: TwistdProcess) -> None:
    """After all the bad clients above, the log holds no traceback and no unhandled error."""
    for entry in _tcp_listeners(zoo):
        for case in CASES:
            case(entry["port"])
    log = zoo.output
    assert "Traceback" not in log, log[log.find("Traceback") - 2000 :][:6000]
    assert "Unhandled" not in log, log


def test_descriptors_are_released(zoo: TwistdProcess) -> None:
    """Twenty rounds of bad clients leave the server with the descriptors it had before."""
    assert zoo.proc is not None
    fds = Path(f"/proc/{zoo.proc.pid}/fd")
    before = len(os.listdir(fds))
    for _ in range(20):
        for entry in _tcp_listeners(zoo):
            reset(entry["port"])
            half_close(entry["port"])
    for entry in _tcp_listeners(zoo):
        probe(entry)
    after = len(os.listdir(fds))
    assert after <= before + 2, (before, after)
