"""Redis lists: zoo-pubsub against redis-server, driven by redis-benchmark.

For each server (fresh, pinned to CPU 0) and each connection count, runs
``redis-benchmark -t lpush``, then ``rpush``, ``lpop`` and ``rpop`` (in that order,
so the pops find elements), pinned to CPU 1. For each test: requests/s as
redis-benchmark reports it, its p50/p99, the server's CPU time per request, and
redis-benchmark's own CPU use (near 100% of its core would mean the client, not
the server, is the limit). Rounds are interleaved; medians are reported, with
zoo's ratio to redis-server.

    .venv/bin/python bench/lists.py                                  # full run
    .venv/bin/python bench/lists.py --requests 20000 --conns 10 --rounds 1
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import (
    CLOCK_TICKS,
    LOADGEN_CPU,
    SERVER_CPU,
    BenchError,
    RunningServer,
    Server,
    check_tools,
    cpu_ticks,
    environment_note,
    pinned,
    twistd_plugin,
)

TESTS = ["lpush", "rpush", "lpop", "rpop"]
REFERENCE = "redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def servers() -> list[Server]:
    port = free_port()
    return [
        Server(
            REFERENCE,
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            port=port,
        ),
        twistd_plugin("zoo-pubsub", "zoo-pubsub", "--port", "0"),
    ]  # fmt: skip


def run_test(server: RunningServer, test: str, requests: int, conns: int) -> dict:
    """One redis-benchmark test; its figures, the server's and the client's CPU."""
    argv = pinned(
        LOADGEN_CPU,
        ["redis-benchmark", "-p", str(server.port), "-t", test, "-n", str(requests),
         "-c", str(conns), "--csv"],
    )  # fmt: skip
    before, started = cpu_ticks(server.pid), time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out, _ = process.communicate(timeout=300)
    elapsed = time.monotonic() - started
    server_s = (cpu_ticks(server.pid) - before) / CLOCK_TICKS
    rows = list(csv.DictReader(io.StringIO("\n".join(out.strip().splitlines()[-2:]))))
    if process.returncode != 0 or not rows:
        raise BenchError(f"redis-benchmark {test} failed: {out!r}")
    row = rows[0]
    rps = float(row["rps"])
    return {
        "rps": rps,
        "p50_ms": float(row["p50_latency_ms"]),
        "p99_ms": float(row["p99_latency_ms"]),
        "server_us": 1e6 * server_s / requests,
        "elapsed": elapsed,
    }


def client_cpu_pct(conns: int, requests: int, port: int, test: str) -> float:
    """redis-benchmark's own CPU use (% of its core) over one more run of C{test}."""
    argv = pinned(
        LOADGEN_CPU,
        ["redis-benchmark", "-p", str(port), "-t", test, "-n", str(requests), "-c", str(conns),
         "-q"],
    )  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    return 100.0 * (usage.ru_utime + usage.ru_stime) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000, help="per test (200000)")
    parser.add_argument("--conns", default="1,50", help="connection counts (default 1,50)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    check_tools()
    conns_list = [int(n) for n in args.conns.split(",")]
    listed = servers()
    results: dict[tuple[str, int, str], list[dict]] = {}
    for round_number in range(1, args.rounds + 1):
        for conns in conns_list:
            for server in listed:
                log = f"lists-{server.name}-c{conns}-r{round_number}"
                with RunningServer(server, log) as running:
                    for test in TESTS:
                        r = run_test(running, test, args.requests, conns)
                        # The client's CPU, on a second run of the same test (the pops
                        # find an empty list then: the push's share is what counts).
                        if test in ("lpush", "rpush"):
                            r["client_pct"] = client_cpu_pct(
                                conns, args.requests, running.port, test
                            )
                        results.setdefault((server.name, conns, test), []).append(r)
                        print(
                            f"round {round_number} c={conns} {server.name:13} {test:5} "
                            f"{r['rps']:>10,.0f}/s  server {r['server_us']:.2f} us/request"
                            + (f"  client cpu {r['client_pct']:.0f}%" if "client_pct" in r else ""),
                            file=sys.stderr,
                            flush=True,
                        )
    markdown = render(results, [s.name for s in listed], conns_list, args)
    sys.stdout.write(markdown)
    if args.out:
        args.out.write_text(markdown)
    return 0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def render(results, names, conns_list, args) -> str:  # type: ignore[no-untyped-def]
    lines = [
        environment_note(),
        "",
        "## Redis lists (requests/s)",
        "",
        f"`redis-benchmark -t TEST -n {args.requests} -c N`, server on CPU {SERVER_CPU}, "
        f"redis-benchmark on CPU {LOADGEN_CPU}, {args.rounds} interleaved rounds, medians; "
        f"ratio = server / {REFERENCE}; server µs = the server's CPU time per request; "
        "client = redis-benchmark's CPU use (% of its core) on a push run.",
        "",
        "| server | c | " + " | ".join(TESTS) + " | server µs (lpush/lpop) | client |",
        "|---|---|" + "---|" * len(TESTS) + "---|---|",
    ]
    for conns in conns_list:
        ref = {t: median([r["rps"] for r in results.get((REFERENCE, conns, t), [])]) for t in TESTS}
        for name in names:
            cells = []
            for t in TESTS:
                rps = median([r["rps"] for r in results.get((name, conns, t), [])])
                cells.append(f"{rps:,.0f} ({rps / ref[t]:.2f})")
            push = median([r["server_us"] for r in results.get((name, conns, "lpush"), [])])
            pop = median([r["server_us"] for r in results.get((name, conns, "lpop"), [])])
            client = median(
                [
                    r["client_pct"]
                    for r in results.get((name, conns, "lpush"), [])
                    if "client_pct" in r
                ]
            )
            lines.append(
                f"| {name} | {conns} | "
                + " | ".join(cells)
                + f" | {push:.2f} / {pop:.2f} | {client:.0f}% |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
