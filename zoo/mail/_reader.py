"""What zoo-pop3 and zoo-imap connections share: Maildirs, logins, TLS, timeouts."""

from __future__ import annotations

from typing import Any

from twisted.cred import portal as _portal
from twisted.internet.protocol import ServerFactory

from zoo.cred import DEFAULT_MAX_LOGIN_ATTEMPTS, Logins, LoginThrottle, shared_throttle
from zoo.mail.maildir import MaildirStore

#: Commands a client may pipeline behind a long reply (Twisted queues them in
#: C{blocked}) before the server stops reading: the read gate's C{"queue full"}.
MAX_QUEUED = 100
QUEUE_FULL = "queue full"


def queue_full(blocked: list[Any] | None) -> bool:
    """Whether Twisted's queue of commands waiting behind a long reply is full."""
    return blocked is not None and len(blocked) >= MAX_QUEUED


class ReaderFactory(ServerFactory):
    """Base factory of the mail-reading services; subclasses set C{protocol} and L{realm}.

    @param store: the Maildirs (L{zoo.mail.maildir.MaildirStore}).
    @param checker: who may log in (a L{zoo.cred.PasswordChecker}).
    @param starttls: the TLS context for STLS/STARTTLS, or C{None} not to offer it.
    @param allow_plaintext_auth: accept passwords before TLS.
    @param timeout: seconds of silence before the server hangs up (C{None}: never).
    @param clock: an C{IReactorTime} (timeouts, UIDVALIDITY).
    @param scheduler: runs the iterators that send message bodies (the reactor's
        cooperator by default; tests pass a synchronous one).
    @param max_login_attempts: failed logins before a connection is closed.
    @param throttle: the login throttle (default: the process's, L{shared_throttle}).
    @param observatory: where C{mail.deleted} and login events go (L{zoo.events.hub}).
    """

    noisy = False
    protocol: Any
    #: The protocol's name in log lines.
    service = "mail"

    def __init__(
        self,
        store: MaildirStore,
        checker: Any,
        starttls: Any = None,
        allow_plaintext_auth: bool = False,
        timeout: float | None = 300.0,
        clock: Any = None,
        scheduler: Any = None,
        max_login_attempts: int = DEFAULT_MAX_LOGIN_ATTEMPTS,
        throttle: LoginThrottle | None = None,
        observatory: Any = None,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        from zoo.events import hub

        self.observatory = observatory if observatory is not None else hub
        self.store = store
        self.starttls = starttls
        self.allow_plaintext_auth = allow_plaintext_auth
        self.timeout = timeout
        self.clock = clock
        self.scheduler = scheduler
        self.portal = _portal.Portal(self.realm(), [checker])
        self.logins = Logins(
            self.portal,
            self.service,
            throttle or shared_throttle(clock),
            max_login_attempts,
            self.observatory,
        )

    def report_deleted(self, paths: list[Any]) -> None:
        """Emit C{mail.deleted} for each message file a session removed (if observed)."""
        if self.observatory.enabled and paths:
            from zoo.mail.inspector import emit_deleted

            emit_deleted(self.observatory, self.service, paths)

    def realm(self) -> Any:
        """The cred realm turning a mailbox name into this protocol's avatar."""
        raise NotImplementedError

    def buildProtocol(self, addr: Any) -> Any:
        return self.protocol(self)
