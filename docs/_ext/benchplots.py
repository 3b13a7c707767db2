"""Sphinx extension: the benchmark page, drawn from a raw run of bench/suite.py.

``.. bench-run:: latest`` (or a run directory's name) reads ``docs/benchruns/RUN/``:
meta.json and each part's raw JSON. For every family of workloads it computes, from
the raw rounds, the median of each server's figure, the ratio of zoo's median to each
peer's, and the medians of the load generator's and the server's CPU; it draws one
plot per family (ratio bars, a 1.0x line, the issue's target lines) with matplotlib's
Agg backend into the build output (``_benchplots/``, never into the source tree) when
the build finishes, and
writes a table under each plot. The page header gives the date, the machine and the
commit from meta.json, and a smoke run (``bench/suite.py --quick``) is flagged as
such. A missing run directory stops the build with an error.
"""

from __future__ import annotations

import json
import statistics
import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

IMAGE_DIR = "_benchplots"
SPREAD = 0.10  # rounds further apart than this, relative to their median, did not reproduce
UVLOOP = "asyncio+uvloop"


class BenchRunError(ExtensionError):
    """A benchmark run directory is missing or unreadable."""


@dataclass(frozen=True)
class Sample:
    """One server's figure in one round of one workload, from a script's raw JSON.

    CPU figures are in % of one core; None where the script does not measure them.
    C{value} is None for a failed run.
    """

    workload: str
    server: str
    round: int
    value: float | None
    loadgen_cpu: float | None = None
    loadgen_busy: float | None = None  # loadgen's share of time spent on events
    server_cpu: float | None = None
    unit: str = ""
    errors: int = 0  # the client's measured-phase errors (timeouts, resets, wrong bytes)
    first_error: str = ""


@dataclass(frozen=True)
class Family:
    """A plot: workloads of one script, zoo's server against its peers."""

    key: str
    title: str
    source: str  # the part's JSON file in the run directory
    zoo: str  # zoo's server name in that JSON
    peers: tuple[str, ...]  # the best peer first
    load: Callable[[Any], list[Sample]]
    unit: str
    client: str  # what loaded the servers
    targets: dict[tuple[str, str | None], float] = field(default_factory=dict)

    def target(self, peer: str, workload: str) -> float | None:
        """The issue's target ratio for zoo against C{peer} at C{workload}, if it sets one."""
        return self.targets.get((peer, workload), self.targets.get((peer, None)))


# ---------------------------------------------------------------------------
# Reading each script's raw JSON


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def harness_samples(runs: list[dict[str, Any]], section: str | None = None) -> list[Sample]:
    """bench/harness.py runs (lancelot.py, echo.py): loadgen's JSON per run.

    loadgen's CPU is its CPU seconds over its measured seconds (it busy-polls with
    --spin, so this is near 100%); its busy share says how much of that was work.
    """
    out = []
    for run in runs:
        if section is not None and run.get("section") != section:
            continue
        result = run.get("result")
        ok = result is not None and not run.get("failure")
        duration = result.get("duration") if result else None
        out.append(
            Sample(
                workload=run["level"],
                server=run["server"],
                round=run["round"],
                value=result["rps"] if ok and result else None,
                loadgen_cpu=100.0 * result["cpu_s"] / duration
                if result and duration and "cpu_s" in result
                else None,
                loadgen_busy=result.get("busy_pct") if result else None,
                server_cpu=run.get("server_cpu_pct"),
                unit="requests/s",
                errors=int(result.get("errors") or 0) if result else 0,
                first_error=str(result.get("first_error") or "") if result else "",
            )
        )
    return out


def pubsub_samples(data: dict[str, list[dict[str, Any]]]) -> list[Sample]:
    """bench/pubsub.py: delivered messages/s of channel subscribers ("rate" runs)."""
    out = []
    for key, runs in data.items():
        server, k, mode, kind = key.split("|")
        if mode != "channel" or kind != "rate":
            continue
        for n, run in enumerate(runs, 1):
            failed = "error" in run
            out.append(
                Sample(
                    workload=f"K={k}",
                    server=server,
                    round=n,
                    value=None if failed else run["delivered_per_s"],
                    loadgen_cpu=None if failed else _pct(run.get("loadgen_cpu")),
                    server_cpu=None if failed else _pct(run.get("server_cpu")),
                    unit="messages/s",
                )
            )
    return out


def smtp_samples(runs: list[dict[str, Any]]) -> list[Sample]:
    """bench/smtp.py: messages/s per cell; smtp-source's and the server's CPU share."""
    return [
        Sample(
            workload=run["cell"],
            server=run["server"],
            round=run.get("round", 0),
            value=run["rate"],
            loadgen_cpu=_pct(run.get("load_cpu")),
            server_cpu=_pct(run.get("server_cpu")),
            unit="messages/s",
        )
        for run in runs
    ]


def ftp_samples(runs: list[dict[str, Any]]) -> list[Sample]:
    """bench/ftp.py: MB/s or files/s per workload, client and server CPU in %."""
    return [
        Sample(
            workload=run["workload"],
            server=run["server"],
            round=run["round"],
            value=None if run.get("failure") else run["value"],
            loadgen_cpu=run.get("client_cpu_pct"),
            server_cpu=run.get("server_cpu_pct"),
            unit=run.get("unit", ""),
        )
        for run in runs
    ]


SSH_WORKLOADS = (("sftp get", "get MB/s", "get", "MB/s"), ("sftp put", "put MB/s", "put", "MB/s"))
SSH_WORKLOADS += (("ssh true", "exec/s", "exec", "logins/s"),)


def ssh_samples(data: dict[str, Any]) -> list[Sample]:
    """bench/ssh.py: its rounds per server; CPU as fractions of a core."""
    out = []
    for server, rounds in data.get("runs", {}).items():
        for n, run in enumerate(rounds, 1):
            for workload, key, prefix, unit in SSH_WORKLOADS:
                out.append(
                    Sample(
                        workload=workload,
                        server=server,
                        round=n,
                        value=run.get(key),
                        loadgen_cpu=_pct(run.get(f"{prefix} client CPU")),
                        server_cpu=_pct(run.get(f"{prefix} server CPU")),
                        unit=unit,
                    )
                )
    return out


def tls_samples(runs: list[dict[str, Any]]) -> list[Sample]:
    """bench/tls.py: per scenario; CPU in CPU-seconds per second."""
    return [
        Sample(
            workload=run["scenario"],
            server=run["server"],
            round=run["round"],
            value=run["value"],
            loadgen_cpu=_pct(run.get("load_cpu")),
            server_cpu=_pct(run.get("server_cpu")),
            unit="MB/s" if "MB" in run["scenario"] else "per s",
        )
        for run in runs
    ]


PEERS_LOADGEN = (UVLOOP, "asyncio", "epoll (C)")
FAMILIES = [
    Family(
        "lancelot", "Lancelot Q&A", "lancelot.json", "zoo-lancelot", (UVLOOP, "asyncio"),
        harness_samples, "requests/s", "bench/loadgen.c", {(UVLOOP, None): 1.0},
    ),
    Family(
        "echo", "Echo, 64-byte messages", "echo.json", "zoo", PEERS_LOADGEN,
        lambda runs: harness_samples(runs, "echo64"), "requests/s", "bench/loadgen.c",
        {(UVLOOP, None): 1.0},
    ),
    Family(
        "blocks", "Blocks, 4 KiB", "echo.json", "zoo", PEERS_LOADGEN,
        lambda runs: harness_samples(runs, "blocks4k"), "requests/s", "bench/loadgen.c",
        {(UVLOOP, None): 1.0},
    ),
    Family(
        "pubsub", "Pub-sub fan-out, channel subscribers", "pubsub.json", "zoo-pubsub",
        ("redis-server",), pubsub_samples, "messages delivered/s", "bench/pubsub.c",
        {("redis-server", "K=1"): 0.75, ("redis-server", "K=10"): 1.0},
    ),
    Family(
        "smtp", "SMTP, storing with fsync", "smtp.json", "zoo", ("aiosmtpd",), smtp_samples,
        "messages/s", "Postfix smtp-source",
    ),
    Family(
        "ftp", "FTP", "ftp.json", "zoo-ftp", ("pyftpdlib (sendfile)", "pyftpdlib (no sendfile)"),
        ftp_samples, "MB/s, files/s", "curl, bench/ftpload.c",
    ),
    Family(
        "ssh", "SSH and SFTP", "ssh.json", "zoo-ssh (twistd)",
        ("OpenSSH sshd", "OpenSSH sshd, aes128-ctr + hmac-sha2-256"), ssh_samples,
        "MB/s, logins/s", "OpenSSH sftp and ssh",
    ),
    Family(
        "tls", "TLS", "tls.json", "zoo-tls", ("stunnel4",), tls_samples,
        "handshakes/s, MB/s", "bench/tlsload.c, openssl s_time",
    ),
]  # fmt: skip


# ---------------------------------------------------------------------------
# A run directory


@dataclass
class Run:
    """A run directory: its name, meta.json and the raw JSON of each part present."""

    name: str
    path: Path
    meta: dict[str, Any]
    raw: dict[str, Any]

    @property
    def smoke(self) -> bool:
        return self.meta.get("kind") != "full"


def find_run(root: Path, name: str = "latest") -> Path:
    """The run directory C{name} under C{root}, or the newest one for "latest".

    Run directories are named by their UTC start (bench/suite.py), so the newest
    sorts last. Raises L{BenchRunError} if there is none.
    """
    if name != "latest":
        path = root / name
        if not (path / "meta.json").is_file():
            raise BenchRunError(f"bench-run: no benchmark run {path} (no meta.json there)")
        return path
    runs = sorted(p for p in root.glob("*") if (p / "meta.json").is_file()) if root.is_dir() else []
    if not runs:
        raise BenchRunError(
            f"bench-run: no benchmark run under {root}: run `python bench/suite.py` "
            "and commit its directory"
        )
    return runs[-1]


def load_run(path: Path) -> Run:
    """Read meta.json and every part's raw JSON in a run directory."""
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError) as e:
        raise BenchRunError(f"bench-run: cannot read {path / 'meta.json'}: {e}") from e
    raw = {}
    for source in {family.source for family in FAMILIES}:
        file = path / source
        if file.is_file():
            try:
                raw[source] = json.loads(file.read_text())
            except ValueError as e:
                raise BenchRunError(f"bench-run: {file} is not JSON: {e}") from e
    return Run(path.name, path, meta, raw)


# ---------------------------------------------------------------------------
# Medians and ratios


@dataclass(frozen=True)
class Cell:
    """Medians over the rounds of one server at one workload."""

    value: float | None
    loadgen_cpu: float | None
    loadgen_busy: float | None
    server_cpu: float | None
    rounds: int  # successful rounds
    attempts: int
    low: float | None  # the smallest and largest round, to show the spread
    high: float | None
    unit: str
    errors: int = 0  # summed over the rounds
    first_error: str = ""


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(samples: Iterable[Sample]) -> dict[tuple[str, str], Cell]:
    """Medians per (workload, server) over the successful rounds."""
    groups: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.workload, sample.server), []).append(sample)
    cells = {}
    for key, group in groups.items():
        ok = [s for s in group if s.value is not None]
        values = [s.value for s in ok if s.value is not None]
        cells[key] = Cell(
            value=_median(values),
            loadgen_cpu=_median(s.loadgen_cpu for s in ok),
            loadgen_busy=_median(s.loadgen_busy for s in ok),
            server_cpu=_median(s.server_cpu for s in ok),
            rounds=len(ok),
            attempts=len(group),
            low=min(values) if values else None,
            high=max(values) if values else None,
            unit=group[0].unit,
            errors=sum(s.errors for s in group),
            first_error=next((s.first_error for s in group if s.first_error), ""),
        )
    return cells


def spread(cell: Cell) -> float | None:
    """How far apart the rounds were: (largest - smallest) / median, None for one round."""
    if cell.rounds < 2 or not cell.value or cell.low is None or cell.high is None:
        return None
    return (cell.high - cell.low) / cell.value


def unsteady(result: FamilyResult) -> list[str]:
    """The figures whose rounds spread more than L{SPREAD}: they did not reproduce."""
    out = []
    servers = [result.family.zoo, *result.peers]
    for workload in result.workloads:
        for server in servers:
            cell = result.cells.get((workload, server))
            width = spread(cell) if cell else None
            if width is not None and width > SPREAD:
                out.append(f"{server} at {workload} ({width:.0%})")
    return out


def ratio(cells: dict[tuple[str, str], Cell], workload: str, zoo: str, peer: str) -> float | None:
    """zoo's median over the peer's at one workload (above 1: zoo is faster)."""
    mine, theirs = cells.get((workload, zoo)), cells.get((workload, peer))
    if mine is None or theirs is None or mine.value is None or not theirs.value:
        return None
    return mine.value / theirs.value


def workloads(samples: Iterable[Sample]) -> list[str]:
    """Workloads in the order the run measured them."""
    return list(dict.fromkeys(s.workload for s in samples))


@dataclass
class FamilyResult:
    """One family of a run: its cells, workloads and the peers that ran."""

    family: Family
    cells: dict[tuple[str, str], Cell]
    workloads: list[str]
    peers: list[str]

    def ratio(self, workload: str, peer: str) -> float | None:
        return ratio(self.cells, workload, self.family.zoo, peer)


def family_results(run: Run) -> Iterator[tuple[Family, FamilyResult | None]]:
    """Each family, with its figures or None when the run has no data for it."""
    for family in FAMILIES:
        data = run.raw.get(family.source)
        samples = family.load(data) if data is not None else []
        servers = {s.server for s in samples}
        peers = [p for p in family.peers if p in servers]
        if not samples or family.zoo not in servers or not peers:
            yield family, None
            continue
        yield family, FamilyResult(family, summarize(samples), workloads(samples), peers)


# ---------------------------------------------------------------------------
# Plots


def plot(result: FamilyResult, path: Path, smoke: bool = False) -> None:
    """Draw zoo's ratio to each peer per workload, with the 1.0x and target lines.

    A smoke run's plot says so in its title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    family = result.family
    n = len(result.peers)
    width = 0.8 / n
    figure, axes = plt.subplots(figsize=(8, 3.4), dpi=100)
    top = 1.2
    target_label = "target"
    for i, peer in enumerate(result.peers):
        xs, heights = [], []
        for x, workload in enumerate(result.workloads):
            value = result.ratio(workload, peer)
            offset = x - 0.4 + width * (i + 0.5)
            if value is not None:
                xs.append(offset)
                heights.append(value)
                axes.annotate(
                    f"{value:.2f}x", (offset, value), ha="center", va="bottom", fontsize=7
                )
                top = max(top, value * 1.15)
            goal = family.target(peer, workload)
            if goal is not None:
                axes.hlines(
                    goal, offset - width / 2, offset + width / 2, colors="red",
                    linestyles="dashed", linewidth=1.5, label=target_label,
                )  # fmt: skip
                target_label = "_nolegend_"
                top = max(top, goal * 1.15)
        axes.bar(xs, heights, width * 0.95, label=f"zoo / {peer}")
    axes.axhline(1.0, color="black", linewidth=0.8)
    labels = [textwrap.fill(w, 16) for w in result.workloads]  # long TLS/SMTP names wrap
    axes.set_xticks(range(len(result.workloads)), labels, fontsize=7)
    axes.set_ylim(0, top)
    axes.set_ylabel("zoo / peer (higher: zoo faster)", fontsize=8)
    title = family.title + (" (SMOKE RUN: these figures mean nothing)" if smoke else "")
    axes.set_title(title, fontsize=10, color="red" if smoke else "black")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


# ---------------------------------------------------------------------------
# reST


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def _cpu(cell: Cell | None) -> str:
    if cell is None or cell.loadgen_cpu is None:
        return "—"
    busy = f" (busy {cell.loadgen_busy:.0f}%)" if cell.loadgen_busy is not None else ""
    return f"{cell.loadgen_cpu:.0f}%{busy}"


def _server_cpu(cell: Cell | None) -> str:
    return "—" if cell is None or cell.server_cpu is None else f"{cell.server_cpu:.0f}%"


def _figure(cell: Cell | None, unit: bool = True) -> str:
    if cell is None:
        return "—"
    if cell.value is None:
        return "failed"
    spread = ""
    if cell.rounds > 1 and cell.low is not None and cell.high is not None:
        spread = f" ({_num(cell.low)}–{_num(cell.high)})"
    return f"{_num(cell.value)}{' ' + cell.unit if unit else ''}{spread}"


def _rounds(mine: Cell | None, theirs: Cell | None) -> str:
    parts = []
    for cell in (mine, theirs):
        if cell is None:
            parts.append("0")
        else:
            failed = cell.attempts - cell.rounds
            parts.append(f"{cell.rounds}" + (f" ({failed} failed)" if failed else ""))
    return " / ".join(parts)


def table(result: FamilyResult) -> list[str]:
    """A list-table: one row per workload and peer."""
    family = result.family
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - workload",
        "     - zoo",
        "     - peer",
        "     - ratio (target)",
        "     - load generator CPU, zoo / peer",
        "     - server CPU, zoo / peer",
        "     - rounds, zoo / peer",
    ]
    for workload in result.workloads:
        mine = result.cells.get((workload, family.zoo))
        for peer in result.peers:
            theirs = result.cells.get((workload, peer))
            value = result.ratio(workload, peer)
            goal = family.target(peer, workload)
            shown = "—" if value is None else f"**{value:.2f}x**"
            lines += [
                f"   * - {workload}",
                f"     - {_figure(mine)}",
                f"     - {peer}: {_figure(theirs, unit=False)}",
                f"     - {shown}" + ("" if goal is None else f" ({goal:.2f}x)"),
                f"     - {_cpu(mine)} / {_cpu(theirs)}",
                f"     - {_server_cpu(mine)} / {_server_cpu(theirs)}",
                f"     - {_rounds(mine, theirs)}",
            ]
    return lines


def header(run: Run) -> list[str]:
    """Date, machine, commit, versions and command of the run, and a smoke warning."""
    meta = run.meta
    machine = meta.get("machine", {})
    git = meta.get("git", {})
    versions = meta.get("versions", {})
    commit = git.get("commit") or "unknown"
    dirty = " **with uncommitted changes**" if git.get("dirty") else ""
    subject = git.get("subject") or ""
    subject = f" ({subject[:69] + '...' if len(subject) > 72 else subject})" if subject else ""
    lines = []
    if run.smoke:
        lines += [
            ".. warning::",
            "",
            f"   The newest run, ``{run.name}``, is a **smoke run** (``bench/suite.py --quick``,",
            "   kind ``" + str(meta.get("kind")) + "``): it only proves that the suite runs end",
            "   to end, on a busy machine, with rounds far too short. **Its figures mean",
            "   nothing**; the plots below show the plumbing, not zoo's speed.",
            "",
        ]
    memory = machine.get("memory_gib")
    lines += [
        f"- **Run:** ``{run.name}`` ({meta.get('kind', '?')}), "
        f"from {meta.get('started', '?')} to {meta.get('ended', '?')} (UTC).",
        f"- **Machine:** {machine.get('cpus', '?')} × {machine.get('cpu_model', '?')}, "
        f"Linux {machine.get('kernel', '?')}"
        + (f", {memory} GiB" if memory else "")
        + f"; {machine.get('pinning', '')}.",
        f"- **Commit:** ``{commit}``{subject}{dirty}.",
        "- **Versions:** "
        + "; ".join(f"{name} {value}" for name, value in versions.items() if value)
        + ".",
        f"- **Command:** ``{meta.get('command', '?')}``",
        "",
    ]
    return lines


def erring(result: FamilyResult) -> list[str]:
    """The figures whose client saw errors (a request unanswered in time counts)."""
    out = []
    for workload in result.workloads:
        for server in [result.family.zoo, *result.peers]:
            cell = result.cells.get((workload, server))
            if cell is not None and cell.errors:
                first = f"; first: {cell.first_error}" if cell.first_error else ""
                out.append(f"{server} at {workload}: {cell.errors} over the rounds{first}")
    return out


def render(run: Run, image_prefix: str) -> tuple[list[str], list[FamilyResult]]:
    """The page's reST for a run, and the families to plot (image C{prefix}KEY.png)."""
    lines = header(run)
    parts = run.meta.get("parts", {})
    plotted = []
    for family, result in family_results(run):
        lines += [f".. rubric:: {family.title}", ""]
        part = parts.get(family.source.removesuffix(".json"), {})
        if result is None:
            why = (
                f"the part failed (exit status {part.get('returncode')})"
                if part and part.get("returncode")
                else "the part was not run or has no figures for zoo and its peers"
            )
            lines += [f"No figures in this run: {why}.", ""]
            continue
        plotted.append(result)
        lines += [
            ".. raw:: html",
            "",
            f'   <img src="{image_prefix}{family.key}.png" alt="{family.title}: zoo / peer" '
            'style="max-width: 100%">',
            "",
            f"Loaded by {family.client}; medians of the rounds (smallest–largest round in "
            "brackets). Load generator CPU is % of one core"
            + (
                " (loadgen busy-polls, so it is near 100%; *busy* is its share of time spent "
                "handling events: near 100% means the client, not the server, set the figure)"
                if family.client == "bench/loadgen.c"
                else ""
            )
            + ".",
            "",
            *table(result),
            "",
        ]
        wide = unsteady(result)
        if wide:
            lines += [
                f"**Did not reproduce within the run** (rounds more than {SPREAD:.0%} apart, "
                "relative to their median): " + ", ".join(wide) + ". Take the run again on a "
                "quiet machine and replace it; do not keep the best run.",
                "",
            ]
        errors = erring(result)
        if errors:
            lines += [
                "**Errors seen by the load generator** in the measured phase (each counted "
                "request is excluded from the figure): " + "; ".join(errors) + ".",
                "",
            ]
        if part.get("returncode"):
            lines += [f"The part exited with status {part['returncode']}: see its log.", ""]
    return lines, plotted


# ---------------------------------------------------------------------------
# The directive


class BenchRunDirective(SphinxDirective):
    """``.. bench-run:: latest|RUN``, with ``:runs: PATH`` (default benchruns, from srcdir).

    The plots are drawn when the build finishes (L{_draw}), into its output.
    """

    optional_arguments = 1
    option_spec = {"runs": directives.unchanged}

    def run(self) -> list[Any]:
        env = self.env
        root = Path(env.srcdir) / self.options.get("runs", "benchruns")
        path = find_run(root, self.arguments[0] if self.arguments else "latest")
        run = load_run(path)
        for file in sorted(path.glob("*.json")):
            env.note_dependency(str(file))
        depth = env.docname.count("/")
        lines, plotted = render(run, "../" * depth + f"{IMAGE_DIR}/{run.name}-")
        pages = _pages(env)
        pages[env.docname] = str(path)
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=str(path)), self.content_offset, container)
        return container.children


def _pages(env: Any) -> dict[str, str]:
    """Pages with the directive, and the run directory each one shows (kept in the env)."""
    if not hasattr(env, "benchplots_pages"):
        env.benchplots_pages = {}
    pages: dict[str, str] = env.benchplots_pages
    return pages


def _draw(app: Any, exception: Exception | None) -> None:
    """Draw the plots of every run a page shows into the build output's _benchplots/."""
    if exception is not None or app.builder.format != "html":
        return
    for path in sorted(set(_pages(app.env).values())):
        run = load_run(Path(path))
        for family, result in family_results(run):
            if result is not None:
                image = Path(app.outdir) / IMAGE_DIR / f"{run.name}-{family.key}.png"
                plot(result, image, run.smoke)


def _always_outdated(app: Any, env: Any, added: Any, changed: Any, removed: Any) -> list[str]:
    """Re-read pages with the directive each build, so that the newest run is shown."""
    return sorted(_pages(env))


def _purge(app: Any, env: Any, docname: str) -> None:
    _pages(env).pop(docname, None)


def _merge(app: Any, env: Any, docnames: Any, other: Any) -> None:
    _pages(env).update(_pages(other))


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("bench-run", BenchRunDirective)
    app.connect("env-get-outdated", _always_outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("build-finished", _draw)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
