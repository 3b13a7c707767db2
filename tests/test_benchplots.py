"""docs/_ext/benchplots.py: the benchmark page drawn from a raw bench/suite.py run."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "_ext"))

import benchplots


def loadgen_run(server: str, level: str, round_: int, rps: float | None, **extra: Any) -> dict:
    """One bench/harness.py run as lancelot.py --json writes it (None: a failed run)."""
    result = None
    if rps is not None:
        result = {"rps": rps, "duration": 2.0, "cpu_s": 1.0, "busy_pct": 40.0, "errors": 0}
    return {
        "server": server,
        "level": level,
        "round": round_,
        "result": result,
        "server_cpu_pct": 90.0 if rps is not None else None,
        "failure": None if rps is not None else "server exited",
        **extra,
    }


def write_run(root: Path, name: str, kind: str = "full", parts: dict | None = None) -> Path:
    """A tiny run directory: meta.json, lancelot.json and pubsub.json."""
    path = root / name
    path.mkdir(parents=True)
    meta = {
        "kind": kind,
        "started": "2026-12-06T10:00:00Z",
        "ended": "2026-12-06T10:20:00Z",
        "command": "python bench/suite.py",
        "git": {"commit": "0123abcd" * 5, "subject": "a commit", "dirty": True},
        "machine": {"cpu_model": "Test CPU 9000", "cpus": 2, "kernel": "6.1.0"},
        "versions": {"python": "3.11.7", "uvloop": "0.23.0"},
        "parts": parts or {},
    }
    (path / "meta.json").write_text(json.dumps(meta))
    lancelot = [
        loadgen_run("zoo-lancelot", "c=100", 1, 90.0),
        loadgen_run("zoo-lancelot", "c=100", 2, 110.0),
        loadgen_run("zoo-lancelot", "c=100", 3, 100.0),
        loadgen_run("asyncio+uvloop", "c=100", 1, 200.0),
        loadgen_run("asyncio+uvloop", "c=100", 2, None),
        loadgen_run("asyncio+uvloop", "c=100", 3, 250.0),
        loadgen_run("asyncio", "c=100", 1, 80.0),
    ]
    (path / "lancelot.json").write_text(json.dumps(lancelot))
    pubsub = {
        "zoo-pubsub|1|channel|rate": [{"delivered_per_s": 60.0, "loadgen_cpu": 0.5}],
        "redis-server|1|channel|rate": [{"delivered_per_s": 100.0, "loadgen_cpu": 0.25}],
        "zoo-pubsub|10|channel|rate": [{"delivered_per_s": 300.0, "loadgen_cpu": 0.5}],
        "redis-server|10|channel|rate": [{"delivered_per_s": 200.0, "loadgen_cpu": 0.5}],
        "zoo-pubsub|1|channel|latency": [{"delivered_per_s": 1.0, "loadgen_cpu": 0.1}],
        "redis-server|1|channel|latency": [{"delivered_per_s": 9.0, "loadgen_cpu": 0.1}],
    }
    (path / "pubsub.json").write_text(json.dumps(pubsub))
    return path


def family(key: str) -> benchplots.Family:
    return next(f for f in benchplots.FAMILIES if f.key == key)


def results(run: benchplots.Run) -> dict[str, benchplots.FamilyResult | None]:
    return {f.key: r for f, r in benchplots.family_results(run)}


def test_find_run_latest_is_the_newest_name(tmp_path: Path) -> None:
    """ "latest" is the run directory whose UTC-stamped name sorts last; a name picks that one."""
    write_run(tmp_path, "20261205T100000Z")
    write_run(tmp_path, "20261206T100000Z-smoke", kind="smoke")
    (tmp_path / "20261207T000000Z").mkdir()  # no meta.json: not a run
    assert benchplots.find_run(tmp_path).name == "20261206T100000Z-smoke"
    assert benchplots.find_run(tmp_path, "20261205T100000Z").name == "20261205T100000Z"


def test_find_run_missing(tmp_path: Path) -> None:
    """No run directory, an empty one, or an unknown name is an error, not an empty page."""
    with pytest.raises(benchplots.BenchRunError, match="no benchmark run"):
        benchplots.find_run(tmp_path / "absent")
    with pytest.raises(benchplots.BenchRunError, match="no benchmark run"):
        benchplots.find_run(tmp_path)
    write_run(tmp_path, "20261205T100000Z")
    with pytest.raises(benchplots.BenchRunError, match="20261299"):
        benchplots.find_run(tmp_path, "20261299T000000Z")


def test_medians_skip_failed_rounds(tmp_path: Path) -> None:
    """Each figure is the median of the successful rounds; failed rounds are counted apart."""
    run = benchplots.load_run(write_run(tmp_path, "20261206T100000Z"))
    lancelot = results(run)["lancelot"]
    assert lancelot is not None
    zoo = lancelot.cells["c=100", "zoo-lancelot"]
    assert (zoo.value, zoo.rounds, zoo.attempts, zoo.low, zoo.high) == (100.0, 3, 3, 90.0, 110.0)
    uvloop = lancelot.cells["c=100", "asyncio+uvloop"]
    assert (uvloop.value, uvloop.rounds, uvloop.attempts) == (225.0, 2, 3)
    # loadgen's CPU: its CPU seconds over its measured seconds; busy share as reported
    assert (zoo.loadgen_cpu, zoo.loadgen_busy, zoo.server_cpu) == (50.0, 40.0, 90.0)


def test_ratios_are_zoo_over_each_peer(tmp_path: Path) -> None:
    """The ratio is zoo's median over the peer's, for every peer that ran, best peer first."""
    run = benchplots.load_run(write_run(tmp_path, "20261206T100000Z"))
    lancelot, pubsub = results(run)["lancelot"], results(run)["pubsub"]
    assert lancelot is not None and pubsub is not None
    assert lancelot.peers == ["asyncio+uvloop", "asyncio"]
    assert lancelot.ratio("c=100", "asyncio+uvloop") == pytest.approx(100 / 225)
    assert lancelot.ratio("c=100", "asyncio") == pytest.approx(1.25)
    assert pubsub.workloads == ["K=1", "K=10"]  # rate runs only: latency runs are left out
    assert pubsub.ratio("K=1", "redis-server") == pytest.approx(0.6)
    assert pubsub.ratio("K=10", "redis-server") == pytest.approx(1.5)
    assert pubsub.cells["K=1", "redis-server"].loadgen_cpu == 25.0


def test_target_lines() -> None:
    """The issue's targets: 1.0x uvloop for Lancelot, echo and blocks; 0.75x/1.0x redis."""
    for key in ("lancelot", "echo", "blocks"):
        assert family(key).target("asyncio+uvloop", "c=1000") == 1.0
        assert family(key).target("asyncio", "c=100") is None
    assert family("pubsub").target("redis-server", "K=1") == 0.75
    assert family("pubsub").target("redis-server", "K=10") == 1.0
    assert family("smtp").target("aiosmtpd", "1 KiB, 1 sess") is None


def test_page_states_run_machine_and_commit(tmp_path: Path) -> None:
    """The page gives the date, machine and commit; a full run has no smoke warning."""
    run = benchplots.load_run(write_run(tmp_path, "20261206T100000Z"))
    text = "\n".join(benchplots.render(run, "img/")[0])
    assert "2026-12-06T10:00:00Z" in text and "2026-12-06T10:20:00Z" in text
    assert "2 × Test CPU 9000" in text and "6.1.0" in text
    assert "0123abcd" * 5 in text and "uncommitted changes" in text
    assert "smoke run" not in text
    assert "**0.44x** (1.00x)" in text  # zoo / uvloop, and its target
    assert "**1.25x**\n" in text  # zoo / asyncio: no target
    assert '<img src="img/lancelot.png"' in text


def test_smoke_run_is_labelled(tmp_path: Path) -> None:
    """A smoke run is flagged at the top of the page: its figures mean nothing."""
    run = benchplots.load_run(write_run(tmp_path, "20261206T100000Z-smoke", kind="smoke"))
    lines = benchplots.render(run, "img/")[0]
    assert lines[0] == ".. warning::"
    assert "**smoke run**" in "\n".join(lines[:5])


def test_missing_part_says_why(tmp_path: Path) -> None:
    """A family without data says so (and that its part failed) instead of plotting nothing."""
    parts = {"smtp": {"returncode": 1}}
    run = benchplots.load_run(write_run(tmp_path, "20261206T100000Z", parts=parts))
    lines, plotted = benchplots.render(run, "img/")
    text = "\n".join(lines)
    assert {r.family.key for r in plotted} == {"lancelot", "pubsub"}
    assert "the part failed (exit status 1)" in text
    assert "the part was not run" in text  # echo, ftp, ... had no part at all


def test_plot_writes_a_png(tmp_path: Path) -> None:
    """The plot is a PNG drawn with matplotlib's Agg backend."""
    run = benchplots.load_run(write_run(tmp_path, "20261206T100000Z"))
    pubsub = results(run)["pubsub"]
    assert pubsub is not None
    benchplots.plot(pubsub, tmp_path / "out" / "pubsub.png", smoke=True)
    assert (tmp_path / "out" / "pubsub.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def sphinx_build(src: Path, out: Path) -> tuple[int, str]:
    """Build C{src} to HTML with -W, as scripts/test does; return the status and warnings."""
    from sphinx.cmd.build import build_main

    ext = Path(benchplots.__file__).parent
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ext)!r})\nextensions = ['benchplots']\n"
    )
    (src / "index.rst").write_text("Performance\n===========\n\n.. bench-run:: latest\n")
    errors = io.StringIO()
    saved = sys.stderr
    sys.stderr = errors
    try:
        status = build_main(["-W", "-q", "-b", "html", str(src), str(out)])
    finally:
        sys.stderr = saved
    return status, errors.getvalue()


def test_directive_fails_the_build_without_a_run(tmp_path: Path) -> None:
    """With no run directory under the docs, the build fails and says why."""
    src = tmp_path / "src"
    src.mkdir()
    status, errors = sphinx_build(src, tmp_path / "out")
    assert status != 0
    assert "no benchmark run" in errors


def test_directive_builds_the_page(tmp_path: Path) -> None:
    """With a run, the page has its header, tables and plots (in the output, not the source)."""
    src = tmp_path / "src"
    write_run(src / "benchruns", "20261206T100000Z-smoke", kind="smoke")
    status, errors = sphinx_build(src, tmp_path / "out")
    assert status == 0, errors
    html = (tmp_path / "out" / "index.html").read_text()
    assert "smoke run" in html and "Test CPU 9000" in html
    assert '<img src="_benchplots/20261206T100000Z-smoke-lancelot.png"' in html
    assert (tmp_path / "out" / "_benchplots" / "20261206T100000Z-smoke-pubsub.png").is_file()
    assert not list(src.rglob("*.png"))


def test_figures_that_did_not_reproduce_are_named(tmp_path: Path) -> None:
    """A figure whose rounds lie more than 10% apart is named under its table; steady ones not."""
    run = benchplots.load_run(write_run(tmp_path, "20261206T100000Z"))
    lancelot = results(run)["lancelot"]
    assert lancelot is not None
    # zoo: 90-110 around 100 (20%); uvloop: 200-250 around 225 (22%); asyncio: one round
    assert benchplots.unsteady(lancelot) == [
        "zoo-lancelot at c=100 (20%)",
        "asyncio+uvloop at c=100 (22%)",
    ]
    text = "\n".join(benchplots.render(run, "img/")[0])
    assert "**Did not reproduce within the run**" in text
    steady = benchplots.Cell(100.0, None, None, None, 3, 3, 96.0, 104.0, "requests/s")
    assert benchplots.spread(steady) == pytest.approx(0.08)


def test_echo_and_blocks_come_apart(tmp_path: Path) -> None:
    """echo.json holds both sections: each family reads only its own section's runs."""
    path = write_run(tmp_path, "20261206T100000Z")
    echo = [
        {**loadgen_run("zoo", "c=100", 1, 50.0), "section": "echo64"},
        {**loadgen_run("asyncio+uvloop", "c=100", 1, 100.0), "section": "echo64"},
        {**loadgen_run("zoo", "c=100", 1, 30.0), "section": "blocks4k"},
        {**loadgen_run("asyncio+uvloop", "c=100", 1, 20.0), "section": "blocks4k"},
        {**loadgen_run("epoll (C)", "c=100", 1, 40.0), "section": "blocks4k"},
    ]
    (path / "echo.json").write_text(json.dumps(echo))
    found = results(benchplots.load_run(path))
    echo64, blocks = found["echo"], found["blocks"]
    assert echo64 is not None and blocks is not None
    assert echo64.peers == ["asyncio+uvloop"]
    assert echo64.ratio("c=100", "asyncio+uvloop") == pytest.approx(0.5)
    assert blocks.peers == ["asyncio+uvloop", "epoll (C)"]
    assert blocks.ratio("c=100", "asyncio+uvloop") == pytest.approx(1.5)
    assert blocks.ratio("c=100", "epoll (C)") == pytest.approx(0.75)


def test_client_errors_are_named_under_the_table(tmp_path: Path) -> None:
    """Rounds in which the load generator saw errors (timeouts) are summed and named per figure."""
    path = write_run(tmp_path, "20261206T100000Z")
    runs = json.loads((path / "lancelot.json").read_text())
    runs[3]["result"]["errors"] = 5
    runs[3]["result"]["first_error"] = "conn 7: timeout after 2.0 s"
    runs[5]["result"]["errors"] = 2
    (path / "lancelot.json").write_text(json.dumps(runs))
    run = benchplots.load_run(path)
    lancelot = results(run)["lancelot"]
    assert lancelot is not None
    assert benchplots.erring(lancelot) == [
        "asyncio+uvloop at c=100: 7 over the rounds; first: conn 7: timeout after 2.0 s"
    ]
    text = "\n".join(benchplots.render(run, "img/")[0])
    assert "**Errors seen by the load generator**" in text
    clean = benchplots.load_run(write_run(tmp_path, "20261206T110000Z"))
    assert "Errors seen" not in "\n".join(benchplots.render(clean, "img/")[0])
