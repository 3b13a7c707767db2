"""bench/suite.py and the uvloop reference: the plumbing of the benchmark page's runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
import types
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path[:0] = [str(BENCH), str(BENCH / "servers")]

import _ready  # noqa: E402
import harness  # noqa: E402
import observe  # noqa: E402
import suite  # noqa: E402
import together  # noqa: E402

# Off the path again: bench/ holds dns.py, pubsub.py, http-like names that would
# shadow real packages (dnspython's "dns") for every later test in this process.
del sys.path[:2]


def loop_name(argv: list[str]) -> str:
    """The event loop class a reference server gets from _ready.serve with these options."""
    seen: list[str] = []

    async def main(args: argparse.Namespace) -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    _ready.serve("test", main, argv)
    return seen[0]


def test_uvloop_flag_switches_the_loop() -> None:
    """--uvloop runs the same server coroutine on uvloop's loop; without it, on asyncio's."""
    assert loop_name([]).startswith("asyncio")
    assert loop_name(["--uvloop"]).startswith("uvloop")


class Exit(Exception):
    """argparse's parser.error, caught."""


class Parser:
    def error(self, message: str) -> None:
        raise Exit(message)


def test_server_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """All servers by default; uvloop dropped by default when missing, an error when asked for."""
    choices = ["zoo", "asyncio", "uvloop"]
    monkeypatch.setattr(harness, "uvloop_missing", lambda: None)
    assert harness.server_choice(None, choices, Parser()) == choices
    assert harness.server_choice("uvloop, zoo", choices, Parser()) == ["uvloop", "zoo"]
    with pytest.raises(Exit, match="unknown servers"):
        harness.server_choice("zoo,nginx", choices, Parser())
    monkeypatch.setattr(harness, "uvloop_missing", lambda: "uvloop is not installed")
    assert harness.server_choice(None, choices, Parser()) == ["zoo", "asyncio"]
    with pytest.raises(Exit, match="uvloop is not installed"):
        harness.server_choice("zoo,uvloop", choices, Parser())


def test_suite_parts_and_commands(tmp_path: Path) -> None:
    """Each part runs its script with --json into the run directory; --quick uses short options."""
    args = suite.parse_args(["--only", "lancelot,pubsub"])
    assert [p.name for p in args.parts] == ["lancelot", "pubsub"]
    lancelot = suite.BY_NAME["lancelot"]
    full = suite.part_command(lancelot, False, tmp_path / "lancelot.json")
    quick = suite.part_command(lancelot, True, tmp_path / "lancelot.json")
    assert full[:2] == [sys.executable, str(BENCH / "lancelot.py")]
    assert full[-2:] == ["--json", str(tmp_path / "lancelot.json")]
    assert "zoo,asyncio,uvloop" in full and "100,1000" in full
    assert full[full.index("--rounds") + 1] == "3" and quick[quick.index("--rounds") + 1] == "1"
    with pytest.raises(SystemExit):
        suite.parse_args(["--only", "lancelot,gopher"])


def test_every_issue_peer_is_in_the_suite() -> None:
    """The suite's parts cover the issue's peers: uvloop, redis, aiosmtpd, pyftpdlib, sshd, stunnel."""
    commands = {p.name: " ".join(p.full) for p in suite.PARTS}
    assert "uvloop" in commands["lancelot"] and "uvloop" in commands["echo"]
    assert "echo64,blocks4k" in commands["echo"] and "1,10" in commands["pubsub"]
    assert "aiosmtpd" in commands["smtp"] and "--no-fsync" not in commands["smtp"]
    assert {"ftp", "ssh", "tls"} <= set(commands)


def test_run_name_and_meta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run directory is named by its UTC start (-smoke for --quick) and meta.json says it all."""
    assert suite.run_name(0.0, False) == "19700101T000000Z"
    assert suite.run_name(0.0, True) == "19700101T000000Z-smoke"
    monkeypatch.setattr(suite, "PARTS", [suite.Part("noop", "noop.py", (), (), 0.1)])
    monkeypatch.setattr(suite, "BY_NAME", {"noop": suite.PARTS[0]})
    monkeypatch.setattr(suite, "BENCH", tmp_path)
    (tmp_path / "noop.py").write_text(
        "import sys\nopen(sys.argv[sys.argv.index('--json') + 1], 'w').write('[]')\nprint('# ok')\n"
    )
    assert suite.main(["--quick", "--runs", str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.endswith("-smoke")
    meta = json.loads((run / "meta.json").read_text())
    assert meta["kind"] == "smoke"
    assert meta["started"] <= meta["ended"]
    assert len(meta["git"]["commit"]) == 40 and isinstance(meta["git"]["dirty"], bool)
    assert meta["machine"]["cpus"] >= 1 and meta["machine"]["kernel"]
    assert meta["versions"]["python"] and meta["versions"]["twisted"]
    assert meta["parts"]["noop"]["returncode"] == 0 and meta["parts"]["noop"]["json"] == "noop.json"
    assert (run / "noop.md").read_text() == "# ok\n"


def test_observe_pairs_each_level_with_off_in_the_same_round() -> None:
    """The paired ratio divides within a round, skips a round a level lost, and takes the median.

    Off is fast in round 1 and slow in round 2 (the host drifted); events cost 10% in
    each. Ratios of medians would say 0.80; the paired figure says 0.90.
    """
    results = {
        "off": [(100.0, 10.0), (60.0, 16.0), (80.0, 12.5)],
        "events": [(90.0, 11.0), (54.0, 17.6), None],
        "transcripts": [(70.0, 14.0), None, (56.0, 18.0)],
    }
    text = observe._paired(results)
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in text.splitlines()
        if line.startswith("| ")
    }
    assert "| 0.900 | 0.909 | 0.90 0.90 |" in rows["events"]
    assert "| 0.700 | " in rows["transcripts"] and rows["transcripts"].endswith("| 0.70 0.70 |")
    assert "| 1.000 | 1.000 | 1.00 1.00 1.00 |" in rows["off"]


def _fake_loads(monkeypatch: pytest.MonkeyPatch, during: object) -> list[str]:
    """Replace the load generator in bench/together.py: each load calls C{during(i)}
    between its start and its end, which are logged (C{"start 0"}, C{"end 0"})."""
    log: list[str] = []
    lock = threading.Lock()

    def run_loadgen(args: list[str], port: int, pid: int, timeout: float) -> tuple:
        with lock:
            log.append(f"start {port}")
        during(port)  # type: ignore[operator]
        with lock:
            log.append(f"end {port}")
        return {"rps": 1000.0 + port, "busy_pct": 50.0}, 50.0, None

    monkeypatch.setattr(together.harness, "run_loadgen", run_loadgen)
    return log


_SERVERS = [types.SimpleNamespace(port=0, pid=1), types.SimpleNamespace(port=1, pid=2)]


def test_together_loads_both_servers_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default the two load generators run at the same moment: a barrier that
    needs both loads in flight lets each through."""
    both = threading.Barrier(2, timeout=10)
    _fake_loads(monkeypatch, lambda i: both.wait())
    figures = together.one_round(_SERVERS, ["-m", "lancelot"], [0, 1])  # type: ignore[arg-type]
    assert [f[0] for f in figures] == [1000.0, 1001.0]


def test_together_alone_loads_one_server_at_a_time_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--alone: each load ends before the next starts, in the round's order, and the
    figures still come back as A's then B's."""
    # Each load lasts long enough that two started together would interleave.
    log = _fake_loads(monkeypatch, lambda i: time.sleep(0.05))
    figures = together.one_round(_SERVERS, ["-m", "lancelot"], [1, 0], alone=True)  # type: ignore[arg-type]
    assert log == ["start 1", "end 1", "start 0", "end 0"]
    assert [f[0] for f in figures] == [1000.0, 1001.0]
