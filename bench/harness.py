"""Reusable pieces for zoo's benchmarks (standard library only).

A benchmark is a list of `Server` descriptions, a list of load `Level` s and
the load generator's base arguments.  `run_benchmark` starts each server
pinned to CPU 0, drives it with ``bench/build/loadgen`` pinned to CPU 1,
repeats the whole grid in interleaved rounds, and `render_markdown` turns the
medians into tables with ratios against a reference server.

Everything is bounded in time: server start-up, each load run and each
shutdown have deadlines, and a server that fails is reported, not waited for.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
BUILD_DIR = BENCH_DIR / "build"
LOG_DIR = BUILD_DIR / "logs"
LOADGEN_SOURCE = BENCH_DIR / "loadgen.c"
LOADGEN = BUILD_DIR / "loadgen"

SERVER_CPU = "0"
LOADGEN_CPU = "1"
READY_FILE = "{ready_file}"  # placeholder in a server's argv
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NOISE_PCT = 5.0  # other processes' share of a pinned CPU worth a warning


class BenchError(Exception):
    """A server or the load generator could not be run."""


# ---------------------------------------------------------------------------
# Describing what to run


def ready_file_port(path: Path) -> int:
    """Read the port from a ready file.

    Two shapes are understood: zoo's ``{"pid": .., "listeners": [{"type":
    "TCP", "port": ..}, ..]}`` (the first TCP listener wins) and a plain
    ``{"port": ..}``.
    """
    data = json.loads(path.read_text())
    for listener in data.get("listeners", []):
        if listener.get("type", "TCP").upper() == "TCP" and "port" in listener:
            return int(listener["port"])
    if "port" in data:
        return int(data["port"])
    raise BenchError(f"no TCP listener in ready file {path}: {data}")


@dataclass(frozen=True)
class Server:
    """How to start one server and find its port.

    ``argv`` may contain the placeholder ``{ready_file}``: the harness replaces
    it by a fresh path and waits until the server has written its port there
    (JSON, read by ``read_port``).  Without the placeholder, give a fixed
    ``port`` and the harness waits until it accepts connections.
    """

    name: str
    argv: Sequence[str]
    port: int | None = None
    read_port: Callable[[Path], int] = ready_file_port
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = REPO_DIR
    start_timeout: float = 20.0

    def __post_init__(self) -> None:
        if self.port is None and not any(READY_FILE in arg for arg in self.argv):
            raise ValueError(f"server {self.name}: give a port or a {READY_FILE} argument")


@dataclass(frozen=True)
class Level:
    """One column of the result tables: a label and the loadgen arguments it adds."""

    label: str
    args: Sequence[str]


def python_server(name: str, script: str, *extra: str) -> Server:
    """A server written as a script in bench/servers/, run by this Python."""
    return Server(
        name,
        [
            sys.executable,
            str(BENCH_DIR / "servers" / script),
            "--port",
            "0",
            "--ready-file",
            READY_FILE,
            *extra,
        ],
    )


def twistd_plugin(name: str, plugin: str, *options: str) -> Server:
    """A zoo twistd plugin, run in the foreground by the twistd beside this Python."""
    twistd = str(Path(sys.executable).parent / "twistd")
    pythonpath = os.pathsep.join(p for p in [str(REPO_DIR), os.environ.get("PYTHONPATH")] if p)
    return Server(
        name,
        [twistd, "-n", "--pidfile=", plugin, *options, "--ready-file", READY_FILE],
        env={"PYTHONPATH": pythonpath},
    )


# ---------------------------------------------------------------------------
# Building and running


def build_c(source: Path, force: bool = False) -> Path:
    """Compile bench/NAME.c into bench/build/NAME unless it is up to date."""
    BUILD_DIR.mkdir(exist_ok=True)
    binary = BUILD_DIR / source.stem
    if not force and binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    command = ["gcc", "-O2", "-Wall", "-Wextra", "-o", str(binary), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise BenchError(f"{' '.join(command)} failed:\n{result.stderr}")
    return binary


def build_loadgen(force: bool = False) -> Path:
    """Compile loadgen.c into bench/build/loadgen unless it is up to date."""
    return build_c(LOADGEN_SOURCE, force)


def pinned(cpu: str, argv: Sequence[str]) -> list[str]:
    """Prefix argv so that it runs on one CPU only."""
    return ["taskset", "-c", cpu, *argv]


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process, in clock ticks, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may contain spaces
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def cpus(spec: str) -> list[str]:
    """The CPU numbers of a taskset list (C{"1"}, C{"0,1"}, C{"0-3"})."""
    out: list[str] = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        out += [str(n) for n in range(int(low), int(high or low) + 1)]
    return out


def _on(ticks: dict[str, int], spec: str) -> int:
    return sum(ticks.get(cpu, 0) for cpu in cpus(spec))


def cpu_stat_ticks() -> dict[str, int]:
    """Per-CPU time spent in processes (user + nice + system), from /proc/stat.

    Interrupt and softirq time are left out: they are not charged to any
    process, so they cannot be told apart from the benchmark's own traffic.
    """
    ticks = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            user, nice, system = (int(v) for v in values[:3])
            ticks[name[3:]] = user + nice + system
    return ticks


def peak_rss_kib(pid: int) -> int | None:
    """Peak resident set size (VmHWM) of a process in KiB, if it is still there."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class RunningServer:
    """A server process pinned to SERVER_CPU; use as a context manager."""

    def __init__(self, server: Server, log_name: str) -> None:
        self.server = server
        self._tmp = tempfile.TemporaryDirectory(prefix="zoo-bench-")
        self.ready_file = Path(self._tmp.name) / "ready.json"
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{log_name}.log"
        argv = [arg.replace(READY_FILE, str(self.ready_file)) for arg in server.argv]
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            pinned(SERVER_CPU, argv),
            cwd=server.cwd,
            env={**os.environ, **server.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.process.pid  # taskset execs the server: same pid
        try:
            self.port = self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> int:
        deadline = time.monotonic() + self.server.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.server.name} exited with {self.process.returncode}: {self.log_tail()}"
                )
            if self.server.port is not None:
                if _port_accepts(self.server.port):
                    return self.server.port
            elif self.ready_file.exists():
                try:
                    port = self.server.read_port(self.ready_file)
                    pid = json.loads(self.ready_file.read_text()).get("pid")
                except (ValueError, OSError):
                    pass  # partly written; try again
                else:
                    if isinstance(pid, int) and Path(f"/proc/{pid}").exists():
                        self.pid = pid
                    return port
            time.sleep(0.02)
        raise BenchError(
            f"{self.server.name} not ready after {self.server.start_timeout:.0f} s: "
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = 5) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the server's process group, SIGKILL it if it lingers."""
        group = self.process.pid  # start_new_session: the group has the server's pid
        try:
            os.killpg(group, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            os.killpg(group, signal.SIGKILL)  # also any children left behind
        except ProcessLookupError:
            pass  # the whole group is gone
        self.process.wait(timeout)
        self._log.close()
        self._tmp.cleanup()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Run:
    """One load run against one server at one level."""

    server: str
    level: str
    round: int
    result: dict | None = None  # loadgen's JSON
    server_cpu_pct: float | None = None  # during the measured phase
    server_rss_kib: int | None = None  # VmHWM when the run ended
    other_load_pct: float | None = None  # other processes on the two pinned CPUs
    failure: str | None = None


@dataclass
class _Sample:
    when: float
    server_ticks: int
    loadgen_ticks: int
    cpu_ticks: dict[str, int]


def run_loadgen(
    loadgen_args: Sequence[str],
    port: int,
    server_pid: int,
    timeout: float,
) -> tuple[dict, float | None, float | None]:
    """Run loadgen pinned to LOADGEN_CPU.

    Returns loadgen's JSON, the server's CPU use (% of one core) and the
    largest share of either pinned CPU used by other processes meanwhile
    (a noise indicator).  loadgen prints ``loadgen: measuring`` and
    ``loadgen: done`` on stderr at the edges of its measured phase; CPU times
    are sampled there.
    """
    argv = pinned(LOADGEN_CPU, [str(LOADGEN), "-p", str(port), *loadgen_args])
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: dict[str, _Sample] = {}
    other_stderr: list[str] = []
    stdout_lines: list[str] = []

    def watch_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            marker = line.strip()
            if marker in ("loadgen: measuring", "loadgen: done"):
                try:
                    samples[marker] = _Sample(
                        time.monotonic(),
                        cpu_ticks(server_pid),
                        cpu_ticks(process.pid),
                        cpu_stat_ticks(),
                    )
                except OSError:
                    pass  # the server has gone
            else:
                other_stderr.append(line.rstrip())

    def read_stdout() -> None:
        assert process.stdout is not None
        stdout_lines.extend(process.stdout)

    readers = [
        threading.Thread(target=watch_stderr, daemon=True),
        threading.Thread(target=read_stdout, daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise BenchError(f"loadgen still running after {timeout:.0f} s; killed") from None
    for reader in readers:
        reader.join(5)
    stdout = "".join(stdout_lines)
    try:
        result = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(
            f"loadgen exited with {process.returncode}, no JSON: "
            f"{stdout.strip()!r} {' | '.join(other_stderr)}"
        ) from None
    if "error" in result:
        raise BenchError(str(result["error"]))

    start, end = samples.get("loadgen: measuring"), samples.get("loadgen: done")
    if start is None or end is None or end.when <= start.when:
        return result, None, None

    def percent(ticks: int) -> float:
        return 100.0 * ticks / CLOCK_TICKS / (end.when - start.when)

    server_pct = percent(end.server_ticks - start.server_ticks)
    loadgen_pct = percent(end.loadgen_ticks - start.loadgen_ticks)
    on_server_cpu = percent(_on(end.cpu_ticks, SERVER_CPU) - _on(start.cpu_ticks, SERVER_CPU))
    on_loadgen_cpu = percent(_on(end.cpu_ticks, LOADGEN_CPU) - _on(start.cpu_ticks, LOADGEN_CPU))
    if SERVER_CPU == LOADGEN_CPU:  # one set of CPUs for both (bench/workers.py)
        other = max(on_server_cpu - server_pct - loadgen_pct, 0.0)
    else:
        other = max(on_server_cpu - server_pct, on_loadgen_cpu - loadgen_pct, 0.0)
    return result, server_pct, other


def run_one(
    server: Server,
    level: Level,
    round_number: int,
    base_args: Sequence[str],
    duration: float,
    warmup: float,
    prime: float,
) -> Run:
    """Start a fresh server, prime it, load it at one level, stop it.

    Priming is a separate, unmeasured loadgen session at the same level that
    ends (closing its connections) before the measured one starts.  A fresh
    process is not in its steady state: CPython's asyncio, for one, reads
    into 256 KiB buffers, and until glibc's malloc has adapted its mmap and
    trim thresholds (which it does when such a block is freed at the end of
    the first connections) every read grows and trims the heap, page-faulting
    at about a third of the steady speed.  A warm-up inside the same session
    does not cure that; a finished session does.
    """
    run = Run(server.name, level.label, round_number)
    connect_limit = 10.0
    log_name = f"{server.name}-{level.label}-r{round_number}".replace("=", "").replace("/", "_")

    def load(seconds: float, warm: float, port: int, pid: int):
        args = [*base_args, "-d", str(seconds), "-w", str(warm), "-C", str(connect_limit)]
        timeout = connect_limit + warm + seconds + 20.0
        return run_loadgen([*args, *level.args], port, pid, timeout)

    try:
        with RunningServer(server, log_name) as running:
            if prime > 0:
                load(prime, 0.0, running.port, running.pid)
            run.result, run.server_cpu_pct, run.other_load_pct = load(
                duration, warmup, running.port, running.pid
            )
            run.server_rss_kib = peak_rss_kib(running.pid)
            if running.process.poll() is not None:
                run.failure = f"server exited during the run: {running.log_tail()}"
    except BenchError as e:
        run.failure = str(e)
    return run


def pinned_cpus_busy(window: float = 0.5) -> float:
    """The larger share (%) of the two pinned CPUs used by processes over a short window."""
    before, start = cpu_stat_ticks(), time.monotonic()
    time.sleep(window)
    after, elapsed = cpu_stat_ticks(), time.monotonic() - start
    return max(
        100.0 * (after[cpu] - before[cpu]) / CLOCK_TICKS / elapsed
        for cpu in (SERVER_CPU, LOADGEN_CPU)
    )


def wait_for_quiet(max_wait: float) -> float:
    """Wait, at most max_wait seconds, until the pinned CPUs are nearly idle.

    Returns the busy share last seen; the run goes ahead either way, and a
    noisy one is flagged by its ``other_load_pct``.
    """
    deadline = time.monotonic() + max_wait
    while True:
        busy = pinned_cpus_busy()
        if busy < NOISE_PCT or time.monotonic() >= deadline:
            return busy


def run_benchmark(
    servers: Sequence[Server],
    levels: Sequence[Level],
    base_args: Sequence[str],
    rounds: int,
    duration: float,
    warmup: float,
    prime: float = 0.5,
    quiet_wait: float = 10.0,
    noise_retries: int = 1,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> list[Run]:
    """Run every (level, server) pair once per round, rounds interleaved.

    Within a round, the servers alternate at each level, so that slow drifts
    of the machine (other load, thermal state) spread over all servers.
    Before each run, wait up to ``quiet_wait`` seconds for the pinned CPUs to
    be idle; a run during which other processes used NOISE_PCT or more of a
    pinned CPU is done again, up to ``noise_retries`` times (the last one is
    kept, and flagged in the tables if still noisy).
    """
    build_loadgen()
    runs = []
    for round_number in range(1, rounds + 1):
        for level in levels:
            for server in servers:
                for attempt in range(noise_retries + 1):
                    if quiet_wait > 0:
                        wait_for_quiet(quiet_wait)
                    run = run_one(server, level, round_number, base_args, duration, warmup, prime)
                    noisy = run.other_load_pct is not None and run.other_load_pct >= NOISE_PCT
                    if not noisy or attempt == noise_retries:
                        break
                    progress(describe_run(run) + "  -> noisy, run again")
                runs.append(run)
                progress(describe_run(run))
    return runs


def describe_run(run: Run) -> str:
    head = f"round {run.round} {run.level:>8} {run.server:<16}"
    if run.failure:
        return f"{head} FAILED: {run.failure}"
    r = run.result or {}
    cpu = f"{run.server_cpu_pct:.0f}%" if run.server_cpu_pct is not None else "?"
    return (
        f"{head} {r.get('rps', 0):>11,.0f}/s  p50 {r.get('p50_us', 0):,.0f} "
        f"p99 {r.get('p99_us', 0):,.0f} us  loadgen busy {r.get('busy_pct', 0):.0f}%  "
        f"server cpu {cpu}  errors {r.get('errors', 0)} ({r.get('warmup_errors', 0)})"
        + (f"  other load {run.other_load_pct:.0f}%" if run.other_load_pct else "")
    )


# ---------------------------------------------------------------------------
# Summaries and tables


@dataclass
class Summary:
    """Medians over the rounds of one (server, level) cell."""

    server: str
    level: str
    rounds: int  # successful runs
    failures: list[str]
    value: float | None  # the metric (rps or mbps)
    p50_us: float | None
    p99_us: float | None
    busy_pct: float | None
    server_cpu_pct: float | None
    server_rss_kib: int | None  # the largest peak seen
    other_load_pct: float | None  # the largest seen
    errors: int  # measured-phase errors, summed over rounds
    warmup_errors: int
    first_error: str


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: Sequence[Run], metric: str = "rps") -> dict[tuple[str, str], Summary]:
    cells: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        cells.setdefault((run.server, run.level), []).append(run)
    summaries = {}
    for (server, level), cell in cells.items():
        ok = [r for r in cell if r.result is not None]
        results = [r.result for r in ok if r.result is not None]
        first_errors = [r["first_error"] for r in results if r.get("first_error")]
        rss = [r.server_rss_kib for r in ok if r.server_rss_kib is not None]
        other = [r.other_load_pct for r in ok if r.other_load_pct is not None]
        summaries[server, level] = Summary(
            server=server,
            level=level,
            rounds=len(ok),
            failures=[r.failure for r in cell if r.failure],
            value=_median(r[metric] for r in results),
            p50_us=_median(r["p50_us"] for r in results),
            p99_us=_median(r["p99_us"] for r in results),
            busy_pct=_median(r["busy_pct"] for r in results),
            server_cpu_pct=_median(r.server_cpu_pct for r in ok),
            server_rss_kib=max(rss) if rss else None,
            other_load_pct=max(other) if other else None,
            errors=sum(r["errors"] for r in results),
            warmup_errors=sum(r.get("warmup_errors", 0) for r in results),
            first_error=first_errors[0] if first_errors else "",
        )
    return summaries


def _table(
    servers: Sequence[str], levels: Sequence[str], cell: Callable[[str, str], str]
) -> list[str]:
    """A Markdown table, one row per server and one column per level."""
    rows = ["| server | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
    for server in servers:
        rows.append(f"| {server} | " + " | ".join(cell(server, level) for level in levels) + " |")
    return rows


def _cost_per_request(s: Summary | None) -> float | None:
    """Server CPU microseconds per request: (cpu% / 100) s per s / (requests per s) * 1e6."""
    if s is None or not s.value or s.server_cpu_pct is None:
        return None
    return s.server_cpu_pct * 1e4 / s.value


def _number(value: float | None, decimals: int = 0) -> str:
    return "—" if value is None else f"{value:,.{decimals}f}"


def render_markdown(
    runs: Sequence[Run],
    servers: Sequence[str],
    levels: Sequence[str],
    reference: str,
    title: str,
    command: str,
    metric: str = "rps",
    unit: str = "requests/s",
    rounds: int | None = None,
) -> str:
    """Throughput table (with ratios and loadgen busy %), then latency and cost."""
    summaries = summarize(runs, metric)
    decimals = 1 if metric == "mbps" else 0
    rounds_text = f"{rounds} interleaved rounds" if rounds else "interleaved rounds"
    out = [
        f"## {title} ({unit})",
        "",
        f"`{command}`, server on CPU {SERVER_CPU}, loadgen on CPU {LOADGEN_CPU}, "
        f"{rounds_text}, medians; ratio = server / {reference}; "
        "busy = loadgen's share of the measured time spent handling events "
        "(near 100% means the client, not the server, is the bottleneck).",
        "",
    ]

    def throughput(server: str, level: str) -> str:
        s = summaries.get((server, level))
        ref = summaries.get((reference, level))
        if s is None or s.value is None:
            return "failed" if s and s.failures else "—"
        ratio = f" ({s.value / ref.value:.2f})" if ref and ref.value else ""
        return f"{_number(s.value, decimals)}{ratio}, busy {s.busy_pct:.0f}%"

    out += _table(servers, levels, throughput)

    out += [
        "",
        "Latency p50 / p99 (µs), server CPU (% of one core, measured phase) and server "
        "peak RSS (MiB), medians; errors = measured-phase errors summed over rounds "
        "(connect and warm-up errors in brackets):",
        "",
        "| server | errors | " + " | ".join(levels) + " |",
        "|---|---|" + "---|" * len(levels),
    ]
    for server in servers:
        cells = []
        errors = warmup_errors = 0
        for level in levels:
            s = summaries.get((server, level))
            if s is None or s.rounds == 0:
                cells.append("—")
                continue
            errors += s.errors
            warmup_errors += s.warmup_errors
            rss = f"{s.server_rss_kib / 1024:.0f} MiB" if s.server_rss_kib else "? MiB"
            cells.append(
                f"{_number(s.p50_us)} / {_number(s.p99_us)}, "
                f"cpu {_number(s.server_cpu_pct)}%, {rss}"
            )
        out.append(f"| {server} | {errors} ({warmup_errors}) | " + " | ".join(cells) + " |")

    if metric == "rps":
        out += [
            "",
            "Server CPU per request (µs of CPU time in the measured phase / requests; lower is "
            f"better; ratio = {reference} / server, so above 1 means cheaper than {reference}). "
            "This figure holds up when other processes compete for the CPUs, since it counts "
            "only the server's own CPU time:",
            "",
        ]

        def cost(server: str, level: str) -> str:
            mine = _cost_per_request(summaries.get((server, level)))
            ref_cost = _cost_per_request(summaries.get((reference, level)))
            if mine is None:
                return "—"
            ratio = f" ({ref_cost / mine:.2f})" if ref_cost else ""
            return f"{mine:.2f}{ratio}"

        out += _table(servers, levels, cost)

    noisy = [
        f"{s.server} {s.level} {s.other_load_pct:.0f}%"
        for s in summaries.values()
        if s.other_load_pct is not None and s.other_load_pct >= NOISE_PCT
    ]
    if noisy:
        out += [
            "",
            f"Other processes used {NOISE_PCT:.0f}% or more of a pinned CPU during some "
            "measured phases (largest share per cell); those figures are suspect: "
            + ", ".join(noisy)
            + ".",
        ]

    notes = []
    for server in servers:
        for level in levels:
            s = summaries.get((server, level))
            if s is None:
                continue
            if s.first_error:
                notes.append(f"- {server} {level}: first error `{s.first_error}`")
            for failure in s.failures[:1]:
                notes.append(f"- {server} {level}: run failed: `{failure}`")
    if notes:
        out += ["", "Errors and failures (the first per server and level):", "", *notes]
    return "\n".join(out) + "\n"


#: Pages of at least this order are reported to the host when free (see keep_guest_memory).
PAGE_REPORTING = Path("/sys/module/page_reporting/parameters/page_reporting_order")


@contextlib.contextmanager
def keep_guest_memory() -> Iterator[str]:
    """Stop this VM handing freed memory back to its host while the block runs.

    With virtio-balloon free page reporting, memory the guest frees is reported
    after 2 s and the host takes it back; the next write to such a page faults in
    the host, several times the cost of writing a warm one (touching 512 MiB:
    0.68 s cold, 0.24 s warm). A benchmark that fills new page cache (an FTP
    upload) then measures which pages the kernel handed out: one server's upload
    ranged 586-1,919 MB/s over five rounds, against 1,480-2,879 with reporting
    off. As root, this raises the reporting order past the largest page block
    (nothing is reported) and restores it afterwards; otherwise it does nothing.
    Yields a note for the report.
    """
    try:
        before = PAGE_REPORTING.read_text().strip()
        PAGE_REPORTING.write_text("11\n")
    except OSError:
        yield ""
        return
    try:
        yield f"Free page reporting to the VM host was off during the run (order {before} -> 11)."
    finally:
        PAGE_REPORTING.write_text(before + "\n")


def environment_note() -> str:
    """One line saying where the figures come from."""
    return (
        f"Machine: {os.cpu_count()} CPUs ({_cpu_model()}), kernel {platform.release()}, "
        f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M')}."
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_json(runs: Sequence[Run], path: Path) -> None:
    """Keep every raw run, for later analysis."""
    path.write_text(json.dumps([asdict(run) for run in runs], indent=1) + "\n")


def uvloop_missing() -> str | None:
    """Why the uvloop reference cannot run here, or None when it can."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "uvloop is not installed (pip install -e '.[bench]')"
    return None


def server_choice(spec: str | None, choices: Iterable[str], parser: Any) -> list[str]:
    """The server keys a C{--servers} option names, in the order given.

    Without the option every server is chosen, except "uvloop" when uvloop is not
    installed (said on stderr). Asking for it by name without uvloop is an error,
    as is an unknown name (C{parser.error} exits).
    """
    known = list(choices)
    if spec is None:
        chosen = known
        missing = uvloop_missing() if "uvloop" in known else None
        if missing:
            print(f"{missing}: the uvloop reference is left out", file=sys.stderr)
            chosen = [name for name in known if name != "uvloop"]
        return chosen
    chosen = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        parser.error(f"unknown servers {unknown}; choose from {', '.join(known)}")
    if "uvloop" in chosen and (missing := uvloop_missing()):
        parser.error(missing)
    return chosen


def check_tools() -> None:
    """Fail early, and clearly, if the machine lacks what the harness needs."""
    for tool in ("gcc", "taskset"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            raise BenchError(f"{tool} not found (gcc; taskset is in util-linux)")
    if (os.cpu_count() or 1) < 2:
        raise BenchError("need at least 2 CPUs: the server and loadgen get one each")
