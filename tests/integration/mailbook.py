"""Run the book's mail programs (docs/examples/mail) as a reader would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
