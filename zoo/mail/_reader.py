"""What zoo-pop3 and zoo-imap connections share: Maildirs, logins, TLS, timeouts."""

from __future__ import annotations

from typing import Any

from twisted.cred import portal as _portal
from twisted.internet.protocol import ServerFactory

from zoo.mail.maildir import MaildirStore


class ReaderFactory(ServerFactory):
    """Base factory of the mail-reading services; subclasses set C{protocol} and L{realm}.

    @param store: the Maildirs (L{zoo.mail.maildir.MaildirStore}).
    @param checker: who may log in (L{zoo.mail.creds}).
    @param starttls: the TLS context for STLS/STARTTLS, or C{None} not to offer it.
    @param allow_plaintext_auth: accept passwords before TLS.
    @param timeout: seconds of silence before the server hangs up (C{None}: never).
    @param clock: an C{IReactorTime} (timeouts, UIDVALIDITY).
    @param scheduler: runs the iterators that send message bodies (the reactor's
        cooperator by default; tests pass a synchronous one).
    """

    noisy = False
    protocol: Any

    def __init__(
        self,
        store: MaildirStore,
        checker: Any,
        starttls: Any = None,
        allow_plaintext_auth: bool = False,
        timeout: float | None = 300.0,
        clock: Any = None,
        scheduler: Any = None,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.store = store
        self.starttls = starttls
        self.allow_plaintext_auth = allow_plaintext_auth
        self.timeout = timeout
        self.clock = clock
        self.scheduler = scheduler
        self.portal = _portal.Portal(self.realm(), [checker])

    def realm(self) -> Any:
        """The cred realm turning a mailbox name into this protocol's avatar."""
        raise NotImplementedError

    def buildProtocol(self, addr: Any) -> Any:  # noqa: N802
        return self.protocol(self)


class ReplyFlowControl:
    """Stop reading from a client whose replies back up unread, or that queued too much.

    Mixed into the POP3 and IMAP protocols, whose Twisted bases queue commands that
    arrive during a long reply (in C{self.blocked}) without limit and write replies
    however slowly the client reads. The protocol is the transport's push producer,
    so the transport says when its buffer is full; a file transfer (POP3 RETR, IMAP
    FETCH) borrows the producer slot via L{lend_producer} and it is taken back with
    L{take_producer} when the queued commands run.
    """

    MAX_QUEUED = 100
    transport: Any
    blocked: Any
    _secure: bool

    def start_flow_control(self) -> None:
        self._write_blocked = False
        self._reading = True
        self._registered = False
        self.take_producer()

    def take_producer(self) -> None:
        """Register as the transport's producer again if the slot is free."""
        if (
            getattr(self, "_registered", True)
            or self._secure  # implicit TLS pauses producers in its handshake
            or self.transport.disconnecting
            or getattr(self.transport, "producer", None) is not None
        ):
            return
        self.transport.registerProducer(self, True)
        self._registered = True
        self._write_blocked = False
        self.flow()

    def lend_producer(self) -> None:
        """Free the producer slot for a file transfer."""
        if getattr(self, "_registered", False):
            self.transport.unregisterProducer()
            self._registered = False

    def flow(self) -> None:
        """Read or not, as the reply backlog and the command queue allow."""
        if not hasattr(self, "_reading"):
            return
        queued = self.blocked is not None and len(self.blocked) >= self.MAX_QUEUED
        want = not (self._write_blocked or queued)
        if want != self._reading and not self.transport.disconnecting:
            self._reading = want
            if want:
                self.transport.resumeProducing()
            else:
                self.transport.pauseProducing()

    def pauseProducing(self) -> None:  # noqa: N802 (IPushProducer, for our replies)
        self._write_blocked = True
        self.flow()

    def resumeProducing(self) -> None:  # noqa: N802
        self._write_blocked = False
        self.flow()

    def stopProducing(self) -> None:  # noqa: N802
        pass
