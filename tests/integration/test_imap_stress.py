"""zoo-imap under a mixed load from several imaplib clients at once (no imaptest needed).

Five clients share one INBOX for a few seconds, each picking at random among APPEND,
FETCH, STORE (flags and keywords), SEARCH, COPY, MOVE, EXPUNGE, NOOP, IDLE and
STATUS. Every reply must be OK or an allowed NO ([EXPUNGEISSUED] when another client
expunged first); none may be BAD; the server's log has no traceback, its memory stays
flat across a second round, and UIDs never repeat.
"""

from __future__ import annotations

import imaplib
import random
import re
import threading
import time

import pytest
from slowclients import rss_kib

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration
USER = "stress@example.com"


@pytest.fixture
def zoo(workdir):
    args = ["zoo-imap", "--port", "0", "--allow-plaintext-auth", "--transcripts", "off"]
    with TwistdProcess(args, workdir) as proc:
        password = (workdir / "state" / "generated-password").read_text().strip()
        yield {"port": proc.port("imap"), "password": password.partition(":")[2], "proc": proc}


MESSAGE = b"From: Load <load@example.com>\r\nSubject: load %d\r\n\r\nline one\r\nline two %d\r\n"


def client_loop(zoo: dict, seed: int, until: float, problems: list[str], uids: list[int]) -> None:
    rng = random.Random(seed)
    c = imaplib.IMAP4("127.0.0.1", zoo["port"], timeout=20)
    c.login(USER, zoo["password"])
    c.select("INBOX")
    n = 0

    def check(what: str, typ: str, data: list) -> None:
        if typ == "OK":
            return
        text = b" ".join(d for d in data if isinstance(d, bytes))
        if typ == "NO" and b"EXPUNGEISSUED" in text:
            return
        problems.append(f"{what}: {typ} {text[:200]!r}")

    while time.monotonic() < until:
        n += 1
        op = rng.choice(
            [
                "append",
                "fetch",
                "store",
                "search",
                "copy",
                "move",
                "expunge",
                "noop",
                "idle",
                "status",
            ]
        )
        try:
            count = int(c.select("INBOX")[1][0]) if op == "status" else None
            if op == "append":
                typ, data = c.append(
                    "INBOX", r"(\Seen $Load)" if n % 2 else None, None, MESSAGE % (n, n)
                )
                check(op, typ, data)
                found = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
                if found:
                    uids.append(int(found.group(1)))
            elif op == "fetch":
                items = "(UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[HEADER] BODYSTRUCTURE)"
                check(op, *c.fetch("1:*", items))
            elif op == "store":
                flag = rng.choice([r"\Flagged", r"\Deleted", r"\Seen", "$Work", "$Home"])
                check(op, *c.store("1:*", rng.choice(["+FLAGS", "-FLAGS"]), f"({flag})"))
            elif op == "search":
                check(
                    op,
                    *c.search(None, "OR", "SUBJECT", "load", "TEXT", "two", "SINCE", "1-Jan-2020"),
                )
            elif op == "copy":
                check(op, *c.uid("COPY", f"{rng.randint(1, 50)}:*", "Trash"))
            elif op == "move":
                check(op, *c.uid("MOVE", "1:3", "Junk"))
            elif op == "expunge":
                check(op, *c.expunge())
            elif op == "noop":
                check(op, *c.noop())
            elif op == "idle":
                tag = c._new_tag()
                c.send(tag + b" IDLE\r\n")
                assert c.readline().startswith(b"+")
                time.sleep(0.05)
                c.send(b"DONE\r\n")
                while not (line := c.readline()).startswith(tag):
                    pass
                if not line.startswith(tag + b" OK"):
                    problems.append(f"idle: {line!r}")
            elif op == "status":
                typ, data = c.status("INBOX", "(MESSAGES UIDNEXT)")
                check(op, typ, data)
                assert count is not None
        except imaplib.IMAP4.error as e:
            problems.append(f"{op}: {e}")
    c.logout()


def load(zoo: dict, seconds: float, problems: list[str], uids: list[int]) -> None:
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client_loop, args=(zoo, seed, until, problems, uids))
        for seed in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)


def test_mixed_load_from_five_clients(zoo):
    """Five clients at once: no BAD, no unexpected NO, no traceback, UIDs unique, memory flat."""
    problems: list[str] = []
    uids: list[int] = []
    load(zoo, 4, problems, uids)
    pid = zoo["proc"].proc.pid
    before = rss_kib(pid)
    load(zoo, 4, problems, uids)
    after = rss_kib(pid)
    assert problems == [], problems[:20]
    assert len(uids) == len(set(uids)) and len(uids) > 10
    assert after - before < 10 * 1024, (before, after)
    assert "Traceback" not in zoo["proc"].output
