"""ZeroMQ: zoo-zmq (ZMTP in Python, on Twisted) against a pyzmq (libzmq) server, same pattern, same clients.

Two patterns:

- B{REQ/REP round trips}: C concurrent pyzmq REQ sockets, each with one request in
  flight (C{message #N}), against zoo-zmq's C{reply} endpoint and against a pyzmq
  REP loop answering as the book's C{zmq_server.py}. Reported: round trips/s.
- B{PUB fan-out}: K pyzmq SUB sockets subscribed to C{bench}; the server publishes
  64-byte messages flat out (zoo: L{zoo.zmq.sockets.Publisher} in batches per
  reactor turn; libzmq: a pyzmq PUB send loop). Both drop what a subscriber cannot
  take past the high-water mark (1000), so this measures messages delivered per
  second, summed over the subscribers.

Servers run pinned to CPU 0, the client process (pyzmq, libzmq's own I/O thread
included) to CPU 1; the client's CPU share is reported, so a saturated client
shows. Rounds are interleaved and the median kept.

    .venv/bin/python bench/zmq.py [--rounds 3] [--seconds 3] [--conns 1,10,50] [--subs 1,10]

Quick check that it works: C{--rounds 1 --seconds 0.5 --conns 1 --subs 1}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

from harness import (
    CLOCK_TICKS,
    LOADGEN_CPU,
    RunningServer,
    check_tools,
    environment_note,
    pinned,
    python_server,
    twistd_plugin,
)

CLIENT = r"""
import json, sys, time, zmq
mode, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ctx = zmq.Context()
poller = zmq.Poller()
socks = []
for i in range(n):
    s = ctx.socket(zmq.REQ if mode == "rep" else zmq.SUB)
    s.connect("tcp://127.0.0.1:%d" % port)
    if mode == "pub":
        s.setsockopt(zmq.SUBSCRIBE, b"bench")
    poller.register(s, zmq.POLLIN)
    socks.append(s)
if mode == "rep":
    for s in socks:
        s.send(b"message #1")
else:
    time.sleep(0.5)  # the slow joiner: let the subscriptions reach the publisher
    for s in socks:
        while s.poll(0):
            s.recv()
count = 0
start = time.perf_counter()
deadline = start + seconds
t0 = time.process_time()
while time.perf_counter() < deadline:
    for s, _ in poller.poll(100):
        if mode == "rep":
            assert s.recv() == b"Stop saying: message #1"
            s.send(b"message #1")
            count += 1
        else:
            while True:
                try:
                    s.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                count += 1
elapsed = time.perf_counter() - start
print(json.dumps({"rate": count / elapsed, "client_cpu": 100 * (time.process_time() - t0) / elapsed}))
ctx.destroy(linger=0)
"""


def servers(mode: str) -> list:
    if mode == "rep":
        return [
            twistd_plugin("zoo-zmq", "zoo-zmq", "--endpoint", "reply", "--port", "0"),
            python_server("pyzmq (libzmq)", "pyzmq_zmq.py", "--mode", "rep"),
        ]
    return [
        python_server("zoo-zmq", "zoo_zmq_pub.py"),
        python_server("pyzmq (libzmq)", "pyzmq_zmq.py", "--mode", "pub"),
    ]


def measure(port: int, mode: str, n: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        pinned(LOADGEN_CPU, [sys.executable, "-c", CLIENT, mode, str(port), str(n), str(seconds)]),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        cwd=tempfile.gettempdir(),  # not bench/, whose zmq.py would shadow pyzmq
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--conns", default="1,10,50", help="REQ sockets, comma-separated")
    parser.add_argument("--subs", default="1,10", help="SUB sockets, comma-separated")
    args = parser.parse_args()
    check_tools()
    print(environment_note())
    grid = [("rep", int(c)) for c in args.conns.split(",") if c] + [
        ("pub", int(k)) for k in args.subs.split(",") if k
    ]
    results: dict[tuple[str, int, str], list[dict[str, float]]] = {}
    for round_ in range(args.rounds):
        for mode, n in grid:
            for server in servers(mode):
                with RunningServer(server, f"zmq-{mode}-{server.name.split()[0]}") as running:
                    before = _ticks(running.process.pid)
                    started = time.monotonic()
                    got = measure(running.port, mode, n, args.seconds)
                    spent = time.monotonic() - started
                    got["server_cpu"] = (
                        100 * (_ticks(running.process.pid) - before) / CLOCK_TICKS / spent
                    )
                results.setdefault((mode, n, server.name), []).append(got)
                print(
                    f"round {round_ + 1} {mode} n={n} {server.name}: {got['rate']:.0f}/s",
                    file=sys.stderr,
                )
    for mode, title, unit in (
        ("rep", "REQ/REP round trips", "REQ sockets"),
        ("pub", "PUB fan-out, 64-byte messages delivered", "SUB sockets"),
    ):
        print(f"\n### {title}\n")
        print(
            f"| {unit} | server | per second | vs libzmq | server CPU % (whole client run) | client CPU % |"
        )
        print("|---|---|---|---|---|---|")
        for m, n in grid:
            if m != mode:
                continue
            ref = statistics.median(r["rate"] for r in results[(m, n, "pyzmq (libzmq)")])
            for server in servers(mode):
                runs = results[(m, n, server.name)]
                rate = statistics.median(r["rate"] for r in runs)
                print(
                    f"| {n} | {server.name} | {rate:,.0f} | {rate / ref:.2f} | "
                    f"{statistics.median(r['server_cpu'] for r in runs):.0f} | "
                    f"{statistics.median(r['client_cpu'] for r in runs):.0f} |"
                )


def _ticks(pid: int) -> int:
    from harness import cpu_ticks

    return cpu_ticks(pid)


if __name__ == "__main__":
    main()
