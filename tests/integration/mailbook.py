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
            # The memory tests here measure growth per client that never reads; the
            # observatory's transcripts are a separate, fixed budget (tests/test_events.py).
            "--transcripts",
            "off",
        ],  # fmt: skip
        workdir,
    ) as zoo:
        state = workdir / "state"
        yield {
            "smtp": zoo.port("smtp"),
            "plain": zoo.port(reader, index=0),
            "tls": zoo.port(reader, index=1),
            "password": (state / "generated-password").read_text().strip().partition(":")[2],
            "ca": str(state / "tls" / "ca.pem"),
            "pid": zoo.proc.pid if zoo.proc else 0,
        }
