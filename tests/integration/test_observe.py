"""Sessions and transcripts with real clients: smtplib (STARTTLS, AUTH) and ftplib, under twistd."""

from __future__ import annotations

import ftplib
import json
import os
import signal
import smtplib
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from zoo.testing import TWISTD

pytestmark = pytest.mark.integration

TAC = Path(__file__).with_name("observe.tac")


def test_smtp_starttls_auth_and_ftp_login_are_observed(tmp_path: Path) -> None:
    """Real clients: sessions, TLS, users and redacted transcripts, as the hub kept them."""
    ready, dump, state = tmp_path / "ready.json", tmp_path / "events.json", tmp_path / "state"
    env = {
        **os.environ,
        "ZOO_READY": str(ready),
        "ZOO_DUMP": str(dump),
        "ZOO_STATE_DIR": str(state),
    }
    log = (tmp_path / "twistd.log").open("wb")
    proc = subprocess.Popen(
        [*TWISTD, "-n", "--pidfile=", "-y", str(TAC)], env=env, cwd=tmp_path, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "twistd.log"
            ).read_text()
            time.sleep(0.05)
        ports = {x["service"]: x["port"] for x in json.loads(ready.read_text())["listeners"]}
        password = (state / "generated-password").read_text().strip().partition(":")[2]
        context = ssl.create_default_context(cafile=str(state / "tls" / "ca.pem"))
        with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=10) as client:
            client.starttls(context=context)
            client.login("zoo", password)
            client.sendmail("a@example.com", ["zoo@localhost"], b"Subject: hi\r\n\r\nhello\r\n")
        with ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", ports["ftp"], timeout=10)
            ftp.login("alice", "hunter2")
            ftp.nlst()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    events = json.loads(dump.read_text())
    by = lambda service, kind: [e for e in events if e["service"] == service and e["kind"] == kind]  # noqa: E731
    assert len(by("smtp", "session.opened")) == 1 and len(by("smtp", "session.closed")) == 1
    assert by("smtp", "session.tls")[0]["fields"]["version"].startswith("TLSv1.")
    assert by("smtp", "session.user")[0]["fields"] == {"user": "zoo"}
    smtp_in = "".join(e["fields"]["data"] for e in by("smtp", "wire.in"))
    assert password not in smtp_in and "AUTH PLAIN ***" in smtp_in
    assert "mail from:<a@example.com>" in smtp_in.lower()  # the plaintext inside TLS
    commands = [e["fields"].get("command") for e in by("smtp", "wire.in")]
    assert commands[:2] == ["EHLO", "STARTTLS"] and "QUIT" in commands
    # The body, inside TLS: every read of it between DATA and QUIT unlabelled, whole,
    # after the server's 354 (the transcriber's body steps, in C where built).
    wire_in = by("smtp", "wire.in")
    data_at, quit_at = commands.index("DATA"), commands.index("QUIT")
    body = wire_in[data_at + 1 : quit_at]
    assert body and all(e["fields"].get("command") is None for e in body)
    assert "".join(e["fields"]["data"] for e in body) == "Subject: hi\r\n\r\nhello\r\n.\r\n"
    assert 354 in [e["fields"].get("reply") for e in by("smtp", "wire.out")]
    ftp_in = "".join(e["fields"]["data"] for e in by("ftp", "wire.in"))
    assert "hunter2" not in ftp_in and "PASS ***" in ftp_in
    assert by("ftp", "session.user")[0]["fields"] == {"user": "alice"}
    assert by("ftp", "wire.data")[0]["fields"]["bytes_out"] >= 0
    assert "QUIT" in [e["fields"].get("command") for e in by("ftp", "wire.in")]
    closed = by("smtp", "session.closed")[0]["fields"]
    assert closed["bytes_in"] == sum(e["fields"]["size"] for e in by("smtp", "wire.in"))
    assert closed["bytes_out"] == sum(e["fields"]["size"] for e in by("smtp", "wire.out"))
