"""zoo-ftp uploads cut short: no partial file under its name, no temporary left (ftplib, twistd).

Each client here dies in a different way: a reset data connection, a reset control
connection, ABOR, a server stopped with SIGTERM or killed with SIGKILL mid-upload.
"""

from __future__ import annotations

import ftplib
import io
import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

CHUNK = os.urandom(64 * 1024)
OLD = b"old contents\n" * 100


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[TwistdProcess, Path]]:
    home = tmp_path / "alice"
    home.mkdir()
    args = ["zoo-ftp", "--port", "0", "--root", str(tmp_path / "root")]
    args += ["--user", f"alice:pw:{home}"]
    with TwistdProcess(args, tmp_path / "work") as zoo:
        yield zoo, home


def login(zoo: TwistdProcess) -> ftplib.FTP:
    f = ftplib.FTP()
    f.connect("127.0.0.1", zoo.port("ftp"), timeout=10)
    f.login("alice", "pw")
    f.voidcmd("TYPE I")
    return f


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP reset, as from a crashed client."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def reset_control(f: ftplib.FTP) -> None:
    """Reset the control connection (ftplib's reader holds the socket open until it closes)."""
    f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    f.close()


def temporaries(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(".zoo-upload-")]


def wait_for_temporary(folder: Path, changes: Path | None = None) -> None:
    """Wait until the upload has started: a temporary exists (or C{changes} was written to)."""
    deadline = time.monotonic() + 5
    while not temporaries(folder):
        if changes is not None and changes.stat().st_size != len(OLD):
            return  # written in place (the code before uploads.py)
        assert time.monotonic() < deadline, "the upload never started"
        time.sleep(0.02)


def settled(folder: Path) -> list[str]:
    """The folder's names once no temporary is left (or after 5 s)."""
    deadline = time.monotonic() + 5
    while temporaries(folder) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # a rename would have happened by now
    return sorted(os.listdir(folder))


def start_upload(zoo: TwistdProcess, command: str) -> tuple[ftplib.FTP, socket.socket]:
    f = login(zoo)
    data, _ = f.ntransfercmd(command)
    for _ in range(4):
        data.sendall(CHUNK)
    return f, data


def no_traceback(zoo: TwistdProcess) -> None:
    assert "Traceback" not in zoo.output, zoo.output


def test_reset_data_connection(server: tuple[TwistdProcess, Path]) -> None:
    """A STOR whose data connection is reset gets 426; no file and no temporary remain."""
    zoo, home = server
    f, data = start_upload(zoo, "STOR new.bin")
    wait_for_temporary(home)
    reset(data)
    with pytest.raises(ftplib.error_temp, match="^426"):
        f.voidresp()
    f.quit()
    assert settled(home) == []
    no_traceback(zoo)


def tls_upload(zoo: TwistdProcess) -> tuple[ftplib.FTP_TLS, socket.socket]:
    """Log in over AUTH TLS with PROT P and start a STOR whose data is sent over TLS."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    f = ftplib.FTP_TLS(context=ctx)
    f.connect("127.0.0.1", zoo.port("ftp"), timeout=10)
    f.login("alice", "pw")
    f.prot_p()
    f.voidcmd("TYPE I")
    data, _ = f.ntransfercmd("STOR new.bin")
    for _ in range(4):
        data.sendall(CHUNK)
    return f, data


def test_tls_upload_ended_by_a_bare_fin(server: tuple[TwistdProcess, Path]) -> None:
    """A PROT P upload ended with a TCP FIN and no close_notify (as many clients do) is kept."""
    zoo, home = server
    f, data = tls_upload(zoo)
    # A FIN under the TLS layer, no close_notify. Only the sending side: a close with
    # unread bytes (the server's session tickets) would be a reset, not a FIN.
    data.shutdown(socket.SHUT_WR)
    assert f.voidresp().startswith("226")
    data.close()
    f.quit()
    assert (home / "new.bin").read_bytes() == CHUNK * 4
    no_traceback(zoo)


def test_reset_control_then_data_closed_normally(server: tuple[TwistdProcess, Path]) -> None:
    """A client whose control connection resets, then closes data normally, publishes nothing."""
    zoo, home = server
    f, data = start_upload(zoo, "STOR new.bin")
    wait_for_temporary(home)
    reset_control(f)
    time.sleep(0.3)
    try:
        data.sendall(CHUNK)
    except OSError:
        pass  # the server may already have closed it
    data.close()
    assert settled(home) == []
    no_traceback(zoo)


def test_reset_control_data_left_open(server: tuple[TwistdProcess, Path]) -> None:
    """The temporary goes as soon as the control connection drops, though data stays open."""
    zoo, home = server
    f, data = start_upload(zoo, "STOR new.bin")
    wait_for_temporary(home)
    reset_control(f)
    deadline = time.monotonic() + 5
    while temporaries(home) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert temporaries(home) == [] and not (home / "new.bin").exists()
    data.close()
    assert settled(home) == []


def test_abor_mid_upload(server: tuple[TwistdProcess, Path]) -> None:
    """ABOR during a STOR answers 426 then 226 and keeps the old file as it was."""
    zoo, home = server
    (home / "f.bin").write_bytes(OLD)
    f, data = start_upload(zoo, "STOR f.bin")
    wait_for_temporary(home)
    f.sock.sendall(b"ABOR\r\n")
    assert f.getline().startswith("426")
    assert f.getline().startswith("226")
    data.close()
    assert settled(home) == ["f.bin"]
    assert (home / "f.bin").read_bytes() == OLD
    f.quit()


@pytest.mark.parametrize("command", ["APPE f.bin", "REST 13\r\nSTOR f.bin"])
def test_append_and_resume_cut_short(server: tuple[TwistdProcess, Path], command: str) -> None:
    """An APPE or REST+STOR whose data connection resets leaves the file exactly as it was."""
    zoo, home = server
    (home / "f.bin").write_bytes(OLD)
    f = login(zoo)
    *rest, store = command.split("\r\n")
    for line in rest:
        f.sendcmd(line)
    data, _ = f.ntransfercmd(store)
    data.sendall(CHUNK)
    wait_for_temporary(home, changes=home / "f.bin")
    reset(data)
    with pytest.raises(ftplib.error_temp, match="^426"):
        f.voidresp()
    f.quit()
    assert settled(home) == ["f.bin"]
    assert (home / "f.bin").read_bytes() == OLD


def test_append_and_resume_complete(server: tuple[TwistdProcess, Path]) -> None:
    """A complete APPE adds to the end, and REST N + STOR keeps the first N bytes."""
    zoo, home = server
    (home / "f.bin").write_bytes(OLD)
    os.chmod(home / "f.bin", 0o600)
    f = login(zoo)
    f.storbinary("APPE f.bin", io.BytesIO(b"tail"))
    assert (home / "f.bin").read_bytes() == OLD + b"tail"
    assert (home / "f.bin").stat().st_mode & 0o777 == 0o600
    f.storbinary("STOR f.bin", io.BytesIO(b"resumed"), rest=13)
    assert (home / "f.bin").read_bytes() == OLD[:13] + b"resumed"
    f.storbinary("APPE new.bin", io.BytesIO(b"fresh"))
    assert (home / "new.bin").read_bytes() == b"fresh"
    f.quit()
    assert settled(home) == ["f.bin", "new.bin"]


def test_sigterm_mid_upload(tmp_path: Path) -> None:
    """twistd stopped with SIGTERM mid-upload leaves neither the file nor a temporary."""
    home = tmp_path / "alice"
    home.mkdir()
    args = ["zoo-ftp", "--port", "0", "--root", str(tmp_path / "root")]
    zoo = TwistdProcess([*args, "--user", f"alice:pw:{home}"], tmp_path / "work").start()
    try:
        f, data = start_upload(zoo, "STOR big.bin")
        wait_for_temporary(home)
        assert zoo.proc is not None
        zoo.proc.send_signal(signal.SIGTERM)
        assert zoo.proc.wait(10) == -signal.SIGTERM  # twistd ends with the signal it got
        data.close()
        f.close()
    finally:
        zoo.stop()
    assert sorted(os.listdir(home)) == []
    assert "Server Shut Down" in zoo.output  # a clean stop, not a kill
    no_traceback(zoo)


def test_sigkill_then_restart_sweeps(tmp_path: Path) -> None:
    """A temporary left by a SIGKILLed server is gone once the next one is listening."""
    home = tmp_path / "alice"
    (home / "sub").mkdir(parents=True)
    root = tmp_path / "root"
    (root / "incoming").mkdir(parents=True)
    args = ["zoo-ftp", "--port", "0", "--root", str(root), "--user", f"alice:pw:{home}"]
    args += ["--anonymous-upload", "incoming"]
    zoo = TwistdProcess(args, tmp_path / "work").start()
    try:
        f, data = start_upload(zoo, "STOR sub/big.bin")
        wait_for_temporary(home / "sub")
        assert zoo.proc is not None
        zoo.proc.kill()
        zoo.proc.wait(10)
        data.close()
        f.close()
    finally:
        zoo.stop()
    assert temporaries(home / "sub")  # SIGKILL cleans nothing: the next start must
    stale_anon = root / "incoming" / ".zoo-upload-0123456789abcdef"
    stale_anon.write_bytes(b"x")
    keep = [
        home / ".zoo-upload-notes.txt",  # not zoo's name pattern
        root / ".zoo-upload-0123456789abcdef",  # not where uploads go
        tmp_path / ".zoo-upload-0123456789abcdef",  # outside every root
    ]
    for path in keep:
        path.write_bytes(b"mine")
    with TwistdProcess(args, tmp_path / "work2") as again:
        assert temporaries(home / "sub") == []
        assert not stale_anon.exists()
        assert all(path.exists() for path in keep)
        assert "unfinished upload" in again.output
    assert not (home / "sub" / "big.bin").exists()


@pytest.mark.parametrize("attempt", range(5))
def test_curl_killed_mid_upload(
    server: tuple[TwistdProcess, Path], tmp_path: Path, attempt: int
) -> None:
    """curl SIGKILLed mid-upload (the kernel closes both connections normally) publishes nothing."""
    curl = require_tool("curl")
    zoo, home = server
    (home / "f.bin").write_bytes(OLD)
    src = tmp_path / "src.bin"
    src.write_bytes(CHUNK * 64)  # 4 MiB at 1 MiB/s: still sending when killed
    url = f"ftp://alice:pw@127.0.0.1:{zoo.port('ftp')}/f.bin"
    proc = subprocess.Popen(
        [curl, "-s", "--limit-rate", "1M", "-T", str(src), url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_temporary(home)
        time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    assert settled(home) == ["f.bin"]
    assert (home / "f.bin").read_bytes() == OLD
    no_traceback(zoo)
