"""Benchmark: XML-RPC double(42) calls per second, zoo-xmlrpc against SimpleXMLRPCServer.

    .venv/bin/python bench/xmlrpc.py [--rounds 3] [--seconds 3]

The load generator is wrk (Debian package wrk) with bench/xmlrpc_double.lua,
which posts the body xmlrpc.client sends for double(42) and counts any answer
that is not <int>84</int> as an error. wrk keeps its connections alive (HTTP/1.1);
SimpleXMLRPCServer answers HTTP/1.0 and closes after every call, so wrk reconnects
for each call there, which is what that server's users get too.

Each server runs pinned to CPU 0 and wrk to CPU 1 (taskset). The whole grid
(servers x concurrency 1 and 50) is repeated in interleaved rounds and the median
of each cell is reported, with the ratio to SimpleXMLRPCServer + ThreadingMixIn
(the reference the issue names), the server's and wrk's CPU use (percent of one
CPU), the share of CPU 0 other processes took (above a few percent, the machine
was busy), and p50/p99 latency from wrk. Calls per server CPU-second (all the
calls of a cell's rounds over all the CPU the server used for them) is the
steadier figure when other work shares CPU 0. The machine is shared: short runs,
noisy figures; compare ratios within one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
LUA = BENCH / "xmlrpc_double.lua"
TICKS = os.sysconf("SC_CLK_TCK")
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
STDLIB = [sys.executable, str(BENCH / "servers" / "stdlib_xmlrpc.py")]
TWISTED = [sys.executable, str(BENCH / "servers" / "twisted_xmlrpc.py")]


@dataclass
class Server:
    name: str
    argv: list[str]
    reference: bool = False


SERVERS = [
    Server("SimpleXMLRPCServer", [*STDLIB]),
    Server("SimpleXMLRPCServer + ThreadingMixIn", [*STDLIB, "--threads"], reference=True),
    Server("SimpleXMLRPCServer + ThreadingMixIn, access log", [*STDLIB, "--threads", "--log"]),
    Server("twisted.web.xmlrpc as shipped, access log", [*TWISTED, "--log"]),
    Server("zoo-xmlrpc", [*TWISTD, "-n", "--pidfile=", "zoo-xmlrpc", "--port", "0"]),
    Server(
        "zoo-xmlrpc --no-access-log",
        [*TWISTD, "-n", "--pidfile=", "zoo-xmlrpc", "--port", "0", "--no-access-log"],
    ),
]
CONCURRENCY = [1, 50]


@dataclass
class Cell:
    rate: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    wrk_cpu: list[float] = field(default_factory=list)
    others_cpu0: list[float] = field(default_factory=list)
    calls: int = 0
    cpu_seconds: float = 0.0
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    errors: int = 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu0_seconds() -> float:
    """Time CPU 0 spent running any process (user + nice + system), from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu0 "):
            user, nice, system = (int(v) for v in line.split()[1:4])
            return (user + nice + system) / TICKS
    return 0.0


def read_port(path: Path) -> int:
    data = json.loads(path.read_text())
    for listener in data.get("listeners", []):
        if listener["type"] == "TCP":
            return int(listener["port"])
    return int(data["port"])


class Running:
    """One server process pinned to CPU 0, for the duration of a `with` block."""

    def __init__(self, server: Server, tmp: Path) -> None:
        ready = tmp / f"ready-{time.monotonic_ns()}.json"
        env = {**os.environ, "ZOO_STATE_DIR": str(tmp / "state"), "PYTHONPATH": str(REPO)}
        self.log = open(tmp / f"{server.name.replace(' ', '_')}.log", "ab")
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0", *server.argv, "--ready-file", str(ready)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=tmp,
        )
        deadline = time.monotonic() + 20
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{server.name} did not start; see {self.log.name}")
            time.sleep(0.05)
        time.sleep(0.05)
        self.port = read_port(ready)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def _micros(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def run_wrk(port: int, connections: int, seconds: float, server_pid: int, cell: Cell) -> None:
    argv = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    argv += ["-s", str(LUA), f"http://127.0.0.1:{port}/RPC2"]
    server_before = cpu_seconds(server_pid)
    cpu0_before = cpu0_seconds()
    started = time.monotonic()
    wrk = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    # wrk's own CPU: sample /proc just before it exits (it is reaped by communicate()).
    wrk_cpu = 0.0
    while wrk.poll() is None:
        try:
            wrk_cpu = cpu_seconds(wrk.pid)
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.05)
    out = wrk.communicate(timeout=seconds + 30)[0]
    elapsed = time.monotonic() - started
    server_cpu = cpu_seconds(server_pid) - server_before
    others = max(0.0, cpu0_seconds() - cpu0_before - server_cpu)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"BAD (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    if rate is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    cell.rate.append(float(rate.group(1)))
    cell.server_cpu.append(100 * server_cpu / elapsed)
    cell.others_cpu0.append(100 * others / elapsed)
    done = re.search(r"(\d+) requests in", out)
    cell.calls += int(done.group(1)) if done else 0
    cell.cpu_seconds += server_cpu
    cell.wrk_cpu.append(100 * wrk_cpu / seconds)
    cell.p50.append(_micros(p50.group(1)) if p50 else float("nan"))
    cell.p99.append(_micros(p99.group(1)) if p99 else float("nan"))
    cell.errors += int(bad.group(1)) if bad else 0
    if socket_errors:
        # A reconnecting client against an HTTP/1.0 server sees no read errors; count real ones.
        cell.errors += sum(int(x) for x in socket_errors.groups()[0:1]) + int(
            socket_errors.group(4)
        )


def calls_per_cpu_second(cell: Cell) -> float | None:
    """All calls of a cell's rounds over all the server CPU they took (None if too little)."""
    if cell.cpu_seconds < 0.2:  # a few clock ticks: no figure at all
        return None
    return cell.calls / cell.cpu_seconds


def table(results: dict[tuple[str, int], Cell]) -> str:
    ref = next(s.name for s in SERVERS if s.reference)
    med = statistics.median
    head = ["server"]
    for c in CONCURRENCY:
        head += [f"c={c} calls/s (ratio)", f"c={c} server / wrk CPU %"]
    head += [
        "c=50 calls per server CPU-second (ratio)",
        "other processes on CPU 0 %",
        "p50/p99 µs c=50",
        "errors",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for server in SERVERS:
        row = [server.name]
        for c in CONCURRENCY:
            cell = results[(server.name, c)]
            rate = med(cell.rate)
            ratio = rate / med(results[(ref, c)].rate)
            row.append(f"{rate:,.0f} ({ratio:.2f})")
            row.append(f"{med(cell.server_cpu):.0f} / {med(cell.wrk_cpu):.0f}")
        top = results[(server.name, CONCURRENCY[-1])]
        per_cpu = calls_per_cpu_second(top)
        ref_per_cpu = calls_per_cpu_second(results[(ref, CONCURRENCY[-1])])
        if per_cpu and ref_per_cpu:
            row.append(f"{per_cpu:,.0f} ({per_cpu / ref_per_cpu:.2f})")
        else:
            row.append("n/a (too little CPU to measure)")
        others = [x for c in CONCURRENCY for x in results[(server.name, c)].others_cpu0]
        row.append(f"{med(others):.0f}")
        row.append(f"{med(top.p50):,.0f} / {med(top.p99):,.0f}")
        row.append(str(sum(results[(server.name, c)].errors for c in CONCURRENCY)))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/xmlrpc.py needs {tool} (apt-get install wrk util-linux)")
    results = {(s.name, c): Cell() for s in SERVERS for c in CONCURRENCY}
    with tempfile.TemporaryDirectory(prefix="zoo-bench-xmlrpc-") as tmp:
        for round_ in range(args.rounds):
            for server in SERVERS:
                with Running(server, Path(tmp)) as running:
                    for c in CONCURRENCY:
                        run_wrk(
                            running.port,
                            c,
                            args.seconds,
                            running.proc.pid,
                            results[(server.name, c)],
                        )
                print(f"round {round_ + 1}: {server.name} done", file=sys.stderr)
    print(
        f"XML-RPC double(42), wrk -t1 keep-alive, {args.rounds} interleaved rounds x "
        f"{args.seconds:g}s, medians; ratio = server / SimpleXMLRPCServer + ThreadingMixIn; "
        "server on CPU 0, wrk on CPU 1.\n"
    )
    print(table(results))


if __name__ == "__main__":
    main()
