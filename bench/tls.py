"""TLS benchmark: zoo-tls and `twistd zoo-lancelot --tls` against stunnel4, same run.

Every server presents the same certificate (the zoo development certificate,
ECDSA P-256) and negotiates its default TLS version (1.3). Servers run pinned to
CPU 0; the load generator (bench/tlsload.c, C + OpenSSL, or `openssl s_time`) and
the plain backends are pinned to CPU 1. Rounds are interleaved and medians
reported, each with the ratio to stunnel4 and the CPU seconds the server and the
load generator used per second of run.

Scenarios:

- handshakes/s: TCP connect + full handshake (no resumption) + close_notify, to a
  wrapper in front of a C sink backend (the wrapper also connects upstream);
  c=1 and c=10 with tlsload; c=1 with `openssl s_time -new`;
- question/s: a new TLS connection per Lancelot question (handshake, question,
  answer, close): zoo-lancelot --tls, zoo-tls and stunnel4 in front of plain
  zoo-lancelot;
- bulk MB/s: one TLS connection streaming 64 KiB blocks for the whole run, from
  a C source backend to the client (down) and from the client into a C sink (up).

Usage: .venv/bin/python bench/tls.py [--seconds 3] [--rounds 3] [--json tls.json]
The machine is shared and noisy: treat differences under ~10 % as noise.
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
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BUILD = BENCH / "build"
TLSLOAD = BUILD / "tlsload"
SERVER_CPU, LOAD_CPU = "0", "1"
TICKS = os.sysconf("SC_CLK_TCK")
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
QUESTION = "What is your name?"


def build() -> Path:
    BUILD.mkdir(exist_ok=True)
    src = BENCH / "tlsload.c"
    if not TLSLOAD.exists() or TLSLOAD.stat().st_mtime < src.stat().st_mtime:
        cmd = ["cc", "-O2", "-Wall", "-pthread", "-o", str(TLSLOAD), str(src), "-lssl", "-lcrypto"]
        subprocess.run(cmd, check=True)
    return TLSLOAD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all threads), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s: {proc.args}")


@contextmanager
def process(argv: Sequence[str], cpu: str, port: int, log: Path) -> Iterator[int]:
    """Start C{argv} pinned to C{cpu}, wait for C{port}; yield the pid."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["taskset", "-c", cpu, *argv], stdout=out, stderr=subprocess.STDOUT, cwd=log.parent
        )
    try:
        wait_port(port, proc)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Result:
    value: float  # per second: handshakes, questions or MB
    server_cpu: float  # CPU seconds per second of run
    load_cpu: float
    errors: int = 0


def tlsload(mode: str, port: int, seconds: float, conc: int, *extra: str) -> dict[str, float]:
    argv = [str(TLSLOAD), mode, "127.0.0.1", str(port), str(seconds), str(conc), *extra]
    out = subprocess.run(
        ["taskset", "-c", LOAD_CPU, *argv], capture_output=True, text=True, timeout=seconds + 30
    )
    if out.returncode != 0:
        raise RuntimeError(f"{argv}: {out.stderr}")
    return json.loads(out.stdout)


def s_time(port: int, seconds: float) -> dict[str, float]:
    """`openssl s_time -new`: sequential full handshakes; CPU from the child's rusage."""
    before = os.times()
    out = subprocess.run(
        ["taskset", "-c", LOAD_CPU, "openssl", "s_time", "-new", "-connect", f"127.0.0.1:{port}"]
        + ["-time", str(max(1, round(seconds)))],  # whole seconds, at least 1
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    after = os.times()
    m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out.stdout)
    if not m:
        raise RuntimeError(f"openssl s_time: {out.stdout}{out.stderr}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return {"count": int(m.group(1)), "bytes": 0, "seconds": float(m.group(2)), "cpu": cpu}


def measure(server_pid: int, run: dict[str, float] | None, fn: object, mb: bool) -> Result:
    start = cpu_seconds(server_pid)
    data = fn()  # type: ignore[operator]
    used = cpu_seconds(server_pid) - start
    secs = data["seconds"]
    value = data["bytes"] / 1e6 / secs if mb else data["count"] / secs
    return Result(value, used / secs, data["cpu"] / secs, int(data.get("errors", 0)))


def stunnel_conf(work: Path, accept: int, connect: int, cert: Path, key: Path) -> list[str]:
    conf = work / f"stunnel-{accept}.conf"
    conf.write_text(
        "foreground = yes\npid =\nsyslog = no\ndebug = 3\n"
        "socket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n"
        f"[bench]\naccept = 127.0.0.1:{accept}\nconnect = 127.0.0.1:{connect}\n"
        f"cert = {cert}\nkey = {key}\n"
    )
    return [shutil.which("stunnel4") or "stunnel4", str(conf)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write every raw measurement here as JSON")
    args = parser.parse_args(argv)
    if not shutil.which("stunnel4"):
        sys.exit("stunnel4 is not installed (apt-get install stunnel4)")
    build()
    from zoo.certs import ensure_dev_certificates

    work = Path(tempfile.mkdtemp(prefix="zoo-bench-tls-"))
    env_state = work / "state"
    paths = ensure_dev_certificates(env_state)
    cert, key = str(paths.cert), str(paths.key)
    os.environ["ZOO_STATE_DIR"] = str(env_state)
    secs = args.seconds

    ports = {n: free_port() for n in ("sink", "source", "lancelot")}
    results: dict[tuple[str, str], list[Result]] = {}

    def twistd(*a: str) -> list[str]:
        return [*TWISTD, "-n", "--pidfile=", "--logfile", "-", *a]

    def wrappers(backend: int) -> list[tuple[str, list[str], int]]:
        zp, sp = free_port(), free_port()
        common = ["--tls-cert", cert, "--tls-key", key, "--port"]
        return [
            ("zoo-tls", twistd("zoo-tls", *common, str(zp), "--connect", str(backend)), zp),
            ("stunnel4", stunnel_conf(work, sp, backend, paths.cert, paths.key), sp),
        ]

    backends = [
        ("sink", [str(TLSLOAD), "sink", str(ports["sink"])]),
        ("source", [str(TLSLOAD), "source", str(ports["source"])]),
        ("lancelot", twistd("zoo-lancelot", "--port", str(ports["lancelot"]))),
    ]
    from contextlib import ExitStack

    with ExitStack() as stack:
        for name, cmd in backends:
            stack.enter_context(process(cmd, LOAD_CPU, ports[name], work / f"{name}.log"))
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}/{args.rounds}", file=sys.stderr)
            for server, cmd, port in wrappers(ports["sink"]):
                with process(cmd, SERVER_CPU, port, work / f"{server}-sink.log") as pid:
                    for label, fn in [
                        ("handshakes/s c=1", lambda p=port: tlsload("hs", p, secs, 1)),
                        ("handshakes/s c=10", lambda p=port: tlsload("hs", p, secs, 10)),
                        ("handshakes/s s_time", lambda p=port: s_time(p, secs)),
                        ("upload MB/s c=1", lambda p=port: tlsload("up", p, secs, 1)),
                    ]:
                        mb = "MB" in label
                        results.setdefault((label, server), []).append(measure(pid, None, fn, mb))
            for server, cmd, port in wrappers(ports["source"]):
                with process(cmd, SERVER_CPU, port, work / f"{server}-source.log") as pid:
                    fn = lambda p=port: tlsload("down", p, secs, 1)  # noqa: E731
                    results.setdefault(("download MB/s c=1", server), []).append(
                        measure(pid, None, fn, True)
                    )
            lp = free_port()
            lancelot_tls = (
                "zoo-lancelot --tls",
                twistd("zoo-lancelot", "--tls-cert", cert, "--tls-key", key, "--port", str(lp)),
                lp,
            )
            for server, cmd, port in [lancelot_tls, *wrappers(ports["lancelot"])]:
                with process(cmd, SERVER_CPU, port, work / f"{server}-lancelot.log") as pid:
                    fn = lambda p=port: tlsload("hs", p, secs, 10, QUESTION)  # noqa: E731
                    results.setdefault(("questions/s c=10 (new TLS each)", server), []).append(
                        measure(pid, None, fn, False)
                    )
    print(render(results, args))
    shutil.rmtree(work, ignore_errors=True)
    if args.json:  # list position = round; CPU in CPU-seconds per second of run
        raw = [
            {"scenario": scenario, "server": server, "round": n + 1, **asdict(r)}
            for (scenario, server), rs in results.items()
            for n, r in enumerate(rs)
        ]
        args.json.write_text(json.dumps(raw, indent=1) + "\n")
    return 0


def render(results: dict[tuple[str, str], list[Result]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.rounds} interleaved rounds x {args.seconds:g}s, medians; ratio = server / stunnel4;",
        "CPU = CPU-seconds per second (server pinned to CPU 0, load generator to CPU 1).",
        "",
        "Server CPU per operation (µs per handshake or question, ms per GB) is the",
        "figure least disturbed by other processes on a shared machine.",
        "",
        "| scenario | server | rate (ratio) | server CPU | server CPU/op (ratio) | loadgen CPU | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    scenarios = list(dict.fromkeys(s for s, _ in results))
    for scenario in scenarios:
        ref = results.get((scenario, "stunnel4"))
        ref_value = statistics.median(r.value for r in ref) if ref else None
        ref_cost = statistics.median(_cost(r) for r in ref) if ref else None
        unit = "ms/GB" if "MB" in scenario else "µs"
        for (s, server), rs in results.items():
            if s != scenario:
                continue
            value = statistics.median(r.value for r in rs)
            cost = statistics.median(_cost(r) for r in rs)
            ratio = f" ({value / ref_value:.2f})" if ref_value else ""
            cost_ratio = f" ({cost / ref_cost:.2f})" if ref_cost else ""
            lines.append(
                f"| {scenario} | {server} | {value:,.0f}{ratio} | "
                f"{statistics.median(r.server_cpu for r in rs):.2f} | "
                f"{cost:,.0f} {unit}{cost_ratio} | "
                f"{statistics.median(r.load_cpu for r in rs):.2f} | {sum(r.errors for r in rs)} |"
            )
    return "\n".join(lines)


def _cost(r: Result) -> float:
    """Server CPU per operation: µs per handshake/question, or ms per GB (1e6 µs/MB = ms/GB)."""
    return r.server_cpu / r.value * 1e6 if r.value else float("nan")


if __name__ == "__main__":
    sys.exit(main())
