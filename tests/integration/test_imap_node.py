"""zoo-imap with Node's imapflow (STARTTLS, LIST with SPECIAL-USE, FETCH, SEARCH, APPEND, MOVE, CREATE).

imapflow is installed with npm (pinned) into a cache folder the first time; node and
npm are in .ci/apt/imap.txt, and a missing one fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest
from mailbook import mail_services

pytestmark = pytest.mark.integration
IMAPFLOW = "imapflow@2.10.2"
SCRIPT = Path(__file__).parent / "node" / "imapflow_session.js"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """A folder holding imapflow (installed once per version)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (see .ci/apt/imap.txt)")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "zoo-node"
    prefix = cache / IMAPFLOW.replace("@", "-")
    if not (prefix / "node_modules" / "imapflow").is_dir():
        prefix.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), IMAPFLOW],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(f"npm install {IMAPFLOW} failed:\n{done.stderr[-2000:]}")
    return prefix / "node_modules"


def test_imapflow_session(workdir, node_modules):
    """imapflow upgrades with STARTTLS, logs in, and every call of a typical session succeeds."""
    with mail_services(workdir, "imap") as mail:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "a@example.com", "flow@example.com", "imapflow test"
        m.set_content("hello\n")
        with smtplib.SMTP("127.0.0.1", mail["smtp"], timeout=10) as s:
            s.send_message(m)
        done = subprocess.run(
            ["node", str(SCRIPT), str(mail["plain"]), "flow@example.com", mail["password"]],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NODE_PATH": str(node_modules)},
        )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert {"IDLE", "MOVE", "UIDPLUS", "SPECIAL-USE"} <= set(out["capabilities"])
    assert "STARTTLS" not in out["capabilities"]  # read after the upgrade
    special = {f["path"]: f["specialUse"] for f in out["folders"]}
    assert special == {
        "INBOX": "\\Inbox", "Sent": "\\Sent", "Drafts": "\\Drafts", "Junk": "\\Junk", "Trash": "\\Trash",
    }  # fmt: skip
    [fetched] = out["fetched"]
    assert fetched["subject"] == "imapflow test" and fetched["type"] == "text/plain"
    assert out["search"] == [1] and out["appendUid"] == 2 and out["moved"] == [[2, 1]]
    assert out["status"] == {"path": "Trash", "messages": 1, "unseen": 0}
    assert out["created"] == ["Projects", "Projects.Zoo"]
