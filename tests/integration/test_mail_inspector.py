"""The mail inspector over what a real client sent: smtplib to a twistd zoo-smtp, read back."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from twisted.internet.task import Clock

from zoo.events import Observatory
from zoo.inspect import Call
from zoo.mail.inspector import MailInspector
from zoo.mail.maildir import MaildirStore, SyncWriter
from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration


def test_smtplib_multipart_mail_is_shown_part_by_part(tmp_path):
    """A multipart mail (text, HTML, attachment) sent with smtplib lists, parses and downloads."""
    msg = EmailMessage()
    msg["From"] = "shop@example.com"
    msg["To"] = "alice@example.com"
    msg["Subject"] = "Your invoice"
    msg.set_content("Plain text body.\n")
    msg.add_alternative("<p>HTML body</p>\n", subtype="html")
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 8
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    with TwistdProcess(["zoo-smtp", "--port", "0", "--no-fsync"], tmp_path) as zoo:
        with smtplib.SMTP("127.0.0.1", zoo.port("smtp"), timeout=10) as client:
            client.send_message(msg)
        assert "Traceback" not in zoo.output
    store = MaildirStore(tmp_path / "state" / "mail", fsync=False)
    inspector = MailInspector(store, SyncWriter(store), observatory=Observatory(Clock()))
    [listed] = inspector.messages(Call(query={"q": "html body"}))
    assert listed["subject"] == "Your invoice" and listed["to"] == ["alice@example.com"]
    shown = inspector.message(Call(params={"id": listed["id"]}))
    assert shown["text"] == "Plain text body.\n" and shown["html"] == "<p>HTML body</p>\n"
    assert shown["attachments"] == [
        {"index": 0, "name": "invoice.pdf", "type": "application/pdf", "size": len(pdf)}
    ]
    part = inspector.attachment(Call(params={"id": listed["id"], "index": "0"}))
    assert part.data == pdf
    raw = inspector.raw(Call(params={"id": listed["id"]})).data
    assert raw.startswith(b"Return-Path: <shop@example.com>\n")
