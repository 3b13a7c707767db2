"""Pub-sub fan-out: zoo-pubsub against redis-server (and fakeredis), same client, same run.

One publisher and K = 1, 10, 100 subscribers (channel or pattern subscriptions),
driven by bench/pubsub.c, a small C epoll client (a Python client saturates long
before either server). Two measurements per cell:

- delivered messages/s, with the publisher at most WINDOW (64) messages ahead of
  the slowest subscriber (64-byte payloads);
- fan-out latency: one message in flight, time from PUBLISH to its arrival at the
  last subscriber, p50/p99.

Servers run pinned to CPU 0 and the client to CPU 1 (taskset); the table shows each
figure's ratio to redis-server, the server's CPU per delivered message, and the
client's own CPU use, so a saturated client would be visible. Rounds are interleaved
and medians reported: the machine is shared and noisy.

    .venv/bin/python bench/pubsub.py [--rounds 3] [--seconds 2] [--k 1,10,100] [--no-fakeredis] [--write-ab]

Servers are started and measured with bench/harness.py (RunningServer, pinning, CPU ticks).
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import (
    BUILD_DIR,
    CLOCK_TICKS,
    LOADGEN_CPU,
    SERVER_CPU,
    RunningServer,
    Server,
    check_tools,
    cpu_ticks,
    environment_note,
    pinned,
    python_server,
    twistd_plugin,
)

BENCH = Path(__file__).resolve().parent
CLIENT_SOURCE = BENCH / "pubsub.c"
CLIENT = BUILD_DIR / "pubsub"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_client() -> None:
    if CLIENT.exists() and CLIENT.stat().st_mtime >= CLIENT_SOURCE.stat().st_mtime:
        return
    BUILD_DIR.mkdir(exist_ok=True)
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(CLIENT), str(CLIENT_SOURCE)], check=True)


def servers(with_fakeredis: bool, write_ab: bool) -> list[Server]:
    port = free_port()
    out = [
        Server(
            "redis-server",
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            port=port,
        ),
    ]  # fmt: skip
    if write_ab:  # zoo's factory with and without fast_writer: what sending at once buys
        return out + [
            python_server("zoo fast_writer", "zoo_pubsub_write_ab.py", "fast"),
            python_server("zoo transport.write", "zoo_pubsub_write_ab.py", "twisted"),
        ]
    out.append(twistd_plugin("zoo-pubsub", "zoo-pubsub", "--port", "0"))
    if with_fakeredis:
        try:
            import fakeredis  # noqa: F401
        except ImportError:
            print("fakeredis not installed: skipped (pip install fakeredis)", file=sys.stderr)
        else:
            out.append(python_server("fakeredis", "fakeredis_server.py"))
    return out


def run_client(server: RunningServer, k: int, mode: str, window: int, seconds: float) -> dict:
    before = cpu_ticks(server.pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    argv = [
        str(CLIENT),
        "127.0.0.1",
        str(server.port),
        str(k),
        mode,
        str(seconds),
        str(window),
        "64",
    ]
    out = subprocess.run(
        pinned(LOADGEN_CPU, argv), capture_output=True, text=True, timeout=seconds + 60
    )
    wall = time.monotonic() - started
    if out.returncode != 0:
        return {"error": out.stderr.strip() or f"exit {out.returncode}"}
    result = json.loads(out.stdout)
    used = (cpu_ticks(server.pid) - before) / CLOCK_TICKS
    delivered = result["delivered_per_s"] * wall
    result["server_cpu"] = used / wall
    result["server_us_per_msg"] = 1e6 * used / delivered if delivered else 0.0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    result["client_cpu"] = client / wall  # the C client's share of one core
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--k", default="1,10,100")
    ap.add_argument("--modes", default="channel,pattern")
    ap.add_argument("--no-fakeredis", action="store_true")
    ap.add_argument(
        "--write-ab", action="store_true", help="compare zoo with and without fast_writer instead"
    )
    ap.add_argument("--json", default=str(BUILD_DIR / "pubsub-results.json"))
    args = ap.parse_args()
    check_tools()
    build_client()
    ks = [int(k) for k in args.k.split(",")]
    modes = args.modes.split(",")
    results: dict[tuple[str, int, str, str], list[dict]] = {}
    running: list[RunningServer] = []
    try:
        for server in servers(not args.no_fakeredis, args.write_ab):
            running.append(RunningServer(server, f"pubsub-{server.name.replace(' ', '-')}"))
        for r in range(args.rounds):
            for mode in modes:
                for k in ks:
                    for s in running:  # interleaved: every server in every round
                        for kind, window in (("rate", 64), ("latency", 1)):
                            if s.server.name == "fakeredis" and k == 100 and kind == "latency":
                                continue  # minutes per round; its rate row says enough
                            res = run_client(s, k, mode, window, args.seconds)
                            results.setdefault((s.server.name, k, mode, kind), []).append(res)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for s in running:
            s.stop()
    Path(args.json).parent.mkdir(exist_ok=True)
    Path(args.json).write_text(
        json.dumps({"|".join(map(str, key)): v for key, v in results.items()}, indent=1)
    )
    print(render(results, [s.server.name for s in running], ks, modes, args))
    print(environment_note())


def render(results, names, ks, modes, args) -> str:  # type: ignore[no-untyped-def]
    def med(name: str, k: int, mode: str, kind: str, field: str) -> float:
        runs = [x for x in results.get((name, k, mode, kind), []) if "error" not in x]
        return median([x[field] for x in runs])

    lines = [
        f"{args.rounds} interleaved rounds x {args.seconds:g}s, medians; 64-byte messages; "
        f"server on CPU {SERVER_CPU}, client (bench/pubsub.c) on CPU {LOADGEN_CPU}.",
        "delivered/s: publisher at most 64 messages ahead of the slowest subscriber (ratio to "
        "redis-server); latency: 1 message in flight, PUBLISH to last subscriber; srv µs/msg: "
        "server CPU per delivered message; client CPU: the load generator's own use.",
        "",
    ]
    for mode in modes:
        lines += [
            f"**{mode} subscribers**",
            "",
            "| server | K | delivered/s | latency p50 / p99 µs | srv µs/msg | client CPU | lost |",
            "|---|---|---|---|---|---|---|",
        ]
        for k in ks:
            ref = med("redis-server", k, mode, "rate", "delivered_per_s")
            for name in names:
                rate = med(name, k, mode, "rate", "delivered_per_s")
                errors = [
                    x["error"]
                    for kind in ("rate", "latency")
                    for x in results.get((name, k, mode, kind), [])
                    if "error" in x
                ]
                lost = sum(
                    x.get("lost", 0)
                    for kind in ("rate", "latency")
                    for x in results.get((name, k, mode, kind), [])
                )
                p50, p99 = (
                    med(name, k, mode, "latency", "p50_us"),
                    med(name, k, mode, "latency", "p99_us"),
                )
                lat = "n/a" if p50 != p50 else f"{p50:,.0f} / {p99:,.0f}"
                lines.append(
                    f"| {name} | {k} | {rate:,.0f} ({rate / ref:.2f}) | {lat} | "
                    f"{med(name, k, mode, 'rate', 'server_us_per_msg'):.2f} | "
                    f"{100 * med(name, k, mode, 'rate', 'loadgen_cpu'):.0f}% | {lost}"
                    + (f" ({len(errors)} failed runs)" if errors else "")
                    + " |"
                )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
