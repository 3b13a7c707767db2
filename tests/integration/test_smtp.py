"""zoo-smtp under twistd with real clients: the books' smtplib programs, swaks, raw sockets."""

from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require_tool
from mailbook import run_book
from slowclients import flood_without_reading, pipeline_then_read, rss_kib

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def messages(workdir: Path, mailbox: str) -> list[bytes]:
    new = workdir / "state" / "mail" / mailbox / "new"
    return [p.read_bytes() for p in sorted(new.iterdir())] if new.is_dir() else []


def password(workdir: Path) -> str:
    return (workdir / "state" / "generated-password").read_text().strip().partition(":")[2]


def ca(workdir: Path) -> str:
    return str(workdir / "state" / "tls" / "ca.pem")


@pytest.fixture(scope="module")
def sink(tmp_path_factory):
    """One zoo-smtp with default options for the read-only checks."""
    workdir = tmp_path_factory.mktemp("smtp")
    with TwistdProcess(["zoo-smtp", "--port", "0", "--max-size", "200000"], workdir) as zoo:
        yield zoo, workdir, f"127.0.0.1:{zoo.port('smtp')}"


def test_book_simple(sink):
    """The book's simple.py delivers to two recipients; each mailbox has the message."""
    zoo, workdir, server = sink
    out = run_book("simple.py", server, "me@example.com", "one@example.com", "two@example.com")
    assert out.stdout.strip() == "Message successfully sent to 2 recipient(s)", out.stderr
    for box in ("one@example.com", "two@example.com"):
        [msg] = messages(workdir, box)
        assert b"Subject: Test Message from simple.py" in msg


def test_book_ehlo_size(sink):
    """ehlo.py reads SIZE, sends a small message, and aborts a too-large one itself."""
    zoo, workdir, server = sink
    out = run_book("ehlo.py", server, "me@example.com", "ehlo@example.com", stdin="small\n")
    assert out.stdout.splitlines() == [
        "Maximum message size is 200000",
        "Message successfully sent to 1 recipient(s)",
    ]
    out = run_book("ehlo.py", server, "me@example.com", "ehlo@example.com", stdin="x" * 300000)
    assert out.stdout.splitlines()[-1] == "Message too large; aborting." and out.returncode == 1


def test_book_tls(sink):
    """tls.py negotiates STARTTLS, EHLOs again and delivers."""
    zoo, workdir, server = sink
    out = run_book("tls.py", server, "me@example.com", "tls@example.com")
    assert out.stdout.splitlines() == [
        "Negotiating TLS....",
        "Using TLS connection.",
        "Message successfully sent to 1 recipient(s)",
    ], out.stderr
    [msg] = messages(workdir, "tls@example.com")
    assert b"with ESMTPS;" in msg


def test_book_login_refused_in_plaintext_then_over_tls(sink):
    """login.py's plaintext AUTH is refused by default; after STARTTLS it logs in and sends."""
    zoo, workdir, server = sink
    creds = f"zoo\n{password(workdir)}\n"
    out = run_book("login.py", server, "me@example.com", "login@example.com", stdin=creds)
    assert "Authentication failed: SMTP AUTH extension not supported by server." in out.stdout
    assert out.returncode == 1
    out = run_book("login.py", "--tls", server, "me@example.com", "login@example.com", stdin=creds)
    assert out.stdout.endswith("Message successfully sent to 1 recipient(s)\n"), out.stdout
    out = run_book("login.py", "--tls", server, "me@x", "login@x", stdin="zoo\nwrong\n")
    assert "Authentication failed: (535" in out.stdout and out.returncode == 1


def test_book_login_plaintext_allowed(workdir):
    """With --allow-plaintext-auth and --user the book's login.py works as printed."""
    with TwistdProcess(
        ["zoo-smtp", "--port", "0", "--allow-plaintext-auth", "--user", "brandon:pw"], workdir
    ) as zoo:
        server = f"127.0.0.1:{zoo.port()}"
        out = run_book("login.py", server, "me@x", "you@x", stdin="brandon\npw\n")
    assert out.stdout.endswith("Message successfully sent to 1 recipient(s)\n"), out.stdout


def swaks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("swaks"), "--hide-informational", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_swaks_plain_pipelined_and_large(sink, tmp_path):
    """swaks delivers plain, pipelined, and a 150 KB (base64) message; a 300 KB one gets 552."""
    zoo, workdir, server = sink
    base = ["--server", server, "--from", "s@x", "--to", "swaks@example.com"]
    assert swaks(*base).returncode == 0
    out = swaks(*base, "--pipeline")
    assert out.returncode == 0, out.stdout
    big = tmp_path / "big.txt"
    big.write_text(("A" * 75 + "\n") * 1500)
    assert swaks(*base, "--attach", f"@{big}").returncode == 0
    big.write_text(("B" * 75 + "\n") * 4000)
    out = swaks(*base, "--attach", f"@{big}")
    assert out.returncode != 0 and "552 5.3.4" in out.stdout
    assert len(messages(workdir, "swaks@example.com")) == 3


def test_swaks_starttls_auth(sink):
    """swaks with STARTTLS (verifying the dev CA is not its job) and AUTH PLAIN and LOGIN."""
    zoo, workdir, server = sink
    for mech in ("PLAIN", "LOGIN"):
        out = swaks(
            "--server", server, "--from", "a@x", "--to", "auth@example.com", "--tls",
            "--auth", mech, "--auth-user", "auth@example.com", "--auth-password", password(workdir),
        )  # fmt: skip
        assert out.returncode == 0, out.stdout
        assert "235 2.7.0" in out.stdout
    out = swaks(
        "--server", server, "--from", "a@x", "--to", "auth@example.com", "--tls",
        "--auth", "PLAIN", "--auth-user", "x", "--auth-password", "wrong",
    )  # fmt: skip
    assert out.returncode != 0 and "535 5.7.8" in out.stdout


def test_starttls_injection_over_the_wire(sink):
    """Plaintext pipelined after STARTTLS is never executed (CVE-2011-0411)."""
    zoo, workdir, server = sink
    port = zoo.port()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@x>\r\n")
        lines = [f.readline() for _ in range(7)]
        assert lines[-1].startswith(b"220 "), lines
        ctx = ssl.create_default_context(cafile=ca(workdir))
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tf = tls.makefile("rb")
            tls.sendall(b"RCPT TO:<victim@x>\r\nDATA\r\n")
            assert tf.readline().startswith(b"503 ")
            assert tf.readline().startswith(b"503 ")
    assert messages(workdir, "victim@x") == []


def test_long_line_memory_bounded(sink):
    """64 MB without a newline: one 500, server memory does not grow, the session goes on."""
    zoo, workdir, server = sink
    before = rss_kib(zoo.proc.pid)
    with socket.create_connection(("127.0.0.1", zoo.port()), timeout=30) as s:
        f = s.makefile("rb")
        f.readline()
        chunk = b"x" * 65536
        for _ in range(1024):
            s.sendall(chunk)
        s.sendall(b"\r\nNOOP\r\n")
        assert f.readline() == b"500 5.5.2 Line too long\r\n"
        assert f.readline() == b"250 2.0.0 OK\r\n"
    assert rss_kib(zoo.proc.pid) - before < 16 * 1024


def test_smtps_implicit_tls(workdir):
    """--tls serves SMTPS: smtplib.SMTP_SSL verifies the dev CA and sends."""
    with TwistdProcess(["zoo-smtp", "--port", "0", "--tls"], workdir) as zoo:
        ctx = ssl.create_default_context(cafile=ca(workdir))
        with smtplib.SMTP_SSL("localhost", zoo.port(), context=ctx, timeout=10) as s:
            s.ehlo()
            assert "starttls" not in s.esmtp_features and "auth" in s.esmtp_features
            s.login("smtps@example.com", password(workdir))
            s.sendmail("a@x", ["smtps@example.com"], b"Subject: s\r\n\r\nhi\r\n")
    [msg] = messages(workdir, "smtps@example.com")
    assert b"with ESMTPSA;" in msg


def test_starttls_with_own_certificate(workdir, tmp_path):
    """--starttls --tls-cert/--tls-key: plaintext port 587-style, STARTTLS verified by the user's CA."""
    from zoo.certs import ensure_dev_certificates

    own = ensure_dev_certificates(tmp_path / "own", ["mail.example"])
    args = ["--starttls", "--tls-cert", str(own.cert), "--tls-key", str(own.key)]
    with TwistdProcess(["zoo-smtp", "--port", "0", *args], workdir) as zoo:
        ctx = ssl.create_default_context(cafile=str(own.ca_cert))
        with smtplib.SMTP("127.0.0.1", zoo.port(), timeout=10) as s:
            s.ehlo("me")
            assert "starttls" in s.esmtp_features and "auth" not in s.esmtp_features
            s._host = "mail.example"  # the name smtplib checks the certificate against
            s.starttls(context=ctx)
            s.ehlo("me")
            s.login("own@example.com", password(workdir))
            s.sendmail("a@x", ["own@example.com"], b"Subject: o\r\n\r\nhi\r\n")
    [msg] = messages(workdir, "own@example.com")
    assert b"with ESMTPSA;" in msg


CRASHING_SERVER = """
import os, sys
from twisted.internet import reactor
from zoo.mail.maildir import MaildirStore, ThreadWriter
from zoo.cred import PasswordChecker
from zoo.mail.smtp import SMTPFactory

class CrashBeforeRename(MaildirStore):
    def publish(self, tmp, final):
        os._exit(9)  # the power fails after tmp/ is written, before new/

store = CrashBeforeRename(sys.argv[1])
port = reactor.listenTCP(0, SMTPFactory(ThreadWriter(store), PasswordChecker({}, accept_any=True)), interface="127.0.0.1")
print(port.getHost().port, flush=True)
reactor.run()
"""


def test_crash_between_tmp_and_new_loses_nothing_accepted(workdir):
    """A crash before the rename: no 250 was sent, nothing in new/; a retry delivers once."""
    root = workdir / "state" / "mail"
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SERVER, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(proc.stdout.readline())
        with pytest.raises(smtplib.SMTPServerDisconnected):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
                s.sendmail("a@x", ["crash@example.com"], b"Subject: c\r\n\r\nhi\r\n")
        assert proc.wait(10) == 9
    finally:
        proc.kill()
        proc.wait()
    assert messages(workdir, "crash@example.com") == []
    assert len(list((root / "crash@example.com" / "tmp").iterdir())) == 1
    with TwistdProcess(["zoo-smtp", "--port", "0"], workdir) as zoo:
        with smtplib.SMTP("127.0.0.1", zoo.port(), timeout=10) as s:
            s.sendmail("a@x", ["crash@example.com"], b"Subject: c\r\n\r\nhi\r\n")
        deadline = time.monotonic() + 5
        while not messages(workdir, "crash@example.com") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(messages(workdir, "crash@example.com")) == 1


FILE_SIZE_LIMITED_SERVER = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))
from twisted.internet import reactor
from zoo.mail.maildir import MaildirStore, ThreadWriter
from zoo.cred import PasswordChecker
from zoo.mail.smtp import SMTPFactory

port = reactor.listenTCP(
    0, SMTPFactory(ThreadWriter(MaildirStore(sys.argv[1])), PasswordChecker({}, accept_any=True)), interface="127.0.0.1"
)
print(port.getHost().port, flush=True)
reactor.run()
"""


def test_a_real_failed_write_gives_451_and_leaves_nothing(workdir):
    """The kernel refuses a write (RLIMIT_FSIZE: EFBIG): 451, no file in new/ or tmp/, server up."""
    root = workdir / "state" / "mail"
    proc = subprocess.Popen(
        [sys.executable, "-c", FILE_SIZE_LIMITED_SERVER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stdout.readline())
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.sendmail("a@x", ["big@example.com"], b"Subject: 1\r\n\r\nfirst\r\n")
            time.sleep(0.2)  # spare files for big@ are made once the reply is out
            with pytest.raises(smtplib.SMTPDataError) as refused:
                s.sendmail("a@x", ["big@example.com"], b"Subject: 2\r\n\r\n" + b"x" * 60_000)
            assert refused.value.smtp_code == 451
            s.sendmail("a@x", ["big@example.com"], b"Subject: 3\r\n\r\nthird\r\n")
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)
    stored = messages(workdir, "big@example.com")
    assert len(stored) == 2 and all(len(m) < 1000 for m in stored)
    leftovers = [p for p in (root / "big@example.com" / "tmp").iterdir() if p.stat().st_size]
    assert leftovers == []  # only empty spares may be left after a kill


def test_pipelining_client_that_never_reads(sink):
    """A client pipelining 30 MB of NOOPs without reading replies: server memory stays bounded."""
    zoo, workdir, server = sink
    before = rss_kib(zoo.proc.pid)
    flood_without_reading(zoo.port(), b"NOOP\r\n")
    grown = rss_kib(zoo.proc.pid) - before
    assert grown < 16 * 1024, f"server grew by {grown} KiB"
    with smtplib.SMTP("127.0.0.1", zoo.port(), timeout=10) as c:
        assert c.noop()[0] == 250


def test_client_that_never_reads_over_implicit_tls(workdir):
    """30 MB of NOOPs over SMTPS without reading: memory bounded, others still served."""
    with TwistdProcess(["zoo-smtp", "--port", "0", "--tls"], workdir) as zoo:
        assert zoo.proc is not None
        before = rss_kib(zoo.proc.pid)
        flood_without_reading(zoo.port(), b"NOOP\r\n", ca=ca(workdir))
        grown = rss_kib(zoo.proc.pid) - before
        assert grown < 16 * 1024, f"server grew by {grown} KiB"
        ctx = ssl.create_default_context(cafile=ca(workdir))
        with smtplib.SMTP_SSL("localhost", zoo.port(), context=ctx, timeout=10) as c:
            assert c.noop()[0] == 250


def test_quit_behind_backed_up_replies_still_closes(sink):
    """QUIT read while the replies before it are stuck: once they drain, 221 and the close."""
    zoo, workdir, server = sink
    replies = pipeline_then_read(zoo.port(), b"NOOP\r\n" * 5000 + b"QUIT\r\n")
    assert replies.count(b"\r\n250 ") == 5000 and b"\r\n221 " in replies


def test_half_closed_client_gets_its_replies(sink):
    """A client that writes a whole session and shuts its sending side gets every reply."""
    zoo, workdir, server = sink
    with socket.create_connection(("127.0.0.1", zoo.port()), timeout=10) as s:
        s.sendall(
            b"EHLO half\r\nMAIL FROM:<a@x>\r\nRCPT TO:<half@example.com>\r\nDATA\r\n"
            b"Subject: half\r\n\r\nclosed\r\n.\r\nQUIT\r\n"
        )
        s.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := s.recv(4096):
            got += chunk
    codes = [line[:4] for line in got.split(b"\r\n") if line[3:4] == b" "]
    assert codes == [b"220 ", b"250 ", b"250 ", b"250 ", b"354 ", b"250 ", b"221 "], got
    assert len(messages(workdir, "half@example.com")) == 1
