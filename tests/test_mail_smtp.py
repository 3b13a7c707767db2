"""zoo-smtp in memory: framing, limits, storage, STARTTLS and AUTH (no sockets, no real time)."""

from __future__ import annotations

import base64
import errno
import os
from pathlib import Path

import pytest
from mailfakes import TLSStringTransport, any_login, mail_users, settle
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from zoo.mail.maildir import MaildirStore, SyncWriter
from zoo.mail.smtp import Body, Policy, SMTPFactory, encode_plain

MAIL = b"MAIL FROM:<me@example.com>\r\n"


class Session:
    """One server connection over a StringTransport, plus the store it writes to."""

    def __init__(self, tmp_path: Path, policy=None, writer=None, tls=False, checker=None):
        self.store = MaildirStore(tmp_path / "mail", clock=lambda: 1_000_000_000.5, host="test")
        self.clock = Clock()
        factory = SMTPFactory(
            writer or SyncWriter(self.store),
            checker or mail_users({"alice@example.com": "secret"}),
            policy or Policy(),
            starttls=object() if tls else None,
            clock=self.clock,
        )
        self.transport = TLSStringTransport() if tls else StringTransport()
        self.proto = factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)
        self.greeting = self.take()

    def take(self) -> list[bytes]:
        out = self.transport.value().split(b"\r\n")[:-1]
        self.transport.clear()
        return out

    def send(self, data: bytes) -> list[bytes]:
        self.proto.dataReceived(data)
        settle(self.proto, self.clock)
        return self.take()

    def codes(self, data: bytes) -> list[bytes]:
        return [line[:3] for line in self.send(data) if line[3:4] == b" "]

    def stored(self, mailbox: str, sub: str = "new") -> list[bytes]:
        folder = self.store.root / mailbox / sub
        if not folder.is_dir():
            return []
        return [p.read_bytes() for p in sorted(folder.iterdir())]


def deliver(s: Session, rcpts=(b"alice@example.com",), body=b"Subject: hi\r\n\r\nhello\r\n"):
    data = MAIL + b"".join(b"RCPT TO:<" + r + b">\r\n" for r in rcpts) + b"DATA\r\n"
    return s.codes(data + body + b".\r\n")


def test_greeting_and_ehlo_extensions(tmp_path):
    """220 greeting; EHLO lists SIZE (the limit), PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES."""
    s = Session(tmp_path, Policy(max_size=1234))
    assert s.greeting[0].startswith(b"220 localhost ")
    lines = s.send(b"EHLO client.example\r\n")
    assert lines[0].startswith(b"250-localhost Hello")
    assert lines[1:] == [
        b"250-SIZE 1234",
        b"250-PIPELINING",
        b"250-8BITMIME",
        b"250 ENHANCEDSTATUSCODES",
    ]


def test_ehlo_offers_starttls_and_hides_auth_in_plaintext(tmp_path):
    """With a TLS context EHLO offers STARTTLS, and AUTH is not offered before TLS."""
    s = Session(tmp_path, tls=True)
    lines = s.send(b"EHLO c\r\n")
    assert b"250 STARTTLS" in lines
    assert not any(b"AUTH" in line for line in lines)


def test_message_stored_once_per_recipient(tmp_path):
    """Each recipient's Maildir gets one copy, dot-unstuffed, with trace headers, then 250."""
    s = Session(tmp_path)
    s.send(b"EHLO c\r\n")
    body = b"Subject: hi\r\n\r\n..leading dot\r\nbye\r\n"
    codes = deliver(s, (b"alice@example.com", b"Bob@Example.COM"), body)
    assert codes == [b"250", b"250", b"250", b"354", b"250"]
    for box in ("alice@example.com", "bob@example.com"):
        [msg] = s.stored(box)
        assert msg.startswith(b"Return-Path: <me@example.com>\nReceived: from c ([192.168.1.1])")
        assert msg.endswith(b"Subject: hi\n\n.leading dot\nbye\n")
        assert s.stored(box, "tmp") == []


def test_bare_recipient_gets_server_domain(tmp_path):
    """RCPT TO:<zoo> is stored in zoo@<hostname>, the mailbox a login as 'zoo' reads."""
    s = Session(tmp_path, Policy(hostname="mail.test"))
    assert deliver(s, (b"zoo",))[-1] == b"250"
    assert len(s.stored("zoo@mail.test")) == 1


def test_enhanced_status_codes(tmp_path):
    """Replies other than greeting, EHLO, 354 carry an RFC 3463 enhanced code."""
    s = Session(tmp_path)
    assert s.send(MAIL) == [b"250 2.0.0 Sender address accepted"]
    assert s.send(b"FOO\r\n") == [b"500 5.5.2 Command unrecognized"]
    assert s.send(b"NOOP\r\n") == [b"250 2.0.0 OK"]


def test_a_reply_is_built_once_and_shared(tmp_path, monkeypatch):
    """A reply sent before is the same bytes object again (built once, and one object
    in every transcript that keeps it); replies naming what a client sent, past 256
    bytes, or past the first 256 kept, are built anew, and read the same."""
    from zoo.mail import smtp

    monkeypatch.setattr(smtp, "_REPLIES", {})
    sent: list[bytes] = []
    a, b = Session(tmp_path / "a"), Session(tmp_path / "b")
    for s in (a, b):
        monkeypatch.setattr(s.proto, "_write", sent.append)
        s.proto.sendCode(250, b"OK")
    assert sent[0] == b"250 2.0.0 OK\r\n" and sent[0] is sent[1]
    long = b"x" * 300
    a.proto.sendCode(250, long)
    a.proto.sendCode(250, long)
    assert sent[2] == sent[3] == b"250 2.0.0 " + long + b"\r\n" and sent[2] is not sent[3]
    for i in range(300):
        a.proto.sendCode(250, b"n%d" % i)
    assert len(smtp._REPLIES) == smtp._REPLIES_KEPT
    a.proto.sendCode(250, b"two\nlines")
    assert sent[-1] == b"250-2.0.0 two\r\n250 lines\r\n"


@pytest.mark.parametrize("step", [1, 2, 3, 5, 7])
def test_body_split_anywhere(step):
    """The terminator and dot-stuffing are found however the DATA bytes are split."""
    raw = b"a\r\n..b\r\n.\r\nNEXT"
    body = Body(1000)
    rest = None
    for i in range(0, len(raw), step):
        rest = body.feed(raw[i : i + step])
        if rest is not None:
            rest += raw[i + step :]
            break
    assert rest == b"NEXT"
    assert body.message() == b"a\r\n.b\r\n"


def test_empty_message():
    """'.' right after DATA ends an empty message."""
    body = Body(10)
    assert body.feed(b".\r\nQUIT\r\n") == b"QUIT\r\n"
    assert body.message() == b""


def test_over_long_line_gets_500_and_buffer_is_cleared(tmp_path):
    """A 1 MB line without newline: one 500, the buffer stays under the cap, the session goes on."""
    s = Session(tmp_path, Policy(max_line=512))
    replies = []
    for _ in range(256):
        replies += s.send(b"x" * 4096)
        assert len(s.proto._unparsed) <= 512
    assert replies == [b"500 5.5.2 Line too long"]
    assert s.send(b"tail of the long line\r\nNOOP\r\n") == [b"250 2.0.0 OK"]


def test_over_long_line_with_newline(tmp_path):
    """A complete over-long line in one read gets 500 and the next command still works."""
    s = Session(tmp_path, Policy(max_line=100))
    assert s.codes(b"HELO " + b"a" * 200 + b"\r\nNOOP\r\n") == [b"500", b"250"]


def test_size_parameter_over_limit(tmp_path):
    """MAIL FROM with SIZE= over the limit gets 552."""
    s = Session(tmp_path, Policy(max_size=100))
    assert s.codes(b"MAIL FROM:<a@b> SIZE=101\r\n") == [b"552"]
    assert s.codes(b"MAIL FROM:<a@b> SIZE=100\r\n") == [b"250"]


def test_message_over_limit_is_refused_and_not_stored(tmp_path):
    """A body over --max-size gets 552 after the final dot, nothing is stored, memory stays small."""
    s = Session(tmp_path, Policy(max_size=1000))
    s.send(MAIL + b"RCPT TO:<alice@example.com>\r\nDATA\r\n")
    for _ in range(100):
        s.send(b"y" * 1000 + b"\r\n")
        assert s.proto._body.chunks == []
    assert s.codes(b".\r\n") == [b"552"]
    assert s.stored("alice@example.com") == []
    assert deliver(s)[-1] == b"250"


def test_too_many_recipients(tmp_path):
    """Past --max-recipients RCPT gets 452 and the accepted ones still get the message."""
    s = Session(tmp_path, Policy(max_recipients=2))
    codes = deliver(s, (b"a@x", b"b@x", b"c@x"))
    assert codes == [b"250", b"250", b"250", b"452", b"354", b"250"]
    assert s.store.mailboxes() == ["a@x", "b@x"]


def test_command_order_errors(tmp_path):
    """RCPT before MAIL and DATA without recipients get 503; a bad MAIL gets 501."""
    s = Session(tmp_path)
    assert s.codes(b"RCPT TO:<a@b>\r\n") == [b"503"]
    assert s.codes(b"DATA\r\n") == [b"503"]
    assert s.codes(b"MAIL TO:<a@b>\r\n") == [b"501"]


def test_sender_and_recipient_errors(tmp_path, monkeypatch):
    """A second MAIL gets 503, bad addresses 553 or 501, a validation crash 451; the session goes on."""
    s = Session(tmp_path)
    assert s.codes(b"EHLO me\r\n") == [b"250"]
    assert s.codes(b"MAIL FROM:<a@@b>\r\n") == [b"553"]
    assert s.codes(MAIL) == [b"250"]
    assert s.codes(MAIL) == [b"503"]
    assert s.codes(b"RCPT TO:<@@>\r\n") == [b"553"]
    assert s.codes(b"RCPT TO:<>\r\n") == [b"501"]
    assert s.codes(b"RCPT TO:<@x:>\r\n") == [b"550"]  # an empty address: SMTPBadRcpt

    def boom(user):
        raise RuntimeError("validation bug")

    monkeypatch.setattr(s.proto, "validateTo", boom)
    [reply] = s.send(b"RCPT TO:<b@x>\r\n")
    assert reply.startswith(b"451 4.3.0")
    monkeypatch.undo()
    # The first MAIL still stands (a second gets 503) and the transaction goes on.
    assert deliver(s, (b"c@x",)) == [b"503", b"250", b"354", b"250"]
    assert deliver(s, (b"c@x",)) == [b"250", b"250", b"354", b"250"]
    assert len(s.stored("c@x")) == 2 and len(s.stored("b@x")) == 0


class FailingStore(MaildirStore):
    """A store whose disk fills up after the first mailbox's copy is half written."""

    writes = 0

    def write_file(self, fd: int, data: bytes) -> None:
        self.writes += 1
        if self.writes >= 2:
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write_file(fd, data)


def test_disk_full_gives_451_and_leaves_nothing(tmp_path):
    """A failed write gets 451 and leaves no file in any mailbox's new/ or tmp/."""
    store = FailingStore(tmp_path / "mail", host="test")
    s = Session(tmp_path, writer=SyncWriter(store))
    replies = s.send(MAIL + b"RCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nhi\r\n.\r\n")
    assert replies[-1].startswith(b"451 4.3.0 ")
    for box in ("a@x", "b@x"):
        for sub in ("new", "tmp", "cur"):
            assert list((store.root / box / sub).iterdir()) == []
    assert s.codes(b"NOOP\r\n") == [b"250"]


class HeldWriter:
    """A writer whose deliveries finish when the test says so."""

    def __init__(self):
        self.pending: list[tuple[list[str], bytes, Deferred]] = []

    def deliver(self, mailboxes, data):
        d = Deferred()
        self.pending.append((mailboxes, data, d))
        return d


def test_pipelined_commands_wait_for_the_delivery(tmp_path):
    """Commands pipelined after the final dot are answered only after the message's 250."""
    writer = HeldWriter()
    s = Session(tmp_path, writer=writer)
    codes = s.codes(MAIL + b"RCPT TO:<a@x>\r\nDATA\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n")
    assert codes == [b"250", b"250", b"354"]
    assert s.transport.producerState == "paused"
    writer.pending[0][2].callback([])
    assert s.codes(b"") == [b"250", b"250", b"221"]


def test_client_not_reading_replies_stops_reads(tmp_path):
    """When replies pile up unread the server stops reading; it reads again once they drain."""
    s = Session(tmp_path)
    assert s.transport.producer is s.proto.gate and s.transport.streaming
    s.proto.gate.pauseProducing()  # what the transport does when its buffer is full
    assert s.transport.producerState == "paused"
    s.proto.gate.resumeProducing()
    assert s.transport.producerState == "producing"


def test_half_close_waits_for_the_reply(tmp_path):
    """A client that sends its message and shuts its side still gets the 250, then the close."""
    writer = HeldWriter()
    s = Session(tmp_path, writer=writer)
    s.codes(MAIL + b"RCPT TO:<a@x>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n")
    s.proto.readConnectionLost()
    assert not s.transport.disconnecting
    writer.pending[0][2].callback([])
    assert s.codes(b"") == [b"250", b"221"]
    assert s.transport.disconnecting


def test_idle_client_gets_421(tmp_path):
    """A client silent for the timeout gets 421 and is disconnected."""
    s = Session(tmp_path, Policy(timeout=30))
    s.clock.advance(31)
    assert s.take()[0].startswith(b"421")
    assert s.transport.disconnecting


def test_starttls_discards_pipelined_plaintext_and_resets(tmp_path):
    """Commands sent in the same packet after STARTTLS are dropped; HELO is forgotten."""
    s = Session(tmp_path, tls=True)
    replies = s.send(b"EHLO evil\r\nSTARTTLS\r\nMAIL FROM:<injected@x>\r\nRCPT TO:<a@x>\r\n")
    assert replies[-1] == b"220 2.0.0 Ready to start TLS"
    assert not any(r.startswith(b"250 2.0.0 Sender") for r in replies)
    assert s.transport.tls is not None
    assert s.proto.helo[0] is None and s.proto.mail_from is None and s.proto.rcpt_to == []
    # Later reads come through TLS and are served; MAIL works, nothing was injected.
    assert s.codes(b"RCPT TO:<a@x>\r\n") == [b"503"]
    lines = s.send(b"EHLO good\r\n")
    assert b"250 AUTH PLAIN LOGIN" in lines and not any(b"STARTTLS" in x for x in lines)
    assert s.codes(b"STARTTLS\r\n") == [b"503"]


def test_starttls_drops_a_partial_plaintext_line(tmp_path):
    """Half a command sent in plaintext after STARTTLS is not completed by what TLS brings."""
    s = Session(tmp_path, tls=True)
    s.send(b"EHLO evil\r\nSTARTTLS\r\nMAIL FROM:<injected@x")
    assert s.transport.tls is not None
    assert s.send(b">\r\n") == [b"500 5.5.2 Command unrecognized"]
    assert s.proto.mail_from is None


def test_auth_refused_in_plaintext(tmp_path):
    """AUTH before TLS gets 538 unless plaintext AUTH is allowed."""
    s = Session(tmp_path)
    assert s.codes(b"AUTH PLAIN " + encode_plain("alice@example.com", "secret") + b"\r\n") == [
        b"538"
    ]


def test_auth_plain_and_login(tmp_path):
    """AUTH PLAIN and LOGIN succeed with the right password and fail (535) with a wrong one."""
    s = Session(tmp_path, Policy(allow_plaintext_auth=True))
    assert s.codes(b"AUTH PLAIN " + encode_plain("alice@example.com", "wrong") + b"\r\n") == [
        b"535"
    ]
    assert s.send(b"AUTH LOGIN\r\n") == [b"334 " + base64.b64encode(b"Username:")]
    assert s.send(base64.b64encode(b"alice@example.com") + b"\r\n") == [
        b"334 " + base64.b64encode(b"Password:")
    ]
    assert s.codes(base64.b64encode(b"secret") + b"\r\n") == [b"235"]
    assert s.proto.user == "alice@example.com"


def test_malformed_auth_plain_is_a_failed_login(tmp_path):
    """A PLAIN response without two NULs, or not base64, fails cleanly and the session goes on."""
    s = Session(tmp_path, Policy(allow_plaintext_auth=True))
    assert s.codes(b"AUTH PLAIN " + base64.b64encode(b"nonuls") + b"\r\n") == [b"535"]
    assert s.codes(b"AUTH PLAIN !!!notbase64\r\n") == [b"501"]
    assert s.codes(b"NOOP\r\n") == [b"250"]


def test_auth_failures_disconnect(tmp_path):
    """Three failed AUTH attempts get 535, then 421 4.7.0, and the connection closes."""
    s = Session(tmp_path, Policy(allow_plaintext_auth=True))
    bad = b"AUTH PLAIN " + encode_plain("alice@example.com", "no") + b"\r\n"
    lines = s.send(bad * 3 + b"NOOP\r\n")
    assert [line[:3] for line in lines] == [b"535", b"535", b"535", b"421"]
    assert lines[-1].startswith(b"421 4.7.0 Too many authentication failures")
    assert s.transport.disconnecting


def test_failed_auth_answer_is_delayed_and_later_commands_wait(tmp_path):
    """A wrong AUTH is answered after the throttle's delay; a pipelined NOOP waits behind it."""
    s = Session(tmp_path, Policy(allow_plaintext_auth=True))
    s.proto.dataReceived(b"AUTH PLAIN " + encode_plain("alice@example.com", "no") + b"\r\nNOOP\r\n")
    s.clock.advance(0.099)
    assert s.take() == []
    s.clock.advance(0.002)
    assert [line[:3] for line in s.take()] == [b"535", b"250"]
    good = b"AUTH PLAIN " + encode_plain("alice@example.com", "secret") + b"\r\n"
    s.proto.dataReceived(good)  # the delay has run out: the right password goes through now
    assert [line[:3] for line in s.take()] == [b"235"]


def test_require_auth(tmp_path):
    """With require_auth MAIL gets 530 until AUTH succeeds."""
    s = Session(tmp_path, Policy(require_auth=True, allow_plaintext_auth=True), checker=any_login())
    assert s.codes(MAIL) == [b"530"]
    assert s.codes(b"AUTH PLAIN " + encode_plain("x", "y") + b"\r\n") == [b"235"]
    assert s.codes(MAIL) == [b"250"]


def test_require_tls(tmp_path):
    """With require_tls MAIL and AUTH get 530 before STARTTLS."""
    s = Session(tmp_path, Policy(require_tls=True, allow_plaintext_auth=True), tls=True)
    assert s.codes(MAIL) == [b"530"]
    assert s.codes(b"AUTH PLAIN " + encode_plain("x", "y") + b"\r\n") == [b"530"]
    s.send(b"STARTTLS\r\n")
    assert s.codes(MAIL) == [b"250"]


def test_stored_messages_are_logged_first_in_full_then_summed_up(tmp_path):
    """The first message is logged at once; those within the next second in one line."""
    from twisted.logger import formatEvent, globalLogPublisher

    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        s = Session(tmp_path)
        assert deliver(s)[-1] == b"250"
        lines = [formatEvent(e) for e in events if "stored" in e.get("log_format", "")]
        assert len(lines) == 1 and "from <me@example.com> for ['alice@example.com']" in lines[0]
        assert deliver(s)[-1] == b"250" and deliver(s)[-1] == b"250"
        assert len([e for e in events if "stored" in e.get("log_format", "")]) == 1
        s.clock.advance(1)
        lines = [formatEvent(e) for e in events if "stored" in e.get("log_format", "")]
        assert len(lines) == 2 and lines[1].startswith("stored 2 more messages (")
        s.clock.advance(5)  # nothing more stored: no empty summary
        assert deliver(s)[-1] == b"250"  # and the next one is logged in full again
        lines = [formatEvent(e) for e in events if "stored" in e.get("log_format", "")]
        assert len(lines) == 3 and "for ['alice@example.com']" in lines[2]
    finally:
        globalLogPublisher.removeObserver(events.append)


@pytest.mark.parametrize("word", [b"\xff\xfe", "MÄIL".encode(), b"HEL\x00O"])
def test_non_ascii_command_word_gets_500_and_session_continues(tmp_path, word):
    """A command word that is not ASCII gets 500 5.5.2; pipelined commands after it still run."""
    s = Session(tmp_path)
    assert s.send(b"EHLO a\r\n" + word + b" x\r\nNOOP\r\n")[-2:] == [
        b"500 5.5.2 Command unrecognized",
        b"250 2.0.0 OK",
    ]
    assert not s.transport.disconnecting
