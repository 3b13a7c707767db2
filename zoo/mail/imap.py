"""zoo-imap: the zoo-smtp Maildirs over IMAP4rev1, with folders, IDLE, MOVE and UIDPLUS.

zoo's own IMAP core (L{zoo.mail.imapcore}: parser and state machine, no I/O; the
folders in L{zoo.mail.imapfolder}, MIME in L{zoo.mail.imapmime}) behind the thin
Twisted protocol L{ZooIMAP} here. The protocol frames bytes into commands
(L{zoo.mail.imapwire.Framer}), runs one command at a time, writes each reply as the
client reads it (the L{zoo.flow.ReadGate} stops reading, and the reply generator
stops, while the client's receive buffer is full), checks passwords through
L{zoo.cred.LoginGuard} (throttled, C{* BYE} after C{--max-login-attempts}
failures), starts TLS through L{zoo.tls.start_tls} (pipelined plaintext dropped),
and polls the selected folder during IDLE.

Why not Twisted's C{IMAP4Server}: on Python 3 its APPEND, SEARCH (dates, text keys),
flag case handling, listener bookkeeping and BODYSTRUCTURE fail in ways a client
meets at once (see docs/protocols/mail.rst), and IDLE, MOVE, UIDPLUS, LITERAL+,
folders on disk would all have been added around its private parser. Owning the
core made every one of those a plain function of bytes in, bytes out.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.cred import portal as _portal
from twisted.cred.credentials import UsernamePassword
from twisted.internet.interfaces import ISSLTransport, ITLSTransport
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from zope.interface import Interface, implementer

from zoo.faults.hook import at
from zoo.faults.model import registry as fault_registry
from zoo.flow import ReadGate
from zoo.mail._reader import MAX_QUEUED, QUEUE_FULL, ReaderFactory
from zoo.mail.imapcore import Idle, IMAPSession, Login, Logout, ReadLine, StartTLS
from zoo.mail.imapfolder import Account
from zoo.mail.imapwire import Framer, TooLong
from zoo.mail.maildir import MaildirStore
from zoo.policies import command_deadline_off, command_done
from zoo.tls import start_tls

log = Logger()

PORT = 8143
#: How often an idling client's folder is looked at (seconds).
IDLE_POLL = 0.25
#: The idle timeout while in IDLE (RFC 3501 5.4: at least 30 minutes).
IDLE_TIMEOUT = 31 * 60.0

__all__ = ["PORT", "Account", "IMAPFactory", "IMAPRealm", "IMailAccount", "ZooIMAP"]


class IMailAccount(Interface):
    """The avatar interface of zoo-imap: a L{zoo.mail.imapfolder.Account}."""


@implementer(_portal.IRealm)
class IMAPRealm:
    """Avatar ids are mailbox names; the avatar is the login's folders."""

    def __init__(self, store: MaildirStore, clock: Any, on_deleted: Any = None) -> None:
        self.store = store
        self.clock = clock
        self.on_deleted = on_deleted

    def requestAvatar(self, avatar_id: Any, mind: Any, *interfaces: Any) -> Any:
        if IMailAccount not in interfaces:
            raise NotImplementedError("only IMAP accounts here")
        name = avatar_id.decode() if isinstance(avatar_id, bytes) else avatar_id
        account = Account(self.store.path(name), self.clock, self.on_deleted)
        return IMailAccount, account, lambda: None


class ZooIMAP(Protocol, TimeoutMixin):
    """One IMAP connection: framing, flow control, logins and TLS around L{IMAPSession}."""

    transport: Any

    def __init__(self, factory: IMAPFactory) -> None:
        self.factory = factory
        self.framer = Framer()
        self.queue: deque[Any] = deque()
        self.current: Any = None
        self.value: Any = None
        self.awaiting: str | None = None
        self.backed_up = False
        self._running = False
        self._poll: Any = None
        self.ctx = factory.starttls

    @property
    def state(self) -> str:
        """The session's state: C{unauth}, C{auth}, C{select} or C{logout}."""
        return self.session.state

    def connectionMade(self) -> None:
        self._guard = self.factory.logins.guard(self.transport)
        secure = ISSLTransport.providedBy(self.transport)
        if self.ctx is not None and not ITLSTransport.providedBy(self.transport):
            self.ctx = None
        self.session = IMAPSession(
            tls=self.ctx is not None,
            secure=secure,
            allow_plaintext=self.factory.allow_plaintext_auth,
        )
        self.gate = ReadGate(self.transport).start()
        self.gate.on_backed_up = self._backed_up
        self.callLater = self.factory.clock.callLater  # type: ignore[method-assign]
        self.setTimeout(self.factory.timeout)
        self.transport.write(self.session.greeting())

    # -- input -------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self.gate.ready()
        self.resetTimeout()
        try:
            commands, go_ahead = self.framer.feed(data)
        except TooLong:
            self.transport.write(b"* BYE Line too long\r\n")
            self.transport.loseConnection()
            return
        if self.framer.need:
            command_deadline_off(self.transport)
        elif commands:
            command_done(self.transport)
        for _ in range(go_ahead):
            self.transport.write(b"+ Ready for literal data\r\n")
        self.queue.extend(commands)
        self._run()
        self.gate.hold(QUEUE_FULL, len(self.queue) >= MAX_QUEUED)

    def clearLineBuffer(self) -> bytes:
        """Drop what was received but not run (L{zoo.tls.start_tls} calls this)."""
        self.framer.clear()
        self.queue.clear()
        return b""

    # -- running commands ----------------------------------------------------------------

    def _run(self) -> None:
        if self._running:
            return
        self._running = True
        try:
            while not self.transport.disconnecting:
                if self.awaiting == "login" or self.backed_up:
                    return
                if self.current is None:
                    if not self.queue:
                        return
                    command = self.queue.popleft()
                    if fault_registry.points and self._faulted(command):
                        continue
                    self.current = self.session.handle(command)
                    self.value = None
                elif self.awaiting in ("line", "idle"):
                    if not self.queue:
                        return
                    self.value = self.queue.popleft().line
                    self.awaiting = None
                self._step()
        finally:
            self._running = False
            if not self.transport.disconnecting:
                self.gate.hold(QUEUE_FULL, len(self.queue) >= MAX_QUEUED)

    def _faulted(self, command: Any) -> bool:
        """Whether a fault at C{imap:NAME} (L{zoo.faults.hook}) answers this command."""
        words = command.line.split(b" ", 2)
        if len(words) < 2:
            return False
        tag, name = words[0], words[1].upper()
        rest = words[2] if len(words) > 2 else b""
        if name == b"UID" and rest:  # UID FETCH is imap:FETCH
            name, _, rest = rest.partition(b" ")
        arg = rest.decode("latin-1")
        hit = at(self.transport, "imap", name.decode("latin-1"), mailbox=arg, user=self._guard.user)
        if hit is None:
            return False
        hit.perform(self.transport, lambda value: self._fault_reply(tag, value))
        return True

    def _fault_reply(self, tag: bytes, value: str | None) -> None:
        word, _, text = (value or "NO").partition(" ")
        if word.upper() not in ("NO", "BAD"):
            word, text = "NO", value or ""
        message = text or "Fault injected by zoo"
        self.transport.write(tag + f" {word.upper()} {message}\r\n".encode("utf-8", "replace"))

    def _step(self) -> None:
        try:
            item = self.current.send(self.value)
        except StopIteration:
            self.current = None
            if self._guard.exhausted:
                self._too_many_failures()
            return
        except Exception:  # a bug in the core: log it, tell the client in IMAP's words
            log.failure("imap: command failed")
            self.current = None
            self.transport.write(b"* BYE Internal server error\r\n")
            self.transport.loseConnection()
            return
        self.value = None
        if isinstance(item, bytes):
            self.transport.write(item)
        elif isinstance(item, Login):
            self._login(item)
        elif isinstance(item, ReadLine):
            self.awaiting = "line"
        elif isinstance(item, Idle):
            self.awaiting = "idle"
            self.setTimeout(IDLE_TIMEOUT)
            if self._poll is None or not self._poll.active():
                self._poll = self.factory.clock.callLater(IDLE_POLL, self._idle_poll)
        elif isinstance(item, StartTLS):
            start_tls(self, self.ctx)
        elif isinstance(item, Logout):
            self.current = None
            self.transport.loseConnection()

    def _idle_poll(self) -> None:
        self._poll = None
        if self.awaiting != "idle" or self.transport.disconnecting:
            if self.awaiting != "idle":
                self.setTimeout(self.factory.timeout)
            return
        self.awaiting = None
        self.value = None
        self._step()  # the folder's news, then Idle again (which polls again)
        self._run()

    def _login(self, effect: Login) -> None:
        self.awaiting = "login"
        creds = UsernamePassword(effect.user, effect.password)
        d = self._guard.login(creds, None, IMailAccount)

        def answered(result: Any) -> None:
            if self.transport.disconnecting or self.current is None:
                return
            self.awaiting = None
            self.value = result[1] if isinstance(result, tuple) else None
            self._step()
            self._run()

        d.addCallbacks(answered, lambda failure: answered(None))

    def _backed_up(self, backed_up: bool) -> None:
        self.backed_up = backed_up
        if not backed_up:
            self._run()

    def _too_many_failures(self) -> None:
        """After the tagged NO: say goodbye and close (RFC 3501 7.1.5)."""
        if not self.transport.disconnecting:
            self.transport.write(b"* BYE Too many failed logins\r\n")
            self.transport.loseConnection()

    # -- endings ---------------------------------------------------------------------------

    def timeoutConnection(self) -> None:
        self.transport.write(b"* BYE Autologout; idle for too long\r\n")
        self.transport.loseConnection()

    def command_timed_out(self) -> None:
        """The shared command deadline passed in the middle of a command."""
        self.transport.write(b"* BYE Command not finished in time\r\n")
        self.transport.loseConnection()

    def connectionLost(self, reason: Any = None) -> None:
        self.setTimeout(None)
        if self._poll is not None and self._poll.active():
            self._poll.cancel()
        self._guard.close()
        self.current = None
        self.queue.clear()
        self.session.view = None


class IMAPFactory(ReaderFactory):
    """Builds L{ZooIMAP} connections over the Maildirs of C{store}."""

    protocol = ZooIMAP
    service = "imap"

    def realm(self) -> IMAPRealm:
        return IMAPRealm(self.store, self.clock, self.report_deleted)
