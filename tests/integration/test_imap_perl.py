"""zoo-imap with Perl's Net::IMAP::Simple (Debian's libnet-imap-simple-perl) over implicit TLS."""

from __future__ import annotations

import shutil
import smtplib
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest
from mailbook import mail_services

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).parent / "perl" / "imap_simple.pl"


def test_net_imap_simple_session(workdir):
    """Net::IMAP::Simple logs in, selects, gets, searches, lists, creates and copies."""
    perl = shutil.which("perl")
    if perl is None:
        pytest.fail("perl is not installed (see .ci/apt/imap.txt)")
    with mail_services(workdir, "imap") as mail:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "a@example.com", "camel@example.com", "hello perl"
        m.set_content("from Perl's side\n")
        with smtplib.SMTP("127.0.0.1", mail["smtp"], timeout=10) as s:
            s.send_message(m)
        done = subprocess.run(
            [
                perl,
                str(SCRIPT),
                str(mail["tls"]),
                "camel@example.com",
                mail["password"],
                mail["ca"],
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "count 1"
    assert lines[1] == "Subject: hello perl"
    assert lines[2] == "search 1"
    assert lines[3].startswith("mailboxes ") and "INBOX" in lines[3] and "Sent" in lines[3]
    assert lines[4] == "copied 1"
