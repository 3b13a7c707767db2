"""Path traversal over the wire: ftplib against zoo-ftp, paramiko against zoo-ssh's SFTP.

Each attempt must be refused in the protocol's own words (FTP 550; SFTP permission
denied or no such file), the server must keep serving, and the log must hold no traceback.
"""

from __future__ import annotations

import ftplib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

SECRET = b"the secret outside the root\n"


def _plant(root: Path, outside: Path) -> None:
    """A normal file, links out of the root (file, folder, '../..') and a symlink loop."""
    (root / "pub").mkdir(parents=True, exist_ok=True)
    (root / "pub" / "ok.txt").write_bytes(b"fine\n")
    outside.mkdir(exist_ok=True)
    (outside / "secret").write_bytes(SECRET)
    os.symlink(outside / "secret", root / "secret-link")
    os.symlink(outside, root / "escape")
    os.symlink("../..", root / "pub" / "up")
    os.symlink("loop", root / "loop")


# -- FTP -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TwistdProcess, Path]]:
    work = tmp_path_factory.mktemp("ftp-jail")
    root = work / "root"
    _plant(root, work / "outside")
    with TwistdProcess(["zoo-ftp", "--port", "0", "--root", str(root)], work) as zoo:
        yield zoo, root


def _anon(zoo: TwistdProcess, encoding: str = "utf-8") -> ftplib.FTP:
    f = ftplib.FTP(encoding=encoding)
    f.connect("127.0.0.1", zoo.port("ftp"), timeout=10)
    f.login()
    return f


@pytest.mark.parametrize(
    "path", ["../..", "/..", "/../../etc", "escape", "pub/up", "pub/up/outside", "loop"]
)
def test_ftp_cwd_out_refused(ftp_server: tuple[TwistdProcess, Path], path: str) -> None:
    """CWD out of the root ('..', a symlink out, a loop) is 550 and leaves the cwd at /."""
    f = _anon(ftp_server[0])
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.cwd(path)
    assert f.pwd() == "/"
    f.quit()


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "/../../../etc/passwd",
        "/etc/passwd",
        "secret-link",
        "escape/secret",
        "pub/up/outside/secret",
        "pub/../../outside/secret",
        "loop",
        "..\\..\\etc\\passwd",
        "pub/ok.txt\0.jpg",
        "caf\xe9",  # sent as one Latin-1 byte: not UTF-8
        "x" * 300,
    ],
)
def test_ftp_retr_out_refused(ftp_server: tuple[TwistdProcess, Path], path: str) -> None:
    """RETR, SIZE and LIST of paths that escape, loop or are bad names get 550, no data."""
    f = _anon(ftp_server[0], encoding="latin-1")
    got = io.BytesIO()
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.retrbinary(f"RETR {path}", got.write)
    assert got.getvalue() == b""
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.size(path)
    f.quit()


def test_ftp_server_fine_after_attempts(ftp_server: tuple[TwistdProcess, Path]) -> None:
    """After all the attempts above, a normal download works and the log has no traceback."""
    f = _anon(ftp_server[0])
    got = io.BytesIO()
    f.retrbinary("RETR /pub/ok.txt", got.write)
    assert got.getvalue() == b"fine\n"
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.retrlines("LIST escape", lambda line: None)
    assert sorted(f.nlst()) == ["pub"]  # links out of the root (and the loop) are not listed
    f.quit()
    assert "Traceback" not in ftp_server[0].output


# -- SFTP ------------------------------------------------------------------------------------

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TwistdProcess, Path]]:
    pytest.importorskip("paramiko")
    work = tmp_path_factory.mktemp("ssh-jail")
    homes = work / "homes"
    args = ["zoo-ssh", "--port", "0", "--user", f"zoo:{PASSWORD}", "--root", str(homes)]
    with TwistdProcess(args, work) as zoo:
        root = homes / "zoo"
        root.mkdir(parents=True, exist_ok=True)
        _plant(root, work / "outside")
        yield zoo, root


@pytest.fixture
def sftp(sftp_server: tuple[TwistdProcess, Path]) -> Iterator[object]:
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        "127.0.0.1",
        port=sftp_server[0].port(),
        username="zoo",
        password=PASSWORD,
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    channel = client.open_sftp()
    yield channel
    client.close()


@pytest.mark.parametrize(
    "path",
    ["secret-link", "escape/secret", "pub/up/outside/secret", "loop", "a\0b", b"caf\xe9", "a\\b"],
)
def test_sftp_open_refused(sftp, path: str | bytes) -> None:
    """Opening through a link out, a loop, or a bad name is SFTP permission denied."""
    with pytest.raises(PermissionError):
        sftp.open(path).read()


@pytest.mark.parametrize("path", ["../../etc/passwd", "/../../../etc/passwd", "../outside/secret"])
def test_sftp_dotdot_stays_in_root(sftp, path: str) -> None:
    """'..' stops at the root, like a chroot: the real /etc/passwd is no such file."""
    with pytest.raises(FileNotFoundError):
        sftp.open(path).read()


def test_sftp_listing_and_stat_out_refused(sftp) -> None:
    """listdir and stat through a link out are refused; lstat of the link itself works."""
    with pytest.raises(PermissionError):
        sftp.listdir("escape")
    with pytest.raises(PermissionError):
        sftp.stat("secret-link")
    assert sftp.lstat("escape").st_size is not None
    assert sftp.normalize("../..") == "/"
    assert sftp.normalize("escape") == "/escape"  # the name, never the real path outside


def test_sftp_put_cannot_escape(sftp, sftp_server: tuple[TwistdProcess, Path]) -> None:
    """A write to ../../x lands in the root; a write through a link out is refused."""
    zoo, root = sftp_server
    with sftp.open("../../dropped", "w") as f:
        f.write(b"in the root")
    assert (root / "dropped").read_bytes() == b"in the root"
    assert not (root.parent.parent / "dropped").exists()
    with pytest.raises(PermissionError):
        sftp.open("escape/planted", "w")
    assert not (root.parent.parent / "outside" / "planted").exists()
    with sftp.open("pub/ok.txt") as f:
        assert f.read() == b"fine\n"
    assert "Traceback" not in zoo.output
