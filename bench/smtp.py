"""Messages per second into zoo-smtp and into aiosmtpd, loaded by Postfix's smtp-source.

    python bench/smtp.py                       # 3 interleaved rounds, ~2 min
    python bench/smtp.py --rounds 1 --servers zoo,aiosmtpd-sink,aiosmtpd
    python bench/smtp.py --out smtp.md --json smtp.json

Every server stores each message in a Maildir with the same durability: written to
tmp/, fsynced, renamed into new/, new/ fsynced, before the 250 (--no-fsync drops the
syncing for all of them). The server runs on CPU 0 and smtp-source on CPU 1
(taskset); smtp-source sends one message per SMTP session, as in the anchor figures
(research/anchor-figures.md, "SMTP sinks"). After each run the messages on disk are
counted: a server that said 250 for a message it did not store fails the run.
"aiosmtpd-sink" is aiosmtpd's Sink handler, storing nothing: the protocol's own cost.
"floor" (bench/servers/smtp_floor.py) is no SMTP server but canned replies plus the
same Maildir writes: what the kernel, the disk and smtp-source cost on their own,
the bound for any Python server (--servers zoo,floor,aiosmtpd).

smtp-source comes from the Debian package postfix. It is not installed (that would
start a mail daemon): if it is not on PATH, the script runs `apt-get download postfix`
and unpacks the package into bench/build/postfix, then runs smtp-source from there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import harness  # bench/ is this script's folder: the shared helpers

BUILD = harness.BUILD_DIR

#: (label, message bytes, concurrent sessions, messages per run)
CELLS = [
    ("1 KiB, 1 sess", 1024, 1, 1500),
    ("1 KiB, 20 sess", 1024, 20, 3000),
    ("100 KiB, 1 sess", 100 * 1024, 1, 600),
    ("100 KiB, 20 sess", 100 * 1024, 20, 1000),
]


@dataclass
class Result:
    server: str
    cell: str
    messages: int
    seconds: float
    server_cpu: float  # fraction of one CPU
    load_cpu: float
    stored: int
    round: int = 0
    rate: float = field(init=False)

    def __post_init__(self) -> None:
        self.rate = self.messages / self.seconds


def smtp_source() -> tuple[list[str], dict[str, str]]:
    """The smtp-source command and the environment it needs."""
    found = shutil.which("smtp-source")
    if found:
        return [found], {}
    root = BUILD / "postfix"
    binary = root / "usr" / "sbin" / "smtp-source"
    if not binary.exists():
        BUILD.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "postfix"], cwd=BUILD, check=True)
        deb = sorted(BUILD.glob("postfix_*.deb"))[-1]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return [str(binary)], {"LD_LIBRARY_PATH": str(root / "usr" / "lib" / "postfix")}


class Server:
    """One server pinned to CPU 0 by harness.RunningServer, storing under a fresh folder."""

    def __init__(self, name: str, fsync: bool, options: tuple[str, ...] = ()) -> None:
        self.name = name
        self.tmp = tempfile.TemporaryDirectory(prefix="zoo-bench-smtp-", dir=BUILD)
        root = Path(self.tmp.name)
        nosync = [] if fsync else ["--no-fsync"]
        if name == "zoo":
            spec = harness.twistd_plugin(
                "zoo", "zoo-smtp", "--port", "0", "--state-dir", str(root / "state"), *nosync,
                *options,
            )  # fmt: skip
            self.maildirs = root / "state" / "mail"
        elif name in ("aiosmtpd", "aiosmtpd-sink"):
            sink = ["--sink"] if name == "aiosmtpd-sink" else []
            spec = harness.python_server(
                name, "aiosmtpd_maildir.py", "--root", str(root / "mail"), *nosync, *sink
            )
            self.maildirs = root / "mail"
        elif name == "floor":
            spec = harness.python_server(
                name, "smtp_floor.py", "--root", str(root / "mail"), *nosync
            )
            self.maildirs = root / "mail"
        else:
            raise SystemExit(f"unknown server {name!r}: zoo, floor, aiosmtpd, aiosmtpd-sink")
        self.stores = name != "aiosmtpd-sink"
        try:
            self.running = harness.RunningServer(spec, f"smtp-{name}")
        except BaseException:
            self.tmp.cleanup()
            raise
        self.port = self.running.port
        self.pid = self.running.pid

    def stored(self) -> int:
        return sum(1 for _ in self.maildirs.glob("*/new/*"))

    def stop(self) -> None:
        """Stop the server; its messages stay on disk until L{main} ends (see below)."""
        self.running.stop()


#: When the last run deleted its messages (see L{wait_after_last_cleanup}).
CLEANED = BUILD / "smtp-cleaned-at"
RECENT_SECONDS = 70


def wait_after_last_cleanup() -> None:
    """Sleep until the inodes the previous run freed no longer count as recent."""
    try:
        since = time.time() - float(CLEANED.read_text())
    except (OSError, ValueError):
        return
    if 0 <= since < RECENT_SECONDS:
        pause = RECENT_SECONDS - since
        print(f"waiting {pause:.0f} s after the previous run's deletions", file=sys.stderr)
        time.sleep(pause)


def run_cell(server: Server, cell: tuple[str, int, int, int], source: tuple) -> Result:
    label, size, sessions, count = cell
    argv, env = source
    before_stored = server.stored()
    before_cpu = harness.cpu_ticks(server.pid)
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    load_argv = [*argv, "-s", str(sessions), "-l", str(size), "-m", str(count),
                 "-f", "bench@example.com", "-t", "sink@example.com", f"127.0.0.1:{server.port}"]  # fmt: skip
    subprocess.run(
        harness.pinned(harness.LOADGEN_CPU, load_argv),
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    time.sleep(0.2)  # let the last deliveries land before counting
    stored = server.stored() - before_stored
    server_cpu = (harness.cpu_ticks(server.pid) - before_cpu) / harness.CLOCK_TICKS
    return Result(server.name, label, count, seconds, server_cpu / seconds, load / seconds, stored)


def table(results: list[Result], servers: list[str]) -> str:
    cells = [c[0] for c in CELLS if any(r.cell == c[0] for r in results)]
    median = {
        (s, c): statistics.median(r.rate for r in results if r.server == s and r.cell == c)
        for s in servers
        for c in cells
    }
    cpu = {  # server CPU microseconds per message, and smtp-source's CPU share
        (s, c): (
            statistics.median(
                r.server_cpu * r.seconds / r.messages * 1e6
                for r in results
                if r.server == s and r.cell == c
            ),
            statistics.median(r.load_cpu for r in results if r.server == s and r.cell == c),
        )
        for s in servers
        for c in cells
    }
    base = servers[-1]
    lines = [
        "| server | " + " | ".join(cells) + " |",
        "|---|" + "---|" * len(cells),
    ]
    for s in servers:
        row = []
        for c in cells:
            rate, ref = median[s, c], median[base, c]
            srv, load = cpu[s, c]
            row.append(f"{rate:,.0f} ({rate / ref:.2f}), {srv:,.0f} µs, gen {load:.0%}")
        lines.append(f"| {s} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="zoo,aiosmtpd", help="comma list; last is the 1.00")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-fsync", action="store_true", help="all servers skip fsync")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    parser.add_argument("--json", type=Path, help="write every raw run here as JSON")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the messages per run (0.1: a smoke test)"
    )
    args = parser.parse_args()
    servers = args.servers.split(",")
    BUILD.mkdir(parents=True, exist_ok=True)
    source = smtp_source()
    results: list[Result] = []
    # Messages are deleted only after the last run, and a run starts at least
    # RECENT_SECONDS after the previous run's deletions: on a journal-less ext4 (this
    # machine's root) the kernel skips inodes freed in the last 60 s (360 s while
    # their inode-table block is dirty, hence the sync) when it allocates one, and a
    # server running right after thousands of deletions paid up to 2x its CPU per
    # message in that search (perf: find_inode_bit, recently_deleted), and far more
    # latency per file creation (35 us became 360 us), whatever the server.
    wait_after_last_cleanup()
    finished: list[Server] = []
    try:
        run_rounds(args, servers, source, results, finished)
    finally:
        for server in finished:
            server.tmp.cleanup()
        os.sync()
        CLEANED.write_text(str(time.time()))
        if args.json:  # every run, with its round; load_cpu is smtp-source's share of a core
            args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    if len(results) < args.rounds * len(CELLS) * len(servers):
        return 1
    durability = "no fsync" if args.no_fsync else "fsync before 250"
    text = (
        harness.environment_note()
        + "\n\n"
        + f"messages/s, median of {args.rounds} round(s), {durability}; "
        f"(ratio to {servers[-1]}), server CPU µs per message, smtp-source CPU share\n\n"
        + table(results, servers)
        + "\n"
    )
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


def run_rounds(
    args: argparse.Namespace,
    servers: list[str],
    source: tuple,
    results: list[Result],
    finished: list[Server],
) -> None:
    """Every cell on every server, interleaved, C{args.rounds} times; stops at a loss."""
    for round_ in range(args.rounds):
        for label, size, sessions, count in CELLS:
            cell = (label, size, sessions, max(sessions, int(count * args.scale)))
            for name in servers:  # interleaved: every server once per cell per round
                server = Server(name, fsync=not args.no_fsync)
                finished.append(server)
                try:
                    r = run_cell(server, cell, source)
                finally:
                    server.stop()
                r.round = round_ + 1
                print(
                    f"round {round_ + 1} {name:9} {r.cell:17} {r.rate:8,.0f} msg/s "
                    f"server {r.server_cpu:4.0%} smtp-source {r.load_cpu:4.0%} "
                    f"stored {r.stored}/{r.messages}",
                    file=sys.stderr,
                )
                if server.stores and r.stored != r.messages:
                    print(f"  {name} stored {r.stored} of {r.messages} messages!", file=sys.stderr)
                    return
                results.append(r)


if __name__ == "__main__":
    sys.exit(main())
