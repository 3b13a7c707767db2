"""Mail in the observatory: mail.stored and login events from zoo-smtp, the mail inspector."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mailfakes import mail_users, settle
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from zoo.events import Filter, Observatory
from zoo.inspect import ApiError, Call, RawBody
from zoo.mail import inspector
from zoo.mail.inspector import MailInspector, register
from zoo.mail.maildir import MaildirStore, SyncWriter
from zoo.mail.smtp import Policy, SMTPFactory, encode_plain


def observatory(enabled: bool = True) -> Observatory:
    return Observatory(Clock(), enabled=enabled)


class Wire:
    """An SMTP connection in memory, reporting to its own observatory."""

    def __init__(self, tmp_path: Path, obs: Observatory, policy: Policy | None = None) -> None:
        self.store = MaildirStore(tmp_path / "mail", fsync=False)
        self.clock = Clock()
        factory = SMTPFactory(
            SyncWriter(self.store),
            mail_users({"alice@example.com": "secret"}),
            policy or Policy(),
            clock=self.clock,
            observatory=obs,
        )
        self.transport = StringTransport()
        self.transport.session = "smtp-7"  # as the connection layer marks it
        self.proto = factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)

    def send(self, data: bytes) -> bytes:
        self.proto.dataReceived(data)
        settle(self.proto, self.clock)
        out = self.transport.value()
        self.transport.clear()
        return out


MAIL = (
    b"MAIL FROM:<bob@example.com>\r\nRCPT TO:<Alice@Example.com>\r\nRCPT TO:<carol>\r\nDATA\r\n"
    b"Subject: hello there\r\nMessage-ID: <m1@example.com>\r\n\r\nhi\r\n.\r\n"
)


def test_smtp_emits_mail_stored_after_the_write(tmp_path):
    """A stored message gives one mail.stored: sender, recipients, id, subject, size, files."""
    obs = observatory()
    wire = Wire(tmp_path, obs)
    assert b"250 2.0.0 Message accepted" in wire.send(b"HELO x\r\n" + MAIL)
    [event] = obs.events(Filter.of(kind="mail.stored"))
    f = event.fields
    assert (event.service, event.session) == ("smtp", "smtp-7")
    assert f["from"] == "bob@example.com"
    assert f["to"] == ["Alice@Example.com", "carol@localhost"]
    assert f["message_id"] == "<m1@example.com>" and f["subject"] == "hello there"
    assert f["mailboxes"] == ["alice@example.com", "carol@localhost"]
    assert all(Path(p).read_bytes().endswith(b"\nhi\n") for p in f["paths"])
    assert f["size"] > len(b"hi") and len(f["ids"]) == 2
    json.dumps(event.to_json())  # every field is JSON


def test_mail_stored_keeps_plain_values_until_read(tmp_path):
    """The stored event keeps bytes and text only: no Twisted Address, no Path, nothing
    that holds other objects alive for the thousands of events it stays in the store."""
    obs = observatory()
    wire = Wire(tmp_path, obs)
    wire.send(b"HELO x\r\n" + MAIL)
    [entry] = [e for e in obs._store("smtp", "mail.stored").items]
    sender, (recipients, mailboxes, paths, size), head = entry[-3:]
    assert sender == b"bob@example.com"
    assert recipients == (b"Alice@Example.com", b"carol@localhost")
    assert all(type(p) is str for p in paths) and type(size) is int
    assert head.startswith(b"Return-Path:") and head.endswith(b"<m1@example.com>\r\n")
    # Read back as text; a byte that is not UTF-8 is replaced, never an error.
    fields = inspector._stored(b"jos\xe9@x", ((b"b@y", "c@z"), ("b@y",), (), 3), b"")
    assert fields["from"] == "jos\ufffd@x" and fields["to"] == ["b@y", "c@z"]


def test_smtp_emits_nothing_when_the_hub_is_off(tmp_path):
    """With the observatory off a delivery and a failed login leave no event."""
    obs = observatory(enabled=False)
    wire = Wire(tmp_path, obs, Policy(allow_plaintext_auth=True))
    wire.send(b"EHLO x\r\nAUTH PLAIN " + encode_plain("alice@example.com", "no") + b"\r\n")
    wire.send(MAIL)
    obs.enable()
    assert obs.events() == []


def test_failed_and_successful_logins_are_events(tmp_path):
    """A wrong AUTH gives login.failed (protocol, user, address); a right one login.succeeded."""
    obs = observatory()
    wire = Wire(tmp_path, obs, Policy(allow_plaintext_auth=True))
    wire.send(b"EHLO x\r\nAUTH PLAIN " + encode_plain("alice@example.com", "no") + b"\r\n")
    wire.send(b"AUTH PLAIN " + encode_plain("alice@example.com", "secret") + b"\r\n")
    failed, ok = obs.events(Filter.of(kind="login."))
    assert failed.kind == "login.failed" and ok.kind == "login.succeeded"
    assert failed.fields["user"] == "alice@example.com"
    assert failed.fields["protocol"] == "smtp" and failed.fields["address"] == "192.168.1.1"
    assert "secret" not in json.dumps(ok.to_json()) and failed.session == "smtp-7"


# -- the inspector -------------------------------------------------------------------


def multipart() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Bob <bob@example.com>"
    msg["To"] = "alice@example.com"
    msg["Subject"] = "Quarterly report"
    msg["Message-ID"] = "<r1@example.com>"
    msg.set_content("Plain words about the zebra.\n")
    msg.add_alternative("<p>HTML words</p>\n", subtype="html")
    msg.add_attachment(b"\x00\x01PDF", maintype="application", subtype="pdf", filename="r.pdf")
    return msg.as_bytes()


@pytest.fixture
def mail(tmp_path):
    obs = observatory()
    store = MaildirStore(tmp_path / "mail", fsync=False)
    inspector = MailInspector(store, SyncWriter(store), observatory=obs)
    return inspector, obs


def seed(inspector: MailInspector, body: bytes, **query: str) -> list[str]:
    d = inspector.seed(Call(query=query, body=body, content_type="message/rfc822"))
    return d.result["ids"]


def test_seed_raw_message_is_stored_like_smtp_and_emits(mail):
    """POST a raw message: one Maildir file in new/ per recipient, CRLF turned to LF, mail.stored."""
    inspector, obs = mail
    [ident] = seed(inspector, multipart())
    path = inspector._find(ident)
    assert path.parent.name == "new" and path.parent.parent.name == "alice@example.com"
    assert b"\r\n" not in path.read_bytes()
    [event] = obs.events(Filter.of("smtp", "mail.stored"))
    assert event.fields["to"] == ["alice@example.com"] and event.fields["ids"] == [ident]
    assert event.fields["subject"] == "Quarterly report"


def test_seed_json_builds_a_message(mail):
    """POST JSON from/to/subject/text/html: a multipart/alternative message for each recipient."""
    inspector, _ = mail
    body = json.dumps(
        {"from": "x@y.z", "to": ["a@b.c", "d@e.f"], "subject": "S", "text": "T", "html": "<b>H</b>"}
    ).encode()
    d = inspector.seed(Call(body=body, content_type="application/json"))
    ids = d.result["ids"]
    assert len(ids) == 2
    shown = inspector.message(Call(params={"id": ids[1]}))
    assert shown["subject"] == "S" and shown["text"].strip() == "T"
    assert shown["html"].strip() == "<b>H</b>" and shown["to"] == ["a@b.c", "d@e.f"]


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        (b"", "message/rfc822", 400),
        (b"Subject: no recipients\r\n\r\nx", "message/rfc822", 400),
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'{"to": 5}', "application/json", 400),
        (b'{"to": "a@b", "bcc": "x"}', "application/json", 400),
        (b'{"to": "a@b", "subject": ["x"]}', "application/json", 400),
    ],
)
def test_seed_refuses_bad_bodies(mail, body, content_type, status):
    """A seed with no message, no recipient, or bad JSON is a clear 400."""
    inspector, obs = mail
    with pytest.raises(ApiError) as e:
        inspector.seed(Call(body=body, content_type=content_type))
    assert e.value.status == status and e.value.message
    assert obs.events() == []


def test_seed_raw_with_explicit_recipients(mail):
    """C{?to=} overrides the message's own To: header."""
    inspector, _ = mail
    ids = seed(inspector, b"To: a@b.c\r\nSubject: s\r\n\r\nx\r\n", to="q@r.s, t@u.v")
    assert [i.split("~")[0] for i in ids] == ["q@r.s", "t@u.v"]


def test_list_mailboxes_and_messages(mail):
    """Mailboxes with counts; messages newest first with sender, recipients, subject, size, flags."""
    inspector, _ = mail
    seed(inspector, b"From: a@x\r\nTo: alice@example.com\r\nSubject: first\r\n\r\n1\r\n")
    seed(
        inspector,
        b"From: b@x\r\nTo: alice@example.com, bob@example.com\r\nSubject: 2nd\r\n\r\n2\r\n",
    )
    assert inspector.mailboxes(Call()) == [
        {"mailbox": "alice@example.com", "messages": 2},
        {"mailbox": "bob@example.com", "messages": 1},
    ]
    listed = inspector.messages(Call(query={"mailbox": "Alice@Example.com"}))
    assert [m["subject"] for m in listed] == ["2nd", "first"]
    assert listed[0]["to"] == ["alice@example.com", "bob@example.com"]
    assert listed[0]["flags"] == ["new"] and listed[0]["size"] == len(
        b"From: b@x\r\nTo: alice@example.com, bob@example.com\r\nSubject: 2nd\r\n\r\n2\r\n"
    )
    assert len(inspector.messages(Call())) == 3
    assert len(inspector.messages(Call(query={"limit": "1"}))) == 1
    assert inspector.messages(Call(query={"mailbox": "nobody@x"})) == []


def test_limit_is_checked_and_capped(mail, monkeypatch):
    """A huge limit is capped at MAX_LIMIT; a negative or non-numeric one is a 400."""
    inspector, _ = mail
    monkeypatch.setattr("zoo.mail.inspector.MAX_LIMIT", 2)
    for n in range(3):
        seed(inspector, b"To: a@x\r\nSubject: %d\r\n\r\nx\r\n" % n)
    assert len(inspector.messages(Call(query={"limit": "10" * 40}))) == 2
    for bad in ("-1", "ten", ""):
        if bad == "":
            continue
        with pytest.raises(ApiError) as e:
            inspector.messages(Call(query={"limit": bad}))
        assert e.value.status == 400


def test_search_finds_subject_sender_and_body_text(mail):
    """q matches case-insensitively in the subject, the sender, the recipients and the text part."""
    inspector, _ = mail
    seed(inspector, multipart())
    seed(inspector, b"From: z@x\r\nTo: a@x\r\nSubject: other\r\n\r\nnothing\r\n")
    for q in ("quarterly", "BOB@example", "ZEBRA", "html words"):
        assert [m["subject"] for m in inspector.messages(Call(query={"q": q}))] == [
            "Quarterly report"
        ], q
    assert inspector.messages(Call(query={"q": "absent"})) == []


def test_one_message_parts_attachment_and_raw(mail):
    """A message shows headers, text, HTML, attachments; the raw source and one attachment download."""
    inspector, _ = mail
    [ident] = seed(inspector, multipart())
    shown = inspector.message(Call(params={"id": ident}))
    assert shown["text"] == "Plain words about the zebra.\n"
    assert shown["html"] == "<p>HTML words</p>\n"
    assert shown["attachments"] == [
        {"index": 0, "name": "r.pdf", "type": "application/pdf", "size": 5}
    ]
    assert ["Subject", "Quarterly report"] in shown["headers"]
    raw = inspector.raw(Call(params={"id": ident}))
    assert isinstance(raw, RawBody) and raw.content_type == "message/rfc822"
    assert raw.data.startswith(b"From: Bob <bob@example.com>\n")
    part = inspector.attachment(Call(params={"id": ident, "index": "0"}))
    assert (part.data, part.content_type, part.filename) == (
        b"\x00\x01PDF",
        "application/pdf",
        "r.pdf",
    )
    for index, status in (("1", 404), ("x", 400), ("-1", 400)):
        with pytest.raises(ApiError) as e:
            inspector.attachment(Call(params={"id": ident, "index": index}))
        assert e.value.status == status


@pytest.mark.parametrize(
    "ident",
    [
        "nobody",
        "a@x~nothing",
        "../../etc~passwd",
        "a@x~../../../etc/passwd",
        "~",
        ".hidden~x",
        "a@x~.x",
        "a@x~x\0y",
        "",
    ],
)
def test_unknown_and_hostile_ids_are_404(mail, ident):
    """An unknown id, or one trying to name a path outside a mailbox, is a 404 on every route."""
    inspector, _ = mail
    seed(inspector, b"To: a@x\r\n\r\nx\r\n")
    for route in (inspector.message, inspector.raw, inspector.delete):
        with pytest.raises(ApiError) as e:
            route(Call(params={"id": ident, "index": "0"}))
        assert e.value.status == 404


def test_malformed_mime_does_not_raise(mail):
    """A multipart with a broken boundary and junk headers still lists and shows, with defects."""
    inspector, _ = mail
    bad = (
        b"To: a@x\r\nFrom: =?utf-8?q?broken\r\nSubject: =?x-unknown?b?!!!?=\r\n"
        b'Content-Type: multipart/mixed; boundary="nope"\r\n\r\n'
        b"--wrong\r\nContent-Type: text/plain\r\n\r\nhello\r\n--wrong--\r\n"
    )
    [ident] = seed(inspector, bad)
    assert inspector.messages(Call(query={"q": "hello"})) is not None
    shown = inspector.message(Call(params={"id": ident}))
    assert shown["defects"]
    assert isinstance(inspector.raw(Call(params={"id": ident})).data, bytes)
    with pytest.raises(ApiError):
        inspector.attachment(Call(params={"id": ident, "index": "9"}))


def test_delete_removes_and_emits(mail):
    """DELETE removes the file and emits mail.deleted; a second DELETE is a 404."""
    inspector, obs = mail
    [ident] = seed(inspector, b"To: a@x\r\n\r\nx\r\n")
    assert inspector.delete(Call(params={"id": ident})) == {"deleted": ident}
    assert inspector.messages(Call()) == []
    [event] = obs.events(Filter.of(kind="mail.deleted"))
    assert event.fields == {"mailbox": "a@x", "id": ident, "via": "api"}
    with pytest.raises(ApiError) as e:
        inspector.delete(Call(params={"id": ident}))
    assert e.value.status == 404


def test_messages_read_by_pop3_or_imap_show_flags(mail):
    """A message moved to cur/ with Maildir flags lists its flags and keeps its id."""
    inspector, _ = mail
    [ident] = seed(inspector, b"To: a@x\r\n\r\nx\r\n")
    path = inspector._find(ident)
    moved = path.parent.parent / "cur" / (path.name + ":2,FS")
    path.rename(moved)
    [listed] = inspector.messages(Call())
    assert listed["id"] == ident and listed["flags"] == ["flagged", "seen"]
    assert inspector.message(Call(params={"id": ident}))["flags"] == ["flagged", "seen"]


def test_reset_empties_mailboxes_and_keeps_folders(tmp_path):
    """Resetting "smtp" deletes every message (and its events) but keeps each Maildir."""
    obs = observatory()
    store = MaildirStore(tmp_path / "mail", fsync=False)
    inspector = register(store, SyncWriter(store), observatory=obs)
    register(store, SyncWriter(store), observatory=obs)  # twice: still one reset hook
    seed(obs.inspectors["smtp"], b"To: a@x, b@x\r\n\r\nx\r\n")
    assert obs.inspectors["smtp"] is not inspector
    assert obs.reset("smtp") == ["smtp"]
    assert obs.inspectors["smtp"].messages(Call()) == [] and obs.events() == []
    assert store.mailboxes() == ["a@x", "b@x"]
    assert (store.root / "a@x" / "new").is_dir()


def test_reset_clears_cur_new_and_tmp_of_maildirs_only(tmp_path):
    """A reset empties new/, cur/ and tmp/ of every Maildir; a folder without cur/ is left alone."""
    obs = observatory()
    store = MaildirStore(tmp_path / "mail", fsync=False)
    register(store, SyncWriter(store), observatory=obs)
    box = store.ensure("a@x")
    for name in ("cur/1.x:2,S", "new/2.x", "tmp/3.x"):
        (box / name).write_bytes(b"x")
    (box / ".Sent" / "cur").mkdir(parents=True)  # a subfolder: not a message
    other = tmp_path / "mail" / "notes" / "new"
    other.mkdir(parents=True)
    (other / "keep").write_bytes(b"x")
    obs.reset("smtp")
    assert [list((box / sub).iterdir()) for sub in ("cur", "new", "tmp")] == [[], [], []]
    assert (box / ".Sent" / "cur").is_dir() and (other / "keep").exists()


def test_pop3_quit_after_dele_emits_mail_deleted(tmp_path):
    """POP3 DELE then QUIT removes the file and emits mail.deleted from "pop3"; RSET-ed ones do not."""
    from test_mail_pop3 import Session as POP3Session

    s = POP3Session(tmp_path, plaintext=True)
    obs = s.proto.factory.observatory = observatory()
    s.send(b"USER a@x\r\n")
    s.send(b"PASS pw\r\n")
    s.send(b"DELE 1\r\n")
    assert obs.events(Filter.of(kind="mail.deleted")) == []  # nothing removed before QUIT
    s.send(b"QUIT\r\n")
    [event] = obs.events(Filter.of(kind="mail.deleted"))
    assert (event.service, event.fields["mailbox"], event.fields["via"]) == ("pop3", "a@x", "pop3")
    assert not list(tmp_path.glob("mail/a@x/*/" + event.fields["id"].split("~")[1] + "*"))


def test_imap_expunge_emits_mail_deleted(tmp_path):
    """IMAP STORE \\Deleted then EXPUNGE emits mail.deleted from "imap" for the removed message."""
    from test_mail_imap import Session as IMAPSession

    s = IMAPSession(tmp_path, plaintext=True)
    obs = s.proto.factory.observatory = observatory()
    s.send(b"a LOGIN a@x pw\r\n")
    s.send(b"b SELECT INBOX\r\n")
    s.send(b"c STORE 2 +FLAGS (\\Deleted)\r\n")
    assert s.send(b"d EXPUNGE\r\n")[-1].startswith(b"d OK")
    [event] = obs.events(Filter.of(kind="mail.deleted"))
    assert (event.service, event.fields["via"]) == ("imap", "imap")
    obs.enabled = False
    s.send(b"e STORE 1 +FLAGS (\\Deleted)\r\n")
    s.send(b"f EXPUNGE\r\n")
    obs.enabled = True
    assert len(obs.events(Filter.of(kind="mail.deleted"))) == 1  # off: nothing emitted


def test_repeated_headers_are_all_shown(mail):
    """Every header is listed in order, repeated ones (Received) included."""
    inspector, _ = mail
    [ident] = seed(inspector, b"Received: one\r\nReceived: two\r\nTo: a@x\r\n\r\nx\r\n")
    headers = inspector.message(Call(params={"id": ident}))["headers"]
    assert headers == [["Received", "one"], ["Received", "two"], ["To", "a@x"]]


def _head_reference(data: bytes) -> bytes:
    """The header block as first written: the earlier of the two blank lines."""
    cut = [e for e in (data.find(b"\n\n", 0, 65536), data.find(b"\r\n\r\n", 0, 65536)) if e >= 0]
    return data[: min(cut) + 2] if cut else data[:65536]


@given(st.lists(st.sampled_from([b"\r\n", b"\n", b"\r", b"a", b"Subject: x", b"\r\n\r\n"])))
def test_head_is_the_block_up_to_the_first_blank_line(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert inspector._head(data) == _head_reference(data)


def test_head_of_a_long_header_block_stops_at_64_kib() -> None:
    data = b"X: " + b"y" * 70000 + b"\r\n\r\nbody"
    assert inspector._head(data) == data[:65536]
    lf = b"A: b\n" + b"x" * 65530 + b"\n\nbody"
    assert inspector._head(lf) == _head_reference(lf) == lf[:65536]
