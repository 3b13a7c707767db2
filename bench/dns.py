"""DNS benchmark: zoo-dns against dnsmasq serving the same records, queries/s with dnsperf.

Both servers answer the same names from local data, over UDP on 127.0.0.1:

- zoo-dns, from a zone file (bench/build/dns/zoo.test.zone);
- dnsmasq (Debian's dnsmasq-base), from the same records given as options
  (``--host-record``, ``--mx-host``, ``--txt-record``, ``--cname``), with no
  upstream servers, no hosts file and no cache of other names.

dnsperf (Debian's dnsperf) sends a mix of A, AAAA, MX, TXT and CNAME-chased A
questions (bench/build/dns/queries.txt) for ``--duration`` seconds, keeping up
to ``--outstanding`` questions in flight from ``--clients`` sockets. The server
is pinned to CPU 0 and dnsperf to CPU 1, as the other benchmarks pin theirs
(bench/harness.py). Each run reports dnsperf's queries/s (ratio against
dnsmasq), the share of questions answered and answered NOERROR (every
question has an answer: anything less means the servers were set up wrong),
the average latency, the server's
CPU (from /proc, over the run) and dnsperf's own CPU (from its rusage): near
100% of a core means dnsperf, not the server, was the limit.

NS questions are left out: dnsmasq answers NS only for a zone it serves with
``--auth-zone``, which also changes how it answers everything else.

    .venv/bin/python bench/dns.py                                # 3 rounds of 10 s
    .venv/bin/python bench/dns.py --duration 1 --rounds 1        # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import harness

WORK = harness.BUILD_DIR / "dns"
ZONE = "zoo.test"
#: The records both servers serve (zone-file lines, origin zoo.test).
RECORDS = [
    "@ NS ns",
    "@ A 127.0.0.1",
    "@ AAAA ::1",
    "@ MX 10 mail",
    '@ TXT "zoo-dns benchmark"',
    "www CNAME @",
    "ns A 127.0.0.1",
    "mail A 127.0.0.1",
]
#: dnsperf's questions: name and type, one per line.
QUERIES = [
    f"{ZONE} A",
    f"{ZONE} AAAA",
    f"{ZONE} MX",
    f"{ZONE} TXT",
    f"www.{ZONE} A",
    f"mail.{ZONE} A",
]


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP now (dnsmasq needs a fixed one)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise harness.BenchError("no free port")


def write_inputs() -> tuple[Path, Path]:
    """The zone file for zoo-dns and dnsperf's query file, in bench/build/dns/."""
    WORK.mkdir(parents=True, exist_ok=True)
    zone = WORK / f"{ZONE}.zone"
    zone.write_text(f"$ORIGIN {ZONE}.\n$TTL 300\n" + "\n".join(RECORDS) + "\n")
    queries = WORK / "queries.txt"
    queries.write_text("\n".join(QUERIES) + "\n")
    return zone, queries


def udp_port(path: Path) -> int:
    """The UDP listener's port in zoo's ready file (with --port 0 it differs from TCP's)."""
    data = json.loads(path.read_text())
    for listener in data.get("listeners", []):
        if listener.get("type", "").upper() == "UDP" and "port" in listener:
            return int(listener["port"])
    raise harness.BenchError(f"no UDP listener in ready file {path}: {data}")


def zoo_dns(zone: Path) -> harness.Server:
    plugin = harness.twistd_plugin(
        "zoo-dns", "zoo-dns", "--port", "0", "--domain", ZONE, "--zone-file", str(zone)
    )
    return harness.Server(plugin.name, plugin.argv, read_port=udp_port, env=plugin.env)


def dnsmasq() -> harness.Server:
    port = free_port()
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    argv = [
        binary,
        "--keep-in-foreground",
        f"--port={port}",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--conf-file=/dev/null",
        "--pid-file=",
        f"--local=/{ZONE}/",  # names in the zone are answered here, never forwarded
        f"--host-record={ZONE},127.0.0.1,::1",
        f"--host-record=ns.{ZONE},127.0.0.1",
        f"--host-record=mail.{ZONE},127.0.0.1",
        f"--mx-host={ZONE},mail.{ZONE},10",
        f'--txt-record={ZONE},"zoo-dns benchmark"',
        f"--cname=www.{ZONE},{ZONE}",
    ]
    if os.geteuid() == 0:
        argv.append("--user=root")  # dnsmasq drops to "nobody", which cannot write its log
    return harness.Server("dnsmasq", argv, port=port)


SERVERS = {"zoo-dns": zoo_dns, "dnsmasq": dnsmasq}
REFERENCE = "dnsmasq"


@dataclass
class Run:
    """One dnsperf run against one server."""

    server: str
    round: int
    qps: float | None = None
    completed_pct: float | None = None
    lost: int | None = None
    noerror_pct: float | None = None
    latency_ms: float | None = None
    server_cpu_pct: float | None = None
    dnsperf_cpu_pct: float | None = None
    failure: str | None = None


_FIELDS = {
    "qps": r"Queries per second:\s+([\d.]+)",
    "completed_pct": r"Queries completed:\s+\d+ \(([\d.]+)%\)",
    "lost": r"Queries lost:\s+(\d+)",
    "latency_s": r"Average Latency \(s\):\s+([\d.]+)",
    "run_time": r"Run time \(s\):\s+([\d.]+)",
}
_NOERROR = re.compile(r"Response codes:.*?NOERROR \d+ \(([\d.]+)%\)")


def parse_dnsperf(text: str) -> dict[str, float]:
    """The figures of dnsperf's report that the tables use."""
    found = {}
    for key, pattern in _FIELDS.items():
        m = re.search(pattern, text)
        if m is None:
            raise harness.BenchError(f"dnsperf printed no {key!r}: {text[-400:]}")
        found[key] = float(m.group(1))
    m = _NOERROR.search(text)
    found["noerror_pct"] = float(m.group(1)) if m else 0.0
    return found


def dnsperf(
    port: int, queries: Path, seconds: float, clients: int, outstanding: int, server_pid: int
) -> tuple[dict[str, float], float, float]:
    """Run dnsperf pinned to the load CPU.

    @return: its report's figures, the server's CPU % and dnsperf's CPU % (of one
        core) over dnsperf's run time.
    """
    argv = harness.pinned(
        harness.LOADGEN_CPU,
        [
            shutil.which("dnsperf") or "dnsperf",
            *("-s", "127.0.0.1", "-p", str(port), "-d", str(queries)),
            *("-l", f"{seconds:g}", "-c", str(clients), "-q", str(outstanding), "-t", "2"),
        ],
    )
    before = harness.cpu_ticks(server_pid)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read()  # dnsperf writes its report at the end; nothing blocks on it
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    after = harness.cpu_ticks(server_pid)
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise harness.BenchError(f"dnsperf exited with {proc.returncode}: {text[-400:]}")
    figures = parse_dnsperf(text)
    elapsed = figures["run_time"] or seconds
    server_pct = 100.0 * (after - before) / harness.CLOCK_TICKS / elapsed
    dnsperf_pct = 100.0 * (usage.ru_utime + usage.ru_stime) / elapsed
    return figures, server_pct, dnsperf_pct


def run_all(args: argparse.Namespace) -> list[Run]:
    zone, queries = write_inputs()
    runs = []
    for round_number in range(1, args.rounds + 1):
        for name in args.servers:
            run = Run(name, round_number)
            runs.append(run)
            server = SERVERS[name](zone) if name == "zoo-dns" else SERVERS[name]()
            try:
                harness.wait_for_quiet(10.0)
                with harness.RunningServer(server, f"dns-{name}-{round_number}") as running:
                    if args.prime > 0:  # warm up, unmeasured
                        dnsperf(running.port, queries, args.prime, args.clients, 10, running.pid)
                    figures, server_pct, dnsperf_pct = dnsperf(
                        running.port,
                        queries,
                        args.duration,
                        args.clients,
                        args.outstanding,
                        running.pid,
                    )
            except (harness.BenchError, OSError) as e:
                run.failure = str(e)
            else:
                run.qps = figures["qps"]
                run.completed_pct = figures["completed_pct"]
                run.lost = int(figures["lost"])
                run.noerror_pct = figures["noerror_pct"]
                run.latency_ms = figures["latency_s"] * 1000
                run.server_cpu_pct = server_pct
                run.dnsperf_cpu_pct = dnsperf_pct
            print(
                f"round {round_number} {name}: "
                + (run.failure or f"{run.qps:,.0f} q/s, server cpu {run.server_cpu_pct:.0f}%"),
                file=sys.stderr,
                flush=True,
            )
            time.sleep(0.2)
    return runs


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def render(runs: list[Run], args: argparse.Namespace) -> str:
    """One Markdown table: medians per server, ratios against dnsmasq."""
    cells = {name: [r for r in runs if r.server == name] for name in args.servers}
    ref = _median([r.qps for r in cells.get(REFERENCE, [])])
    out = [
        "## DNS over UDP, zoo-dns against dnsmasq (queries/s)",
        "",
        f"`dnsperf -c {args.clients} -q {args.outstanding} -l {args.duration:g}` on the "
        f"A/AAAA/MX/TXT/CNAME mix of bench/dns.py, server on CPU {harness.SERVER_CPU}, "
        f"dnsperf on CPU {harness.LOADGEN_CPU}, {args.rounds} interleaved rounds, medians; "
        f"ratio = server / {REFERENCE}; CPU in % of one core over dnsperf's run time.",
        "",
        "| server | queries/s | answered | NOERROR | lost | avg latency | server CPU | "
        "server µs/query | dnsperf CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, cell in cells.items():
        qps = _median([r.qps for r in cell])
        if qps is None:
            failures = "; ".join(r.failure or "" for r in cell)[:200]
            out.append(f"| {name} | failed: {failures} | | | | | | | |")
            continue
        ratio = f" ({qps / ref:.2f})" if ref else ""
        cpu = _median([r.server_cpu_pct for r in cell])
        cost = f"{cpu * 1e4 / qps:.1f}" if cpu is not None and qps else "—"
        lost = sum(r.lost or 0 for r in cell)
        out.append(
            f"| {name} | {qps:,.0f}{ratio} | {_median([r.completed_pct for r in cell]):.1f}% | "
            f"{_median([r.noerror_pct for r in cell]):.1f}% | {lost} | {_median([r.latency_ms for r in cell]):.3f} ms | {cpu:.0f}% | {cost} | "
            f"{_median([r.dnsperf_cpu_pct for r in cell]):.0f}% |"
        )
    return "\n".join(out) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--prime", type=float, default=1.0, help="unmeasured warm-up seconds")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--clients", type=int, default=4, help="dnsperf -c: client sockets")
    parser.add_argument("--outstanding", type=int, default=100, help="dnsperf -q: in flight")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--json", type=Path, help="write every raw run here as JSON")
    args = parser.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in args.servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown servers {unknown}; choose from {', '.join(SERVERS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("taskset", "dnsperf", "dnsmasq"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            raise SystemExit(f"bench/dns.py needs {tool} (see bench/README.md)")
    runs = run_all(args)
    markdown = harness.environment_note() + "\n\n" + render(runs, args)
    sys.stdout.write(markdown)
    if args.out:
        args.out.write_text(markdown)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return 1 if any(r.failure for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
