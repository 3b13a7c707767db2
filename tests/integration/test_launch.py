"""zoo.run and zoo.client against a real `twistd -n zoo`, driven by stdlib clients."""

from __future__ import annotations

import ftplib
import io
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

import zoo
from zoo.client import ZooError, ZooTimeout
from zoo.launch import Zoo, ZooStartError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def z() -> Iterator[Zoo]:
    with zoo.run("smtp", "ftp", "pubsub", "tls", "echo", "ssh") as running:
        yield running


def _send(z: Zoo, to: str, subject: str) -> None:
    with smtplib.SMTP(z.smtp.host, z.smtp.port, timeout=10) as s:
        s.sendmail("shop@example.com", [to], f"Subject: {subject}\r\n\r\nhello\r\n")


def test_starts_quickly() -> None:
    """A one-service zoo is listening in well under two seconds (printed: the figure)."""
    began = time.monotonic()
    with zoo.run("smtp") as running:
        took = time.monotonic() - began
        assert running.smtp.port > 0
    print(f"zoo.run('smtp') listening after {took * 1000:.0f} ms")
    assert took < 2.0


def test_handles_say_where_and_how(z: Zoo) -> None:
    """Each handle has host, port, URL, the login where the service has one, and the CA."""
    assert z.smtp.url == f"smtp://127.0.0.1:{z.smtp.port}"
    assert z.ftp.user == "zoo" and z.ftp.password and z.ssh.user == "zoo"
    assert z.ssh.password == z.ftp.password == z.smtp.password
    assert z.pubsub.user is None and z.pubsub.url.startswith("redis://")
    assert z.smtp.ca_file and open(z.smtp.ca_file).read().startswith("-----BEGIN CERTIFICATE")
    assert z["echo"] is z.echo
    with pytest.raises(AttributeError, match="does not run 'imap'"):
        z.imap  # noqa: B018


def test_wait_for_message_and_its_timeout(z: Zoo) -> None:
    """wait_for_message returns the stored message; a miss raises ZooTimeout naming the arrivals."""
    z.smtp.reset()
    _send(z, "alice@example.com", "Invoice 7")
    message = z.smtp.wait_for_message(to="alice@example.com", timeout=5)
    assert message["subject"] == "Invoice 7"
    assert message["text"].strip() == "hello"
    assert message["event"].kind == "mail.stored"
    with pytest.raises(ZooTimeout) as caught:
        z.smtp.wait_for_message(to="carol@example.com", timeout=0.3)
    assert "alice@example.com" in str(caught.value) and "Invoice 7" in str(caught.value)


def test_wait_answers_when_the_mail_comes(z: Zoo) -> None:
    """A wait started before the mail is sent answers once it is stored (no polling)."""
    z.smtp.reset()
    timer = threading.Timer(0.2, _send, (z, "late@example.com", "late"))
    timer.start()
    began = time.monotonic()
    message = z.smtp.wait_for_message(to="late@example.com", timeout=10)
    timer.join()
    assert message["subject"] == "late"
    assert 0.15 < time.monotonic() - began < 5


def test_reset_forgets_the_mail(z: Zoo) -> None:
    """After a reset the service lists no message and no session."""
    _send(z, "bob@example.com", "before")
    z.smtp.wait_for_message(to="bob@example.com", timeout=5)
    z.smtp.reset()
    assert z.smtp.messages() == []
    assert z.smtp.sessions() == []


def test_seeded_message_is_listed(z: Zoo) -> None:
    """seed_message stores a message the listing shows, as SMTP would."""
    z.smtp.reset()
    ids = z.smtp.seed_message("dave@example.com", "seeded", "body")
    assert [m["id"] for m in z.smtp.messages()] == ids


def test_ftp_upload_files_and_seed(z: Zoo) -> None:
    """An ftplib upload is waited for and listed; a seeded file can be downloaded by ftplib."""
    z.ftp.reset()
    z.ftp.put_file("/in/seed.txt", b"seeded")
    with ftplib.FTP() as f:
        f.connect(z.ftp.host, z.ftp.port, timeout=10)
        f.login(z.ftp.user, z.ftp.password)
        f.storbinary("STOR report.csv", io.BytesIO(b"a,b\n"))
        got = io.BytesIO()
        f.retrbinary("RETR in/seed.txt", got.write)
    assert got.getvalue() == b"seeded"
    event = z.ftp.wait_for_upload("report.csv", timeout=5)
    assert event["user"] == "zoo" and event["size"] == 4
    assert z.ftp.read_file("/report.csv") == b"a,b\n"
    listed = {e["name"]: e for e in z.ftp.files()}
    assert listed["report.csv"]["uploaded_by"]["protocol"] == "ftp"


def test_upload_timeout_lists_uploads(z: Zoo) -> None:
    """Waiting for a file never uploaded raises ZooTimeout listing the uploads that came."""
    z.ftp.reset()
    z.ftp.put_file("/other.txt", b"x")
    with pytest.raises(ZooTimeout, match="other.txt"):
        z.ftp.wait_for_upload("/expected.txt", timeout=0.3)


def test_pubsub_publish_and_published(z: Zoo) -> None:
    """A message published through the API is listed by published(channel), oldest first."""
    z.pubsub.reset()
    assert z.pubsub.publish("orders", "one") == 0
    z.pubsub.publish("orders", "two")
    z.pubsub.publish("other", "x")
    assert [m["payload"] for m in z.pubsub.published("orders")] == ["one", "two"]
    assert z.pubsub.wait_for_publish("other", timeout=1)["payload"] == "x"


def test_tls_wrapper_relays_to_its_echo(z: Zoo) -> None:
    """zoo_tls speaks TLS with a certificate the zoo's CA verifies, and echoes."""
    context = ssl.create_default_context(cafile=z.tls.ca_file)
    with socket.create_connection((z.tls.host, z.tls.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"ping")
            assert s.recv(4) == b"ping"
    assert z.echo.port != z.tls.port
    assert all(e["port"] == z.echo.port for e in z.echo.listeners)


def test_transcript_shows_the_dialogue(z: Zoo) -> None:
    """transcript() gives the C:/S: dialogue of the service's sessions since its reset."""
    z.smtp.reset()
    _send(z, "erin@example.com", "talk")
    z.smtp.wait_for_message(to="erin@example.com", timeout=5)
    text = z.smtp.transcript()
    assert "C: rcpt TO:<erin@example.com>" in text
    assert "S: 250 2.0.0 Message accepted for delivery" in text


def test_helpers_of_another_service_are_refused(z: Zoo) -> None:
    """A helper the service has not (messages() of echo) is a TypeError naming who has it."""
    with pytest.raises(TypeError, match="zoo echo has no messages"):
        z.echo.messages()


def test_api_errors_carry_the_status(z: Zoo) -> None:
    """An unknown session is a ZooError 404 with the control plane's message."""
    with pytest.raises(ZooError) as caught:
        z.api.session("nope-1")
    assert caught.value.status == 404 and "no session" in caught.value.message


def test_the_client_survives_a_closed_connection(z: Zoo) -> None:
    """When a kept-alive connection is gone, the next call opens another."""
    z.api.livez()
    conn = z.api._local.conn
    conn.sock.shutdown(socket.SHUT_RDWR)
    assert z.api.livez()["status"] == "ok"


def test_mark_and_cursor(z: Zoo) -> None:
    """A mark is an admin event after the cursor taken before it."""
    before = z.api.cursor()
    event = z.api.mark("step", n=1)
    assert event.seq > before and event["n"] == 1
    assert [e.seq for e in z.api.events("admin", "mark", after=before)] == [event.seq]


def test_a_bad_option_fails_with_the_log() -> None:
    """A zoo that cannot start raises ZooStartError with twistd's own message."""
    with pytest.raises(ZooStartError, match="--no-such-option"):
        zoo.run("echo", echo="--no-such-option")


def test_temporary_folder_is_removed() -> None:
    """The temporary state directory is removed when the zoo stops."""
    with zoo.run("echo") as running:
        state = running.state_dir
        assert (state / "admin-token").exists()
    assert not state.exists()


def test_reset_takes_milliseconds(z: Zoo) -> None:
    """A service's reset, with mail and files stored, takes well under 10 ms (printed)."""
    took = {}
    for name in ("smtp", "ftp"):
        times = []
        for n in range(15):
            if name == "smtp":
                z.smtp.seed_message(f"r{n}@example.com", "to forget", "x")
            else:
                z.ftp.put_file(f"/r{n}.txt", b"x")
            began = time.perf_counter()
            z.service(name).reset()
            times.append(time.perf_counter() - began)
        took[name] = sorted(times)[len(times) // 2] * 1000
    print("median reset: " + ", ".join(f"{k} {v:.2f} ms" for k, v in took.items()))
    assert all(v < 10 for v in took.values()), took


def test_pop3_reset_empties_the_mail() -> None:
    """A POP3 handle's reset also empties zoo-smtp's store, which POP3 reads."""
    with zoo.run("pop3") as running:
        assert running.services == ["pop3", "smtp"]
        running.pop3.seed_message("frank@example.com", "old")
        running.pop3.reset()
        assert running.pop3.messages() == []
