"""Run the book's mail programs (docs/examples/mail) as a reader would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zoo.testing import TwistdProcess

BOOK = Path(__file__).resolve().parents[2] / "docs" / "examples" / "mail"


def run_book(program: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run C{program} with C{args}, feeding C{stdin}; 30 s at most."""
    return subprocess.run(
        [sys.executable, str(BOOK / program), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=BOOK,
    )


@contextmanager
def mail_services(workdir: Path, reader: str) -> Iterator[dict[str, Any]]:
    """zoo-smtp plus C{reader} (pop3/imap) twice, plain+STARTTLS and --tls, in one runner.

    Yields the ports (C{smtp}, C{plain}, C{tls}), the generated password, the dev CA
    and the server's pid.
    """
    with TwistdProcess(
        [
            "zoo",
            "--with",
            "smtp --port 0",
            "--with",
            f"{reader} --port 0",
            "--with",
            f"{reader} --port 0 --tls",
        ],  # fmt: skip
        workdir,
    ) as zoo:
        state = workdir / "state"
        yield {
            "smtp": zoo.port("smtp"),
            "plain": zoo.port(reader, index=0),
            "tls": zoo.port(reader, index=1),
            "password": (state / "mail" / "password").read_text().strip(),
            "ca": str(state / "tls" / "ca.pem"),
            "pid": zoo.proc.pid if zoo.proc else 0,
        }


def rss_kib(pid: int) -> int:
    """Resident memory of process C{pid} in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def flood_without_reading(
    port: int, line: bytes, total: int = 30_000_000, ca: str | None = None
) -> None:
    """Pipeline C{line} up to C{total} bytes without reading a reply, until the server
    stops reading (the send times out). With C{ca}, over implicit TLS."""
    import socket
    import ssl

    with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s = raw
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
