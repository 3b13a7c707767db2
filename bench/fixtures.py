"""The same small test suite on zoo's fixtures and on aiosmtpd's Controller + pytest-localftpserver.

    .venv/bin/pip install -e '.[bench]'                 # aiosmtpd, pytest-localftpserver
    python bench/fixtures.py                            # 100 tests, 5 rounds, serial
    python bench/fixtures.py --tests 20 --rounds 1      # a smoke test
    python bench/fixtures.py --workers 4                # the suites under pytest -n 4

Each suite is N tests, half "send a mail with smtplib and assert it arrived", half
"upload a file with ftplib and assert it is there", written the way each fixture's
user writes them:

- zoo: the zoo_smtp and zoo_ftp fixtures (one zoo subprocess for the session, each
  service reset before each test over the control plane); the test waits for the
  mail (wait_for_message) and the upload (wait_for_upload, read_file).
- peers: aiosmtpd's Controller in a session fixture on a free port it is given (it
  cannot bind port 0), its handler keeping the envelopes in a list a function
  fixture clears; pytest-localftpserver's ftpserver fixture, its folders reset
  (reset_tmp_dirs) after each test; the test reads the list and the file. Two
  start-up races of that fixture are worked around: it returns before its thread
  listens (a first connection may be refused: the fixture here connects until one
  is accepted), and a reset_tmp_dirs() right after it started can run before the
  thread's authorizer reads the folders, which kills the thread (so the reset
  comes after each test, not before).

Each suite runs in its own `python -m pytest` (the other side's plugin and
pytest-twisted disabled, so neither pays for the other), rounds interleaved. The
table gives, as medians over rounds:

- wall: the whole pytest process, from exec to exit;
- start-up: from exec to the end of the first test's setup (interpreter, plugins,
  collection, and starting the servers, which the first test's fixtures do);
- per test: the mean of setup + call + teardown over every test but the first,
  and the median of the mail tests and of the upload tests apart;
- reset: the median setup + teardown time over every test but the first (for zoo,
  the reset requests to the control plane; for the peers, clearing the list and the
  folders).

Target (issue 16): zoo's per-test reset under 10 ms, and zoo's suite faster than each
peer. A timing plugin (written next to the suite) records each phase's duration.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import harness  # bench/ is this script's folder: the shared helpers

TIMING = '''
"""Record each test phase's duration and the wall time its setup ended."""
import json, os, time

_rows = []

def pytest_runtest_logreport(report):
    _rows.append({"test": report.nodeid, "when": report.when,
                  "duration": report.duration, "end": time.time(),
                  "outcome": report.outcome})

def pytest_sessionfinish(session):
    with open(os.environ["BENCH_TIMING"], "w") as f:
        json.dump(_rows, f)
'''

ZOO_SUITE = """
import ftplib, io, smtplib
import pytest

N = {half}
BODY = "Subject: hello\\r\\n\\r\\nhello\\r\\n"

@pytest.mark.parametrize("n", range(N))
def test_mail(zoo_smtp, n):
    to = f"user{{n}}@example.com"
    with smtplib.SMTP(zoo_smtp.host, zoo_smtp.port, timeout=10) as s:
        s.sendmail("shop@example.com", [to], BODY)
    message = zoo_smtp.wait_for_message(to=to, timeout=5)
    assert message["subject"] == "hello"

@pytest.mark.parametrize("n", range(N))
def test_upload(zoo_ftp, n):
    with ftplib.FTP() as f:
        f.connect(zoo_ftp.host, zoo_ftp.port, timeout=10)
        f.login(zoo_ftp.user, zoo_ftp.password)
        f.storbinary(f"STOR file{{n}}.txt", io.BytesIO(b"data %d" % n))
    zoo_ftp.wait_for_upload(f"file{{n}}.txt", timeout=5)
    assert zoo_ftp.read_file(f"file{{n}}.txt") == b"data %d" % n
"""

PEER_SUITE = """
import ftplib, io, smtplib, socket, time
import pytest
from aiosmtpd.controller import Controller

N = {half}
BODY = "Subject: hello\\r\\n\\r\\nhello\\r\\n"

class Keep:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

@pytest.fixture(scope="session")
def smtpd():
    controller = Controller(Keep(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()

@pytest.fixture
def mailbox(smtpd):
    smtpd.handler.envelopes.clear()
    return smtpd

def until_listening(port):
    # The fixture returns before its thread listens: a first connection can be refused.
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except ConnectionRefusedError:
            time.sleep(0.01)

@pytest.fixture
def ftp(ftpserver):
    until_listening(ftpserver.server_port)
    # After the test, not before: reset_tmp_dirs() right after the fixture started
    # races the server thread's start, which then fails on the missing folder.
    yield ftpserver
    ftpserver.reset_tmp_dirs()

@pytest.mark.parametrize("n", range(N))
def test_mail(mailbox, n):
    to = f"user{{n}}@example.com"
    with smtplib.SMTP(mailbox.hostname, mailbox.port, timeout=10) as s:
        s.sendmail("shop@example.com", [to], BODY)
    [envelope] = mailbox.handler.envelopes
    assert envelope.rcpt_tos == [to]
    assert b"Subject: hello" in envelope.original_content

@pytest.mark.parametrize("n", range(N))
def test_upload(ftp, n):
    login = ftp.get_login_data()
    with ftplib.FTP() as f:
        f.connect(login["host"], login["port"], timeout=10)
        f.login(login["user"], login["passwd"])
        f.storbinary(f"STOR file{{n}}.txt", io.BytesIO(b"data %d" % n))
    [found] = ftp.get_file_contents(f"file{{n}}.txt", read_mode="rb")
    assert found["content"] == b"data %d" % n
"""

#: The suites: test file, and the plugins each run disables (the other side's, and
#: pytest-twisted, which a non-Twisted suite would not have).
SUITES = {
    "zoo": (ZOO_SUITE, ["-p", "no:localftpserver"]),
    "peers": (PEER_SUITE, ["-p", "no:zoo"]),
}
COMMON = ["-p", "no:cacheprovider", "-p", "no:twisted", "-p", "no:asyncio", "-p", "bench_timing"]


def check_peers() -> None:
    try:
        import aiosmtpd  # noqa: F401
        import pytest_localftpserver  # noqa: F401
    except ImportError as e:
        raise SystemExit(
            f"{e.name} is not installed: .venv/bin/pip install -e '.[bench]'"
        ) from None


def write_suite(folder: Path, name: str, tests: int) -> Path:
    where = folder / name
    where.mkdir(parents=True)
    source, _ = SUITES[name]
    (where / "bench_timing.py").write_text(TIMING)
    (where / "pytest.ini").write_text("[pytest]\n")
    (where / f"test_{name}_suite.py").write_text(textwrap.dedent(source.format(half=tests // 2)))
    return where


def run_suite(where: Path, name: str, workers: int, tests: int) -> dict[str, float]:
    timing = where / "timing.json"
    args = [sys.executable, "-m", "pytest", "-q", *COMMON, *SUITES[name][1]]
    if workers:
        args += ["-n", str(workers)]
    env = {**os.environ, "BENCH_TIMING": str(timing), "PYTHONPATH": str(where)}
    began = time.time()
    done = subprocess.run(args, cwd=where, env=env, capture_output=True, text=True, timeout=900)
    wall = time.time() - began
    if done.returncode != 0:
        raise SystemExit(f"the {name} suite failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    rows = json.loads(timing.read_text())
    if sum(1 for r in rows if r["when"] == "call" and r["outcome"] == "passed") != tests:
        raise SystemExit(f"the {name} suite did not pass {tests} tests:\n{done.stdout[-4000:]}")
    first = min((r for r in rows if r["when"] == "setup"), key=lambda r: r["end"])
    per_test: dict[str, float] = {}
    resets: dict[str, float] = {}
    for r in rows:
        if r["test"] != first["test"]:
            per_test[r["test"]] = per_test.get(r["test"], 0.0) + r["duration"]
            if r["when"] != "call":
                resets[r["test"]] = resets.get(r["test"], 0.0) + r["duration"]
    return {
        "wall": wall,
        "startup": first["end"] - began,
        "per_test": statistics.fmean(per_test.values()),
        "mail": statistics.median(v for k, v in per_test.items() if "::test_mail[" in k),
        "upload": statistics.median(v for k, v in per_test.items() if "::test_upload[" in k),
        "reset": statistics.median(resets.values()),
    }


def table(results: dict[str, list[dict[str, float]]], rounds: int) -> str:
    lines = [
        "| suite | wall s | start-up s | per test ms | mail test ms | upload test ms | reset ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        lines.append(
            f"| {name} | {med['wall']:.2f} | {med['startup']:.2f} | "
            f"{med['per_test'] * 1000:.2f} | {med['mail'] * 1000:.2f} | "
            f"{med['upload'] * 1000:.2f} | {med['reset'] * 1000:.2f} |"
        )
    return "\n".join(lines)


def compile_bytecode() -> None:
    """Compile zoo's modules, as installing it does (an editable checkout, or a
    PYTHONDONTWRITEBYTECODE environment, would otherwise compile them at every start:
    about 0.1 s of each start-up here). The peers are installed, so theirs are compiled."""
    import zoo

    folder = Path(zoo.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(folder)], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100, help="tests per suite (even)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="pytest -n WORKERS (xdist)")
    parser.add_argument("--suites", default="zoo,peers")
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args()
    if args.tests < 4 or args.tests % 2:
        parser.error("--tests must be even and at least 4")
    check_peers()
    compile_bytecode()
    names = args.suites.split(",")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-fixtures-") as tmp:
        for round_number in range(args.rounds):
            for name in names:  # interleaved, so a noisy moment hits both
                where = write_suite(Path(tmp) / f"r{round_number}", name, args.tests)
                result = run_suite(where, name, args.workers, args.tests)
                results[name].append(result)
                print(
                    f"round {round_number + 1} {name}: wall {result['wall']:.2f} s, "
                    f"reset {result['reset'] * 1000:.2f} ms",
                    file=sys.stderr,
                )
    mode = f"pytest -n {args.workers}" if args.workers else "serial"
    print(
        harness.environment_note()
        + f"\n\n{args.tests} tests ({args.tests // 2} mail, {args.tests // 2} FTP upload), "
        f"{mode}, median of {args.rounds} round(s)\n\n" + table(results, args.rounds)
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
