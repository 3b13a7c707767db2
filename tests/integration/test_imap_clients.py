"""zoo-imap under twistd with real clients: IMAPClient and imaplib doing the book's SEARCH,
APPEND, COPY and folder work, IDLE woken by zoo-smtp, and a Thunderbird-shaped session."""

from __future__ import annotations

import imaplib
import re
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient
from mailbook import mail_services

pytestmark = pytest.mark.integration
USER = "books@example.com"


@pytest.fixture
def mail(workdir):
    """zoo-smtp and zoo-imap (STARTTLS and --tls) sharing one state dir."""
    with mail_services(workdir, "imap") as ports:
        yield ports


def deliver(mail, subject: str, body: str = "Apress is a publisher\n") -> None:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "Author <author@example.com>", USER, subject
    m.set_content(body)
    with smtplib.SMTP("127.0.0.1", mail["smtp"], timeout=10) as s:
        s.send_message(m)


def client(mail) -> IMAPClient:
    ctx = ssl.create_default_context(cafile=mail["ca"])
    c = IMAPClient("127.0.0.1", port=mail["tls"], ssl=True, ssl_context=ctx, timeout=10)
    c.login(USER, mail["password"])
    return c


def test_imapclient_search_append_copy_and_folders(mail):
    """IMAPClient: the book's SEARCH (SINCE + TEXT), APPEND, COPY, delete, and folder calls."""
    deliver(mail, "first")
    deliver(mail, "second", "nothing here\n")
    c = client(mail)
    names = [name for _, _, name in c.list_folders()]
    assert names == ["INBOX", "Drafts", "Junk", "Sent", "Trash"]
    assert c.find_special_folder(b"\\Sent") == "Sent"
    c.select_folder("INBOX")
    assert c.search(["SINCE", "20-Aug-2010", "TEXT", "Apress"]) == [1]
    msg = b"From: me@example.com\r\nSubject: draft\r\n\r\nwork in progress\r\n"
    assert b"APPENDUID" in c.append("Drafts", msg, flags=[b"\\Draft"])
    c.create_folder("Archive.2026")
    assert c.folder_exists("Archive.2026")
    c.copy([1, 2], "Archive.2026")
    assert c.folder_status("Archive.2026", ["MESSAGES"]) == {b"MESSAGES": 2}
    c.delete_messages([2])
    c.expunge()
    assert c.search("ALL") == [1]
    c.select_folder("Drafts", readonly=True)
    [(uid, data)] = c.fetch(c.search("ALL"), ["FLAGS", "BODY.PEEK[]", "ENVELOPE"]).items()
    assert data[b"BODY[]"] == msg and b"\\Draft" in data[b"FLAGS"]
    assert data[b"ENVELOPE"].subject == b"draft"
    c.rename_folder("Archive", "Old")
    assert c.folder_exists("Old.2026") and not c.folder_exists("Archive")
    c.logout()


def test_imaplib_move_uidplus_and_namespace(mail):
    """imaplib: NAMESPACE, UID MOVE with COPYUID, APPEND with APPENDUID, UNSELECT."""
    deliver(mail, "to move")
    c = imaplib.IMAP4_SSL(
        "127.0.0.1", mail["tls"], ssl_context=ssl.create_default_context(cafile=mail["ca"])
    )
    c.login(USER, mail["password"])
    assert c.namespace()[1] == [b'(("" ".")) NIL NIL']
    c.select("INBOX")
    typ, data = c.uid("MOVE", "1", "Trash")
    assert typ == "OK" and c.untagged_responses.get("EXPUNGE") == [b"1"]
    c.select("Trash")
    assert c.uid("SEARCH", None, "SUBJECT", "move")[1] == [b"1"]
    typ, data = c.append("Trash", None, None, b"Subject: again\r\n\r\nx\r\n")
    assert typ == "OK" and re.match(rb"\[APPENDUID \d+ 2\]", data[0])
    assert c.unselect()[0] == "OK"
    c.logout()


def test_idle_sees_smtp_delivery_at_once(mail):
    """IMAPClient IDLE: a message delivered by zoo-smtp is announced within a second."""
    deliver(mail, "before")
    c = client(mail)
    c.select_folder("INBOX")
    c.idle()
    started = time.monotonic()
    deliver(mail, "while idling")
    responses = c.idle_check(timeout=5)
    took = time.monotonic() - started
    c.idle_done()
    assert (2, b"EXISTS") in responses, responses
    assert took < 2, took
    c.logout()


class Raw:
    """A line-level IMAP client over TLS, for sessions shaped like a particular client's."""

    def __init__(self, mail):
        ctx = ssl.create_default_context(cafile=mail["ca"])
        raw = socket.create_connection(("127.0.0.1", mail["tls"]), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        self.n = 0
        assert self.file.readline().startswith(b"* OK")

    def line(self) -> bytes:
        return self.file.readline().rstrip(b"\r\n")

    def send(self, text: bytes) -> None:
        self.sock.sendall(text + b"\r\n")

    def command(self, text: bytes) -> list[bytes]:
        self.n += 1
        tag = b"%d" % self.n
        self.send(tag + b" " + text)
        out = []
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\}$", line)
            if m:
                line += b"\r\n" + self.file.read(int(m.group(1))) + self.line()
            out.append(line)
            if line.startswith(tag + b" "):
                assert line.startswith(tag + b" OK"), out
                return out


def test_thunderbird_shaped_session(mail):
    """CAPABILITY, ID, AUTHENTICATE PLAIN, LIST with SPECIAL-USE, UID FETCH ranges, IDLE, MOVE to Trash."""
    import base64

    deliver(mail, "one")
    deliver(mail, "two")
    t = Raw(mail)
    caps = t.command(b"capability")[0]
    assert b"IDLE" in caps and b"MOVE" in caps and b"SPECIAL-USE" in caps
    t.command(b'ID ("name" "Thunderbird" "version" "128.5.0")')
    plain = base64.b64encode(b"\0" + USER.encode() + b"\0" + mail["password"].encode())
    t.command(b"authenticate PLAIN " + plain)
    t.command(b"namespace")
    listed = t.command(b'list (SUBSCRIBED) "" "*" RETURN (SPECIAL-USE)')
    [trash] = [line for line in listed if line.endswith(b'"Trash"')]
    assert set(trash[8 : trash.index(b")")].split()) == {
        b"\\HasNoChildren",
        b"\\Subscribed",
        b"\\Trash",
    }
    out = t.command(b'select "INBOX"')
    assert b"* 2 EXISTS" in out
    out = t.command(b"UID fetch 1:* (FLAGS)")
    assert out[:2] == [b"* 1 FETCH (UID 1 FLAGS (\\Recent))", b"* 2 FETCH (UID 2 FLAGS (\\Recent))"]
    headers = b"BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)]"
    out = t.command(b"UID fetch 2:* (UID RFC822.SIZE FLAGS " + headers + b")")
    assert b"Subject: two" in out[0] and b"RFC822.SIZE " in out[0]
    t.n += 1
    t.send(b"%d IDLE" % t.n)
    assert t.line() == b"+ idling"
    deliver(mail, "three")
    assert t.line() == b"* 3 EXISTS"
    t.send(b"DONE")
    rest = [t.line(), t.line()]
    assert rest == [b"* 3 RECENT", b"%d OK IDLE terminated" % t.n]
    out = t.command(b'UID move 1 "Trash"')
    assert out[0].startswith(b"* OK [COPYUID ") and out[1] == b"* 1 EXPUNGE"
    assert t.command(b'STATUS "Trash" (MESSAGES UNSEEN)')[0] == (
        b'* STATUS "Trash" (MESSAGES 1 UNSEEN 1)'
    )
    t.command(b"logout")


def test_malformed_mime_planted_through_smtp(mail):
    """Broken MIME sent through zoo-smtp: FETCH BODYSTRUCTURE/ENVELOPE/sections and SEARCH all answer OK."""
    nasty = [
        b'Content-Type: multipart/mixed; boundary="nowhere"\r\n\r\njust text\r\n',
        b'Content-Type: multipart/mixed; boundary="b\r\n\r\n--b\r\nunterminated\r\n',
        b"From: <<<@@@>>>\r\nTo: ((unbalanced\r\nSubject: =?bogus?Q?=ZZ?=\r\n\r\nx\r\n",
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
    ]
    nested = b"leaf\r\n"
    for i in range(300):
        nested = (
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n%s\r\n--b%d--\r\n'
            % (
                i,
                i,
                nested,
                i,
            )
        )
    with smtplib.SMTP("127.0.0.1", mail["smtp"], timeout=10) as s:
        for raw in [*nasty, nested]:
            s.sendmail("x@example.com", [USER], b"Subject: nasty\r\n" + raw)
    c = imaplib.IMAP4_SSL(
        "127.0.0.1", mail["tls"], ssl_context=ssl.create_default_context(cafile=mail["ca"])
    )
    c.login(USER, mail["password"])
    c.select("INBOX")
    typ, data = c.fetch("1:*", "(BODYSTRUCTURE ENVELOPE BODY.PEEK[1] BODY.PEEK[2.MIME])")
    assert typ == "OK" and len([d for d in data if isinstance(d, tuple)]) >= 5
    assert c.search(None, "TEXT", "leaf")[0] == "OK"
    assert c.noop()[0] == "OK"
    c.logout()
