"""zoo-telnet over real sockets: the books' programs, Debian's telnet, telnetlib3, bad input."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import require_tool
from probes import probe

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

BOOKS = Path(__file__).parent / "books"
USER, PASSWORD = "brandon", "mypass"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory):
    args = ["zoo-telnet", "--port", "0", "--user", f"{USER}:{PASSWORD}", "--user", "eve:secret2"]
    with TwistdProcess(args, tmp_path_factory.mktemp("telnet")) as z:
        yield z


def book(zoo: TwistdProcess, script: str, *args: str, user: str = USER, password: str = PASSWORD):
    """Run one of the books' telnet programs against zoo-telnet; return its output lines."""
    out = subprocess.run(
        [sys.executable, str(BOOKS / script), *args],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # no terminal: getpass reads the password from stdin
        env={
            **os.environ,
            "ZOO_PORT": str(zoo.port("telnet")),
            "ZOO_USER": user,
            "ZOO_PASSWORD": password,
        },
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def _uptime(line: str) -> bool:
    return " up " in line and "load average:" in line


def test_telnet_login_second_edition(zoo: TwistdProcess) -> None:
    """FOPNP 2e telnet_login.py logs in and prints the uptime line, then the connection closes."""
    lines = [x for x in book(zoo, "telnet_login_2e.py") if x.strip()]
    assert len(lines) == 1 and _uptime(lines[0]), lines


def test_telnet_login_third_edition(zoo: TwistdProcess) -> None:
    """FOPNP 3e telnet_login.py (CR line ends, getpass) prints the uptime line."""
    lines = [x for x in book(zoo, "telnet_login.py", "localhost", USER) if x.strip()]
    assert len(lines) == 1 and _uptime(lines[0]), lines


def test_telnet_login_wrong_password(zoo: TwistdProcess) -> None:
    """With a wrong password the book's program gives up, as printed."""
    lines = book(zoo, "telnet_login.py", "localhost", "eve", password="not-it")
    assert lines == ["Username and password failed - giving up"]


def test_telnet_codes_sets_term(zoo: TwistdProcess) -> None:
    """telnet_codes.py answers each option, sends 'mypython', and $TERM prints mypython."""
    lines = book(zoo, "telnet_codes.py")
    assert lines[:4] == ["Do not 1", "Do not 3", 'Sending terminal type "mypython"', "Will not 31"]
    assert [x.strip() for x in lines[4:] if x.strip()] == ["mypython"]


class Pty:
    """A program on a terminal of a given size, read with a deadline."""

    def __init__(self, argv: list[str], rows: int = 33, cols: int = 101) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.environ["TERM"] = "xterm-zoo"
            os.execvp(argv[0], argv)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("4H", rows, cols, 0, 0))
        self.seen = b""

    def until(self, text: bytes, timeout: float = 15) -> bytes:
        end = time.monotonic() + timeout
        while text not in self.seen and time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    more = os.read(self.fd, 4096)
                except OSError:
                    break
                if not more:
                    break
                self.seen += more
        assert text in self.seen, self.seen.decode(errors="replace")
        return self.seen

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> int:
        os.close(self.fd)
        return os.waitpid(self.pid, 0)[1]


def test_debian_telnet_client(zoo: TwistdProcess) -> None:
    """Debian's telnet: TERM and window size pass, the password is not echoed, exit closes."""
    client = Pty([require_tool("telnet"), "127.0.0.1", str(zoo.port("telnet"))])
    try:
        client.until(b"login: ")
        client.send(USER.encode() + b"\r")
        client.until(b"Password: ")
        client.send(PASSWORD.encode() + b"\r")
        client.until(b"$ ")
        client.send(b"echo T=$TERM; stty size\r")
        client.until(b"T=xterm-zoo")
        client.until(b"33 101")
        client.send(b"exit\r")
        seen = client.until(b"Connection closed by foreign host.")
    finally:
        client.close()
    assert PASSWORD.encode() not in seen
    assert f"login: {USER}".encode() in seen  # the name is echoed (the client said DO ECHO)


def test_telnetlib3_client(zoo: TwistdProcess) -> None:
    """telnetlib3's asyncio client negotiates TTYPE and NAWS; the shell sees both."""
    import telnetlib3

    async def session() -> str:
        reader, writer = await telnetlib3.open_connection(
            "127.0.0.1", zoo.port("telnet"), term="zoo-term", cols=77, rows=22, encoding="utf8"
        )
        seen = ""

        async def until(text: str) -> None:
            nonlocal seen
            while text not in seen:
                more = await asyncio.wait_for(reader.read(4096), 15)
                assert more, seen
                seen += more

        await until("login: ")
        writer.write(USER + "\r\n")
        await until("Password: ")
        writer.write(PASSWORD + "\r\n")
        await until("$ ")
        writer.write("echo T=$TERM; stty size; exit\r\n")
        while True:
            more = await asyncio.wait_for(reader.read(4096), 15)
            if not more:
                break
            seen += more
        writer.close()
        return seen

    seen = asyncio.run(session())
    assert "T=zoo-term" in seen
    assert "22 77" in seen


def test_probe(zoo: TwistdProcess) -> None:
    """The torture test's probe passes against zoo-telnet."""
    probe({"service": "telnet", "type": "TCP", "host": "127.0.0.1", "port": zoo.port("telnet")})


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_bad_input_leaves_the_server_up(zoo: TwistdProcess) -> None:
    """Option floods, garbage and over-long lines each get closed; the server stays up."""
    port = zoo.port("telnet")
    flood = b"\xff\xfb\x63\xff\xfc\x63" * 20000
    garbage = bytes(range(256)) * 64
    long_line = b"a" * 100_000 + b"\r\n"
    for attack in (flood, garbage, long_line):
        with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
            try:
                s.sendall(attack)
            except OSError:
                pass  # closed while we were still sending
            got = b""
            while True:
                try:
                    more = s.recv(65536)
                except OSError:
                    break
                if not more:
                    break
                got += more
        assert len(got) < 64 * 1024
    test_probe(zoo)


def test_non_reading_client_stays_bounded(zoo: TwistdProcess) -> None:
    """A shell spewing output to a client that never reads does not grow the server."""
    port = zoo.port("telnet")
    pid = zoo.proc.pid  # type: ignore[union-attr]
    before = _rss_kib(pid)
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        got = b""
        while b"login: " not in got:
            got += s.recv(4096)
        s.sendall(USER.encode() + b"\r\n")
        while b"Password: " not in got:
            got += s.recv(4096)
        s.sendall(PASSWORD.encode() + b"\r\n")
        while b"$ " not in got:
            got += s.recv(4096)
        s.sendall(b"exec yes zoo-telnet-is-flooding-you\r\n")
        time.sleep(3)  # the shell writes as fast as it may; nobody reads
        grown = _rss_kib(pid) - before
    finally:
        s.close()
    assert grown < 16 * 1024, f"server grew by {grown} KiB"
    test_probe(zoo)


def test_runner_starts_telnet_when_asked(tmp_path: Path) -> None:
    """`twistd -n zoo --with telnet` serves it on loopback, and the probe passes."""
    with TwistdProcess(["zoo", "--with", "telnet --port 0"], tmp_path) as z:
        (entry,) = [e for e in z.listeners if e["service"] == "telnet"]
        assert entry["host"] == "127.0.0.1"
        probe(entry)
