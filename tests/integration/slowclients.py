"""Clients that never read: for the tests that a server's memory stays bounded."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path


def rss_kib(pid: int) -> int:
    """Resident memory of process C{pid} in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def flood_without_reading(
    port: int,
    line: bytes,
    total: int = 30_000_000,
    ca: str | None = None,
    upgrade: tuple[bytes, bytes] | None = None,
) -> None:
    """Pipeline C{line} up to C{total} bytes without reading a reply, until the server
    stops reading (the send times out). With C{ca}, over TLS: implicit, or after
    C{upgrade} = (command, expected reply prefix), such as C{(b"AUTH TLS", b"234")}."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s = raw
        if upgrade is not None:
            command, expected = upgrade
            greeting = raw.recv(4096)
            raw.sendall(command + b"\r\n")
            reply = raw.recv(4096)
            assert reply.startswith(expected), (greeting, reply)
        if ca is not None:
            ctx = ssl.create_default_context(cafile=ca)
            s = ctx.wrap_socket(raw, server_hostname="localhost")
        chunk = line * (65536 // len(line))
        sent = 0
        try:
            while sent < total:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server stopped reading: that is the point


def pipeline_then_read(
    port: int, commands: bytes, wait: float = 1.0, timeout: float = 10.0
) -> bytes:
    """Send C{commands} at once (ending with the protocol's QUIT) with a tiny receive
    window, read nothing for C{wait} seconds so the replies back up (the server stops
    reading mid-batch and handles the QUIT while its replies are stuck), then read
    everything. Fails unless the server closes the connection once its replies are out.
    """
    import time

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(commands)
        time.sleep(wait)
        got = []
        while True:
            try:
                data = s.recv(65536)
            except TimeoutError:
                raise AssertionError(
                    f"no close after {sum(map(len, got))} bytes of replies"
                ) from None
            if not data:
                return b"".join(got)
            got.append(data)
