"""Two zoo servers measured at the same moment: their cost ratio, to within a percent.

    python bench/together.py --a "zoo-lancelot" --b "zoo-lancelot --admin tcp:0"
    python bench/together.py --before HEAD~1 --a "zoo-lancelot"       # a commit's effect
    python bench/together.py --a "zoo-echo" --b "zoo-echo" -m echo    # A/A: the method's bias
    python bench/together.py --a "ZOO_NO_SPEEDUPS=1 zoo-echo" --b "zoo-echo" -m echo
    python bench/together.py --a "peer:asyncio_lancelot.py --uvloop" --b zoo-lancelot
    python bench/together.py --a zoo-pubsub --b "zoo-pubsub --admin tcp:0" -m pubsub -c 10
    python bench/together.py --a zoo-smtp --b "zoo-smtp --admin tcp:0 --transcripts off" -m smtp -c 20
    python bench/together.py --alone --a zoo-lancelot --rounds 20 --duration 2   # one at a time

On a shared machine the speed of the host drifts by 15 to 30% from one minute to the
next, so two servers measured one after the other (even interleaved, bench/ab.py)
differ by more than most changes worth measuring. Here both servers run pinned to
the same CPU and two load generators, pinned to the other CPU, load them at the same
time: whatever the host does, it does to both. Each round starts the two load
generators in the other order. Two processes of the same server can differ by a
percent or two for as long as they run (where their memory landed), so the rounds
are split over fresh pairs of processes (--pairs), started in turn. The figure is
the ratio of B to A, throughput and server CPU per request, per round, per pair
and as the median over all rounds, with each load generator's busy share (the two
share a CPU: near 100% would mean they, not the servers, set the figures). A/A runs (the same server twice) measured
within 0.5% with one pair, and 0.982 once: read a difference under 2% as noise.

What it measures is the ratio of the two servers' costs per request when they share
a core. That is the right figure for comparing two versions of the same code path.
It is not the figure to report as one server's cost: two processes taking turns on a
core share its caches, so memory a server keeps (events retained, say) costs it more
here than alone (bench/observe.py measures observation one server at a time).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness
from ab import checkout


def zoo_server(name: str, spec: str, tree: Path | None) -> harness.Server:
    """A zoo plugin with its options, or "peer:SCRIPT OPTIONS" for a reference server
    of bench/servers/ ("peer:asyncio_lancelot.py --uvloop")."""
    if spec.startswith("peer:"):
        script, *extra = shlex.split(spec[len("peer:") :])
        return harness.python_server(name, script, *extra)
    twistd = str(Path(sys.executable).parent / "twistd")
    words = shlex.split(spec)
    env = {"PYTHONPATH": str(tree if tree is not None else harness.REPO_DIR)}
    while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        key, value = words.pop(0).split("=", 1)  # "ZOO_NO_SPEEDUPS=1 zoo-echo": its environment
        env[key] = value
    plugin, *options = words
    argv = [twistd, "-n", "--pidfile=", plugin, "--port", "0", *options]
    return harness.Server(name, [*argv, "--ready-file", harness.READY_FILE], env=env)


def pubsub_load(server: harness.RunningServer, args: list[str]) -> tuple[dict, float, None]:
    """One bench/pubsub.c run (-m pubsub): delivered messages/s as "rps", the server's
    CPU (% of one core) and, as the load generator's busy share, the client's CPU."""
    import pubsub  # bench/pubsub.py: its C client

    k = int(args[args.index("-c") + 1])
    seconds = float(args[args.index("-d") + 1])
    res = pubsub.run_client(server, k, "channel", 64, seconds)
    if "error" in res:
        raise harness.BenchError(f"pubsub client: {res['error']}")
    result = {"rps": res["delivered_per_s"], "busy_pct": 100.0 * res["client_cpu"]}
    return result, 100.0 * res["server_cpu"], None


def smtp_load(server: harness.RunningServer, args: list[str]) -> tuple[dict, float, dict]:
    """Postfix's smtp-source for -d seconds (-m smtp): 1 KiB messages over -c sessions,
    one message a session, as bench/smtp.py sends them; stored messages/s as "rps"
    (files that arrived in the server's Maildirs meanwhile: each was fsynced before its
    250 unless the server was given --no-fsync), the server's CPU (% of one core) and
    smtp-source's busy share."""
    import smtp  # bench/smtp.py: smtp-source

    sessions = int(args[args.index("-c") + 1])
    seconds = float(args[args.index("-d") + 1])
    argv, env = smtp.smtp_source()
    maildirs = STATE[server.server.name] / "mail"
    load_argv = [*argv, "-s", str(sessions), "-l", "1024", "-m", "100000000",
                 "-f", "bench@example.com", "-t", "sink@example.com", f"127.0.0.1:{server.port}"]  # fmt: skip
    source = subprocess.Popen(
        harness.pinned(harness.LOADGEN_CPU, load_argv),
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(min(1.0, seconds / 4))  # its sessions under way
        stored, cpu = _stored(maildirs), harness.cpu_ticks(server.pid)
        own = harness.cpu_ticks(source.pid)
        start = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - start
        stored, cpu = _stored(maildirs) - stored, harness.cpu_ticks(server.pid) - cpu
        own = harness.cpu_ticks(source.pid) - own
    finally:
        source.kill()
        source.wait()
    if not stored:
        raise harness.BenchError(f"smtp-source: no message stored in {elapsed:.1f} s")
    busy = 100.0 * own / harness.CLOCK_TICKS / elapsed
    cpu_pct = 100.0 * cpu / harness.CLOCK_TICKS / elapsed
    return {"rps": stored / elapsed, "busy_pct": busy}, cpu_pct, {}


def _stored(maildirs: Path) -> int:
    return sum(1 for _ in maildirs.glob("*/new/*"))


#: smtp mode: each server's --state-dir, by name (its Maildirs are under it).
STATE: dict[str, Path] = {}


def one_round(
    running: list[harness.RunningServer],
    loadgen_args: list[str],
    order: list[int],
    alone: bool = False,
) -> list[tuple[float, float | None, float | None]]:
    """Load both servers at once (or, C{alone}, one after the other in C{order});
    (requests/s, server CPU µs per request, the load generator's busy share in %) of
    each."""
    out: list[tuple[dict, float | None, float | None] | BaseException | None] = [None, None]

    def load(i: int) -> None:
        try:
            if loadgen_args[1] == "pubsub":
                out[i] = pubsub_load(running[i], loadgen_args)
            elif loadgen_args[1] == "smtp":
                out[i] = smtp_load(running[i], loadgen_args)
            else:
                out[i] = harness.run_loadgen(
                    loadgen_args, running[i].port, running[i].pid, timeout=120.0
                )
        except BaseException as e:  # reported below, in the main thread
            out[i] = e

    threads = [threading.Thread(target=load, args=(i,)) for i in order]
    for t in threads:
        t.start()
        if alone:
            t.join()
    for t in threads:
        t.join()
    figures = []
    for got in out:
        if not isinstance(got, tuple):
            raise harness.BenchError(f"a load generator failed: {got}")
        result, cpu_pct, _ = got
        rps = float(result["rps"])
        cost = cpu_pct / 100.0 * 1e6 / rps if cpu_pct is not None and rps else None
        busy = result.get("busy_pct")
        figures.append((rps, cost, float(busy) if busy is not None else None))
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--a",
        required=True,
        help="server A: a zoo plugin and its options, or peer:SCRIPT OPTIONS (bench/servers/)",
    )
    ap.add_argument("--b", help="server B (default: A's options, on the tree as it is)")
    ap.add_argument("--before", help="run A from this earlier commit (a git revision)")
    ap.add_argument(
        "-m",
        "--mode",
        default="lancelot",
        help="loadgen's mode (lancelot, echo, blocks), or pubsub: bench/pubsub.c with -c "
        "channel subscribers, 64-byte messages, the publisher 64 ahead (delivered/s), or "
        "smtp: smtp-source with -c sessions, 1 KiB messages (stored/s; each server gets "
        "a --state-dir of its own)",
    )
    ap.add_argument("--size", help="loadgen's -s (message size)")
    ap.add_argument("-c", "--conns", type=int, default=50, help="connections per server")
    ap.add_argument("--rounds", type=int, default=8, help="rounds in all")
    ap.add_argument(
        "--pairs",
        type=int,
        default=2,
        help="fresh pairs of server processes the rounds are split over (default 2)",
    )
    ap.add_argument(
        "--state-root",
        default="/dev/shm" if Path("/dev/shm").is_dir() else str(harness.BUILD_DIR),
        help="smtp mode: where the servers' state directories go (default: tmpfs)",
    )
    ap.add_argument(
        "--alone",
        action="store_true",
        help="load one server at a time: A then B, then B then A, round after round "
        "(each alone on its CPU and its caches; the host's drift between two loads "
        "seconds apart is what is left; use short --duration and many --rounds)",
    )
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    args = ap.parse_args()
    harness.check_tools()
    if args.mode == "pubsub":
        import pubsub

        pubsub.build_client()
    a_tree = checkout(args.before) if args.before else None
    servers = [
        zoo_server(f"A{'@' + args.before if args.before else ''}", args.a, a_tree),
        zoo_server("B", args.b or args.a, None),
    ]
    if args.mode == "smtp":
        import smtp

        smtp.smtp_source()  # fetched now, not in a round
        # On tmpfs by default: no disk, so what is compared is the servers' CPU (on
        # this machine's ext4 the inode search after earlier runs' deletions moved
        # the CPU per message by 2x within a run; bench/smtp.py measures the disk).
        states = tempfile.TemporaryDirectory(prefix="zoo-bench-together-", dir=args.state_root)
        for n, server in enumerate(servers):
            STATE[server.name] = Path(states.name) / server.name
            extra = ["--state-dir", str(STATE[server.name])]
            argv = [*server.argv[:-2], *extra, *server.argv[-2:]]  # before --ready-file
            servers[n] = dataclasses.replace(server, argv=argv)
    loadgen_args = ["-m", args.mode, "-c", str(args.conns), "-d", str(args.duration)]
    loadgen_args += ["-w", str(args.warmup)] + (["-s", args.size] if args.size else [])
    print(harness.environment_note())
    print(f"A: {args.a}{f' (at {args.before})' if args.before else ''}")
    print(f"B: {args.b or args.a}")
    how = "one server at a time, A B then B A" if args.alone else "both at once"
    print(f"loadgen {' '.join(loadgen_args)}, one per server, {how}\n")
    rps_ratios: list[float] = []
    cost_ratios: list[float] = []
    prime = ["-m", args.mode, "-c", str(args.conns), "-d", "0.5", "-w", "0"]
    prime += ["-s", args.size] if args.size else []
    r = 0
    for pair in range(args.pairs):
        # Two processes of one server differ by a percent or two for as long as they
        # run (where their memory landed): fresh pairs, started in turn, average that.
        first, second = (0, 1) if pair % 2 == 0 else (1, 0)
        with (
            harness.RunningServer(servers[first], "together-1") as one,
            harness.RunningServer(servers[second], "together-2") as two,
        ):
            a, b = (one, two) if first == 0 else (two, one)
            one_round([a, b], prime, [0, 1], args.alone)
            pair_ratios = []
            for _ in range(args.rounds // args.pairs + (pair < args.rounds % args.pairs)):
                r += 1
                (a_rps, a_cost, a_busy), (b_rps, b_cost, b_busy) = one_round(
                    [a, b], loadgen_args, [0, 1] if r % 2 else [1, 0], args.alone
                )
                rps_ratios.append(b_rps / a_rps)
                pair_ratios.append(b_rps / a_rps)
                line = f"round {r} (pair {pair + 1}): A {a_rps:,.0f}/s  B {b_rps:,.0f}/s"
                line += f"  B/A {b_rps / a_rps:.3f}"
                if a_cost and b_cost:
                    cost_ratios.append(a_cost / b_cost)
                    line += f"  CPU per request A {a_cost:.2f} µs  B {b_cost:.2f} µs"
                if a_busy is not None and b_busy is not None:
                    line += f"  loadgen busy A {a_busy:.0f}%  B {b_busy:.0f}%"
                print(line, flush=True)
            print(f"pair {pair + 1}: B/A median {statistics.median(pair_ratios):.3f}", flush=True)
    print(
        f"\nB/A throughput: median {statistics.median(rps_ratios):.3f} "
        f"(rounds {min(rps_ratios):.3f}-{max(rps_ratios):.3f})"
    )
    if cost_ratios:
        print(
            f"A/B CPU per request: median {statistics.median(cost_ratios):.3f} "
            f"(rounds {min(cost_ratios):.3f}-{max(cost_ratios):.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
