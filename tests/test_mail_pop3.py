"""zoo-pop3 in memory: STLS, login rules, APOP, limits and deletion (no sockets)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mailfakes import TLSStringTransport, mail_users, settle
from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from zoo.mail.maildir import MaildirStore
from zoo.mail.pop3 import POP3Factory


def run_now(iterator):
    """A synchronous stand-in for task.coiterate."""
    for _ in iterator:
        pass
    return succeed(None)


class Session:
    def __init__(self, tmp_path: Path, tls=True, plaintext=False):
        self.store = MaildirStore(tmp_path / "mail", host="t")
        self.store.write(["a@x"], b"Subject: one\r\n\r\n.dot\r\n")
        self.store.write(["a@x"], b"Subject: two\r\n\r\nbody\r\n")
        factory = POP3Factory(
            self.store,
            mail_users({"a@x": "pw"}),
            starttls=object() if tls else None,
            allow_plaintext_auth=plaintext,
            clock=(clock := Clock()),
            scheduler=run_now,
        )
        self.clock = clock
        self.transport = TLSStringTransport()
        self.proto = factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)
        self.greeting = self.take()[0]

    def take(self):
        out = self.transport.value().split(b"\r\n")[:-1]
        self.transport.clear()
        return out

    def send(self, data: bytes):
        self.proto.dataReceived(data)
        settle(self.proto, self.clock)
        self.pump()
        return self.take()

    def pump(self):
        """Run RETR/TOP's FileSender (the transport's producer while it sends) to its end."""
        while self.transport.producer not in (None, self.proto.gate):
            self.transport.producer.resumeProducing()


def test_capa_before_and_after_stls(tmp_path):
    """CAPA offers STLS and not USER in plaintext; after STLS it offers USER and not STLS."""
    s = Session(tmp_path)
    caps = s.send(b"CAPA\r\n")
    assert b"STLS" in caps and b"USER" not in caps and b"PIPELINING" in caps
    assert s.send(b"STLS\r\n") == [b"+OK Begin TLS negotiation"]
    caps = s.send(b"CAPA\r\n")
    assert b"USER" in caps and b"STLS" not in caps


def test_user_refused_in_plaintext(tmp_path):
    """USER before STLS gets -ERR [AUTH] unless plaintext passwords are allowed."""
    assert Session(tmp_path / "1").send(b"USER a@x\r\n")[0].startswith(b"-ERR [AUTH]")
    assert Session(tmp_path / "2", plaintext=True).send(b"USER a@x\r\n")[0].startswith(b"+OK")


def test_stls_discards_pipelined_plaintext(tmp_path):
    """USER/PASS pipelined after STLS in one packet are dropped, not run after TLS starts."""
    s = Session(tmp_path)
    replies = s.send(b"STLS\r\nUSER a@x\r\nPASS pw\r\n")
    assert replies == [b"+OK Begin TLS negotiation"]
    assert s.transport.tls is not None and s.proto.mbox is None
    assert s.send(b"PASS pw\r\n")[0].startswith(b"-ERR USER required")


def test_login_list_retr_dele(tmp_path):
    """After login LIST gives CRLF sizes, RETR dot-stuffs, DELE+QUIT removes the file."""
    s = Session(tmp_path, plaintext=True)
    s.send(b"USER a@x\r\n")
    assert s.send(b"PASS pw\r\n")[0].startswith(b"+OK")
    assert s.send(b"LIST\r\n")[1:3] == [b"1 22", b"2 22"]
    retr = s.send(b"RETR 1\r\n")
    assert retr == [b"+OK 22", b"Subject: one", b"", b"..dot", b"."]
    assert s.send(b"DELE 1\r\n")[0].startswith(b"+OK")
    assert s.send(b"RETR 1\r\n")[0].startswith(b"-ERR")
    s.send(b"QUIT\r\n")
    assert len(list((s.store.root / "a@x" / "new").iterdir())) == 1


def test_apop_works(tmp_path):
    """APOP with the right digest logs in (Twisted's own APOP check always fails on Python 3)."""
    s = Session(tmp_path)
    magic = s.greeting.split(b" ", 1)[1]
    digest = hashlib.md5(magic + b"pw").hexdigest().encode()
    assert s.send(b"APOP a@x " + digest + b"\r\n")[0].startswith(b"+OK")


def test_wrong_apop_is_throttled_like_pass(tmp_path):
    """A wrong APOP digest is a failed login: answered after the throttle's delay, and counted."""
    s = Session(tmp_path)
    magic = s.greeting.split(b" ", 1)[1]
    wrong = hashlib.md5(magic + b"nope").hexdigest().encode()
    s.proto.dataReceived(b"APOP a@x " + wrong + b"\r\n")
    s.clock.advance(0.099)
    assert s.take() == []
    s.clock.advance(0.002)
    assert s.take()[0].startswith(b"-ERR")
    assert s.proto._guard.failures == 1


def test_bad_commands_and_failures(tmp_path):
    """Unknown commands and bad arguments get -ERR; three failed logins close the connection."""
    s = Session(tmp_path, plaintext=True)
    assert s.send(b"FROB\r\n")[0].startswith(b"-ERR")
    assert s.send(b"STAT\r\n")[0].startswith(b"-ERR")
    assert s.send(b"USER\r\n") == [b"-ERR Syntax error"]
    replies = s.send(b"USER a@x\r\nPASS no\r\n" * 3 + b"USER a@x\r\nPASS pw\r\n")
    assert replies[1::2] == [b"-ERR Authentication failed"] * 2 + [
        b"-ERR [AUTH] Too many failed logins; closing"
    ]
    assert len(replies) == 6 and s.transport.disconnecting  # the pipelined PASS is dropped


def test_failed_pass_delayed_and_pipelined_commands_wait(tmp_path):
    """A wrong PASS is answered after the throttle's delay; commands pipelined behind it wait."""
    s = Session(tmp_path, plaintext=True)
    s.proto.dataReceived(b"USER a@x\r\nPASS no\r\nUSER a@x\r\nPASS pw\r\nSTAT\r\n")
    assert s.take() == [b"+OK USER accepted, send PASS"]
    s.clock.advance(0.099)
    assert s.take() == []
    s.clock.advance(0.002)
    replies = s.take()
    assert replies[:3] == [
        b"-ERR Authentication failed",
        b"+OK USER accepted, send PASS",
        b"+OK Authentication succeeded",
    ]
    assert replies[3].startswith(b"+OK 2 ") and len(replies) == 4


def test_commands_queued_behind_a_transfer_are_bounded(tmp_path):
    """Commands pipelined during an unread RETR: reading stops at 100 queued, resumes after."""
    s = Session(tmp_path, plaintext=True)
    s.send(b"USER a@x\r\nPASS pw\r\n")
    s.proto.dataReceived(b"RETR 1\r\n" + b"NOOP\r\n" * 150)  # the transfer is not pumped
    assert s.transport.producer is not s.proto.gate  # lent to the FileSender
    assert s.transport.producerState == "paused"
    s.pump()
    replies = s.take()
    assert replies.count(b"+OK ") == 150 and s.transport.producer is s.proto.gate
    assert s.transport.producerState == "producing"


def test_unread_replies_stop_reading(tmp_path):
    """When replies back up unread (the transport pauses us), the server stops reading."""
    s = Session(tmp_path)
    assert s.transport.producer is s.proto.gate
    s.proto.gate.pauseProducing()
    assert s.transport.producerState == "paused"
    s.proto.gate.resumeProducing()
    assert s.transport.producerState == "producing"


def test_over_long_line_closes(tmp_path):
    """A line over 1024 bytes gets -ERR and the connection is closed (memory stays bounded)."""
    s = Session(tmp_path)
    assert s.send(b"x" * 5000) == [b"-ERR Line too long"]
    assert s.transport.disconnecting


def test_client_gone_mid_retr_closes_the_file_and_logs_nothing(tmp_path):
    """A client lost during RETR: the message file is closed and no error is logged."""
    from twisted.logger import globalLogPublisher

    s = Session(tmp_path, plaintext=True)
    s.send(b"USER a@x\r\nPASS pw\r\n")
    s.proto.dataReceived(b"RETR 1\r\n")
    sender = s.transport.producer
    assert sender is not s.proto and not sender.file.closed  # the transfer is under way
    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        sender.stopProducing()  # what the transport does when the connection resets
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert sender.file.closed
    assert not [e for e in logged if e.get("log_failure") or e.get("isError")]


def test_finished_retr_closes_the_file(tmp_path):
    """A RETR sent to the end closes its message file."""
    s = Session(tmp_path, plaintext=True)
    s.send(b"USER a@x\r\nPASS pw\r\n")
    s.proto.dataReceived(b"RETR 2\r\n")
    message = s.transport.producer.file
    s.pump()
    assert s.take()[-1] == b"."
    assert message.closed
