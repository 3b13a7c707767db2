"""Lancelot Q&A benchmark: zoo against asyncio, asyncio+uvloop and the book's Twisted server.

Each connection keeps one question in flight ("What is your name?") and
checks every answer.  Servers run on CPU 0, the load generator on CPU 1;
rounds are interleaved and the tables show medians, with ratios against the
asyncio reference.  "uvloop" is the same asyncio server on uvloop's event loop
(the bench extra installs uvloop; without it the default list leaves it out).

    /tmp/venv/bin/python bench/lancelot.py                      # full run
    /tmp/venv/bin/python bench/lancelot.py --servers asyncio,book --duration 2 --rounds 1
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import harness

SERVERS = {
    "zoo": harness.twistd_plugin("zoo-lancelot", "zoo-lancelot", "--port", "0"),
    "asyncio": harness.python_server("asyncio", "asyncio_lancelot.py"),
    "uvloop": harness.python_server("asyncio+uvloop", "asyncio_lancelot.py", "--uvloop"),
    "book": harness.python_server("book-twisted", "book_twisted_lancelot.py"),
}
REFERENCE = "asyncio"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--servers",
        default=None,
        help=f"comma-separated, from {','.join(SERVERS)} (default: all; uvloop if installed)",
    )
    parser.add_argument(
        "--conns",
        default="1,10,100,1000",
        help="comma-separated connection counts (default: 1,10,100,1000)",
    )
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    parser.add_argument(
        "--prime",
        type=float,
        default=0.5,
        help="seconds of an unmeasured session before each measured one (0: none)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="before each run, wait up to this long for the pinned CPUs to be idle (0: don't)",
    )
    parser.add_argument(
        "--noise-retries",
        type=int,
        default=1,
        help="run again when other processes competed for the pinned CPUs (default 1)",
    )
    parser.add_argument(
        "--no-spin",
        action="store_true",
        help="let loadgen block in epoll_wait instead of busy-polling",
    )
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--json", type=Path, help="write every raw run here as JSON")
    args = parser.parse_args(argv)

    args.servers = harness.server_choice(args.servers, SERVERS, parser)
    try:
        args.conns = [int(n) for n in args.conns.split(",")]
    except ValueError:
        parser.error(f"--conns must be integers: {args.conns}")
    if args.rounds < 1 or args.duration <= 0 or args.noise_retries < 0:
        parser.error("--rounds must be at least 1, --duration positive, --noise-retries >= 0")
    if min(args.warmup, args.prime, args.quiet_wait) < 0:
        parser.error("--warmup, --prime and --quiet-wait cannot be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.check_tools()
    servers = [SERVERS[name] for name in args.servers]
    reference = SERVERS[REFERENCE].name if REFERENCE in args.servers else servers[0].name
    levels = [harness.Level(f"c={n}", ["-c", str(n)]) for n in args.conns]
    base_args = ["-m", "lancelot"] + ([] if args.no_spin else ["--spin"])

    runs = harness.run_benchmark(
        servers,
        levels,
        base_args,
        args.rounds,
        args.duration,
        args.warmup,
        prime=args.prime,
        quiet_wait=args.quiet_wait,
        noise_retries=args.noise_retries,
    )

    command = (
        f"loadgen {shlex.join(base_args)} -c N -d {args.duration:g} -w {args.warmup:g}"
        f" (after a {args.prime:g} s priming session)"
    )
    markdown = "\n".join(
        [
            harness.environment_note(),
            "",
            harness.render_markdown(
                runs,
                servers=[s.name for s in servers],
                levels=[level.label for level in levels],
                reference=reference,
                title="Lancelot Q&A",
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
