"""twistd as a user runs it: plugin discovery, bad options, the runner, .tac files."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from probes import probe
from slowclients import flood_without_reading, rss_kib

from zoo.tap import registry
from zoo.testing import TWISTD, TwistdError, TwistdProcess, run_twistd

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def ask(port: int, data: bytes, expect: int, timeout: float = 5.0) -> bytes:
    """Send C{data} and read until C{expect} periods arrive (or EOF)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while out.count(b".") < expect:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        return out


def test_help_lists_every_plugin() -> None:
    """`twistd --help` lists the runner and one zoo-NAME plugin per registered service."""
    out = run_twistd(["--help"]).stdout
    assert "    zoo " in out
    for name in registry.names():
        assert f"zoo-{name}" in out, name


def test_plugin_discovery_is_light() -> None:
    """Importing the plugin file imports neither the reactor nor any zoo module."""
    code = (
        "import sys, twisted.plugins.zoo_plugins as p\n"
        "heavy = [m for m in sys.modules if m == 'twisted.internet.reactor' or m == 'txredisapi'"
        " or m == 'zoo' or m.startswith('zoo.')]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_other_reactor_works() -> None:
    """`twistd --reactor=asyncio` still works, which breaks if a plugin imports the reactor."""
    out = run_twistd(["--reactor=asyncio", "zoo-lancelot", "--help"])
    assert out.returncode == 0, out.stderr
    assert "--max-question" in out.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["zoo-lancelot", "--port", "abc"], "--port: 'abc' is not a port number"),
        (["zoo-lancelot", "--port", "99999"], "not a port number"),
        (["zoo-lancelot", "--listen", "carrier-pigeon:1"], "bad endpoint"),
        (["zoo-lancelot", "--idle-timeout", "soon"], "--idle-timeout"),
        (["zoo-lancelot", "--nope"], "--nope"),
        (["zoo", "--with", "gopher"], "unknown service 'gopher'; available: lancelot, "),
        (["zoo", "--with", "lancelot --port x"], "'lancelot --port x'"),
    ],
)
def test_bad_options_one_line_exit_2(args: list[str], fragment: str) -> None:
    """A bad option is one line on stderr and exit status 2, never a traceback."""
    out = run_twistd(["-n", "--pidfile=", *args])
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert fragment in lines[0]
    assert "Traceback" not in out.stdout + out.stderr


def test_port_in_use(workdir: Path) -> None:
    """A port already taken is a one-line error and exit status 1, not a traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run_twistd(["-n", "--pidfile=", "zoo-lancelot", "--port", str(port)], cwd=workdir)
    assert out.returncode == 1
    assert "Address already in use" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_lancelot_book_client(workdir: Path) -> None:
    """The book's client session: three questions on one connection, three answers."""
    with TwistdProcess(["zoo-lancelot", "--port", "0"], workdir) as zoo:
        port = zoo.port("lancelot")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            answers = []
            for q in (
                b"What is your name?",
                b"What is your quest?",
                b"What is your favorite color?",
            ):
                s.sendall(q)
                answer = b""
                while not answer.endswith(b"."):
                    answer += s.recv(4096)
                answers.append(answer)
        assert answers == [
            b"My name is Sir Lancelot of Camelot.",
            b"To seek the Holy Grail.",
            b"Blue.",
        ]
        assert f"lancelot listening on TCP 127.0.0.1:{port}" in zoo.output


def test_lancelot_split_merged_unknown(workdir: Path) -> None:
    """Split, merged and unknown questions over a real socket, and the server stays up."""
    with TwistdProcess(["zoo-lancelot", "--port", "0"], workdir) as zoo:
        port = zoo.port()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for byte in b"What is your quest?":
                s.sendall(bytes([byte]))
            assert s.recv(100) == b"To seek the Holy Grail."
        merged = ask(
            port, b"What is your name?What is the airspeed?What is your favorite color?", 3
        )
        assert merged == b"My name is Sir Lancelot of Camelot.Error: unknown question.Blue."
        assert ask(port, b"x" * 5000, 1) == b"Error: question too long."
        assert ask(port, b"What is your name?", 1) == b"My name is Sir Lancelot of Camelot."


def test_zoo_ask_cli(workdir: Path) -> None:
    """The zoo-ask command asks the book's questions and prints the answers."""
    with TwistdProcess(["zoo-lancelot", "--port", "0", "--book", "zen"], workdir) as zoo:
        out = subprocess.run(
            [sys.executable, "-m", "zoo.lancelot", "--zen", "-p", str(zoo.port())],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert out.stdout.splitlines() == ["Ugly.", "Implicit.", "Complex."], out.stderr


def test_lancelot_client_that_never_reads(workdir: Path) -> None:
    """30 MB of questions, no answer read: the server stops reading; memory stays bounded."""
    with TwistdProcess(["zoo-lancelot", "--port", "0"], workdir) as zoo:
        assert zoo.proc is not None
        before = rss_kib(zoo.proc.pid)
        flood_without_reading(zoo.port(), b"What is your name?\n")
        grown = rss_kib(zoo.proc.pid) - before
        assert grown < 16 * 1024, f"server grew by {grown} KiB"
        with socket.create_connection(("127.0.0.1", zoo.port()), timeout=10) as s:
            s.sendall(b"What is your quest?\n")
            assert s.recv(100) == b"To seek the Holy Grail."


def test_thousand_concurrent_clients(workdir: Path) -> None:
    """1000 clients connected at once each get their answer."""
    with TwistdProcess(["zoo-lancelot", "--port", "0"], workdir) as zoo:
        port = zoo.port()
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(1000)]
        try:
            for s in socks:
                s.sendall(b"What is your favorite color?")
            for s in socks:
                got = b""
                while len(got) < 5:
                    chunk = s.recv(16)
                    assert chunk, "server closed early"
                    got += chunk
                assert got == b"Blue."
        finally:
            for s in socks:
                s.close()


def test_runner_defaults(workdir: Path) -> None:
    """`twistd -n zoo` starts every service but those off by default, and prints a table.

    It needs the default ports free: a zoo started by the README's first command and
    still running makes it fail, with a message that says so.
    """
    zoo = TwistdProcess(["zoo"], workdir)
    try:
        zoo.start()
    except TwistdError as e:
        if "Address already in use" in str(e):
            pytest.fail(
                "a default port of `twistd -n zoo` is taken (is a zoo already running? "
                f"stop it, then run this test again):\n{e}"
            )
        raise
    try:
        services = {entry["service"] for entry in zoo.listeners}
        assert services == set(registry.default_names()) | {"admin"}
        assert "telnet" not in services  # cleartext logins: only with --with telnet
        assert "zoo:" in zoo.output and "listeners" in zoo.output
        if "lancelot" in services:
            assert zoo.port("lancelot") == 1060
            assert ask(1060, b"What is your quest?", 1) == b"To seek the Holy Grail."
    finally:
        zoo.stop()


def test_runner_subset_and_twice(workdir: Path) -> None:
    """The runner runs a subset, and the same protocol twice on different ports."""
    with TwistdProcess(
        ["zoo", "--with", "lancelot --port 0", "--with", "lancelot --port 0 --book zen"], workdir
    ) as zoo:
        first, second = zoo.port("lancelot", index=0), zoo.port("lancelot", index=1)
        assert first != second
        assert ask(first, b"What is your favorite color?", 1) == b"Blue."
        assert ask(second, b"Simple is better than?", 1) == b"Complex."


def test_runner_config(workdir: Path) -> None:
    """--config zoo.toml runs what the file lists."""
    config = workdir / "zoo.toml"
    config.write_text('[[lancelot]]\nport = 0\n[[lancelot]]\nport = 0\nbook = "zen"\n')
    with TwistdProcess(["zoo", "--config", str(config)], workdir) as zoo:
        assert [e["service"] for e in zoo.listeners] == ["lancelot", "lancelot", "admin"]
        assert ask(zoo.port(index=1), b"Explicit is better than?", 1) == b"Implicit."


def _tac_files() -> list[Path]:
    return sorted((ROOT / "docs" / "examples").glob("*.tac"))


@pytest.mark.parametrize("tac", _tac_files(), ids=lambda p: p.name)
def test_tac_examples(tac: Path, workdir: Path) -> None:
    """Each docs/examples .tac runs under `twistd -ny` and every service in it answers."""
    # Run a copy on free ports, so the test never collides with a running zoo.
    copy = workdir / tac.name
    copy.write_text(re.sub(r"--port \d+", "--port 0", tac.read_text()))
    copy.write_text(re.sub(r'"--port", "\d+"', '"--port", "0"', copy.read_text()))
    ready = workdir / "ready.json"
    log_path = workdir / "tac.log"
    env = {**os.environ, "ZOO_READY_FILE": str(ready), "ZOO_STATE_DIR": str(workdir / "state")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*TWISTD, "-n", "--pidfile=", "-y", str(copy)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "tac never became ready"
            time.sleep(0.05)
        listeners = json.loads(ready.read_text())["listeners"]
        assert len(listeners) >= 2
        for entry in listeners:
            probe(entry)
    finally:
        proc.terminate()
        proc.wait(10)
    # A user's .tac keeps its reactor as it is: zoo's poll loop is for twistd's plugins.
    assert "lean epoll poll loop" not in log_path.read_text()


def test_plugins_get_the_lean_poll_loop(workdir: Path) -> None:
    """`twistd -n zoo-NAME` and `twistd -n zoo` switch zoo's lean poll loop on (and say so)."""
    for args in (["zoo-lancelot", "--port", "0"], ["zoo", "--with", "echo --port 0"]):
        with TwistdProcess(args, workdir / args[0]) as zoo:
            zoo.port()
        assert "lean epoll poll loop" in zoo.output
        if os.environ.get("ZOO_REQUIRE_SPEEDUPS"):  # CI: the C dispatch and writer in use
            assert "lean epoll poll loop, C speedups on" in zoo.output
