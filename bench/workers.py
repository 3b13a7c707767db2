"""Scaling with --workers: zoo-lancelot and zoo-echo with 1, 2, ... worker processes.

    python bench/workers.py                         # workers 1,2; 3 rounds; c=100,1000
    python bench/workers.py --workers 1,2,4 --cpus 0-7 --loadgen-cpus 8-11   # a bigger machine

Unlike the other benchmarks, the server is not pinned to one CPU: it gets the
CPUs in ``--cpus`` (all of them by default) and the load generator the CPUs in
``--loadgen-cpus`` (the same by default, since this machine has two). On a
machine with cores to spare, give the two disjoint sets: that is the method for
measuring how far the workers scale. The server's CPU column adds up every
worker's CPU time; the load generator's CPU is printed beside each figure, as in
every table here. loadgen runs without ``--spin`` so that it does not take a core
from the server for nothing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import harness

_own_ticks = harness.cpu_ticks


def _tree_ticks(pid: int) -> int:
    """CPU ticks of C{pid} and every process it started (the workers)."""
    total = _own_ticks(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        try:
            total += _tree_ticks(int(child))
        except (OSError, ValueError):
            pass
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cpus = f"0-{(os.cpu_count() or 2) - 1}"
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--workloads", default="lancelot,echo", help="lancelot and/or echo")
    parser.add_argument("--conns", default="100,1000")
    parser.add_argument("--cpus", default=cpus, help=f"CPUs for the server (default {cpus})")
    parser.add_argument("--loadgen-cpus", default=cpus, help="CPUs for loadgen")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    harness.check_tools()
    harness.SERVER_CPU = args.cpus
    harness.LOADGEN_CPU = args.loadgen_cpus
    harness.cpu_ticks = _tree_ticks  # the server's CPU: worker 0 and its workers
    counts = [int(n) for n in args.workers.split(",")]
    levels = [harness.Level(f"c={n}", ["-c", n]) for n in args.conns.split(",")]
    parts = [harness.environment_note(), ""]
    failed = False
    for workload in args.workloads.split(","):
        plugin, base = {
            "lancelot": ("zoo-lancelot", ["-m", "lancelot"]),
            "echo": ("zoo-echo", ["-m", "echo", "-s", "64"]),
        }[workload]
        servers = [
            harness.twistd_plugin(f"workers={n}", plugin, "--port", "0", "--workers", str(n))
            for n in counts
        ]
        runs = harness.run_benchmark(
            servers,
            levels,
            base,
            args.rounds,
            args.duration,
            args.warmup,
            quiet_wait=0,  # the server's own workers keep the CPUs busy between runs
            noise_retries=0,
        )
        failed |= any(run.failure for run in runs)
        parts.append(
            harness.render_markdown(
                runs,
                servers=[s.name for s in servers],
                levels=[level.label for level in levels],
                reference=servers[0].name,
                title=f"{workload}: workers (server CPUs {args.cpus}, loadgen {args.loadgen_cpus})",
                command=f"loadgen {shlex.join(base)} -c N -d {args.duration:g}",
                rounds=args.rounds,
            )
        )
    markdown = "\n".join(parts)
    sys.stdout.write(markdown)
    if args.out:
        args.out.write_text(markdown)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
