"""zoo-pop3 under twistd: poplib and the book's POP programs read what zoo-smtp stored."""

from __future__ import annotations

import poplib
import smtplib
import ssl

import pytest
from mailbook import mail_services, run_book
from slowclients import flood_without_reading, pipeline_then_read, rss_kib

pytestmark = pytest.mark.integration


@pytest.fixture
def mail(workdir):
    """zoo-smtp and zoo-pop3 (STARTTLS and --tls) sharing one state dir."""
    with mail_services(workdir, "pop3") as ports:
        yield ports


def send(port: int, to: str, subject: str, body: str = "hello\r\n.dotted\r\n") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.sendmail("me@example.com", [to], f"Subject: {subject}\r\n\r\n{body}")


def test_poplib_stls_reads_what_smtp_stored(mail):
    """Sent over SMTP, read at once over POP3 after STLS: same bytes, sizes match, DELE works."""
    send(mail["smtp"], "reader@example.com", "first")
    send(mail["smtp"], "reader@example.com", "second")
    p = poplib.POP3("127.0.0.1", mail["plain"], timeout=10)
    assert "STLS" in p.capa() and "USER" not in p.capa()
    with pytest.raises(poplib.error_proto, match="STLS first"):
        p.user("reader@example.com")
    p.stls(context=ssl.create_default_context(cafile=mail["ca"]))
    p.user("reader@example.com")
    p.pass_(mail["password"])
    count, total = p.stat()
    _, listing, _ = p.list()
    assert count == 2 and total == sum(int(x.split()[1]) for x in listing)
    _, lines, octets = p.retr(1)
    assert b"Subject: first" in lines and lines[-2:] == [b"hello", b".dotted"]
    assert octets == int(listing[0].split()[1])  # the LIST size is the size on the wire
    p.dele(1)
    p.quit()
    p = poplib.POP3_SSL(
        "127.0.0.1",
        mail["tls"],
        context=ssl.create_default_context(cafile=mail["ca"]),
        timeout=10,
    )
    p.user("reader@example.com")
    p.pass_(mail["password"])
    assert p.stat()[0] == 1
    assert b"Subject: second" in p.top(1, 0)[1]
    p.quit()


def test_wrong_password_and_apop(mail):
    """A wrong password is refused; APOP with the right one works (Twisted's APOP never did)."""
    send(mail["smtp"], "apop@example.com", "apop")
    p = poplib.POP3("127.0.0.1", mail["plain"], timeout=10)
    with pytest.raises(poplib.error_proto):
        p.apop("apop@example.com", "wrong")
    p.apop("apop@example.com", mail["password"])
    assert p.stat()[0] == 1
    p.quit()


def test_book_programs(mail):
    """popconn.py, mailbox.py and download-and-delete.py against zoo-pop3 --tls."""
    send(mail["smtp"], "book@example.com", "Chapter 14")
    host = f"127.0.0.1:{mail['tls']}"
    creds = mail["password"] + "\n"
    out = run_book("popconn.py", host, "book@example.com", stdin=creds)
    assert out.stdout.startswith("You have 1 messages totaling "), out.stderr
    out = run_book("mailbox.py", host, "book@example.com", stdin=creds)
    assert out.stdout.startswith("Message 1 has "), out.stderr
    out = run_book("download_and_delete.py", host, "book@example.com", stdin=creds + "y\ny\n")
    assert "Subject: Chapter 14" in out.stdout and "Deleted." in out.stdout, out.stderr
    out = run_book("popconn.py", host, "book@example.com", stdin="wrong\n")
    assert out.stdout.startswith("Login failed:"), out.stderr
    out = run_book("popconn.py", host, "book@example.com", stdin=creds)
    assert out.stdout.startswith("You have 0 messages"), out.stderr


@pytest.mark.parametrize("listener", ["plain", "tls"])
def test_client_that_never_reads(mail, listener):
    """30 MB of pipelined commands from a client that reads no reply, in plaintext and over
    POP3S: the server stops reading, memory stays bounded, the next client is served."""
    ca = mail["ca"] if listener == "tls" else None
    before = rss_kib(mail["pid"])
    flood_without_reading(mail[listener], b"NOOP\r\n", ca=ca)
    grown = rss_kib(mail["pid"]) - before
    assert grown < 16 * 1024, f"server grew by {grown} KiB"
    if ca is None:
        p = poplib.POP3("127.0.0.1", mail[listener], timeout=10)
    else:
        ctx = ssl.create_default_context(cafile=ca)
        p = poplib.POP3_SSL("localhost", mail[listener], context=ctx, timeout=10)
    assert p.getwelcome().startswith(b"+OK")
    p.quit()


def test_quit_behind_backed_up_replies_still_closes(mail):
    """QUIT read while the replies before it are stuck: once they drain, +OK and the close."""
    replies = pipeline_then_read(mail["plain"], b"NOOP\r\n" * 5000 + b"QUIT\r\n")
    lines = replies.split(b"\r\n")
    assert lines[0].startswith(b"+OK") and lines[-1] == b""
    assert lines[1:-2] == [b"-ERR not authenticated yet: cannot do NOOP"] * 5000
    assert lines[-2].startswith(b"+OK")  # QUIT's reply, then the close


def _reset_during_retr(port: int, password: str) -> None:
    """Log in, start a RETR of a big message, read a little, then close with a RST."""
    import socket
    import struct

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"USER big@example.com\r\nPASS {password}\r\nRETR 1\r\n".encode())
        got = b""
        while got.count(b"\r\n") < 4:
            got += s.recv(4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_reset_mid_retr_closes_the_file_and_logs_no_traceback(workdir):
    """20 clients that reset mid-RETR leave no open message file and no traceback in the log."""
    import os
    import time

    from zoo.testing import TwistdProcess

    args = ["zoo", "--with", "smtp --port 0",
            "--with", "pop3 --port 0 --allow-plaintext-auth"]  # fmt: skip
    with TwistdProcess(args, workdir) as zoo:
        password = (workdir / "state" / "generated-password").read_text().strip().partition(":")[2]
        send(zoo.port("smtp"), "big@example.com", "big", ("x" * 78 + "\r\n") * 50_000)
        fds = f"/proc/{zoo.proc.pid}/fd"
        _reset_during_retr(zoo.port("pop3"), password)  # warm up (lazy imports, first files)
        time.sleep(0.3)
        before = len(os.listdir(fds))
        for _ in range(20):
            _reset_during_retr(zoo.port("pop3"), password)
        time.sleep(0.5)
        after = len(os.listdir(fds))
        p = poplib.POP3("127.0.0.1", zoo.port("pop3"), timeout=10)
        assert p.getwelcome().startswith(b"+OK")
        p.quit()
        log = zoo.output
    assert after <= before, f"descriptors went from {before} to {after}"
    assert "Traceback" not in log, log


@pytest.mark.parametrize("listener", ["plain", "tls"])
def test_quit_closes_over_tls(mail, listener):
    """After STLS, and over POP3S, QUIT gets +OK and the server closes (before, it waited for the client)."""
    import socket

    ctx = ssl.create_default_context(cafile=mail["ca"])
    raw = socket.create_connection(("127.0.0.1", mail[listener]), timeout=5)
    if listener == "plain":
        raw.recv(1000)
        raw.sendall(b"STLS\r\n")
        assert raw.recv(1000).startswith(b"+OK")
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    else:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.recv(1000)
    with s:
        s.sendall(b"QUIT\r\n")
        got = b""
        while data := s.recv(1000):  # a TimeoutError here: the server never closed
            got += data
    assert got.startswith(b"+OK")
