"""zoo-imap: read the sink's Maildirs over IMAP4rev1 (twisted.mail's IMAP4 server).

Each login sees one folder, INBOX: the Maildir of the mailbox named by the user name
(see L{zoo.mail.creds}). Flags live in the Maildir file names (C{:2,FRST}), so they
survive restarts and other Maildir readers see them; UIDs and UIDVALIDITY are kept in
C{<maildir>/zoo-uids}. Messages are served with CRLF line ends.

Added to Twisted's C{IMAP4Server}: a Maildir-backed mailbox (Twisted only ships an
in-memory one); C{STARTTLS} through L{zoo.tls.start_tls} (pipelined plaintext
dropped); C{LOGINDISABLED} and no C{AUTHENTICATE} before TLS unless plaintext is
allowed; C{FETCH BODY[]} setting C{\\Seen} (Twisted leaves that to nobody) while
C{BODY.PEEK[]} does not; C{NOOP} and C{CHECK} reporting newly arrived mail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.cred import portal as _portal
from twisted.internet.interfaces import ISSLTransport, ITLSTransport
from twisted.mail import imap4
from twisted.mail.imap4 import LOGINCredentials, PLAINCredentials
from zope.interface import implementer

from zoo.flow import ReadGate
from zoo.mail._reader import QUEUE_FULL, ReaderFactory, queue_full
from zoo.mail.imapfolder import MaildirFolder
from zoo.mail.maildir import MaildirStore
from zoo.tls import StartTLSMixin, start_tls

PORT = 8143
MAX_LOGIN_FAILURES = 3


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

    def getFlags(self) -> list[str]:  # noqa: N802
        return ["\\HasNoChildren"]

    def getHierarchicalDelimiter(self) -> str:  # noqa: N802
        return "/"


@implementer(_portal.IRealm)
class IMAPRealm:
    """Avatar ids are mailbox names."""

    def __init__(self, store: MaildirStore, clock: Any) -> None:
        self.store = store
        self.clock = clock

    def requestAvatar(self, avatar_id: Any, mind: Any, *interfaces: Any) -> Any:  # noqa: N802
        if imap4.IAccount not in interfaces:
            raise NotImplementedError("only IMAP accounts here")
        return imap4.IAccount, Account(self.store.path(avatar_id), self.clock), lambda: None


class _IMAPBase(imap4.IMAP4Server):
    transport: Any
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
        self._failures = 0

    def connectionMade(self) -> None:  # noqa: N802
        self._secure = ISSLTransport.providedBy(self.transport)
        if self.ctx is not None and not ITLSTransport.providedBy(self.transport):
            self.ctx = None
        if self._auth_allowed():
            self._offer_auth()
        super().connectionMade()
        self.gate = ReadGate(self.transport).start()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.gate.ready()
        super().dataReceived(data)
        self.gate.hold(QUEUE_FULL, queue_full(self.blocked))

    def _unblock(self) -> None:
        self.gate.take()  # a FETCH borrowed it; the queued commands may FETCH again
        super()._unblock()
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

    def do_STARTTLS(self, tag: bytes) -> None:  # noqa: N802
        if self._secure or self.ctx is None:
            self.sendNegativeResponse(tag, b"TLS not available now")
            return
        self.sendPositiveResponse(tag, b"Begin TLS negotiation now")
        start_tls(self, self.ctx)
        self.startedTLS = self._secure = True
        self.blocked = None
        self._offer_auth()

    unauth_STARTTLS = (do_STARTTLS,)  # type: ignore[assignment]

    def authenticateLogin(self, user: bytes, passwd: bytes) -> Any:  # noqa: N802
        d = super().authenticateLogin(user, passwd)
        d.addErrback(self._login_failed)
        return d

    def _login_failed(self, failure: Any) -> Any:
        self._failures += 1
        if self._failures >= MAX_LOGIN_FAILURES:
            # After Twisted has sent the NO for this attempt.
            self.callLater(0, self.transport.loseConnection)
        return failure

    def _cbSelectWork(self, mbox: Any, cmd: bytes, tag: bytes) -> None:  # noqa: N802
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

    def lineLengthExceeded(self, line: bytes) -> None:  # noqa: N802
        self.clearLineBuffer()
        self.sendLine(b"* BYE Line too long")
        self.transport.loseConnection()

    def do_NOOP(self, tag: bytes) -> None:  # noqa: N802
        if self.mbox is not None:
            self.mbox.notify()
        self.sendPositiveResponse(tag, b"NOOP completed")

    unauth_NOOP = (do_NOOP,)  # type: ignore[assignment]
    auth_NOOP = unauth_NOOP  # type: ignore[assignment]
    select_NOOP = unauth_NOOP  # type: ignore[assignment]
    logout_NOOP = unauth_NOOP  # type: ignore[assignment]

    def do_CHECK(self, tag: bytes) -> None:  # noqa: N802
        self.do_NOOP(tag)

    select_CHECK = (do_CHECK,)  # type: ignore[assignment]

    def do_FETCH(self, tag: bytes, messages: Any, query: Any, uid: int = 0) -> None:  # noqa: N802
        if self.mbox.isWriteable() and any(_reads_body(part) for part in query):
            self.mbox.store(messages, ["\\Seen"], 1, uid)
        self.gate.lend()  # bodies are sent by Twisted's FileProducer
        super().do_FETCH(tag, messages, query, uid)

    select_FETCH = (  # type: ignore[assignment]
        do_FETCH,
        imap4.IMAP4Server.arg_seqset,
        imap4.IMAP4Server.arg_fetchatt,
    )


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

    def realm(self) -> IMAPRealm:
        return IMAPRealm(self.store, self.clock)
