"""Echo and blocks benchmark: zoo-echo and zoo-blocks against asyncio, uvloop and C in one run.

Three sections, each a table with ratios against the asyncio echo server
(bench/servers/asyncio_echo.py, which is also a correct blocks echo: a frame
echoed byte for byte is the same frame):

- echo64:  64-byte request/response, 1/10/100/1000 connections;
- echo1m:  1 MiB request/response on one connection: streaming throughput (MB/s),
           with a minimal C epoll echo server (bench/servers/epoll_echo.c) as the C
           reference (socat's PIPE address stalls on 1 MiB and forks per connection);
- blocks4k: 4 KiB blocks (zoo-blocks --mode echo), 1 and 100 connections, the C echo
            server too (a frame echoed byte for byte is the frame).

--conns replaces every section's connection counts; --servers picks servers by key.

"asyncio+uvloop" is the same asyncio server on uvloop's event loop (--servers uvloop;
the bench extra installs uvloop, and without it the default list leaves it out).

Beside zoo as shipped ("zoo": zoo.policies.fast_writer, TCP_NODELAY on, 256 KiB
reads once a connection streams), variants measure the knobs: "zoo-twisted-write"
writes with Twisted's transport.write, "zoo-nagle" turns TCP_NODELAY back off and
"zoo-64k-reads" keeps Twisted's 64 KiB reads (bench/servers/zoo_echo_variant.py).

    .venv/bin/python bench/echo.py                       # everything, 2 rounds
    .venv/bin/python bench/echo.py --sections echo1m --rounds 1 --duration 2
    .venv/bin/python bench/echo.py --sections echo64,blocks4k --servers zoo,uvloop,c --conns 100
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import harness


def c_echo() -> harness.Server:
    """bench/servers/epoll_echo.c, built into bench/build/ on first use."""
    binary = harness.BUILD_DIR / "epoll_echo"
    source = harness.BENCH_DIR / "servers" / "epoll_echo.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(source)], check=True)
    return harness.Server("epoll (C)", [str(binary), "0", harness.READY_FILE])


ASYNCIO = harness.python_server("asyncio", "asyncio_echo.py")
UVLOOP = harness.python_server("asyncio+uvloop", "asyncio_echo.py", "--uvloop")
# key (for --servers): the server, in echo sections and in blocks sections ("c": built on use)
ECHO = {
    "zoo": harness.twistd_plugin("zoo", "zoo-echo", "--port", "0"),
    "zoo-twisted-write": harness.python_server(
        "zoo-twisted-write", "zoo_echo_variant.py", "--slow"
    ),
    "zoo-nagle": harness.python_server("zoo-nagle", "zoo_echo_variant.py", "--nagle"),
    "zoo-64k-reads": harness.python_server("zoo-64k-reads", "zoo_echo_variant.py", "--small-reads"),
    "asyncio": ASYNCIO,
    "uvloop": UVLOOP,
    "c": None,
}
BLOCKS = {
    "zoo": harness.twistd_plugin("zoo", "zoo-blocks", "--port", "0", "--mode", "echo"),
    "zoo-twisted-write": harness.python_server(
        "zoo-twisted-write", "zoo_echo_variant.py", "--blocks", "--slow"
    ),
    "asyncio": ASYNCIO,
    "uvloop": UVLOOP,
    "c": None,  # an echoed frame is the frame: the C echo server is a blocks server too
}

# name: (title, servers by key, loadgen mode and size, connections)
SECTIONS = {
    "echo64": ("Echo, 64-byte messages", ECHO, ["-m", "echo", "-s", "64"], [1, 10, 100, 1000]),
    "echo1m": ("Echo, 1 MiB messages", ECHO, ["-m", "echo", "-s", str(1 << 20)], [1]),
    "blocks4k": ("Blocks, 4 KiB blocks", BLOCKS, ["-m", "blocks", "-s", "4096"], [1, 100]),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    parser.add_argument(
        "--servers",
        default=None,
        help=f"comma-separated, from {','.join(ECHO)} (default: all; uvloop if installed); "
        "a section runs those it has",
    )
    parser.add_argument(
        "--conns", help="comma-separated connection counts for every section (default: per section)"
    )
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    parser.add_argument("--prime", type=float, default=0.5, help="unmeasured session first")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--json", type=Path, help="write every raw run here as JSON")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    args.servers = harness.server_choice(args.servers, ECHO, parser)
    try:
        args.conns = [int(n) for n in args.conns.split(",")] if args.conns else None
    except ValueError:
        parser.error(f"--conns must be integers: {args.conns}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.check_tools()
    parts = [harness.environment_note(), ""]
    all_runs = []
    raw: list[dict] = []
    for name in args.sections:
        title, choices, mode_args, conns = SECTIONS[name]
        conns = args.conns or conns
        servers = [
            choices[key] or c_echo() for key in args.servers if key in choices
        ]  # None: the C server, built on first use
        levels = [harness.Level(f"c={n}", ["-c", str(n)]) for n in conns]
        base_args = [*mode_args, "--spin"]
        runs = harness.run_benchmark(
            servers, levels, base_args, args.rounds, args.duration, args.warmup, args.prime
        )
        all_runs += runs
        raw += [{"section": name, **asdict(run)} for run in runs]
        streaming = name == "echo1m"
        command = f"loadgen {shlex.join(base_args)} -c N -d {args.duration:g} -w {args.warmup:g}"
        parts.append(
            harness.render_markdown(
                runs,
                servers=[s.name for s in servers],
                levels=[level.label for level in levels],
                reference=ASYNCIO.name if "asyncio" in args.servers else servers[0].name,
                title=title,
                command=command,
                metric="mbps" if streaming else "rps",
                unit="MB/s each way" if streaming else "requests/s",
                rounds=args.rounds,
            )
        )
    markdown = "\n".join(parts)
    sys.stdout.write(markdown)
    if args.out:
        args.out.write_text(markdown)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1) + "\n")  # each run with its section
    return 1 if any(run.failure for run in all_runs) else 0


if __name__ == "__main__":
    sys.exit(main())
