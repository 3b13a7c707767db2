"""zoo at an earlier commit against zoo as it is, interleaved in one run, beside asyncio.

    python bench/ab.py --before 61358c0                      # lancelot, echo, blocks
    python bench/ab.py --before HEAD~3 --workloads lancelot --conns 100 --rounds 5

Ratios between two runs taken minutes apart are not comparable on a shared
machine: the reference server's own rate moved by 20% between two such runs here.
This runs both trees' plugins and the asyncio reference in the same interleaved
rounds, so each comparison sees the same machine. The earlier tree is checked out
(once) as a detached git worktree in bench/build/ab-REV and run with the same Python
and Twisted, its own zoo first on PYTHONPATH (as harness.twistd_plugin runs the
current tree). Server CPU per request is the figure to read; the harness prints it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import harness

#: workload: (plugin and options, loadgen arguments, asyncio reference script and options)
WORKLOADS = {
    "lancelot": (["zoo-lancelot"], ["-m", "lancelot"], ("asyncio_lancelot.py",)),
    "echo64": (["zoo-echo"], ["-m", "echo", "-s", "64"], ("asyncio_echo.py",)),
    "blocks4k": (
        ["zoo-blocks", "--mode", "echo"],
        ["-m", "blocks", "-s", "4096"],
        ("asyncio_echo.py",),  # an echo server sends each frame back as it is
    ),
}


def checkout(rev: str) -> Path:
    """A detached worktree of C{rev} under bench/build (made once, reused), with its
    C speedups built in place where it has them."""
    sha = subprocess.run(
        ["git", "-C", str(harness.REPO_DIR), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    tree = harness.BUILD_DIR / f"ab-{sha}"
    if not tree.exists():
        harness.BUILD_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "-C", str(harness.REPO_DIR), "worktree", "add", "--detach", str(tree), sha],
            check=True,
        )
    if (tree / "zoo" / "_twisted" / "_speedups.c").exists() and not list(
        (tree / "zoo" / "_twisted").glob("_speedups*.so")
    ):
        # The C speedups, built in place as an editable install builds them, so the
        # old tree runs as it would be installed (without them it runs in Python).
        subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            cwd=tree,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return tree


def zoo_at(name: str, tree: Path, plugin: list[str]) -> harness.Server:
    twistd = str(Path(sys.executable).parent / "twistd")
    argv = [twistd, "-n", "--pidfile=", plugin[0], "--port", "0", *plugin[1:]]
    return harness.Server(
        name, [*argv, "--ready-file", harness.READY_FILE], env={"PYTHONPATH": str(tree)}
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--before", required=True, help="the earlier commit (any git revision)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--conns", default="100,1000")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    args = ap.parse_args()
    harness.check_tools()
    before = checkout(args.before)
    levels = [harness.Level(f"c={n}", ["-c", n]) for n in args.conns.split(",")]
    out = [harness.environment_note(), ""]
    for name in args.workloads.split(","):
        plugin, loadgen_args, reference = WORKLOADS[name]
        servers = [
            zoo_at(f"zoo@{args.before}", before, plugin),
            zoo_at("zoo@work", harness.REPO_DIR, plugin),
            harness.python_server("asyncio", *reference),
        ]
        runs = harness.run_benchmark(
            servers,
            levels,
            [*loadgen_args, "--spin"],
            args.rounds,
            args.duration,
            args.warmup,
            prime=0.5,
            quiet_wait=10.0,
            noise_retries=1,
        )
        out.append(
            harness.render_markdown(
                runs,
                servers=[s.name for s in servers],
                levels=[level.label for level in levels],
                reference="asyncio",
                title=f"{name}: zoo at {args.before} and now",
                command=f"loadgen {' '.join(loadgen_args)} --spin -c N -d {args.duration:g}",
            )
        )
        print(out[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
