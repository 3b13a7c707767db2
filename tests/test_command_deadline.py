"""The shared command deadline (zoo.policies): a trickling client cannot hold a slot."""

from __future__ import annotations

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import LineOnlyReceiver
from twisted.protocols.policies import ProtocolWrapper
from twisted.trial.unittest import SynchronousTestCase

from zoo.policies import ZooPolicyFactory, command_deadline_off, command_done

ADDR = IPv4Address("TCP", "127.0.0.1", 5)


class _Lines(LineOnlyReceiver):
    """A line protocol that reports each complete line, and a BODY line starts a body."""

    def lineReceived(self, line: bytes) -> None:
        command_done(self.transport)
        if line == b"BODY":
            command_deadline_off(self.transport)


class _Polite(_Lines):
    """Says goodbye in its own words when the deadline passes."""

    def command_timed_out(self) -> None:
        self.transport.write(b"421 too slow\r\n")
        self.transport.loseConnection()


def wrap(factory, clock: Clock, command_timeout: float | None = 10, idle: float = 300):
    """C{factory} behind the policy layer, started, with one connection over a StringTransport."""
    f = ZooPolicyFactory(factory, idle_timeout=idle, command_timeout=command_timeout, clock=clock)
    f.doStart()
    p = f.buildProtocol(ADDR)
    t = StringTransport(peerAddress=ADDR, hostAddress=ADDR)
    p.makeConnection(t)
    return f, p, t


def connect(protocol: type, clock: Clock, command_timeout: float | None = 10, idle: float = 300):
    return wrap(Factory.forProtocol(protocol), clock, command_timeout, idle)


def trickle(p, clock: Clock, data: bytes, every: float = 2.0) -> None:
    for byte in data:
        clock.advance(every)
        p.dataReceived(bytes([byte]))


class CommandDeadlineTests(SynchronousTestCase):
    def test_trickler_is_closed_in_the_protocols_words(self) -> None:
        """A byte every 2 s never completing a line: closed after the deadline, with the reply."""
        clock = Clock()
        _, p, t = connect(_Polite, clock)
        trickle(p, clock, b"HELO slow", every=2)  # 18 s: the idle timeout never fires
        self.assertEqual(t.value(), b"421 too slow\r\n")
        self.assertTrue(t.disconnecting)

    def test_not_before_the_deadline(self) -> None:
        """A line that is still arriving before the deadline is left alone."""
        clock = Clock()
        _, p, t = connect(_Polite, clock)
        trickle(p, clock, b"HELO", every=2)  # 8 s of a 10 s deadline
        self.assertFalse(t.disconnecting)

    def test_without_words_the_connection_just_closes(self) -> None:
        """A protocol with no command_timed_out is closed without a reply."""
        clock = Clock()
        _, p, t = connect(_Lines, clock)
        trickle(p, clock, b"HELO slow", every=2)
        self.assertEqual(t.value(), b"")
        self.assertTrue(t.disconnecting)

    def test_complete_commands_restart_the_clock(self) -> None:
        """A client finishing each command in time stays, however long the session."""
        clock = Clock()
        _, p, t = connect(_Polite, clock)
        for _ in range(10):  # 10 commands of 6 s each: 60 s, six deadlines
            trickle(p, clock, b"NO\r\n", every=1.5)
        self.assertFalse(t.disconnecting)

    def test_waiting_between_commands_is_not_the_deadline(self) -> None:
        """No partial command, no clock: a silent client is the idle timeout's business."""
        clock = Clock()
        _, p, t = connect(_Polite, clock, idle=60)
        p.dataReceived(b"NOOP\r\n")
        clock.advance(50)
        self.assertFalse(t.disconnecting)

    def test_body_is_exempt_until_the_next_command(self) -> None:
        """After command_deadline_off (a message body) slow data is allowed; then it runs again."""
        clock = Clock()
        _, p, t = connect(_Polite, clock)
        p.dataReceived(b"BODY\r\n")
        trickle(p, clock, b"a slow body line", every=2)  # 32 s
        self.assertFalse(t.disconnecting)
        p.dataReceived(b"\r\nEND\r\n")  # back to commands
        trickle(p, clock, b"HELO slow", every=2)
        self.assertTrue(t.disconnecting)

    def test_no_deadline_configured(self) -> None:
        """Without a command timeout (echo, the TLS tunnel) the clock never runs."""
        clock = Clock()
        _, p, t = connect(_Polite, clock, command_timeout=None)
        trickle(p, clock, b"HELO very slow", every=2)
        self.assertFalse(t.disconnecting)

    def test_command_done_through_a_tls_layer(self) -> None:
        """command_done finds the policy wrapper under an implicit-TLS ProtocolWrapper."""
        clock = Clock()
        _, p, t = connect(_Polite, clock)
        layer = ProtocolWrapper(None, None)  # what the TLS layer is to the protocol
        layer.transport = p
        p.dataReceived(b"X")
        self.assertEqual(p.command_sweeps, 0)
        command_done(layer)
        self.assertIsNone(p.command_sweeps)


# -- each protocol's words, through the real policy layer -------------------------------


def _smtp(tmp_path):
    from mailfakes import any_login

    from zoo.mail.maildir import MaildirStore, SyncWriter
    from zoo.mail.smtp import Policy, SMTPFactory

    return SMTPFactory(
        SyncWriter(MaildirStore(tmp_path / "m")), any_login(), Policy(), clock=Clock()
    )


def _reader(factory_class, tmp_path):
    from mailfakes import any_login

    from zoo.mail.maildir import MaildirStore

    return factory_class(MaildirStore(tmp_path / "m"), any_login(), starttls=None, clock=Clock())


def _ftp(tmp_path):
    from twisted.internet.testing import MemoryReactorClock

    from zoo.ftp import FTPConfig, FTPFactory

    (tmp_path / "ftp").mkdir()
    return FTPFactory(FTPConfig(root=tmp_path / "ftp"), MemoryReactorClock())


def _xmlrpc(tmp_path):
    from twisted.internet.testing import MemoryReactorClock

    from zoo.xmlrpc import book_methods, make_site

    return make_site(book_methods(), access_log=False, reactor=MemoryReactorClock())


def _lancelot(tmp_path):
    from zoo.lancelot import LancelotFactory

    return LancelotFactory()


def _pop3(tmp_path):
    from zoo.mail.pop3 import POP3Factory

    return _reader(POP3Factory, tmp_path)


def _imap(tmp_path):
    from zoo.mail.imap import IMAPFactory

    return _reader(IMAPFactory, tmp_path)


@pytest.mark.parametrize(
    "make, partial, words",
    [
        (_smtp, b"HELO slow", b"421 4.4.2 localhost Error: timeout exceeded\r\n"),
        (_ftp, b"USER slow", b"421 Command line not finished in time; closing.\r\n"),
        (_pop3, b"USER slow", b"-ERR Command line not finished in time\r\n"),
        (_imap, b"a1 LOGIN slow", b"* BYE Command not finished in time\r\n"),
        (_xmlrpc, b"POST /RPC2 HTTP/1.1\r\nHost: x", b"HTTP/1.1 408 Request Timeout\r\n"),
        (_lancelot, b"What is your na", b"Error: question not finished in time."),
    ],
    ids=["smtp", "ftp", "pop3", "imap", "xmlrpc", "lancelot"],
)
def test_trickler_gets_the_protocols_words(tmp_path, make, partial, words) -> None:
    """A client trickling a byte every 2 s gets its protocol's timeout reply, then the close."""
    clock = Clock()
    f, p, t = wrap(make(tmp_path), clock)
    t.clear()  # the greeting
    trickle(p, clock, partial[:4], every=2)
    assert not t.disconnecting
    trickle(p, clock, partial[4:], every=2)
    assert t.value().startswith(words), t.value()
    assert t.disconnecting
    f.doStop()


def test_smtp_message_body_is_not_cut(tmp_path) -> None:
    """An SMTP body sent slowly for longer than the deadline is stored; the next command is timed."""
    clock = Clock()
    f, p, t = wrap(_smtp(tmp_path), clock)
    p.dataReceived(b"HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
    t.clear()
    trickle(p, clock, b"Subject: slow\r\n\r\n" + b"a slow body\r\n", every=2)  # 60 s
    p.dataReceived(b".\r\n")
    assert t.value().startswith(b"250"), t.value()
    assert not t.disconnecting
    trickle(p, clock, b"NOOP slowly", every=2)
    assert b"421 4.4.2" in t.value() and t.disconnecting
    f.doStop()


def test_command_timeout_option() -> None:
    """--command-timeout: each service's default, a chosen value, 0 for none; echo has none."""
    from twisted.python import usage

    from zoo.tap import echo, lancelot

    o = lancelot.Options()
    o.parseOptions([])
    assert o["command-timeout"] == lancelot.Options.default_command_timeout == 60.0
    o = lancelot.Options()
    o.parseOptions(["--command-timeout", "5"])
    assert o["command-timeout"] == 5.0
    o = echo.Options()
    o.parseOptions(["--command-timeout", "0"])
    assert o["command-timeout"] is None
    with pytest.raises(usage.UsageError, match="has no commands"):
        echo.Options().parseOptions(["--command-timeout", "5"])


def test_build_passes_the_deadline_to_the_policy_layer() -> None:
    """listener_group() gives the listeners' policy factory the service's command timeout."""
    from zoo.lancelot import LancelotFactory
    from zoo.tap import lancelot
    from zoo.tap._service import listener_group

    o = lancelot.Options()
    o.parseOptions(["--port", "0", "--command-timeout", "7"])
    assert listener_group(o, LancelotFactory()).factory.command_timeout == 7.0


def test_ssh_deadline_covers_the_key_exchange_only(tmp_path) -> None:
    """SSH: a trickled version line is closed at the deadline; once user auth starts it is off."""
    from test_ssh import _factory

    from zoo.ssh.transport import ZooUserAuthServer

    clock = Clock()
    f, p, t = wrap(_factory(tmp_path), clock)
    trickle(p, clock, b"SSH-2.0-slow", every=2)
    assert t.disconnecting
    p = f.buildProtocol(ADDR)
    p.makeConnection(StringTransport(peerAddress=ADDR, hostAddress=ADDR))
    p.dataReceived(b"SSH-2.0-")  # the clock runs ...
    auth = ZooUserAuthServer()
    auth.transport = p.wrappedProtocol
    auth.serviceStarted()  # ... until the key exchange is done and user auth starts
    assert p.command_sweeps == -1
    f.doStop()
