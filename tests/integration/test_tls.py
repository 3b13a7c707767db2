"""TLS with real clients: openssl s_client, curl, Python's ssl; zoo-tls in both modes."""

from __future__ import annotations

import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import require_tool
from probes import tls as tls_probe

from zoo.certs import issue, make_ca
from zoo.testing import TwistdProcess, run_twistd

pytestmark = pytest.mark.integration

QUESTION = b"What is your name?"
ANSWER = b"My name is Sir Lancelot of Camelot."


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Plain Lancelot, TLS Lancelot, and zoo-tls (server mode) in front of the plain one.

    They share one state directory, so one development CA.
    """
    work = tmp_path_factory.mktemp("tls")
    env = {"ZOO_STATE_DIR": str(work / "state")}
    plain = TwistdProcess(["zoo-lancelot", "--port", "0"], work, env=env).start()
    wrapped = TwistdProcess(["zoo-lancelot", "--port", "0", "--tls"], work, env=env).start()
    front = TwistdProcess(
        ["zoo-tls", "--port", "0", "--connect", str(plain.port())], work, env=env
    ).start()
    try:
        yield {
            "work": work,
            "env": env,
            "ca": work / "state" / "tls" / "ca.pem",
            "plain": plain,
            "wrapped": wrapped,
            "front": front,
        }
    finally:
        for p in (front, wrapped, plain):
            p.stop()


def s_client(port: int, ca: Path, data: bytes, *extra: str, expect: int = len(ANSWER)) -> Any:
    """Run openssl s_client, send C{data}, read up to C{expect} bytes of reply, then stop it.

    (C{-quiet} ignores EOF on stdin, so it would wait forever for a server that
    keeps the connection open; and with C{-no_ign_eof} it can quit before the reply.)
    """
    openssl = require_tool("openssl")
    proc = subprocess.Popen(
        [openssl, "s_client", "-quiet", "-verify_return_error", "-CAfile", str(ca)]
        + ["-connect", f"127.0.0.1:{port}", "-servername", "localhost", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(data)
    proc.stdin.flush()
    out = b""
    deadline = time.monotonic() + 10
    while len(out) < expect and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    return SimpleNamespace(stdout=out, stderr=err, returncode=proc.returncode)


def _answer(s: socket.socket, data: bytes = QUESTION) -> bytes:
    """Send C{data}; read until an answer's final period, or EOF."""
    s.sendall(data)
    out = b""
    while not out.endswith(b"."):
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    return out


def ask_tls(port: int, ctx: ssl.SSLContext, hostname: str = "localhost") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=hostname) as s:
            return _answer(s)


def refused(port: int, ctx: ssl.SSLContext) -> bool:
    """The server ends the TLS session with no answer (TLS 1.3 reports it after the handshake)."""
    try:
        return ask_tls(port, ctx) == b""
    except (ssl.SSLError, ConnectionResetError):
        return True


@pytest.mark.parametrize("which", ["wrapped", "front"])
def test_openssl_s_client_verifies(zoo: dict, which: str) -> None:
    """openssl s_client -verify_return_error with the exported CA gets Lancelot's answer."""
    out = s_client(zoo[which].port(), zoo["ca"], QUESTION)
    assert out.stdout == ANSWER, out.stderr
    assert b"verify return:1" in out.stderr


@pytest.mark.parametrize("which", ["wrapped", "front"])
def test_python_ssl_checks_hostname(zoo: dict, which: str) -> None:
    """Python's ssl with hostname checking accepts localhost and 127.0.0.1, refuses other names."""
    ctx = ssl.create_default_context(cafile=str(zoo["ca"]))
    assert ask_tls(zoo[which].port(), ctx) == ANSWER
    assert ask_tls(zoo[which].port(), ctx, "127.0.0.1") == ANSWER
    with pytest.raises(ssl.SSLCertVerificationError):
        ask_tls(zoo[which].port(), ctx, "elsewhere.example")


def test_tls_1_1_refused(zoo: dict) -> None:
    """TLS 1.2 is the minimum: a client offering only TLS 1.1 gets no session."""
    out = s_client(
        zoo["wrapped"].port(), zoo["ca"], b"", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"
    )
    assert out.returncode != 0
    assert ANSWER not in out.stdout


def test_zoo_tls_default_probe(zoo: dict) -> None:
    """The runner's probe for zoo-tls passes against a zoo-tls in front of Lancelot."""
    tls_probe({"host": "127.0.0.1", "port": zoo["front"].port()})


def test_zoo_ca_prints_the_ca(zoo: dict) -> None:
    """zoo-ca prints the path of the CA the services use, and --pem its contents."""
    env = {**__import__("os").environ, **zoo["env"]}
    cmd = [sys.executable, "-m", "zoo.certs"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
    assert out.stdout.strip() == str(zoo["ca"])
    pem = subprocess.run([*cmd, "--pem"], capture_output=True, text=True, env=env, timeout=30)
    assert pem.stdout == zoo["ca"].read_text()


class _HTTPServer:
    """python -m http.server on a free loopback port, serving C{root}."""

    def __init__(self, root: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(self.port)],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("http.server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def test_book_sslclient_through_zoo_tls(zoo: dict, tmp_path: Path) -> None:
    """The book's sslclient.py flow (modern ssl): verify, GET / HTTP/1.0, read to a clean EOF."""
    (tmp_path / "index.html").write_bytes(b"<p>zoo</p>" * 1000)
    http = _HTTPServer(tmp_path)
    try:
        with TwistdProcess(
            ["zoo-tls", "--port", "0", "--connect", str(http.port)], zoo["work"], env=zoo["env"]
        ) as front:
            ctx = ssl.create_default_context(cafile=str(zoo["ca"]))
            raw = socket.create_connection(("127.0.0.1", front.port()), timeout=10)
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                result = s.makefile("rb").read()  # the book's "quick way to read until EOF"
    finally:
        http.stop()
    assert result.startswith(b"HTTP/1.0 200") and result.endswith(b"<p>zoo</p>" * 1000)


def test_plaintext_client_on_tls_port(zoo: dict) -> None:
    """A plaintext client on a TLS port gets no protocol data, and the server stays up."""
    for which in ("wrapped", "front"):
        with socket.create_connection(("127.0.0.1", zoo[which].port()), timeout=10) as s:
            s.sendall(QUESTION)
            got = b""
            while chunk := s.recv(4096):
                got += chunk
        assert ANSWER not in got
        ctx = ssl.create_default_context(cafile=str(zoo["ca"]))
        assert ask_tls(zoo[which].port(), ctx) == ANSWER


def test_curl_through_zoo_tls(zoo: dict, tmp_path: Path) -> None:
    """curl --cacert fetches a 20 MB file through zoo-tls from a plain http.server, intact."""
    curl = require_tool("curl")
    body = bytes(range(256)) * (20 * 4096)
    (tmp_path / "big.bin").write_bytes(body)
    http = _HTTPServer(tmp_path)
    try:
        with TwistdProcess(
            ["zoo-tls", "--port", "0", "--connect", f"127.0.0.1:{http.port}"],
            zoo["work"],
            env=zoo["env"],
        ) as front:
            url = f"https://localhost:{front.port()}/big.bin"
            out = subprocess.run(
                [
                    curl,
                    "-sS",
                    "--fail",
                    "--cacert",
                    str(zoo["ca"]),
                    url,
                    "-o",
                    str(tmp_path / "got"),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr
            assert (tmp_path / "got").read_bytes() == body
            wrong = subprocess.run(
                [curl, "-sS", "--cacert", str(tmp_path / "big.bin"), url, "-o", "/dev/null"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert wrong.returncode != 0  # curl checks the chain too
    finally:
        http.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA with a client certificate, and an unrelated CA's client certificate."""
    d = tmp_path_factory.mktemp("pki")
    ca, other = make_ca("zoo test client CA"), make_ca("stranger CA")
    good, bad = issue(ca, ["alice"], client=True), issue(other, ["mallory"], client=True)
    files = {
        "ca.pem": ca.cert_pem,
        "good.pem": good.cert_pem,
        "good.key": good.key_pem,
        "bad.pem": bad.cert_pem,
        "bad.key": bad.key_pem,
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    return {name: d / name for name in files}


@pytest.mark.parametrize("plugin", ["zoo-lancelot", "zoo-tls"])
def test_mutual_tls(zoo: dict, pki: dict[str, Path], plugin: str) -> None:
    """--tls-client-ca: a client certificate from that CA is accepted; none, or another CA's, is refused."""
    args = [plugin, "--port", "0", "--tls", "--tls-client-ca", str(pki["ca.pem"])]
    if plugin == "zoo-tls":
        args = [plugin, "--port", "0", "--connect", str(zoo["plain"].port())]
        args += ["--tls-client-ca", str(pki["ca.pem"])]
    with TwistdProcess(args, zoo["work"], env=zoo["env"]) as server:
        port = server.port()
        ctx = ssl.create_default_context(cafile=str(zoo["ca"]))
        ctx.load_cert_chain(pki["good.pem"], pki["good.key"])
        assert ask_tls(port, ctx) == ANSWER
        out = s_client(
            port, zoo["ca"], QUESTION, "-cert", str(pki["good.pem"]), "-key", str(pki["good.key"])
        )
        assert out.stdout == ANSWER, out.stderr
        for cert in (None, "bad"):
            ctx = ssl.create_default_context(cafile=str(zoo["ca"]))
            if cert:
                ctx.load_cert_chain(pki[f"{cert}.pem"], pki[f"{cert}.key"])
            assert refused(port, ctx), cert


def _plain_ask(port: int, data: bytes = QUESTION) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return _answer(s, data)


def test_client_mode_verifies_hostname(zoo: dict) -> None:
    """Client mode relays to a TLS server it verifies; a wrong name is refused and logged."""
    target = str(zoo["wrapped"].port())
    with TwistdProcess(
        ["zoo-tls", "--mode", "client", "--port", "0", "--connect", target],
        zoo["work"],
        env=zoo["env"],
    ) as good:
        assert _plain_ask(good.port()) == ANSWER
    with TwistdProcess(
        ["zoo-tls", "--mode", "client", "--port", "0", "--connect", target]
        + ["--servername", "wrong.example", "--ca", str(zoo["ca"])],
        zoo["work"],
        env=zoo["env"],
    ) as bad:
        assert _plain_ask(bad.port()) == b""
        deadline = time.monotonic() + 5
        while "cannot relay" not in bad.output and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "cannot relay" in bad.output and "wrong.example" in bad.output, bad.output
        assert "Traceback" not in bad.output


class _EchoThenBye:
    """A plain backend: echoes until EOF, then sends 'bye' and closes (needs half-close)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                while chunk := conn.recv(65536):
                    conn.sendall(chunk)
                conn.sendall(b"bye")


def test_half_close_through_both_modes(zoo: dict) -> None:
    """plain -> zoo-tls client -> TLS -> zoo-tls server -> plain: EOF passes through both ways."""
    backend = _EchoThenBye()
    env, work = zoo["env"], zoo["work"]
    with TwistdProcess(
        ["zoo-tls", "--port", "0", "--connect", str(backend.port)], work, env=env
    ) as server:
        with TwistdProcess(
            ["zoo-tls", "--mode", "client", "--port", "0", "--connect", str(server.port())],
            work,
            env=env,
        ) as client:
            payload = b"0123456789abcdef" * 65536  # 1 MiB
            with socket.create_connection(("127.0.0.1", client.port()), timeout=20) as s:
                sender = threading.Thread(
                    target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR))
                )
                sender.start()
                got = b""
                while chunk := s.recv(65536):
                    got += chunk
                sender.join()
    assert got == payload + b"bye"
    backend.sock.close()


def test_upstream_down_closes_client(zoo: dict) -> None:
    """Nothing listening upstream: the TLS client is closed cleanly and the failure logged."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with TwistdProcess(
        ["zoo-tls", "--port", "0", "--connect", str(dead)], zoo["work"], env=zoo["env"]
    ) as front:
        ctx = ssl.create_default_context(cafile=str(zoo["ca"]))
        assert ask_tls(front.port(), ctx) == b""
        time.sleep(0.3)
        assert "cannot relay" in front.output and "refused" in front.output.lower()
        assert "Traceback" not in front.output


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["zoo-lancelot", "--tls-cert", "JUNK", "--tls-key", "JUNK"], "JUNK"),
        (
            ["zoo-lancelot", "--tls-cert", "/no/cert.pem", "--tls-key", "/no/key.pem"],
            "/no/cert.pem",
        ),
        (["zoo-lancelot", "--tls", "--tls-client-ca", "JUNK"], "JUNK"),
        (["zoo-tls", "--mode", "client", "--ca", "JUNK"], "JUNK"),
        (["zoo-tls", "--mode", "client", "--ca", "/no/ca.pem"], "/no/ca.pem"),
        (["zoo-tls", "--mode", "upside-down"], "--mode"),
    ],
)
def test_bad_tls_files_usage_error(tmp_path: Path, args: list[str], fragment: str) -> None:
    """A missing or unusable TLS file is one line naming it, exit status 2, no traceback."""
    junk = tmp_path / "junk.pem"
    junk.write_text("this is not PEM\n")
    args = [a.replace("JUNK", str(junk)) for a in args]
    fragment = fragment.replace("JUNK", str(junk))
    out = run_twistd(["-n", "--pidfile=", *args], cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_stale_ready_file_ignored(tmp_path: Path) -> None:
    """TwistdProcess waits for its own process's ready file, not one left by an earlier run."""
    proc = TwistdProcess(["zoo-lancelot", "--port", "0"], tmp_path)
    proc.ready_file.write_text('{"listeners": [{"type": "TCP", "service": "x", "port": 9}]}')
    with proc:
        assert proc.port() != 9
        assert _plain_ask(proc.port()) == ANSWER


def test_ssl_endpoint_string_still_works(zoo: dict) -> None:
    """--listen ssl:...:privateKey=...:certKey=... works as Twisted defines it, verified by openssl."""
    tls_dir = zoo["ca"].parent
    desc = f"ssl:0:privateKey={tls_dir / 'server.key'}:certKey={tls_dir / 'server.pem'}"
    with TwistdProcess(["zoo-lancelot", "--listen", desc], zoo["work"], env=zoo["env"]) as server:
        assert server.listeners[0]["tls"] is True
        out = s_client(server.port(), zoo["ca"], QUESTION)
    assert out.stdout == ANSWER, out.stderr


class _Source:
    """A plain backend that writes as fast as it can to each connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        block = b"z" * 65536
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            try:
                while True:
                    conn.sendall(block)
                    self.sent += len(block)
            except OSError:
                return


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_non_reading_client_bounded_memory(zoo: dict) -> None:
    """A TLS client that stops reading stalls the backend instead of growing zoo-tls's memory."""
    source = _Source()
    with TwistdProcess(
        ["zoo-tls", "--port", "0", "--connect", str(source.port)], zoo["work"], env=zoo["env"]
    ) as front:
        assert front.proc is not None
        before = _rss_kib(front.proc.pid)
        ctx = ssl.create_default_context(cafile=str(zoo["ca"]))
        raw = socket.create_connection(("127.0.0.1", front.port()), timeout=10)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert len(s.recv(65536)) > 0  # data flows
            time.sleep(2)  # now stop reading
            stalled = source.sent
            time.sleep(1)
            assert source.sent - stalled < 4 * 65536, "backend kept sending into zoo-tls"
            grown = _rss_kib(front.proc.pid) - before
            assert grown < 16 * 1024, f"zoo-tls grew {grown} KiB"
            got = 0
            s.settimeout(5)
            while got < 1 << 20:  # and it resumes when the client reads again
                got += len(s.recv(65536))
    source.sock.close()


def test_client_mode_presents_client_certificate(zoo: dict, pki: dict[str, Path]) -> None:
    """Client mode with --tls-cert/--tls-key gets through a mutual-TLS server; without, it does not."""
    env, work = zoo["env"], zoo["work"]
    with TwistdProcess(
        ["zoo-lancelot", "--port", "0", "--tls-client-ca", str(pki["ca.pem"])], work, env=env
    ) as server:
        target = ["--mode", "client", "--port", "0", "--connect", str(server.port())]
        cert = ["--tls-cert", str(pki["good.pem"]), "--tls-key", str(pki["good.key"])]
        with TwistdProcess(["zoo-tls", *target, *cert], work, env=env) as with_cert:
            assert _plain_ask(with_cert.port()) == ANSWER
        with TwistdProcess(["zoo-tls", *target], work, env=env) as without:
            assert _plain_ask(without.port()) == b""
