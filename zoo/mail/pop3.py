"""zoo-pop3: read the sink's Maildirs over POP3 (twisted.mail's server, plus STLS).

A login opens the mailbox named by the user name (see L{zoo.cred}); the
message list is fixed at login, as RFC 1939 requires, and C{DELE}eted messages are
removed from disk at C{QUIT}. Sizes are the CRLF sizes recorded in the file names.

Added to Twisted's C{POP3}: C{STLS} (RFC 2595) through L{zoo.tls.start_tls}, which
drops plaintext pipelined after it and forgets any C{USER}; APOP that works on Python 3
(Twisted's never succeeds: it compares C{str} with C{bytes}); C{USER}/C{PASS} refused
before TLS unless plaintext passwords are allowed; a C{CAPA} that tells the truth
(C{PIPELINING}, not Twisted's misspelt C{PIPELINE}); an over-long line gets C{-ERR}
and the connection closes. Logins (USER/PASS, APOP, AUTH) go through
L{zoo.cred.LoginGuard}: throttled per address, later commands held until the answer,
and after C{--max-login-attempts} failures C{-ERR [AUTH] Too many failed logins}
and the connection closes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.cred import portal as _portal
from twisted.cred.error import LoginFailed
from twisted.internet import task
from twisted.internet.interfaces import ISSLTransport, ITLSTransport
from twisted.logger import Logger
from twisted.mail import pop3
from twisted.protocols import basic
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo._twisted.lines import clear_line_buffer
from zoo._twisted.mail import POP3Adapter
from zoo.faults.hook import at
from zoo.faults.model import registry as fault_registry
from zoo.flow import ReadGate
from zoo.mail._reader import QUEUE_FULL, ReaderFactory, queue_full
from zoo.mail.maildir import MaildirStore, arrival_order, wire_size
from zoo.policies import command_done
from zoo.tls import StartTLSMixin, start_tls

log = Logger()

PORT = 8110


def maildir_messages(path: Path) -> list[Path]:
    """The messages of the Maildir at C{path} (cur/ and new/), oldest first."""
    found: list[Path] = []
    for sub in ("cur", "new"):
        try:
            found += [p for p in (path / sub).iterdir() if not p.name.startswith(".")]
        except FileNotFoundError:
            pass
    return sorted(found, key=arrival_order)


@implementer(pop3.IMailbox)
class MaildirPOP3Mailbox:
    """A snapshot of one Maildir for one POP3 session."""

    def __init__(self, path: Path, on_deleted: Callable[[list[Path]], None] | None = None) -> None:
        self.on_deleted = on_deleted
        self.files = maildir_messages(path)
        self.sizes = [wire_size(p) for p in self.files]
        self.deleted: set[int] = set()

    def _check(self, i: int) -> None:
        if i < 0 or i >= len(self.files) or i in self.deleted:
            raise ValueError(f"no message {i + 1}")

    def listMessages(self, i: int | None = None) -> Any:
        if i is None:
            return [0 if n in self.deleted else s for n, s in enumerate(self.sizes)]
        self._check(i)
        return self.sizes[i]

    def getMessage(self, i: int) -> Any:
        self._check(i)
        return self.files[i].open("rb")

    def getUidl(self, i: int) -> bytes:
        self._check(i)
        return self.files[i].name.split(":", 1)[0].encode("ascii", "replace")

    def deleteMessage(self, i: int) -> None:
        self._check(i)
        self.deleted.add(i)

    def undeleteMessages(self) -> None:
        self.deleted.clear()

    def sync(self) -> None:
        gone = []
        for i in sorted(self.deleted):
            try:
                self.files[i].unlink()
                gone.append(self.files[i])
            except FileNotFoundError:
                pass  # already gone (deleted over IMAP meanwhile)
        self.deleted.clear()
        if gone and self.on_deleted is not None:
            self.on_deleted(gone)


@implementer(_portal.IRealm)
class POP3Realm:
    """Avatar ids are mailbox names; each login gets a fresh snapshot of that Maildir."""

    def __init__(
        self, store: MaildirStore, on_deleted: Callable[[list[Path]], None] | None = None
    ) -> None:
        self.store = store
        self.on_deleted = on_deleted

    def requestAvatar(self, avatar_id: Any, mind: Any, *interfaces: Any) -> Any:
        if pop3.IMailbox not in interfaces:
            raise NotImplementedError("only POP3 mailboxes here")
        mailbox = MaildirPOP3Mailbox(self.store.path(avatar_id), self.on_deleted)
        return pop3.IMailbox, mailbox, lambda: None


class APOPCredentials(pop3.APOPCredentials):
    """APOP that can succeed on Python 3.

    Twisted's C{checkPassword} compares C{md5(...).hexdigest()} (a C{str}) with the
    client's digest (C{bytes}), so every APOP login fails.
    """

    def checkPassword(self, password: bytes) -> bool:
        want = hashlib.md5(self.magic + password).hexdigest().encode()
        return hmac.compare_digest(want, self.digest.lower())


class _POP3Base(POP3Adapter):
    transport: Any
    blocked: Any  # Twisted's queue of commands behind a long reply (None when empty)
    portal: Any
    factory: Any
    timeOut: Any
    callLater: Any
    schedule: Any
    AUTH_CMDS = [*pop3.POP3.AUTH_CMDS, b"STLS"]
    MAX_LENGTH = 1024

    def __init__(self, factory: ReaderFactory) -> None:
        self.factory = factory
        self.portal = factory.portal
        self.ctx = factory.starttls
        self.timeOut = factory.timeout
        self.callLater = factory.clock.callLater
        self.schedule = factory.scheduler or task.coiterate
        self._secure = False
        self._can_stls = False

    def connectionMade(self) -> None:
        self._secure = ISSLTransport.providedBy(self.transport)
        self._can_stls = self.ctx is not None and ITLSTransport.providedBy(self.transport)
        self._guard = self.factory.logins.guard(self.transport)
        self.portal = self._guard  # Twisted's USER/PASS and AUTH call portal.login
        super().connectionMade()
        self.gate = ReadGate(self.transport).start()

    def connectionLost(self, reason: Any = None) -> None:
        if hasattr(self, "_guard"):
            self._guard.close()
        super().connectionLost(reason)

    def processCommand(self, command: bytes, *args: bytes) -> Any:
        if fault_registry.points and self.blocked is None:  # (a held command: when it runs)
            name = command.decode("latin-1")
            arg = b" ".join(args).decode("latin-1")
            hit = at(self.transport, "pop3", name, mailbox=arg, user=self._guard.user)
            if hit is not None:
                hit.perform(self.transport, self._fault_reply)
                return None
        result = super().processCommand(command, *args)
        self._hold_for_login()
        return result

    def _fault_reply(self, value: str | None) -> None:
        text = (value or "").removeprefix("-ERR").strip() or "Fault injected by zoo"
        self.failResponse(text.encode("utf-8", "replace"))

    def state_AUTH(self, line: bytes) -> None:
        super().state_AUTH(line)
        self._hold_for_login()

    def _hold_for_login(self) -> None:
        """While a login is checked (or its failure delayed), hold the commands behind it."""
        if self._guard.pending is not None and self.blocked is None:
            self.blocked = []
            self._guard.pending.addBoth(self._login_answered)

    def _login_answered(self, result: Any) -> None:
        if self.transport.disconnecting:
            return  # too many failures: the commands behind are dropped
        self.run_held_commands()

    def dataReceived(self, data: bytes) -> None:
        self.gate.ready()
        super().dataReceived(data)
        self.gate.hold(QUEUE_FULL, queue_full(self.blocked))

    def run_held_commands(self) -> None:
        super().run_held_commands()
        self.gate.hold(QUEUE_FULL, queue_full(self.blocked))

    def long_operation(self, d: Any) -> Any:
        # Take the producer slot back before queued commands run (they may RETR).
        d.addBoth(self._take_back)
        return super().long_operation(d)

    def _take_back(self, result: Any) -> Any:
        self.gate.take()
        return result

    def send_message_content(self, i: Any, wrapper: Any, response: Any) -> Any:
        """Twisted's, with the message file closed however the transfer ends.

        Twisted never closes the file, and when the client goes away mid-transfer it
        logs the sender's "Consumer asked us to stop producing" as an unexpected error.
        """
        self.gate.lend()  # FileSender sends the message

        def send(info: Any) -> Any:
            if info is None:  # the failure reply was sent already
                return None
            size, fp = info
            self.highest_retrieved = max(self.highest_retrieved, int(i))
            self.successResponse(response(size))
            sent = basic.FileSender().beginFileTransfer(
                wrapper(fp), self.transport, self.transformChunk
            )
            sent.addCallbacks(self._sent, self._not_sent)
            sent.addBoth(_closing, fp)
            return sent

        return self.long_operation(self.message_file(i).addCallback(send))

    def _sent(self, last: bytes) -> None:
        self.sendLine(b"." if last == b"\n" else b"\r\n.")

    def _not_sent(self, reason: Failure) -> None:
        # The sender fails with a bare Exception when its consumer stops it: the client
        # went away. Anything else (a read error) is ours and worth a traceback.
        if reason.check(OSError):
            log.failure("POP3: cannot read a message", reason)
        self.transport.loseConnection()

    def _auth_allowed(self) -> bool:
        return self._secure or self.factory.allow_plaintext_auth

    def listCapabilities(self) -> list[bytes]:
        caps = [b"TOP", b"UIDL", b"PIPELINING", b"RESP-CODES", b"IMPLEMENTATION zoo"]
        if self._auth_allowed():
            caps.append(b"USER")
        if self._can_stls and not self._secure:
            caps.append(b"STLS")
        return caps

    def lineReceived(self, line: bytes) -> None:
        command_done(self.transport)
        super().lineReceived(line)

    def command_timed_out(self) -> None:
        """The shared command deadline passed in the middle of a command line."""
        self.failResponse(b"Command line not finished in time")
        self.transport.loseConnection()

    def state_COMMAND(self, line: bytes) -> Any:
        try:
            return self.processCommand(*line.split(b" "))
        except pop3.POP3Error as e:
            self.failResponse(b"".join(e.args))
        except (ValueError, TypeError):
            self.failResponse(b"Syntax error")
        return None

    def lineLengthExceeded(self, line: bytes) -> None:
        clear_line_buffer(self)
        self.failResponse(b"Line too long")
        self.transport.loseConnection()

    def do_STLS(self) -> None:
        if self.mbox is not None or self._secure or not self._can_stls:
            self.failResponse(b"STLS not available now")
            return
        self.successResponse(b"Begin TLS negotiation")
        start_tls(self, self.ctx)
        self._secure = True
        self.forget_user()
        self.blocked = None

    def do_USER(self, user: bytes) -> None:
        if not self._auth_allowed():
            self.failResponse(b"[AUTH] Plaintext passwords are refused here; use STLS first")
            return
        super().do_USER(user)

    def authenticateUserAPOP(self, user: bytes, digest: bytes) -> Any:
        return self.portal.login(APOPCredentials(self.magic, user, digest), None, pop3.IMailbox)

    def mailbox_refused(self, failure: Failure) -> None:
        if not (self._guard.exhausted and failure.check(LoginFailed)):
            return super().mailbox_refused(failure)
        self.failResponse(b"[AUTH] Too many failed logins; closing")
        self.transport.loseConnection()
        return None


def _closing(result: Any, fp: Any) -> Any:
    fp.close()
    return result


class ZooPOP3(StartTLSMixin, _POP3Base):
    """The zoo-pop3 protocol: L{_POP3Base} with pipelined plaintext dropped at STLS."""


class POP3Factory(ReaderFactory):
    """Builds L{ZooPOP3} connections over the Maildirs of C{store}."""

    protocol = ZooPOP3
    service = "pop3"

    def realm(self) -> POP3Realm:
        return POP3Realm(self.store, self.report_deleted)
