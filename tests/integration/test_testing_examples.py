"""docs/examples/testing/: the user-side example suites pass, serially and under xdist.

They test code written with smtplib, poplib, imaplib, ftplib, paramiko, redis-py and
xmlrpc.client against the zoo_* fixtures (and zoo.run under unittest), in a project
of their own (their pytest.ini), as a user's suite would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "testing"


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_examples_pass(extra: list[str], tmp_path: Path) -> None:
    """Every example test passes, and each example file has run."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "--basetemp", str(tmp_path / "t"), *extra],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    files = sorted(p.name for p in EXAMPLES.glob("test_*.py"))
    assert len(files) >= 7
    for name in files:
        assert f"PASSED {name}::" in out, f"{name} did not run:\n{out}"
    assert "failed" not in out.splitlines()[-1]
