"""zoo-imap: read the sink's Maildirs over IMAP4rev1 (twisted.mail's IMAP4 server).

Each login sees one folder, INBOX: the Maildir of the mailbox named by the user name
(see L{zoo.cred}). Flags live in the Maildir file names (C{:2,FRST}), so they
survive restarts and other Maildir readers see them; UIDs and UIDVALIDITY are kept in
C{<maildir>/zoo-uids}. Messages are served with CRLF line ends.

Added to Twisted's C{IMAP4Server}: a Maildir-backed mailbox (Twisted only ships an
in-memory one); C{STARTTLS} through L{zoo.tls.start_tls} (pipelined plaintext
dropped); C{LOGINDISABLED} and no C{AUTHENTICATE} before TLS unless plaintext is
allowed; C{FETCH BODY[]} setting C{\\Seen} (Twisted leaves that to nobody) while
C{BODY.PEEK[]} does not; C{NOOP} and C{CHECK} reporting newly arrived mail; LOGIN
and AUTHENTICATE through L{zoo.cred.LoginGuard} (throttled per address, later commands
held until the answer, C{* BYE} and close after C{--max-login-attempts} failures).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from twisted.cred import portal as _portal
from twisted.internet.interfaces import ISSLTransport, ITLSTransport
from twisted.logger import Logger
from twisted.mail import imap4
from twisted.mail.imap4 import LOGINCredentials, PLAINCredentials
from zope.interface import implementer

from zoo._twisted.mail import IMAP4ServerAdapter
from zoo.flow import ReadGate
from zoo.mail._reader import QUEUE_FULL, ReaderFactory, queue_full
from zoo.mail.imapfolder import MaildirFolder
from zoo.mail.maildir import MaildirStore
from zoo.policies import command_done
from zoo.tls import StartTLSMixin, start_tls

log = Logger()

PORT = 8143


@implementer(imap4.IAccount, imap4.INamespacePresenter)
class Account(imap4.MemoryAccount):
    """One login's view: a single folder, INBOX, over the login's Maildir."""

    def __init__(self, path: Path, clock: Any) -> None:
        super().__init__(path.name)
        self.path = path
        self.clock = clock
        self.mailboxes = {"INBOX": _Info()}  # type: ignore[assignment]

    def select(self, name: Any, readwrite: bool = True) -> MaildirFolder | None:
        if _mbox(name) != "INBOX":
            return None
        return MaildirFolder(self.path, self.clock, rw=bool(readwrite))

    def create(self, pathspec: Any) -> bool:
        raise imap4.MailboxException("only INBOX exists here")

    def delete(self, name: Any) -> None:
        raise imap4.MailboxException("only INBOX exists here")

    def rename(self, oldname: Any, newname: Any) -> None:
        raise imap4.MailboxException("only INBOX exists here")


def _mbox(name: Any) -> str:
    return (name.decode() if isinstance(name, bytes) else name).upper()


@implementer(imap4.IMailboxInfo)
class _Info:
    """What LIST says about INBOX."""

    def getFlags(self) -> list[str]:
        return ["\\HasNoChildren"]

    def getHierarchicalDelimiter(self) -> str:
        return "/"


@implementer(_portal.IRealm)
class IMAPRealm:
    """Avatar ids are mailbox names."""

    def __init__(self, store: MaildirStore, clock: Any) -> None:
        self.store = store
        self.clock = clock

    def requestAvatar(self, avatar_id: Any, mind: Any, *interfaces: Any) -> Any:
        if imap4.IAccount not in interfaces:
            raise NotImplementedError("only IMAP accounts here")
        return imap4.IAccount, Account(self.store.path(avatar_id), self.clock), lambda: None


class _IMAPBase(IMAP4ServerAdapter):
    transport: Any
    blocked: Any  # Twisted's queue of commands behind a long reply (None when empty)
    portal: Any
    mbox: Any
    challengers: Any
    timeOut: Any
    POSTAUTH_TIMEOUT: Any
    callLater: Any
    MAX_LENGTH = 8192

    def __init__(self, factory: ReaderFactory) -> None:
        super().__init__({}, factory.starttls, factory.scheduler)
        self.factory = factory
        self.portal = factory.portal
        self.timeOut = factory.timeout or 0
        self.POSTAUTH_TIMEOUT = factory.timeout or 0
        self.callLater = factory.clock.callLater
        self._secure = False

    def connectionMade(self) -> None:
        self._guard = self.factory.logins.guard(self.transport)
        self.portal = self._guard  # Twisted's LOGIN and AUTHENTICATE call portal.login
        self._secure = ISSLTransport.providedBy(self.transport)
        if self.ctx is not None and not ITLSTransport.providedBy(self.transport):
            self.ctx = None
        if self._auth_allowed():
            self._offer_auth()
        super().connectionMade()
        self.gate = ReadGate(self.transport).start()

    def dataReceived(self, data: bytes) -> None:
        self.gate.ready()
        super().dataReceived(data)
        self.gate.hold(QUEUE_FULL, queue_full(self.blocked))

    def run_held_commands(self) -> None:
        self.gate.take()  # a FETCH borrowed it; the queued commands may FETCH again
        super().run_held_commands()
        self.gate.hold(QUEUE_FULL, queue_full(self.blocked))

    def _auth_allowed(self) -> bool:
        return self._secure or self.factory.allow_plaintext_auth

    def _offer_auth(self) -> None:
        self.challengers = {b"PLAIN": PLAINCredentials, b"LOGIN": LOGINCredentials}

    def capabilities(self) -> dict[bytes, Any]:
        cap: dict[bytes, Any] = {}
        if not self._auth_allowed():
            cap[b"LOGINDISABLED"] = None
        else:
            cap[b"AUTH"] = list(self.challengers)
        if self.ctx is not None and not self._secure:
            cap[b"STARTTLS"] = None
        cap[b"NAMESPACE"] = None
        cap[b"IDLE"] = None
        cap[b"UIDPLUS"] = None
        return cap

    def do_STARTTLS(self, tag: bytes) -> None:
        if self._secure or self.ctx is None:
            self.sendNegativeResponse(tag, b"TLS not available now")
            return
        self.sendPositiveResponse(tag, b"Begin TLS negotiation now")
        start_tls(self, self.ctx)
        self.startedTLS = self._secure = True
        self.blocked = None
        self._offer_auth()

    unauth_STARTTLS = (do_STARTTLS,)  # type: ignore[assignment]

    def connectionLost(self, reason: Any = None) -> None:
        if hasattr(self, "_guard"):
            self._guard.close()
        super().connectionLost(reason)

    def lineReceived(self, line: bytes) -> None:
        # Twisted answers an exception with "* BAD Server error: <Python's text>" and a
        # logged traceback; 8-bit bytes on a command line are the client's error.
        command_done(self.transport)
        if self.blocked is None and self.parseState == "command" and not line.isascii():
            refusal = _refuse_8bit(line)
            if refusal is not None:
                self.sendLine(refusal)
                return
        super().lineReceived(line)
        if self._guard.pending is not None:
            if self.blocked is None:
                # A login is being checked (or its failure delayed): hold later commands.
                self.blocked = []
                self._guard.pending.addBoth(self._login_answered)
        elif self._guard.exhausted:
            self._too_many_failures()

    def _login_answered(self, result: Any) -> None:
        if self.transport.disconnecting:
            return
        if self._guard.exhausted:
            self._too_many_failures()
            return
        self.run_held_commands()

    def _too_many_failures(self) -> None:
        """After the tagged NO: say goodbye and close (RFC 3501 7.1.5)."""
        if not self.transport.disconnecting:
            self.sendLine(b"* BYE Too many failed logins")
            self.transport.loseConnection()

    def mailbox_selected(self, mbox: Any, cmd: bytes, tag: bytes) -> None:
        """SELECT/EXAMINE with all RFC 3501 responses (Twisted omits UIDNEXT and friends)."""
        if mbox is None:
            self.sendNegativeResponse(tag, b"No such mailbox")
            return
        flags = " ".join(mbox.getFlags()).encode()
        self.sendUntaggedResponse(b"FLAGS (" + flags + b")")
        self.sendUntaggedResponse(b"%d EXISTS" % mbox.getMessageCount())
        self.sendUntaggedResponse(b"%d RECENT" % mbox.getRecentCount())
        unseen = mbox.first_unseen()
        if unseen:
            self.sendUntaggedResponse(b"OK [UNSEEN %d] first unseen" % unseen)
        permanent = flags if mbox.isWriteable() else b""
        self.sendUntaggedResponse(b"OK [PERMANENTFLAGS (" + permanent + b")] flags kept")
        self.sendUntaggedResponse(b"OK [UIDVALIDITY %d] UIDs valid" % mbox.getUIDValidity())
        self.sendUntaggedResponse(b"OK [UIDNEXT %d] predicted next UID" % mbox.getUIDNext())
        mode = b"READ-WRITE" if mbox.isWriteable() else b"READ-ONLY"
        mbox.addListener(self)
        self.sendPositiveResponse(tag, b"[" + mode + b"] " + cmd + b" completed")
        self.state = "select"
        self.mbox = mbox

    def command_timed_out(self) -> None:
        """The shared command deadline passed in the middle of a command."""
        self.sendLine(b"* BYE Command not finished in time")
        self.transport.loseConnection()

    def lineLengthExceeded(self, line: bytes) -> None:
        self.clearLineBuffer()
        self.sendLine(b"* BYE Line too long")
        self.transport.loseConnection()

    def do_NOOP(self, tag: bytes) -> None:
        if self.mbox is not None:
            self.mbox.notify()
        self.sendPositiveResponse(tag, b"NOOP completed")

    unauth_NOOP = (do_NOOP,)  # type: ignore[assignment]
    auth_NOOP = unauth_NOOP  # type: ignore[assignment]
    select_NOOP = unauth_NOOP  # type: ignore[assignment]
    logout_NOOP = unauth_NOOP  # type: ignore[assignment]

    def do_CHECK(self, tag: bytes) -> None:
        self.do_NOOP(tag)

    select_CHECK = (do_CHECK,)  # type: ignore[assignment]

    def do_FETCH(self, tag: bytes, messages: Any, query: Any, uid: int = 0) -> None:
        if self.mbox.isWriteable() and any(_reads_body(part) for part in query):
            self.mbox.store(messages, ["\\Seen"], 1, uid)
        self.gate.lend()  # bodies are sent by Twisted's FileProducer
        super().do_FETCH(tag, messages, query, uid)

    def arg_fetch_items(self, line: bytes) -> Any:
        """Twisted's FETCH item parser, with an unknown item a syntax error (a short BAD).

        Twisted's raises a bare C{Exception}, answered with "Server error" and
        Python's text, and a logged traceback.
        """
        try:
            return imap4.IMAP4Server.arg_fetchatt(self, line)
        except imap4.IllegalClientResponse:
            raise
        except Exception:
            raise imap4.IllegalClientResponse("unknown FETCH data item") from None

    select_FETCH = (  # type: ignore[assignment]
        do_FETCH,
        imap4.IMAP4Server.arg_seqset,
        arg_fetch_items,
    )

    def do_SEARCH(self, tag: bytes, charset: Any, query: Any, uid: int = 0) -> None:
        """Twisted's search over the Maildir, with a key it cannot evaluate one short BAD.

        Twisted answers an unknown key, C{LARGER x}, and on Python 3 its text and date
        keys (C{SUBJECT}, C{FROM}, C{BEFORE} ...: it compares C{str} with C{bytes})
        with Python's error text and logs a traceback.
        """
        messages = self.mbox.fetch(imap4.parseIdList(b"1:*"), uid=uid)
        last_seq = messages[-1][0] if messages else 0
        last_uid = messages[-1][1].getUID() if messages else 0
        found = []
        try:
            for seq, msg in messages:
                if self.search_matches(copy.deepcopy(query), seq, msg, last_seq, last_uid):
                    found.append(b"%d" % (msg.getUID() if uid else seq))
        except Exception as e:
            log.info("imap: SEARCH not evaluated: {error}", error=f"{type(e).__name__}: {e}")
            self.sendBadResponse(tag, b"SEARCH key not supported or malformed")
            return
        if found:
            self.sendUntaggedResponse(b"SEARCH " + b" ".join(found))
        self.sendPositiveResponse(tag, b"SEARCH completed")

    select_SEARCH = (  # type: ignore[assignment]
        do_SEARCH,
        imap4.IMAP4Server.opt_charset,
        imap4.IMAP4Server.arg_searchkeys,
    )


# Commands whose arguments include a mailbox name, which IMAP4rev1 writes in 7-bit
# modified UTF-7 (RFC 3501 5.1.3).
_MAILBOX_COMMANDS = {b"SELECT", b"EXAMINE", b"CREATE", b"DELETE", b"RENAME", b"SUBSCRIBE"}
_MAILBOX_COMMANDS |= {b"UNSUBSCRIBE", b"LIST", b"LSUB", b"STATUS", b"APPEND", b"COPY"}


def _refuse_8bit(line: bytes) -> bytes | None:
    """The BAD reply for a command line with 8-bit bytes where IMAP allows none, else C{None}.

    The tag and the command name are ASCII atoms, and so are mailbox names. Other
    arguments (a quoted password, a SEARCH string) are left to the command.
    """
    words = line.split(None, 2)
    tag = words[0] if words else b""
    if not tag.isascii():
        return b"* BAD Command tag is not 7-bit ASCII"
    command = words[1] if len(words) > 1 else b""
    if not command.isascii():
        return tag + b" BAD Unknown command"
    if command.upper() in _MAILBOX_COMMANDS:
        return tag + b" BAD Mailbox names are 7-bit (modified UTF-7)"
    if command.upper() == b"UID" and len(words) > 2 and words[2][:4].upper() == b"COPY":
        return tag + b" BAD Mailbox names are 7-bit (modified UTF-7)"
    return None


def _reads_body(part: Any) -> bool:
    """Does this FETCH item mark the message read (RFC 3501 6.4.5)?"""
    if part.type in ("rfc822", "rfc822text"):
        return True
    if part.type != "body" or part.peek:
        return False
    return bool(part.header or part.text or part.mime or part.empty or part.part)


class ZooIMAP(StartTLSMixin, _IMAPBase):
    """The zoo-imap protocol: L{_IMAPBase} with pipelined plaintext dropped at STARTTLS."""


class IMAPFactory(ReaderFactory):
    """Builds L{ZooIMAP} connections over the Maildirs of C{store}."""

    protocol = ZooIMAP
    service = "imap"

    def realm(self) -> IMAPRealm:
        return IMAPRealm(self.store, self.clock)
