"""The cost of observation: zoo with --observe off, events and transcripts, in one run.

    python bench/observe.py                          # 3 interleaved rounds of everything
    python bench/observe.py --rounds 1 --duration 1 --smtp-messages 300   # a smoke run
    python bench/observe.py --only lancelot,echo

Four workloads, each against three zoo servers started the same way but for what
they observe: nothing (`off`), sessions (`events`: `--admin tcp:0 --transcripts off`)
or sessions and transcripts (`transcripts`: `--admin tcp:0`) (issue 14's targets: events cost at most 5% of
throughput, transcripts at most 15%):

- Lancelot and echo (64 bytes) at c=100, one request in flight per connection,
  driven by bench/loadgen.c through the shared harness (requests/s);
- SMTP: Postfix's smtp-source, 1 KiB messages over 20 sessions, fsync as in
  bench/smtp.py (messages/s);
- pub-sub: bench/pubsub.c, one publisher and 10 channel subscribers, 64-byte
  messages, the publisher at most 64 messages ahead (delivered messages/s).

Server on CPU 0, client on CPU 1 (harness.pinned), rounds interleaved, medians;
every table shows each level's ratio to `off` and the server's CPU per unit of work.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import harness

LEVELS = ("off", "events", "transcripts")
WORKLOADS = ("lancelot", "echo", "smtp", "pubsub")


#: What turns each level on: the control plane (on loopback, port 0) starts the
#: observatory; without it nothing observes.
LEVEL_OPTIONS = {
    "off": (),
    "events": ("--admin", "tcp:0", "--transcripts", "off"),
    "transcripts": ("--admin", "tcp:0", "--transcripts", "on"),
}


def _zoo(level: str, plugin: str, *options: str) -> harness.Server:
    return harness.twistd_plugin(level, plugin, "--port", "0", *LEVEL_OPTIONS[level], *options)


def loadgen_workload(name: str, args: argparse.Namespace) -> str:
    """Lancelot or echo at c=100, every level in every round."""
    plugin, base = {
        "lancelot": ("zoo-lancelot", ["-m", "lancelot", "--spin"]),
        "echo": ("zoo-echo", ["-m", "echo", "-s", "64", "--spin"]),
    }[name]
    servers = [_zoo(level, plugin) for level in LEVELS]
    levels = [harness.Level("c=100", ["-c", "100"])]
    runs = harness.run_benchmark(
        servers, levels, base, rounds=args.rounds, duration=args.duration, warmup=args.warmup
    )
    table = harness.render_markdown(
        runs,
        list(LEVELS),
        ["c=100"],
        reference="off",
        title=f"{name}, zoo-{name}: observation off, events, transcripts",
        command=f"loadgen {' '.join(base)} -c 100 -d {args.duration:g}",
        rounds=args.rounds,
    )
    per_round: dict[str, list[tuple[float, ...] | None]] = {
        level: [None] * args.rounds for level in LEVELS
    }
    for run in runs:
        if run.result and run.result.get("rps") and run.server_cpu_pct:
            rate = run.result["rps"]
            cpu_us = run.server_cpu_pct / 100 / rate * 1e6
            per_round[run.server][run.round - 1] = (rate, cpu_us)
    return table + "\n" + _paired(per_round) + "\n"


def _paired(results: dict[str, list[tuple[float, ...] | None]]) -> str:
    """Each level's ratio to "off" in the same round, then the median over rounds.

    The machine's speed drifts between rounds (other tenants of the host); the three
    levels of one round run within seconds of each other, so their ratio shows the
    cost of observing better than a ratio of medians taken over all the rounds.
    """
    base = results["off"]
    lines = [
        "Paired by round (median over rounds of level / off in the same round; "
        "throughput, and server CPU per unit of work as off / level):",
        "",
        "| --observe | throughput ratio | CPU ratio | rounds |",
        "|---|---|---|---|",
    ]
    for level in LEVELS:
        pairs = [(x, b) for x, b in zip(results[level], base, strict=True) if x and b]
        if not pairs:
            continue
        rate = statistics.median(x[0] / b[0] for x, b in pairs)
        cpu = statistics.median(b[1] / x[1] for x, b in pairs if x[1])
        each = " ".join(f"{x[0] / b[0]:.2f}" for x, b in pairs)
        lines.append(f"| {level} | {rate:.3f} | {cpu:.3f} | {each} |")
    return "\n".join(lines) + "\n"


def smtp_workload(args: argparse.Namespace) -> str:
    import smtp  # bench/smtp.py: smtp-source and one measured cell

    source = smtp.smtp_source()
    cell = ("1 KiB, 20 sess", 1024, 20, args.smtp_messages)
    results: dict[str, list[smtp.Result]] = {level: [] for level in LEVELS}
    for r in range(args.rounds):
        for level in LEVELS:
            server = smtp.Server("zoo", True, LEVEL_OPTIONS[level])
            server.name = level  # the results' name
            try:
                results[level].append(smtp.run_cell(server, cell, source))
            finally:
                server.stop()
                server.tmp.cleanup()
        print(f"smtp: round {r + 1}/{args.rounds} done", file=sys.stderr)
    return _table(
        "SMTP, smtp-source, 1 KiB messages, 20 sessions",
        "messages/s",
        {
            level: [(x.rate, 1e6 * x.server_cpu * x.seconds / x.messages, x.load_cpu) for x in runs]
            for level, runs in results.items()
        },
        extra={
            level: f"stored {sum(x.stored for x in runs)} of {sum(x.messages for x in runs)}"
            for level, runs in results.items()
        },
    )


def pubsub_workload(args: argparse.Namespace) -> str:
    import pubsub  # bench/pubsub.py: the C client and one measured run

    pubsub.build_client()
    results: dict[str, list[tuple[float, ...] | None]] = {level: [] for level in LEVELS}
    running = {
        level: harness.RunningServer(_zoo(level, "zoo-pubsub"), f"observe-pubsub-{level}")
        for level in LEVELS
    }
    try:
        for r in range(args.rounds):
            for level in LEVELS:
                res = pubsub.run_client(running[level], 10, "channel", 64, args.duration)
                if "error" in res:
                    print(f"pubsub {level}: {res['error']}", file=sys.stderr)
                    results[level].append(None)  # keeps the rounds aligned for _paired
                    continue
                results[level].append(
                    (res["delivered_per_s"], res["server_us_per_msg"], res["client_cpu"])
                )
            print(f"pubsub: round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for server in running.values():
            server.stop()
    return _table(
        "pub-sub, bench/pubsub.c, 10 channel subscribers, 64-byte messages, window 64",
        "delivered/s",
        results,
    )


def _table(
    title: str,
    unit: str,
    results: dict[str, list[tuple[float, ...] | None]],
    extra: dict[str, str] | None = None,
) -> str:
    def med(level: str, i: int) -> float:
        values = [x[i] for x in results[level] if x]
        return statistics.median(values) if values else float("nan")

    lines = [
        f"**{title}**",
        "",
        f"| --observe | {unit} | vs off | server CPU µs each | load generator CPU |",
        "|---|---|---|---|---|",
    ]
    base = med("off", 0)
    for level in LEVELS:
        rate = med(level, 0)
        note = f" ({extra[level]})" if extra else ""
        lines.append(
            f"| {level} | {rate:,.0f}{note} | {rate / base:.3f} | {med(level, 1):.2f}"
            f" | {med(level, 2):.0%} |"
        )
    return "\n".join(lines) + "\n\n" + _paired(results)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per measured run")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--smtp-messages", type=int, default=3000, help="messages per SMTP run")
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma list of workloads")
    ap.add_argument("--out", type=Path, help="also write the Markdown here")
    args = ap.parse_args()
    harness.check_tools()
    harness.build_loadgen()
    wanted = args.only.split(",")
    unknown = set(wanted) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    parts = [harness.environment_note(), ""]
    for name in wanted:
        if name in ("lancelot", "echo"):
            parts.append(loadgen_workload(name, args))
        elif name == "smtp":
            parts.append(smtp_workload(args))
        else:
            parts.append(pubsub_workload(args))
    text = "\n".join(parts)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
