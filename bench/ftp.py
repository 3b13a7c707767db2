"""Benchmark zoo-ftp against pyftpdlib with curl and bench/ftpload.c, in one run.

    .venv/bin/pip install pyftpdlib        # bench only, not a zoo dependency
    .venv/bin/python bench/ftp.py [--rounds 3] [--big-mib 512] [--small 2000] [--concurrent 300]

Workloads (anonymous downloads, user uploads, 127.0.0.1, passive mode):

- download: one curl fetches a BIG file (page-cached) to /dev/null;
- upload: one curl stores a BIG file (curl -T); before each, dirty pages are synced
  and twice BIG of memory is touched and freed (see prefault());
- small: one ftpload session fetches a 4 KiB file SMALL times over one control
  connection (--reuse: EPSV, RETR, EPSV, RETR...). curl did this before, but each
  data connection it closed normally left a TIME_WAIT on a server port, and past a
  few thousand of them every passive bind() on port 0 got slower (2,000 files fell
  from 1,600 to 300 files/s, whichever server), so the figure depended on what ran
  before; ftpload resets data connections after their EOF (see below);
- concurrent: bench/ftpload.c (built into bench/build/ftpload) keeps CONCURRENT sessions
  at once fetching a 1 MiB file, each transfer on its own control connection (connect,
  USER/PASS, TYPE I, EPSV, RETR, QUIT), until --concurrent-total transfers are done
  (default 3 x CONCURRENT, so that the run outlasts the ramp-up and the server CPU
  samples' 10 ms ticks). It checks every reply code and that every transfer delivers
  exactly 1 MiB. curl --parallel used to drive this one, but curl saturated its core
  (92%) before the servers did. ftpload is one C epoll thread that drops the data in
  the kernel (MSG_TRUNC), gives data connections a 4 MiB receive buffer (else, on
  loopback, the client's window updates make it transmit the server's queued data on
  its own CPU) and resets each data connection after its EOF (else a few thousand
  server-side TIME_WAITs fill the ephemeral port range, and every later passive
  bind() slows down, whichever server ran before): see the comments in ftpload.c.

Servers: zoo-ftp (twistd), pyftpdlib without sendfile (the reference: ratios are
against it), and pyftpdlib with sendfile (its default on Linux). Each server is pinned
to CPU 0 and the client to CPU 1; the rounds interleave the servers and the tables show
medians, with server CPU and client CPU (user+sys as % of one core) beside each figure:
a client near 100% means the figure is the client's limit, not the server's.
Each server runs the small and concurrent workloads once, unmeasured, before the
rounds (--no-prime skips it): a fresh zoo-ftp spent 0.77 ms/MB in its first concurrent
run and 0.60-0.68 in the next ones. Before each measurement it waits (up to 3 s) for
the two pinned CPUs to be quiet (bench/harness.py's wait_for_quiet) and reports the
other load it saw. Standard library and bench/harness.py only, apart from the
servers, curl and gcc.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness import LOADGEN_CPU as CLIENT_CPU
from harness import SERVER_CPU, cpu_ticks, pinned

REPO = harness.REPO_DIR
FTPLOAD_SOURCE = harness.BENCH_DIR / "ftpload.c"
FTPLOAD = harness.BUILD_DIR / "ftpload"
TICKS = harness.CLOCK_TICKS
FAILED = (float("nan"), float("nan"), float("nan"))

PYFTPDLIB = """
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.WARNING)
port, root, upload, sendfile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
auth = DummyAuthorizer()
auth.add_anonymous(root)
auth.add_user("bench", "bench", upload, perm="elradfmwMT")
FTPHandler.authorizer = auth
FTPHandler.use_sendfile = sendfile
server = FTPServer(("127.0.0.1", int(port)), FTPHandler, backlog=1024)
server.max_cons = 2000
server.max_cons_per_ip = 0
server.serve_forever()
"""


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ftp(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no FTP server on port {port} after {timeout}s")


def prefault(size: int) -> None:
    """Touch C{size} bytes of memory and free them, so an upload's page cache is warm.

    This VM reports free guest memory to its host (virtio-balloon free page
    reporting: 2 s after pages are freed, the host takes them back), and the
    first write to such a page faults in the host: touching 512 MiB took 0.68 s
    fresh, 0.46 s after a 3 s pause and 0.24 s right after a free. An upload
    writes 512 MiB of new page cache, so without this its rate (from 586 to
    1,919 MB/s for one server in five rounds) said more about which pages the
    kernel handed out than about the server.
    """
    block = bytearray(b"\1") * size
    del block


def run_client(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Run a client pinned to the client CPU; return (wall seconds, its CPU seconds)."""
    with tempfile.TemporaryFile() as out:  # not a pipe: nobody reads it until the end
        start = time.monotonic()
        proc = subprocess.Popen(pinned(CLIENT_CPU, argv), cwd=cwd, stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        out.seek(0)
        said = out.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... failed ({proc.returncode}): {said}")
    return wall, usage.ru_utime + usage.ru_stime


def workloads(port: int, files: Path, opts: argparse.Namespace) -> dict:
    """Each workload: (client argv, amount of work, unit)."""
    base = f"ftp://127.0.0.1:{port}"
    user = f"ftp://bench:bench@127.0.0.1:{port}"
    curl = ["curl", "-sS", "--max-time", "300"]
    null = ["-o", "/dev/null"]
    mib = 1024 * 1024
    total = opts.concurrent_total or 3 * opts.concurrent
    ftpload = [str(FTPLOAD), "-p", str(port), "-f", "one.bin", "-s", str(mib)]
    ftpload += ["-c", str(opts.concurrent), "-n", str(total), "-t", "300"]
    return {
        "download": ([*curl, *null, f"{base}/big.bin"], opts.big_mib * mib / 1e6, "MB/s"),
        "upload": (
            [*curl, "-T", str(files / "big.bin"), f"{user}/up.bin"],
            opts.big_mib * mib / 1e6,
            "MB/s",
        ),
        "small": (
            [
                str(FTPLOAD),
                "-p",
                str(port),
                "-f",
                "small.bin",
                "-s",
                "4096",
                "-c",
                "1",
                "-n",
                str(opts.small),
                "--reuse",
                "-t",
                "300",
            ],
            opts.small,
            "files/s",
        ),  # fmt: skip
        "concurrent": (ftpload, total * mib / 1e6, "MB/s"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--big-mib", type=int, default=512)
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--concurrent", type=int, default=300, help="ftpload sessions at once")
    ap.add_argument(
        "--concurrent-total",
        type=int,
        default=0,
        help="1 MiB transfers in the concurrent workload (default 3 x --concurrent)",
    )
    ap.add_argument("--only", default="download,upload,small,concurrent")
    ap.add_argument("--json", type=Path, help="write every raw measurement here as JSON")
    ap.add_argument(
        "--no-prime",
        dest="prime",
        action="store_false",
        help="skip the unmeasured run of the small and concurrent workloads on each new server",
    )
    opts = ap.parse_args()
    try:
        import pyftpdlib  # noqa: F401
    except ImportError:
        print("pyftpdlib is not installed: .venv/bin/pip install pyftpdlib", file=sys.stderr)
        return 2
    for tool in ("curl", "taskset", "gcc"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    harness.build_c(FTPLOAD_SOURCE)
    with harness.keep_guest_memory() as memory_note:
        return run(opts, memory_note)


def run(opts: argparse.Namespace, memory_note: str) -> int:
    """Make the files, start the servers, measure every workload, print the tables."""

    work = Path(tempfile.mkdtemp(prefix="zoo-bench-ftp-"))
    files = work / "files"
    files.mkdir()
    block = os.urandom(1024 * 1024)
    with (files / "big.bin").open("wb") as f:
        for _ in range(opts.big_mib):
            f.write(block)
    (files / "one.bin").write_bytes(block)
    (files / "small.bin").write_bytes(block[:4096])
    twistd = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
    servers = []
    for name in ("zoo-ftp", "pyftpdlib (no sendfile)", "pyftpdlib (sendfile)"):
        port = free_port()
        upload = work / f"upload-{port}"
        upload.mkdir()
        if name == "zoo-ftp":
            argv = [*twistd, "-n", "--pidfile=", "-l", str(work / "zoo.log"), "zoo-ftp"]
            argv += ["--port", str(port), "--root", str(files), "--max-per-address", "1000"]
            argv += ["--user", f"bench:bench:{upload}"]
            env = {"ZOO_STATE_DIR": str(work / "state")}
        else:
            sendfile = "1" if "(sendfile)" in name else "0"
            argv = [sys.executable, "-c", PYFTPDLIB, str(port), str(files), str(upload), sendfile]
            env = {}
        servers.append((Server(name, argv, env), port, upload))

    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    raw: list[dict] = []  # every measurement, for --json
    noise: list[float] = []
    names = [w for w in opts.only.split(",") if w]
    try:
        for server, port, _ in servers:
            server.proc = subprocess.Popen(
                pinned(SERVER_CPU, server.argv),
                env={**os.environ, **server.env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=REPO,
            )
            wait_ftp(port, server.proc)
        # A fresh process is not in its steady state (bench/README.md): run the
        # session-heavy workloads once, unmeasured, once every server listens (its
        # thousands of connections could take a port chosen for a server not yet
        # started). The big transfers amortize their own warm-up.
        for _, port, _ in servers if opts.prime else ():
            for workload in ("small", "concurrent"):
                if workload in names:
                    run_client(workloads(port, files, opts)[workload][0], work)
        for rnd in range(opts.rounds):
            for workload in names:
                # Rotate the order each round so no server always runs first after
                # another workload (uploads leave hundreds of MB of dirty pages behind).
                shift = rnd % len(servers)
                for server, port, upload in servers[shift:] + servers[:shift]:
                    assert server.proc is not None
                    argv, amount, _ = workloads(port, files, opts)[workload]
                    if workload == "upload":
                        os.sync()  # start from no dirty pages, outside the timed part
                    noise.append(harness.wait_for_quiet(3.0))
                    if workload == "upload":
                        prefault(2 * opts.big_mib << 20)
                    before = cpu_ticks(server.proc.pid)
                    try:
                        wall, client_cpu = run_client(argv, work)
                    except RuntimeError as e:
                        print(f"{server.name} {workload}: {str(e)[-300:]}", file=sys.stderr)
                        results.setdefault((server.name, workload), []).append(FAILED)
                        raw.append(
                            {"server": server.name, "workload": workload, "round": rnd + 1,
                             "failure": str(e)[-300:]}
                        )  # fmt: skip
                        continue
                    server_cpu = (cpu_ticks(server.proc.pid) - before) / TICKS
                    results.setdefault((server.name, workload), []).append(
                        (amount / wall, 100 * server_cpu / wall, 100 * client_cpu / wall)
                    )
                    raw.append(
                        {
                            "server": server.name,
                            "workload": workload,
                            "round": rnd + 1,
                            "value": amount / wall,
                            "unit": workloads(port, files, opts)[workload][2],
                            "server_cpu_pct": 100 * server_cpu / wall,
                            "client_cpu_pct": 100 * client_cpu / wall,
                        }
                    )
                    print(
                        f"  {workload:10} {server.name:24} {amount / wall:9,.0f} "
                        f"[{100 * server_cpu / wall:3.0f}%, {100 * client_cpu / wall:3.0f}%]",
                        file=sys.stderr,
                    )
                    for leftover in upload.glob("*"):
                        leftover.unlink()
            print(f"round {rnd + 1}/{opts.rounds} done", file=sys.stderr)
    finally:
        for server, _, _ in servers:
            if server.proc is not None:
                server.proc.terminate()
                server.proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
        if opts.json:
            opts.json.write_text(json.dumps(raw, indent=1) + "\n")

    print(report(results, [s.name for s, _, _ in servers], names, opts))
    print(
        f"\nOther processes on the pinned CPUs before each measurement: median "
        f"{statistics.median(noise):.0f}%, max {max(noise):.0f}%. {harness.environment_note()}"
        + (f" {memory_note}" if memory_note else "")
    )
    return 0


def report(results: dict, servers: list[str], names: list[str], opts: argparse.Namespace) -> str:
    heads = {
        "download": f"{opts.big_mib} MiB download MB/s",
        "upload": f"{opts.big_mib} MiB upload MB/s",
        "small": "4 KiB files/s",
        "concurrent": f"{opts.concurrent_total or 3 * opts.concurrent} x 1 MiB, "
        f"{opts.concurrent} at once, MB/s",
    }
    clients = {"download": "curl", "upload": "curl", "small": "ftpload", "concurrent": "ftpload"}
    ref = "pyftpdlib (no sendfile)"
    med = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in results.items()}
    lines = [
        f"{opts.rounds} interleaved rounds, medians; ratio = server / {ref}; "
        "[server CPU %, client CPU %] of one core each; clients: "
        + ", ".join(f"{n} {clients[n]}" for n in names)
        + ".",
        "",
        "| server | " + " | ".join(heads[n] for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for s in servers:
        cells = []
        for n in names:
            rate, scpu, ccpu = med[(s, n)]
            ratio = rate / med[(ref, n)][0]
            if rate != rate:  # NaN: a failed run is the median
                cells.append("failed")
                continue
            cells.append(f"{rate:,.0f} ({ratio:.2f}) [{scpu:.0f}%, {ccpu:.0f}%]")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    # On a shared, oversubscribed machine the rates above mostly measure scheduling;
    # server CPU time per unit of work is steadier.
    units = {"download": "ms/MB", "upload": "ms/MB", "small": "ms/file", "concurrent": "ms/MB"}
    lines += [
        "",
        "Server CPU per unit of work (lower is better; ratio to the reference):",
        "",
        "| server | " + " | ".join(f"{n} {units[n]}" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for s in servers:
        cells = []
        for n in names:
            per = [x[1] * 10 / x[0] for x in results[(s, n)] if x[0] == x[0]]
            ref_per = [x[1] * 10 / x[0] for x in results[(ref, n)] if x[0] == x[0]]
            if not per or not ref_per:
                cells.append("failed")
                continue
            mine, theirs = statistics.median(per), statistics.median(ref_per)
            ratio = f"{mine / theirs:.2f}" if theirs else "-"
            cells.append(f"{mine:.3f} ({ratio})")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    load = os.getloadavg()
    lines += [
        "",
        f"Load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
        f"on {os.cpu_count()} CPUs (other jobs share the machine).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
