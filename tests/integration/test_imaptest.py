"""Dovecot's imaptest against zoo-imap under twistd: its compliance scripts, and a stress run.

imaptest is built from tools/imaptest/ by scripts/imaptest-build (cached). A missing
build dependency fails these tests (it is listed in .ci/apt/imap.txt); it never skips.
Each compliance script is its own test case: the scripts for base IMAP4rev1 and for
every capability zoo-imap advertises. Scripts for capabilities it does not advertise
(SORT, THREAD, ESEARCH, CONDSTORE, BINARY, CATENATE, ...) are not applicable.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from slowclients import rss_kib

from zoo.mail.imapcore import IMAPSession
from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ARCHIVE = REPO / "tools" / "imaptest" / "imaptest-924f619.tar.gz"
USER = "imaptest@example.com"


def advertised() -> set[str]:
    """What zoo-imap advertises once logged in (upper case)."""
    session = IMAPSession(secure=True)
    session.state = "auth"
    return {c.decode().upper() for c in session.capabilities().split()}


def scripts() -> list[str]:
    """The archive's compliance scripts whose capabilities zoo-imap advertises."""
    caps = advertised()
    out = []
    with tarfile.open(ARCHIVE) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if parts[-2:-1] != ["tests"] or not member.isfile() or "." in parts[-1]:
                continue
            head = tar.extractfile(member).read(2000).decode("latin-1")  # type: ignore[union-attr]
            found = re.search(r"^capabilities:(.*)$", head, re.M)
            needed = {w.upper() for w in found.group(1).split()} if found else set()
            if needed <= caps:
                out.append(parts[-1])
    return sorted(out)


@pytest.fixture(scope="module")
def imaptest() -> Path:
    """The imaptest binary (built once per archive)."""
    done = subprocess.run(
        [str(REPO / "scripts" / "imaptest-build")], capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        pytest.fail(f"imaptest could not be built: {done.stderr.strip()}")
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Iterator[dict]:
    """zoo-imap (plaintext logins allowed, on loopback) with the generated password."""
    workdir = tmp_path_factory.mktemp("imaptest")
    args = ["zoo-imap", "--port", "0", "--allow-plaintext-auth"]
    with TwistdProcess(args, workdir) as proc:
        password = (workdir / "state" / "generated-password").read_text().strip()
        yield {
            "port": proc.port("imap"),
            "password": password.partition(":")[2],
            "pid": proc.proc.pid if proc.proc else 0,
        }


def run(imaptest: Path, zoo: dict, *args: str, timeout: float = 300) -> str:
    tests = imaptest.parent.parent / "tests"
    command = [
        str(imaptest),
        "host=127.0.0.1",
        f"port={zoo['port']}",
        f"user={USER}",
        f"pass={zoo['password']}",
        f"mbox={tests / 'default.mbox'}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    return done.stdout + done.stderr


@pytest.mark.parametrize("script", scripts())
def test_compliance_script(imaptest, zoo, script):
    """imaptest's compliance script passes against zoo-imap."""
    out = run(imaptest, zoo, f"test={imaptest.parent.parent / 'tests' / script}")
    summary = re.search(r"(\d+) test groups: (\d+) failed", out)
    assert summary is not None, out
    assert summary.group(2) == "0", out


def test_stress_default_mix_no_errors_and_flat_memory(imaptest, zoo):
    """60 s of imaptest's default mix (APPEND, COPY, EXPUNGE, SEARCH...) by 5 clients: no errors, memory flat."""
    warm = run(imaptest, zoo, "clients=5", "secs=10")
    assert "Error:" not in warm, warm
    before = rss_kib(zoo["pid"])
    out = run(imaptest, zoo, "clients=5", "secs=60")
    after = rss_kib(zoo["pid"])
    errors = [line for line in out.splitlines() if "Error:" in line or "BAD" in line]
    assert not errors, "\n".join(errors[:40])
    assert after - before < 20 * 1024, (before, after)
