"""One observed SMTP session's recording, in process: microseconds per session.

    python bench/session.py                    # transcripts on, best of 7 runs
    python bench/session.py --level events     # session events only
    PYTHONPATH=bench/build/ab-SHA python bench/session.py   # an earlier tree's

A session (zoo.sessions.Session) is opened, given the thirteen chunks of one
mail as smtp-source sends it (banner, HELO, MAIL, RCPT, DATA, 354, a 1 KiB body
read whole, 250, QUIT, 221) and closed, into an observatory that keeps 10,000
events, so its stores are full and every chunk recorded drops an old one. No
socket, no reactor: the figure is the observation layer's own steps, the part a
change to the transcriber or the recorder moves. On this host a run differs from
the next by up to a third; compare two trees by alternating them several times
and reading the best and the median, and confirm a gain in a server with
bench/together.py -m smtp.
"""

from __future__ import annotations

import argparse
import statistics
import time

from twisted.internet.task import Clock

from zoo.events import Observatory
from zoo.sessions import Session

BODY = (
    b"From: <a@example.com>\r\nTo: <b@example.com>\r\nSubject: x\r\n\r\n"
    + (b"x" * 78 + b"\r\n") * 13
    + b".\r\n"
)
#: (side, bytes) in the order they cross the wire: "c" the client, "s" the server.
SESSION = [
    ("s", b"220 localhost ESMTP zoo-smtp\r\n"),
    ("c", b"HELO vm\r\n"),
    ("s", b"250 localhost Hello 127.0.0.1\r\n"),
    ("c", b"MAIL FROM:<a@example.com>\r\n"),
    ("s", b"250 2.0.0 Sender address accepted\r\n"),
    ("c", b"RCPT TO:<b@example.com>\r\n"),
    ("s", b"250 2.0.0 Recipient address accepted\r\n"),
    ("c", b"DATA\r\n"),
    ("s", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
    ("c", BODY),
    ("s", b"250 2.0.0 Message accepted for delivery\r\n"),
    ("c", b"QUIT\r\n"),
    ("s", b"221 2.0.0 See you later\r\n"),
]


def sessions(obs: Observatory, n: int) -> None:
    for _ in range(n):
        s = Session(obs, "smtp")
        s.open()
        for side, data in SESSION:
            if side == "c":
                s.received(data)
            else:
                s.sent(data)
        s.close(None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--level", choices=["events", "transcripts"], default="transcripts")
    ap.add_argument("--sessions", type=int, default=20_000, help="sessions a run")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    obs = Observatory(Clock(), enabled=True, node="bench")
    obs.transcripts = args.level == "transcripts"
    sessions(obs, args.sessions)  # fill the stores first
    runs = []
    for _ in range(args.runs):
        start = time.perf_counter()
        sessions(obs, args.sessions)
        runs.append((time.perf_counter() - start) / args.sessions * 1e6)
    print(
        f"{args.level}: best {min(runs):.1f} µs a session, median {statistics.median(runs):.1f}"
        f" ({args.runs} runs of {args.sessions})"
    )


if __name__ == "__main__":
    main()
