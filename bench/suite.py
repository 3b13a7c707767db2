"""One run of every path against its best peer, kept raw for docs/performance.rst.

    python bench/suite.py                     # the whole suite, about 20 minutes
    python bench/suite.py --quick             # a smoke run (a couple of minutes): plumbing only
    python bench/suite.py --only lancelot,echo,pubsub
    python bench/suite.py --list              # the parts and the commands they run

Each part is one of the per-workload scripts in bench/, run by this Python with its
--json option, one after the other (never two at once: each pins a server to CPU 0
and its load generator to CPU 1):

- lancelot: zoo-lancelot vs asyncio and asyncio+uvloop, c=100 and c=1000 (loadgen);
- echo: zoo-echo and zoo-blocks vs asyncio, asyncio+uvloop and the C epoll echo,
  64 B echo and 4 KiB blocks, c=100 and c=1000 (loadgen);
- pubsub: zoo-pubsub vs redis-server, K=1 and K=10 channel subscribers (bench/pubsub.c);
- smtp: zoo-smtp vs aiosmtpd, both storing to a Maildir with fsync before the 250
  (Postfix's smtp-source);
- ftp: zoo-ftp vs pyftpdlib with sendfile (and without), curl and bench/ftpload.c;
- ssh: zoo-ssh vs OpenSSH's sshd, with OpenSSH's sftp and ssh (needs root for sshd);
- tls: zoo-tls vs stunnel4 (bench/tlsload.c, openssl s_time).

The run goes to a new directory docs/benchruns/<UTC start>/ (with a "-smoke" suffix
for --quick): each part's raw JSON (PART.json), its Markdown tables (PART.md), its
progress lines (PART.log), and meta.json: start and end (UTC), the git commit and
whether the tree was dirty, the machine (CPU model and count, kernel, memory), the
versions of Python, Twisted, zoo and every peer that says its version, each part's
command, exit status and duration, and this script's command line. "kind" is "full"
or "smoke": the docs page says loudly when the newest run is a smoke run, whose
figures mean nothing. A part that fails is recorded (and the suite exits 1); the
others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RUNS = REPO / "docs" / "benchruns"


@dataclass(frozen=True)
class Part:
    """One script of the suite and its options (full run, then smoke run)."""

    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    minutes: float  # the full run's expected duration, for --list


LOADGEN_FULL = ("--rounds", "3", "--duration", "3", "--warmup", "1", "--prime", "0.5")
LOADGEN_QUICK = ("--rounds", "1", "--duration", "0.5", "--warmup", "0.2", "--prime", "0.2")

PARTS = [
    Part(
        "lancelot",
        "lancelot.py",
        ("--servers", "zoo,asyncio,uvloop", "--conns", "100,1000", *LOADGEN_FULL),
        ("--servers", "zoo,asyncio,uvloop", "--conns", "100,1000", *LOADGEN_QUICK,
         "--quiet-wait", "1"),
        2.5,
    ),
    Part(
        "echo",
        "echo.py",
        ("--sections", "echo64,blocks4k", "--servers", "zoo,asyncio,uvloop,c",
         "--conns", "100,1000", *LOADGEN_FULL),
        ("--sections", "echo64,blocks4k", "--servers", "zoo,asyncio,uvloop,c",
         "--conns", "100,1000", *LOADGEN_QUICK),
        6.5,
    ),
    Part(
        "pubsub",
        "pubsub.py",
        ("--k", "1,10", "--modes", "channel", "--no-fakeredis", "--rounds", "3",
         "--seconds", "2"),
        ("--k", "1,10", "--modes", "channel", "--no-fakeredis", "--rounds", "1",
         "--seconds", "0.5"),
        1.0,
    ),
    Part(
        "smtp",
        "smtp.py",
        ("--servers", "zoo,aiosmtpd", "--rounds", "3", "--scale", "0.5"),
        ("--servers", "zoo,aiosmtpd", "--rounds", "1", "--scale", "0.02"),
        3.0,
    ),
    Part(
        "ftp",
        "ftp.py",
        ("--rounds", "3", "--big-mib", "256", "--small", "1000", "--concurrent", "100"),
        ("--rounds", "1", "--big-mib", "8", "--small", "50", "--concurrent", "10"),
        2.5,
    ),
    Part(
        "ssh",
        "ssh.py",
        ("--rounds", "3", "--size-mib", "256", "--exec-seconds", "3"),
        ("--rounds", "1", "--size-mib", "4", "--exec-seconds", "0.5"),
        2.0,
    ),
    Part("tls", "tls.py", ("--rounds", "3", "--seconds", "2"), ("--rounds", "1", "--seconds", "0.5"), 1.5),
]  # fmt: skip
BY_NAME = {part.name: part for part in PARTS}


def part_command(part: Part, quick: bool, json_path: Path) -> list[str]:
    """The command line that runs one part, writing its raw runs to C{json_path}."""
    options = part.quick if quick else part.full
    return [sys.executable, str(BENCH / part.script), *options, "--json", str(json_path)]


def _output(argv: list[str], containing: str = "") -> str | None:
    """The first line a command prints (stdout, else stderr) with C{containing} in it.

    None if the command cannot run or prints no such line.
    """
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return next((line.strip() for line in text if containing in line), None)


def _distribution(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def git_state() -> dict[str, object]:
    """The commit the run measured, and whether the tree had changes not committed."""
    commit = _output(["git", "-C", str(REPO), "rev-parse", "HEAD"])
    status = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    )
    subject = _output(["git", "-C", str(REPO), "log", "-1", "--format=%s"])
    return {"commit": commit, "subject": subject, "dirty": bool(status.stdout.strip())}


def versions() -> dict[str, str | None]:
    """Every version that can be asked: the Python side, then each peer."""
    curl = _output(["curl", "--version"])
    return {
        "python": platform.python_version(),
        "twisted": _distribution("twisted"),
        "zoo": _distribution("txzoo"),
        "uvloop": _distribution("uvloop"),
        "aiosmtpd": _distribution("aiosmtpd"),
        "pyftpdlib": _distribution("pyftpdlib"),
        "redis-server": _output(["redis-server", "--version"]),
        "stunnel": _output(["stunnel4", "-version"], "stunnel "),
        "openssh": _output(["ssh", "-V"]),
        "openssl": _output(["openssl", "version"]),
        "curl": " ".join(curl.split()[:2]) if curl else None,
        "gcc": _output(["gcc", "--version"]),
    }


def machine() -> dict[str, object]:
    return {
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "memory_gib": _memory_gib(),
        "pinning": "server on CPU 0, load generator on CPU 1 (taskset)",
    }


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def run_name(started: float, quick: bool) -> str:
    """The run directory's name: the UTC start, and "-smoke" for a smoke run."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)) + ("-smoke" if quick else "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: plumbing, no figures")
    parser.add_argument("--only", help=f"comma-separated parts, from {','.join(BY_NAME)}")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where run directories go")
    parser.add_argument("--list", action="store_true", help="print the parts' commands and stop")
    args = parser.parse_args(argv)
    names = [n.strip() for n in (args.only or ",".join(BY_NAME)).split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown or not names:
        parser.error(f"unknown parts {unknown}; choose from {', '.join(BY_NAME)}")
    args.parts = [BY_NAME[n] for n in names]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for part in args.parts:
            command = part_command(part, args.quick, Path(f"{part.name}.json"))
            print(f"{part.name} (~{part.minutes:g} min full): {shlex.join(command)}")
        return 0
    started = time.time()
    run_dir = args.runs / run_name(started, args.quick)
    run_dir.mkdir(parents=True, exist_ok=False)
    meta: dict[str, object] = {
        "kind": "smoke" if args.quick else "full",
        "started": utc_now(),
        "command": shlex.join([sys.executable, *sys.argv]),
        "git": git_state(),
        "machine": machine(),
        "versions": versions(),
        "parts": {},
    }
    parts: dict[str, dict[str, object]] = {}
    meta["parts"] = parts
    meta_path = run_dir / "meta.json"
    failed = []
    for part in args.parts:
        json_path = run_dir / f"{part.name}.json"
        command = part_command(part, args.quick, json_path)
        print(f"== {part.name}: {shlex.join(command)}", file=sys.stderr, flush=True)
        begun = time.monotonic()
        with (
            (run_dir / f"{part.name}.md").open("w") as out,
            (run_dir / f"{part.name}.log").open("w") as log,
        ):
            done = subprocess.run(command, cwd=REPO, stdout=out, stderr=log)
        seconds = time.monotonic() - begun
        parts[part.name] = {
            "command": shlex.join(command),
            "returncode": done.returncode,
            "seconds": round(seconds, 1),
            "json": json_path.name if json_path.exists() else None,
        }
        status = "ok" if done.returncode == 0 and json_path.exists() else "FAILED"
        if status != "ok":
            failed.append(part.name)
        print(f"== {part.name}: {status} in {seconds:.0f} s", file=sys.stderr, flush=True)
        meta["ended"] = utc_now()
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")  # kept up to date as it goes
    meta["ended"] = utc_now()
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(
        f"run written to {run_dir.relative_to(REPO) if run_dir.is_relative_to(REPO) else run_dir}"
    )
    if failed:
        print(f"failed parts (see their .log): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
