"""zoo-imap in memory: STARTTLS, login rules, Maildir flags and UIDs (no sockets)."""

from __future__ import annotations

import base64
from pathlib import Path

from mailfakes import TLSStringTransport, mail_users, settle
from twisted.internet.task import Clock

from zoo.mail.imap import IMAPFactory
from zoo.mail.imapfolder import Account
from zoo.mail.maildir import MaildirStore


class Session:
    def __init__(self, tmp_path: Path, plaintext=False):
        self.store = MaildirStore(tmp_path / "mail", host="t")
        self.store.write(["a@x"], b"Subject: one\r\n\r\nbody one\r\n")
        self.store.write(["a@x"], b"Subject: two\r\n\r\nbody two\r\n")
        self.clock = Clock()
        factory = IMAPFactory(
            self.store,
            mail_users({"a@x": "pw"}),
            starttls=object(),
            allow_plaintext_auth=plaintext,
            clock=self.clock,
        )
        self.transport = TLSStringTransport()
        self.proto = factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)
        self.take()

    def second(self) -> Session:
        """Another connection to the same server (same factory, store and clock)."""
        other = Session.__new__(Session)
        other.__dict__.update(self.__dict__)
        other.transport = TLSStringTransport()
        other.proto = self.proto.factory.buildProtocol(None)
        other.proto.makeConnection(other.transport)
        other.take()
        return other

    def take(self):
        out = self.transport.value().split(b"\r\n")[:-1]
        self.transport.clear()
        return out

    def send(self, data: bytes):
        self.proto.dataReceived(data)
        settle(self.proto, self.clock)
        return self.take()


def test_login_disabled_before_starttls(tmp_path):
    """Before TLS: LOGINDISABLED, no AUTH=, and LOGIN is refused."""
    s = Session(tmp_path)
    caps = s.send(b"a CAPABILITY\r\n")[0]
    assert b"LOGINDISABLED" in caps and b"STARTTLS" in caps and b"AUTH=" not in caps
    assert s.send(b"b LOGIN a@x pw\r\n")[0].startswith(b"b BAD")


def test_starttls_discards_pipelined_login(tmp_path):
    """A LOGIN pipelined after STARTTLS in the same packet is never run."""
    s = Session(tmp_path)
    replies = s.send(b"a STARTTLS\r\nb LOGIN a@x pw\r\n")
    assert replies == [b"a OK Begin TLS negotiation now"]
    assert s.transport.tls is not None and s.proto.state == "unauth"
    caps = s.send(b"c CAPABILITY\r\n")[0]
    assert b"AUTH=PLAIN" in caps and b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps


def test_select_reports_uidnext_and_fetch_marks_seen(tmp_path):
    """SELECT sends UIDNEXT and PERMANENTFLAGS; BODY[] sets \\Seen, BODY.PEEK[] does not."""
    s = Session(tmp_path, plaintext=True)
    assert s.send(b"a LOGIN a@x pw\r\n")[-1].startswith(b"a OK")
    select = s.send(b"b SELECT INBOX\r\n")
    assert b"* 2 EXISTS" in select and b"* 2 RECENT" in select
    assert b"* OK [UIDNEXT 3] predicted next UID" in select
    assert any(line.startswith(b"* OK [PERMANENTFLAGS (") for line in select)
    s.send(b"c FETCH 1 (BODY.PEEK[])\r\n")
    assert s.send(b"d FETCH 1 (FLAGS)\r\n")[0] == b"* 1 FETCH (FLAGS (\\Recent))"
    s.send(b"e FETCH 1 (BODY[TEXT])\r\n")
    assert s.send(b"f FETCH 1 (FLAGS)\r\n")[0] == b"* 1 FETCH (FLAGS (\\Seen \\Recent))"


def test_over_long_line_closes(tmp_path):
    """A line over the limit gets BYE and the connection closes."""
    s = Session(tmp_path)
    assert s.send(b"x" * 70000) == [b"* BYE Line too long"]
    assert s.transport.disconnecting


def restart():
    """Forget the in-process folder states, as a restarted server would."""
    from zoo.mail import imapfolder

    imapfolder._states.clear()


def test_flags_and_uids_persist_in_the_maildir(tmp_path):
    """Flags become Maildir info letters; UIDs and UIDVALIDITY survive a restart."""
    s = Session(tmp_path)
    clock = Clock()
    clock.advance(1234)
    restart()
    folder = Account(s.store.path("a@x"), clock).folder("INBOX")
    assert list(folder.entries) == [1, 2] and len(folder.unclaimed_recent) == 2
    folder.set_flags(2, frozenset({"\\Seen", "\\Flagged"}))
    assert folder.entries[2].path.name.endswith(":2,FS")
    s.store.write(["a@x"], b"Subject: three\r\n\r\n")
    restart()
    again = Account(s.store.path("a@x"), clock).folder("INBOX")
    assert list(again.entries) == [1, 2, 3]
    assert again.uidvalidity == 1234 and again.unclaimed_recent == {3}
    assert again.entries[2].flags == {"\\Seen", "\\Flagged"}
    again.remove([1])
    restart()
    third = Account(s.store.path("a@x"), clock).folder("INBOX")
    assert list(third.entries) == [2, 3] and third.uidnext == 4 and third.uidvalidity == 1234


def test_failed_logins_disconnect(tmp_path):
    """Three wrong passwords each get NO, then the connection closes."""
    s = Session(tmp_path, plaintext=True)
    for tag in (b"a", b"b"):
        assert s.send(tag + b" LOGIN a@x wrong\r\n") == [tag + b" NO LOGIN failed"]
    assert s.send(b"c LOGIN a@x wrong\r\nd LOGIN a@x pw\r\n") == [
        b"c NO LOGIN failed",
        b"* BYE Too many failed logins",
    ]
    assert s.transport.disconnecting


def test_authenticate_failures_count_too(tmp_path):
    """AUTHENTICATE PLAIN failures count toward the limit like LOGIN's."""
    s = Session(tmp_path, plaintext=True)
    plain = base64.b64encode(b"\0a@x\0wrong") + b"\r\n"
    for tag in (b"a", b"b", b"c"):
        assert s.send(tag + b" AUTHENTICATE PLAIN\r\n") == [b"+ "]
        assert s.send(plain)[0].startswith(tag + b" NO Authentication failed")
    assert s.transport.disconnecting


def test_failed_login_delayed_and_pipelined_commands_wait(tmp_path):
    """A wrong LOGIN is answered after the throttle's delay; a pipelined command waits behind it."""
    s = Session(tmp_path, plaintext=True)
    s.proto.dataReceived(b"a LOGIN a@x wrong\r\nb LOGIN a@x pw\r\n")
    s.clock.advance(0.099)
    assert s.take() == []
    s.clock.advance(0.002)
    assert s.take() == [b"a NO LOGIN failed", b"b OK LOGIN succeeded"]


def test_unread_replies_stop_reading(tmp_path):
    """The server is its transport's producer: when replies back up unread it stops reading."""
    s = Session(tmp_path, plaintext=True)
    assert s.transport.producer is s.proto.gate
    s.proto.gate.pauseProducing()
    assert s.transport.producerState == "paused"
    s.proto.gate.resumeProducing()
    assert s.transport.producerState == "producing"
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    assert s.send(b"c FETCH 1 (BODY[])\r\n")[-1] == b"c OK FETCH completed"
    assert s.transport.producer is s.proto.gate  # lent to the body producer, then taken back


def test_8bit_command_lines_get_bad_and_no_traceback(tmp_path):
    """8-bit command names, tags and mailbox names get a short BAD, no Python text, no traceback."""
    from twisted.logger import globalLogPublisher

    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        s = Session(tmp_path, plaintext=True)
        assert s.send(b"a1 \xc3\xa9LOGIN x y\r\n") == [b"a1 BAD Unknown command"]
        assert s.send(b"\xff\xfe NOOP\r\n") == [b"* BAD Command tag is not 7-bit ASCII"]
        assert s.send(b"a2 LOGIN a@x pw\r\n") == [b"a2 OK LOGIN succeeded"]
        assert s.send(b"a2 SELECT INBOX\r\n")[-1].startswith(b"a2 OK")
        for line in (b"a3 SELECT \xff\r\n", b"a3 STATUS \xc3\xa9 (MESSAGES)\r\n",
                     b"a3 UID COPY 1 \xff\r\n"):  # fmt: skip
            assert s.send(line) == [b"a3 BAD Mailbox names are 7-bit (modified UTF-7)"]
        assert s.send(b"a4 NOOP\r\n")[-1] == b"a4 OK NOOP completed"
        assert not s.transport.disconnecting
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert not [e for e in logged if e.get("log_failure") or e.get("isError")]


def test_bad_search_and_fetch_items_get_short_bad_and_no_traceback(tmp_path):
    """Unknown or unevaluable SEARCH keys and FETCH items: a short BAD, no traceback logged."""
    from twisted.logger import globalLogPublisher

    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        s = Session(tmp_path, plaintext=True)
        s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
        for key in (b"BOGUS", b"LARGER x", b"\xff\xfe", b"UID x", b"SINCE 1-Foo-2000"):
            assert s.send(b"c SEARCH " + key + b"\r\n") == [
                b"c BAD SEARCH key not supported or malformed"
            ]
        assert s.send(b"d FETCH 1 (\xff)\r\n") == [b"d BAD Illegal syntax: unknown FETCH data item"]
        assert s.send(b"e SEARCH ALL\r\n") == [b"* SEARCH 1 2", b"e OK SEARCH completed"]
        assert s.send(b"f UID SEARCH 2\r\n")[-1] == b"f OK SEARCH completed"
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert not [e for e in logged if e.get("log_failure") or e.get("isError")]
