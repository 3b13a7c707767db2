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

    .venv/bin/python bench/pubsub.py [--rounds 3] [--seconds 2] [--k 1,10,100] [--no-fakeredis]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BUILD = BENCH / "build"
CLIENT_SOURCE = BENCH / "pubsub.c"
CLIENT = BUILD / "pubsub"
SERVER_CPU, CLIENT_CPU = "0", "1"
TICKS = os.sysconf("SC_CLK_TCK")


def build_client() -> None:
    if CLIENT.exists() and CLIENT.stat().st_mtime >= CLIENT_SOURCE.stat().st_mtime:
        return
    BUILD.mkdir(exist_ok=True)
    subprocess.run(["cc", "-O2", "-Wall", "-o", str(CLIENT), str(CLIENT_SOURCE)], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                if s.recv(100).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Server:
    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.port = free_port()
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, workdir: Path) -> None:
        log = (workdir / f"{self.name}.log").open("wb")
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *self.argv],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
        )  # fmt: skip
        try:
            wait_port(self.port, self.proc)
        except RuntimeError as e:
            self.stop()
            text = (workdir / f"{self.name}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name}: {e}\n{text}") from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def servers(with_fakeredis: bool) -> list[Server]:
    out = [
        Server("redis-server", [shutil.which("redis-server") or "redis-server", "--port", "{port}",
               "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]),
        Server("zoo-pubsub", [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
               "-n", "--pidfile=", "--logfile=zoo-pubsub-twistd.log", "zoo-pubsub", "--port", "{port}"]),
    ]  # fmt: skip
    if with_fakeredis:
        try:
            import fakeredis  # noqa: F401
        except ImportError:
            print("fakeredis not installed: skipped (pip install fakeredis)", file=sys.stderr)
        else:
            out.append(
                Server(
                    "fakeredis",
                    [sys.executable, str(BENCH / "servers" / "fakeredis_server.py"), "{port}"],
                )
            )
    return out


def write_ab_servers() -> list[Server]:
    """zoo-pubsub's factory with and without fast_writer, to measure what it buys."""
    script = str(BENCH / "servers" / "zoo_pubsub_write_ab.py")
    return [
        Server("zoo fast_writer", [sys.executable, script, "{port}", "fast"]),
        Server("zoo transport.write", [sys.executable, script, "{port}", "twisted"]),
    ]


def run_client(server: Server, k: int, mode: str, window: int, seconds: float) -> dict:
    assert server.proc is not None
    before = cpu_seconds(server.proc.pid)
    started = time.monotonic()
    out = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, str(CLIENT), "127.0.0.1", str(server.port), str(k), mode,
         str(seconds), str(window), "64"],
        capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    wall = time.monotonic() - started
    if out.returncode != 0:
        return {"error": out.stderr.strip() or f"exit {out.returncode}"}
    result = json.loads(out.stdout)
    used = cpu_seconds(server.proc.pid) - before
    delivered = result["delivered_per_s"] * wall
    result["server_cpu"] = used / wall
    result["server_us_per_msg"] = 1e6 * used / delivered if delivered else 0.0
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
    ap.add_argument("--json", default=str(BUILD / "pubsub-results.json"))
    args = ap.parse_args()
    build_client()
    ks = [int(k) for k in args.k.split(",")]
    modes = args.modes.split(",")
    svs = servers(not args.no_fakeredis)
    if args.write_ab:
        svs = [svs[0], *write_ab_servers()]
    results: dict[tuple[str, int, str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="zoo-bench-pubsub-") as tmp:
        try:
            for s in svs:
                s.start(Path(tmp))
            for r in range(args.rounds):
                for mode in modes:
                    for k in ks:
                        for s in svs:  # interleaved: every server in every round
                            for kind, window in (("rate", 64), ("latency", 1)):
                                if s.name == "fakeredis" and k == 100 and kind == "latency":
                                    continue  # minutes per round; its rate row says enough
                                res = run_client(s, k, mode, window, args.seconds)
                                results.setdefault((s.name, k, mode, kind), []).append(res)
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            for s in svs:
                s.stop()
    Path(args.json).parent.mkdir(exist_ok=True)
    Path(args.json).write_text(
        json.dumps({"|".join(map(str, key)): v for key, v in results.items()}, indent=1)
    )
    print(render(results, [s.name for s in svs], ks, modes, args))


def render(results, names, ks, modes, args) -> str:  # type: ignore[no-untyped-def]
    def med(name: str, k: int, mode: str, kind: str, field: str) -> float:
        runs = [x for x in results.get((name, k, mode, kind), []) if "error" not in x]
        return median([x[field] for x in runs])

    lines = [
        f"{args.rounds} interleaved rounds x {args.seconds:g}s, medians; 64-byte messages; "
        f"server on CPU {SERVER_CPU}, client (bench/pubsub.c) on CPU {CLIENT_CPU}.",
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
