"""zoo-ftp against real clients: the books' ftplib programs, FTP_TLS, curl and lftp."""

from __future__ import annotations

import ftplib
import io
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool
from slowclients import flood_without_reading, pipeline_then_read, rss_kib

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

README = b"Linux kernel README\nsecond line\n\nlast line\n"
PATCH = os.urandom(200_000)


def _tree(root: Path) -> None:
    """A small copy of the directories the books' programs visit on ftp.kernel.org."""
    kernel = root / "pub" / "linux" / "kernel"
    (kernel / "v1.0").mkdir(parents=True)
    (kernel / "README").write_bytes(README)
    (kernel / "v1.0" / "patch8.gz").write_bytes(PATCH)
    old = kernel / "Historic" / "old-versions"
    for d in ("impure", "old/corrupt", "tytso"):
        (old / d).mkdir(parents=True)
    (old / "old" / "linux-0.01.tar.gz").write_bytes(b"x" * 100)
    with (root / "huge.iso").open("wb") as f:
        f.truncate(256 * 1024 * 1024)  # sparse: big enough to still be sending when aborted


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TwistdProcess, Path]]:
    work = tmp_path_factory.mktemp("ftp")
    root = work / "root"
    root.mkdir()
    _tree(root)
    home = work / "alice"
    args = ["zoo-ftp", "--port", "0", "--root", str(root), "--user", f"alice:pw:{home}"]
    args += ["--anonymous-upload", "incoming"]
    with TwistdProcess(args, work) as zoo:
        yield zoo, work


@pytest.fixture
def port(server: tuple[TwistdProcess, Path]) -> int:
    return server[0].port("ftp")


@pytest.fixture
def home(server: tuple[TwistdProcess, Path]) -> Path:
    return server[1] / "alice"


@pytest.fixture
def ca(server: tuple[TwistdProcess, Path]) -> Path:
    return server[1] / "state" / "tls" / "ca.pem"


def anon(port: int) -> ftplib.FTP:
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=10)
    f.login()
    return f


# -- the books' programs (FOPNP ch. 17) ------------------------------------------------


def test_connect_py(port: int) -> None:
    """connect.py: a 220 welcome, anonymous login, and pwd() == '/'."""
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=10)
    assert f.getwelcome().startswith("220 ")
    f.login()
    assert f.pwd() == "/"
    f.quit()


def test_asciidl_py(port: int) -> None:
    """asciidl.py: retrlines('RETR README') gives the file's lines without line endings."""
    f = anon(port)
    f.cwd("/pub/linux/kernel")
    lines: list[str] = []
    f.retrlines("RETR README", lines.append)
    assert "\n".join(lines) + "\n" == README.decode()
    f.quit()


def test_binarydl_and_advbinarydl_py(port: int) -> None:
    """binarydl.py / advbinarydl.py: exact bytes, a size estimate from 150, then 226."""
    f = anon(port)
    f.cwd("/pub/linux/kernel/v1.0")
    out = io.BytesIO()
    f.retrbinary("RETR patch8.gz", out.write)
    assert out.getvalue() == PATCH
    f.voidcmd("TYPE I")
    datasock, size = f.ntransfercmd("RETR patch8.gz")
    assert size == len(PATCH)
    got = b""
    while chunk := datasock.recv(2048):
        got += chunk
    datasock.close()
    assert f.voidresp().startswith("226") and got == PATCH
    f.quit()


def test_binaryul_and_advbinaryul_py(port: int, home: Path) -> None:
    """binaryul.py / advbinaryul.py: a user stores a file; storlines stores text."""
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=10)
    f.login("alice", "pw")
    f.storbinary("STOR patch8.gz", io.BytesIO(PATCH))
    assert (home / "patch8.gz").read_bytes() == PATCH
    f.voidcmd("TYPE I")
    datasock, _ = f.ntransfercmd("STOR adv.gz")
    for i in range(0, len(PATCH), 8192):
        datasock.sendall(PATCH[i : i + 8192])
    datasock.close()
    assert f.voidresp().startswith("226")
    assert (home / "adv.gz").read_bytes() == PATCH
    f.storlines("STOR notes.txt", io.BytesIO(b"one\r\ntwo\r\n"))
    assert (home / "notes.txt").read_bytes() == b"one\ntwo\n"
    f.quit()


def test_nlst_and_dir_py(port: int) -> None:
    """nlst.py and dir.py: nlst() gives bare names, dir() gives ls -l lines."""
    f = anon(port)
    f.cwd("/pub/linux/kernel")
    assert sorted(f.nlst()) == ["Historic", "README", "v1.0"]
    entries: list[str] = []
    f.dir(entries.append)
    assert len(entries) == 3 and entries[1].startswith("-rw") and entries[1].endswith("README")
    f.quit()


def test_recursedl_py(port: int) -> None:
    """recursedl.py: walking with cwd()/nlst() finds every directory, files fail cwd()."""
    f = anon(port)
    found: list[str] = []

    def walk_dir(dirpath: str) -> None:
        original_dir = f.pwd()
        try:
            f.cwd(dirpath)
        except ftplib.error_perm:
            return
        found.append(dirpath)
        for name in sorted(f.nlst()):
            walk_dir(dirpath + "/" + name)
        f.cwd(original_dir)

    walk_dir("/pub/linux/kernel/Historic/old-versions")
    prefix = "/pub/linux/kernel/Historic/old-versions"
    assert [p[len(prefix) :] for p in found] == ["", "/impure", "/old", "/old/corrupt", "/tytso"]
    f.quit()


def test_errors_and_file_operations(port: int, home: Path) -> None:
    """Missing RETR and CWD into a file raise error_perm; delete/mkd/rmd/rename work."""
    f = anon(port)
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.retrbinary("RETR /nope", lambda b: None)
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.cwd("/pub/linux/kernel/README")
    f.quit()
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=10)
    f.login("alice", "pw")
    f.mkd("d1")
    f.mkd("d2")
    f.storbinary("STOR d1/x", io.BytesIO(b"x"))
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.rmd("d1")
    f.rename("d1/x", "d2/y")
    assert f.nlst("d2") == ["y"]
    f.delete("d2/y")
    f.rmd("d1")
    f.rmd("d2")
    f.quit()


def test_active_mode(port: int) -> None:
    """With set_pasv(False) the server connects back to the client (PORT) and RETR works."""
    f = anon(port)
    f.set_pasv(False)
    out = io.BytesIO()
    f.retrbinary("RETR /pub/linux/kernel/v1.0/patch8.gz", out.write)
    assert out.getvalue() == PATCH
    f.quit()


def test_abort_mid_download(port: int) -> None:
    """ftplib's abort() (ABOR as urgent data) mid-download: 426, then 226, session usable."""
    f = anon(port)
    f.voidcmd("TYPE I")
    conn = f.transfercmd("RETR /huge.iso")
    assert len(conn.recv(65536)) > 0
    assert f.abort().startswith("426")
    conn.close()
    assert f.getresp().startswith("226")
    assert f.pwd() == "/"
    f.quit()


def test_curl_range_download(port: int) -> None:
    """curl -r fetches the first bytes of a big file and aborts the rest cleanly."""
    got = curl("-r", "0-99", f"ftp://127.0.0.1:{port}/huge.iso")
    assert got.returncode == 0 and got.stdout == bytes(100), got.stderr


def test_ftp_tls(port: int, ca: Path) -> None:
    """FTP_TLS: 220 in clear, AUTH TLS, login over TLS, prot_p and prot_c transfers."""
    ctx = ssl.create_default_context(cafile=str(ca))
    f = ftplib.FTP_TLS(context=ctx)
    f.connect("127.0.0.1", port, timeout=10)
    f.login()
    f.prot_p()
    out = io.BytesIO()
    f.retrbinary("RETR /pub/linux/kernel/v1.0/patch8.gz", out.write)
    assert out.getvalue() == PATCH
    assert sorted(f.nlst("/pub/linux/kernel")) == ["Historic", "README", "v1.0"]
    f.prot_c()
    lines: list[str] = []
    f.retrlines("RETR /pub/linux/kernel/README", lines.append)
    assert lines[0] == "Linux kernel README"
    f.quit()


def test_ftp_tls_upload(port: int, ca: Path, home: Path) -> None:
    """FTP_TLS with PROT P stores a file intact."""
    f = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(ca)))
    f.connect("127.0.0.1", port, timeout=10)
    f.login("alice", "pw")
    f.prot_p()
    f.storbinary("STOR tls.bin", io.BytesIO(PATCH))
    assert (home / "tls.bin").read_bytes() == PATCH
    f.quit()


def _tls_upload(port: int, ca: Path, name: str) -> tuple[ftplib.FTP_TLS, ssl.SSLSocket]:
    f = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(ca)))
    f.connect("127.0.0.1", port, timeout=10)
    f.login("alice", "pw")
    f.prot_p()
    f.voidcmd("TYPE I")
    conn = f.transfercmd(f"STOR {name}")
    conn.sendall(PATCH)
    return f, conn  # type: ignore[return-value]


def test_ftp_tls_upload_reset_is_not_an_end_of_file(port: int, ca: Path, home: Path) -> None:
    """A PROT P upload whose data connection is reset (what curl sometimes does when
    it closes with the server's TLS session tickets unread: the kernel then drops
    whatever the server had not read yet) is refused with 426, never stored cut short."""
    f, conn = _tls_upload(port, ca, "reset.bin")
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()  # a reset, not a FIN
    with pytest.raises(ftplib.error_temp, match="^426"):
        f.voidresp()
    assert not (home / "reset.bin").exists()
    f.quit()


def test_ftp_tls_upload_bare_fin_is_an_end_of_file(port: int, ca: Path, home: Path) -> None:
    """A PROT P upload ended by a TCP FIN without a TLS close_notify (as many clients
    end one) is stored."""
    f, conn = _tls_upload(port, ca, "fin.bin")
    # SSLSocket.shutdown drops the TLS state without a close_notify and sends the
    # FIN; close() alone could send a reset instead, with the server's session
    # tickets unread in this socket.
    conn.shutdown(socket.SHUT_WR)
    assert f.voidresp().startswith("226")
    conn.close()
    assert (home / "fin.bin").read_bytes() == PATCH
    f.quit()


# -- attacks --------------------------------------------------------------------------


def test_traversal_refused(port: int) -> None:
    """cwd('/..'), '..' paths and absolute host paths cannot leave the root."""
    f = anon(port)
    with pytest.raises(ftplib.error_perm):
        f.cwd("/..")
    with pytest.raises(ftplib.error_perm):
        f.retrbinary("RETR ../../../../etc/passwd", lambda b: None)
    with pytest.raises(ftplib.error_perm):
        f.retrbinary("RETR /etc/passwd", lambda b: None)
    assert f.pwd() == "/"
    f.quit()


def test_bounce_refused(port: int) -> None:
    """PORT/EPRT naming another host are refused with 501; the session goes on."""
    f = anon(port)
    with pytest.raises(ftplib.error_perm, match="^501"):
        f.sendcmd("PORT 192,0,2,1,0,80")
    with pytest.raises(ftplib.error_perm, match="^501"):
        f.sendcmd("EPRT |1|192.0.2.1|8080|")
    assert f.pwd() == "/"
    f.quit()


def test_anonymous_upload_folder(port: int, server: tuple[TwistdProcess, Path]) -> None:
    """Anonymous users store new files in incoming/ only, and may not overwrite them."""
    f = anon(port)
    f.storbinary("STOR /incoming/gift.txt", io.BytesIO(b"hi"))
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.storbinary("STOR /incoming/gift.txt", io.BytesIO(b"again"))
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.storbinary("STOR /pub/x", io.BytesIO(b"no"))
    f.quit()
    assert (server[1] / "root" / "incoming" / "gift.txt").read_bytes() == b"hi"


def test_aborted_upload_is_not_kept(port: int, home: Path) -> None:
    """A client that dies mid-upload leaves neither the file nor a temporary file."""
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=10)
    f.login("alice", "pw")
    f.voidcmd("TYPE I")
    datasock, _ = f.ntransfercmd("STOR aborted.bin")
    datasock.sendall(PATCH[:50_000])
    # The client dies: the kernel closes the control connection, then the data one.
    f.close()
    datasock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        n.startswith(".zoo-upload") for n in os.listdir(home)
    ):
        time.sleep(0.05)
    time.sleep(0.2)
    names = os.listdir(home)
    assert "aborted.bin" not in names
    assert not [n for n in names if n.startswith(".zoo-upload")]


def test_slow_loris_and_garbage(port: int) -> None:
    """Garbage and an over-long line get error replies; the server still serves others."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.recv(1024)
        s.sendall(b"\x00\x01\x02 garbage\r\n")
        assert s.recv(1024).startswith(b"502")
        s.sendall(b"A" * 20000)
        assert s.recv(1024).startswith(b"500")
    f = anon(port)
    assert f.pwd() == "/"
    f.quit()


# -- curl ---------------------------------------------------------------------------------


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    exe = require_tool("curl")
    return subprocess.run([exe, "-sS", "--max-time", "20", *args], capture_output=True, timeout=30)


def test_curl_list_download(port: int) -> None:
    """curl lists a directory (LIST and NLST) and downloads a file."""
    base = f"ftp://127.0.0.1:{port}/pub/linux/kernel"
    listing = curl(f"{base}/")
    assert listing.returncode == 0 and b"README" in listing.stdout
    names = curl("-l", f"{base}/")
    assert names.stdout.split() == [b"Historic", b"README", b"v1.0"]
    got = curl(f"{base}/v1.0/patch8.gz")
    assert got.returncode == 0 and got.stdout == PATCH


def test_curl_upload_and_resume(port: int, home: Path, tmp_path: Path) -> None:
    """curl uploads, resumes an upload (-C - -T) and resumes a download (-C -)."""
    src = tmp_path / "big.bin"
    src.write_bytes(PATCH)
    url = f"ftp://alice:pw@127.0.0.1:{port}/big.bin"
    assert curl("-T", str(src), url).returncode == 0
    assert (home / "big.bin").read_bytes() == PATCH
    (home / "big.bin").write_bytes(PATCH[:70_000])
    assert curl("-C", "-", "-T", str(src), url).returncode == 0
    assert (home / "big.bin").read_bytes() == PATCH
    part = tmp_path / "down.bin"
    part.write_bytes(PATCH[:123_456])
    assert curl("-C", "-", "-o", str(part), url).returncode == 0
    assert part.read_bytes() == PATCH


def test_curl_ftps_explicit(port: int, ca: Path, tmp_path: Path, home: Path) -> None:
    """curl --ssl-reqd verifies the zoo CA and downloads and uploads over TLS."""
    url = f"ftp://alice:pw@127.0.0.1:{port}"
    src = tmp_path / "s.bin"
    src.write_bytes(PATCH)
    up = curl("--ssl-reqd", "--cacert", str(ca), "-T", str(src), f"{url}/ftps.bin")
    assert up.returncode == 0, up.stderr
    down = curl("--ssl-reqd", "--cacert", str(ca), f"{url}/ftps.bin")
    assert down.returncode == 0 and down.stdout == PATCH


def test_curl_ftps_implicit_and_require_tls(tmp_path: Path) -> None:
    """With --tls the server speaks TLS from the first byte (ftps://); --require-tls refuses clear login."""
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "f").write_bytes(b"implicit")
    args = ["zoo-ftp", "--port", "0", "--root", str(tmp_path / "root"), "--tls", "--require-tls"]
    with TwistdProcess(args, tmp_path) as zoo:
        ca = tmp_path / "state" / "tls" / "ca.pem"
        got = curl("--cacert", str(ca), f"ftps://127.0.0.1:{zoo.port('ftp')}/f")
        assert got.returncode == 0 and got.stdout == b"implicit", got.stderr
    args = ["zoo-ftp", "--port", "0", "--root", str(tmp_path / "root"), "--require-tls"]
    with TwistdProcess(args, tmp_path / "explicit") as zoo:
        p = zoo.port("ftp")
        refused = curl(f"ftp://127.0.0.1:{p}/f")
        assert refused.returncode != 0
        ca = tmp_path / "explicit" / "state" / "tls" / "ca.pem"
        ok = curl("--ssl-reqd", "--cacert", str(ca), f"ftp://127.0.0.1:{p}/f")
        assert ok.stdout == b"implicit", ok.stderr


# -- lftp ---------------------------------------------------------------------------------


def lftp(
    port: int, ca: Path, script: str, user: str = "alice,pw"
) -> subprocess.CompletedProcess[str]:
    exe = require_tool("lftp")
    settings = (
        f"set ssl:ca-file {ca}; set ftp:ssl-force true; set ftp:ssl-protect-data true; "
        "set net:max-retries 1; set net:timeout 10; set cmd:fail-exit true; "
    )
    return subprocess.run(
        [exe, "-u", user, "-p", str(port), "-e", settings + script + "; quit", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_lftp_mirror_both_ways(port: int, ca: Path, home: Path, tmp_path: Path) -> None:
    """lftp over verified FTPS mirrors a tree up (mirror -R) and back down, identical."""
    local = tmp_path / "tree"
    (local / "a" / "b").mkdir(parents=True)
    files = {"top.txt": b"top\n", "a/one.bin": os.urandom(70_000), "a/b/two.txt": b"two\n" * 100}
    for name, data in files.items():
        (local / name).write_bytes(data)
    up = lftp(port, ca, f"mirror -R {local} /mirrored")
    assert up.returncode == 0, up.stderr
    for name, data in files.items():
        assert (home / "mirrored" / name).read_bytes() == data
    back = tmp_path / "back"
    down = lftp(port, ca, f"mirror /mirrored {back}")
    assert down.returncode == 0, down.stderr
    for name, data in files.items():
        assert (back / name).read_bytes() == data


def test_ipv6_passive_and_active(tmp_path: Path) -> None:
    """On ::1, EPSV and EPRT data connections both work (PASV needs IPv4)."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "six").write_bytes(b"ipv6")
    args = ["zoo-ftp", "--listen", r"tcp6:0:interface=\:\:1", "--root", str(root)]
    with TwistdProcess(args, tmp_path) as zoo:
        f = ftplib.FTP()
        f.connect("::1", zoo.port("ftp"), timeout=10)
        f.login()
        assert f.nlst() == ["six"]
        f.set_pasv(False)
        out = io.BytesIO()
        f.retrbinary("RETR six", out.write)
        assert out.getvalue() == b"ipv6"
        with pytest.raises(ftplib.error_temp, match="^425"):
            f.sendcmd("PASV")
        f.quit()


def test_explicit_ftps_with_own_certificate(tmp_path: Path) -> None:
    """--tls-cert/--tls-key alone: plain listener, AUTH TLS with that certificate (curl verifies it)."""
    from zoo.testing import dev_ca, issue

    ca = dev_ca()
    leaf = issue(ca, ["localhost", "127.0.0.1"])
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "c.pem").write_bytes(leaf.cert_pem)
    (tmp_path / "k.pem").write_bytes(leaf.key_pem)
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"own cert")
    args = ["zoo-ftp", "--port", "0", "--root", str(root)]
    args += ["--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k.pem")]
    with TwistdProcess(args, tmp_path / "w") as zoo:
        url = f"ftp://127.0.0.1:{zoo.port('ftp')}/f"
        assert curl(url).stdout == b"own cert"
        got = curl("--ssl-reqd", "--cacert", str(tmp_path / "ca.pem"), url)
        assert got.returncode == 0 and got.stdout == b"own cert", got.stderr


def test_passive_listener_reuses_address_only_for_a_chosen_port() -> None:
    """Passive sockets set SO_REUSEADDR for ports of a range, not for port 0 (slow bind there)."""
    from zoo._twisted.accept import PassiveListener

    class Reactor:
        def addReader(self, reader: object) -> None:
            pass

        def removeReader(self, reader: object) -> None:
            pass

    def reuse(listener: PassiveListener) -> int:
        assert listener.socket is not None
        return listener.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)

    anywhere = PassiveListener(Reactor(), None, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = anywhere.getHost().port
    try:
        assert reuse(anywhere) == 0
    finally:
        anywhere.stopListening()
    chosen = PassiveListener(Reactor(), None, "127.0.0.1", port)  # type: ignore[arg-type]
    try:
        assert reuse(chosen) != 0
    finally:
        chosen.stopListening()


def test_client_that_never_reads_replies(server: tuple[TwistdProcess, Path], ca: Path) -> None:
    """30 MB of pipelined NOOPs, never reading a reply, in plaintext and after AUTH TLS:
    the server stops reading (Twisted's FTP grew by 300 MB), others are still served."""
    zoo, _ = server
    assert zoo.proc is not None
    for tls in (None, (b"AUTH TLS", b"234")):
        before = rss_kib(zoo.proc.pid)
        flood_without_reading(
            zoo.port("ftp"), b"NOOP\r\n", ca=str(ca) if tls else None, upgrade=tls
        )
        grown = rss_kib(zoo.proc.pid) - before
        assert grown < 16 * 1024, f"server grew by {grown} KiB (tls: {tls})"
        with anon(zoo.port("ftp")) as f:
            assert f.voidcmd("NOOP").startswith("200")


def test_client_that_never_reads_replies_over_implicit_ftps(tmp_path: Path) -> None:
    """The same flood over implicit FTPS (--tls), where flow control starts after the handshake."""
    root = tmp_path / "root"
    root.mkdir()
    with TwistdProcess(["zoo-ftp", "--port", "0", "--root", str(root), "--tls"], tmp_path) as zoo:
        assert zoo.proc is not None
        ca = str(tmp_path / "state" / "tls" / "ca.pem")
        before = rss_kib(zoo.proc.pid)
        flood_without_reading(zoo.port("ftp"), b"NOOP\r\n", ca=ca)
        grown = rss_kib(zoo.proc.pid) - before
        assert grown < 16 * 1024, f"server grew by {grown} KiB"
        ctx = ssl.create_default_context(cafile=ca)
        with socket.create_connection(("127.0.0.1", zoo.port("ftp")), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.recv(100).startswith(b"220")


def test_quit_behind_backed_up_replies_still_closes(port: int) -> None:
    """QUIT read while the replies before it are stuck: once they drain, 221 and the close."""
    replies = pipeline_then_read(port, b"NOOP\r\n" * 5000 + b"QUIT\r\n")
    assert replies.count(b"\r\n200 ") == 5000 and replies.rstrip().split(b"\r\n")[-1][:3] == b"221"
