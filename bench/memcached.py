"""memcached text protocol: zoo-memcached against Debian's memcached (-t 1), same client.

bench/memcached.c keeps one request in flight per connection (pipelining depth 1):
90% "get" and 10% "set" of 100-byte values over 1000 keys stored beforehand, every
answer checked byte by byte. Servers run on CPU 0 and the client on CPU 1 through
bench/harness.py (fresh server per run, a priming session, interleaved rounds,
medians); the tables give zoo's ratio to memcached and the client's busy share,
so a saturated client would show.

    .venv/bin/python bench/memcached.py                        # full run
    .venv/bin/python bench/memcached.py --conns 1,10 --duration 1 --rounds 1 --warmup 0.5
"""

from __future__ import annotations

import argparse
import os
import pwd
import shlex
import socket
import sys
from pathlib import Path

import harness

REFERENCE = "memcached"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def servers() -> list[harness.Server]:
    port = free_port()
    user = ["-u", pwd.getpwuid(os.getuid()).pw_name] if os.geteuid() == 0 else []
    return [
        harness.Server(
            REFERENCE,
            ["memcached", "-U", "0", "-l", "127.0.0.1", "-p", str(port), "-t", "1", *user],
            port=port,
        ),
        harness.twistd_plugin("zoo-memcached", "zoo-memcached", "--port", "0"),
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conns", default="1,10,100", help="connection counts (default 1,10,100)")
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    parser.add_argument("--prime", type=float, default=0.5, help="unmeasured session first (s)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--get-ratio", type=float, default=0.9, help="share of gets (0.9)")
    parser.add_argument("--size", type=int, default=100, help="value bytes (100)")
    parser.add_argument("--keys", type=int, default=1000, help="keys (1000)")
    parser.add_argument("--quiet-wait", type=float, default=10.0, help="wait for idle CPUs (s)")
    parser.add_argument("--no-spin", action="store_true", help="let the client block in epoll")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--json", type=Path, help="write every raw run here as JSON")
    args = parser.parse_args(argv)
    args.conns = [int(n) for n in args.conns.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.check_tools()
    # The harness runs the program at harness.LOADGEN with loadgen's command line
    # contract, which bench/memcached.c keeps.
    harness.LOADGEN = harness.build_c(harness.BENCH_DIR / "memcached.c")
    levels = [harness.Level(f"c={n}", ["-c", str(n)]) for n in args.conns]
    base_args = [
        "-r", str(args.get_ratio), "-s", str(args.size), "-k", str(args.keys),
        *([] if args.no_spin else ["--spin"]),
    ]  # fmt: skip
    listed = servers()
    runs = harness.run_benchmark(
        listed,
        levels,
        base_args,
        args.rounds,
        args.duration,
        args.warmup,
        prime=args.prime,
        quiet_wait=args.quiet_wait,
    )
    command = f"memcached {shlex.join(base_args)} -c N -d {args.duration:g} -w {args.warmup:g}"
    markdown = "\n".join(
        [
            harness.environment_note(),
            "",
            harness.render_markdown(
                runs,
                servers=[s.name for s in listed],
                levels=[level.label for level in levels],
                reference=REFERENCE,
                title="memcached get/set",
                command=command,
                rounds=args.rounds,
            ),
        ]
    )
    sys.stdout.write(markdown)
    if args.out:
        args.out.write_text(markdown)
    if args.json:
        harness.write_json(runs, args.json)
    return 1 if any(run.failure for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
