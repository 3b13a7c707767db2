"""Benchmark: zoo-http against Debian's httpbin under gunicorn (one sync worker), with wrk.

    .venv/bin/python bench/httpbench.py [--rounds 3] [--seconds 5] [--connections 50]

Both servers run pinned to CPU 0 and wrk (one thread, keep-alive) to CPU 1. Each
round runs every server on ``/get`` and ``/bytes/1024``; rounds are interleaved and
the median of each cell is reported with its ratio to httpbin, the server's and
wrk's CPU (percent of one CPU; gunicorn's master and worker together), the share of
CPU 0 other processes took (above a few percent the machine was busy), wrk's
p50/p99 latency, and errors (socket errors and answers that were not 2xx).

The reference is Debian's python3-httpbin run as ``/usr/bin/python3 -m gunicorn -w 1
httpbin:app`` (its sync worker closes each connection, so wrk reconnects for every
request there, which is what that server's users get too). Needs wrk, taskset,
gunicorn and python3-httpbin (.ci/apt/http.txt).
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
import harness  # noqa: E402  (beside this file)

# This file is named http.py: from here on the standard library's http must win.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]

SYSTEM_PYTHON = "/usr/bin/python3"
PATHS = ["/get", "/bytes/1024"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def servers() -> list[harness.Server]:
    port = _free_port()
    gunicorn = [SYSTEM_PYTHON, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}"]
    return [
        harness.Server("httpbin, gunicorn 1 sync worker", [*gunicorn, "httpbin:app"], port=port),
        harness.twistd_plugin("zoo-http", "zoo-http", "--port", "0"),
        harness.twistd_plugin(
            "zoo-http --no-access-log", "zoo-http", "--port", "0", "--no-access-log"
        ),
    ]


@dataclass
class Cell:
    rate: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    wrk_cpu: list[float] = field(default_factory=list)
    others_cpu0: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    errors: int = 0


def tree_ticks(pid: int) -> int:
    """CPU ticks of a process and all its descendants still running (gunicorn's worker)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            total += harness.cpu_ticks(p)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def _micros(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def run_wrk(url: str, connections: int, seconds: float, pid: int, cell: Cell) -> None:
    argv = harness.pinned(
        harness.LOADGEN_CPU,
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
    )
    server_before = tree_ticks(pid)
    cpu0_before = harness.cpu_stat_ticks()[harness.SERVER_CPU]
    started = time.monotonic()
    wrk = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    wrk_ticks = 0
    while wrk.poll() is None:  # sample wrk's CPU until it exits (then it is reaped)
        try:
            wrk_ticks = harness.cpu_ticks(wrk.pid)
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.05)
    out = wrk.communicate(timeout=seconds + 30)[0]
    elapsed = time.monotonic() - started
    server = (tree_ticks(pid) - server_before) / harness.CLOCK_TICKS
    cpu0 = (harness.cpu_stat_ticks()[harness.SERVER_CPU] - cpu0_before) / harness.CLOCK_TICKS
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise harness.BenchError(f"wrk printed no rate:\n{out}")
    cell.rate.append(float(rate.group(1)))
    cell.server_cpu.append(100 * server / elapsed)
    cell.wrk_cpu.append(100 * wrk_ticks / harness.CLOCK_TICKS / seconds)
    cell.others_cpu0.append(100 * max(0.0, cpu0 - server) / elapsed)
    p50, p99 = re.search(r"50%\s+(\S+)", out), re.search(r"99%\s+(\S+)", out)
    cell.p50.append(_micros(p50.group(1)) if p50 else float("nan"))
    cell.p99.append(_micros(p99.group(1)) if p99 else float("nan"))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    cell.errors += int(non_2xx.group(1)) if non_2xx else 0
    sockets = re.search(r"Socket errors: connect (\d+), read \d+, write \d+, timeout (\d+)", out)
    if sockets:  # read errors are the reference's closes, not failures
        cell.errors += int(sockets.group(1)) + int(sockets.group(2))


def table(names: list[str], results: dict[tuple[str, str], Cell]) -> str:
    med = statistics.median
    ref = names[0]
    head = ["server"]
    for path in PATHS:
        head += [f"{path} req/s (ratio)", f"{path} server / wrk CPU %", f"{path} p50/p99 µs"]
    head += ["other processes on CPU 0 %", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        row = [name]
        for path in PATHS:
            cell = results[(name, path)]
            rate = med(cell.rate)
            row.append(f"{rate:,.0f} ({rate / med(results[(ref, path)].rate):.2f})")
            row.append(f"{med(cell.server_cpu):.0f} / {med(cell.wrk_cpu):.0f}")
            row.append(f"{med(cell.p50):,.0f} / {med(cell.p99):,.0f}")
        others = [x for path in PATHS for x in results[(name, path)].others_cpu0]
        row.append(f"{med(others):.0f}")
        row.append(str(sum(results[(name, path)].errors for path in PATHS)))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/httpbench.py needs {tool} (apt-get install wrk util-linux)")
    check = subprocess.run([SYSTEM_PYTHON, "-c", "import gunicorn, httpbin"], capture_output=True)
    if check.returncode != 0:
        sys.exit("bench/httpbench.py needs gunicorn and python3-httpbin (apt-get install both)")
    grid = servers()
    names = [s.name for s in grid]
    results = {(s.name, p): Cell() for s in grid for p in PATHS}
    for round_ in range(args.rounds):
        for server in grid:
            with harness.RunningServer(server, f"http-{names.index(server.name)}") as running:
                for path in PATHS:
                    url = f"http://127.0.0.1:{running.port}{path}"
                    cell = results[(server.name, path)]
                    run_wrk(url, args.connections, args.seconds, running.pid, cell)
            print(f"round {round_ + 1}: {server.name} done", file=sys.stderr)
    print(
        f"HTTP GET /get and /bytes/1024, wrk -t1 -c{args.connections} keep-alive, "
        f"{args.rounds} interleaved rounds x {args.seconds}s, medians; ratio = server / "
        "httpbin under gunicorn (1 sync worker); servers on CPU 0, wrk on CPU 1.\n"
    )
    print(table(names, results))


if __name__ == "__main__":
    main()
