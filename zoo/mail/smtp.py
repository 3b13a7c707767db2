"""zoo-smtp: an ESMTP mail sink on twisted.mail that never loses an accepted message.

Every recipient is accepted and each message is stored once per recipient in that
address's Maildir (L{zoo.mail.maildir}); nothing is ever relayed. The 250 after the
final C{.} is sent only once every copy is fsynced and renamed into C{new/}; if the
disk fails the client gets C{451 4.3.0} and no file is left behind.

What this adds to Twisted's C{ESMTP} (see C{research/twisted-anchor.md} section 3):

- framing of its own: an over-long command line gets C{500 5.5.2} and is thrown away
  up to its end, where Twisted's C{lineLengthExceeded} kept growing the buffer;
- the message body is read in bulk (dot-unstuffing, SIZE limit) rather than line by
  line, and later pipelined commands wait until the 250 or 451 for it has been sent;
- SIZE, PIPELINING, 8BITMIME and ENHANCEDSTATUSCODES, a recipient limit, NOOP, VRFY;
- STARTTLS through L{zoo.tls.start_tls}: plaintext pipelined after it is discarded and
  the session (HELO/EHLO, sender, recipients, AUTH) is reset (CVE-2011-0411);
- AUTH PLAIN and LOGIN only over TLS unless allowed in plaintext, through
  L{zoo.cred.LoginGuard} (throttled per address; later commands wait for the answer;
  C{421 4.7.0} and close after C{--max-login-attempts} failures); optional
  "require TLS" and "require AUTH" policies.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from twisted.cred import portal as _portal
from twisted.internet.interfaces import IHalfCloseableProtocol, ISSLTransport
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.mail import smtp
from twisted.mail.imap4 import LOGINCredentials, PLAINCredentials
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo._twisted.mail import ESMTPAdapter
from zoo.cred import DEFAULT_MAX_LOGIN_ATTEMPTS, Logins, LoginThrottle, shared_throttle
from zoo.events import hub, session_of
from zoo.faults.hook import at, reply_code
from zoo.faults.model import registry as fault_registry
from zoo.flow import ReadGate
from zoo.mail.body import Body
from zoo.mail.inspector import emit_stored
from zoo.mail.maildir import Writer, mailbox_name
from zoo.policies import command_deadline_off, command_done, fast_writer
from zoo.tls import StartTLSMixin, start_tls

log = Logger()

#: The read gate's reason while a message is being stored: later commands wait.
_DELIVERY = "delivery"
#: The read gate's reason while an AUTH waits for the login throttle: a line's worth is read.
_LOGIN_CHECK = "login check"

PORT = 8025
DEFAULT_MAX_SIZE = 20 * 1024 * 1024
DEFAULT_MAX_RECIPIENTS = 100
#: RFC 5321 allows 512 octets per command line; AUTH responses can be longer.
DEFAULT_MAX_LINE = 4096

#: Enhanced status codes (RFC 3463) for the reply codes this server sends.
ENHANCED = {
    220: b"2.0.0",
    221: b"2.0.0",
    235: b"2.7.0",
    250: b"2.0.0",
    252: b"2.5.0",
    421: b"4.4.2",
    451: b"4.3.0",
    452: b"4.5.3",
    454: b"4.7.0",
    500: b"5.5.2",
    501: b"5.5.4",
    503: b"5.5.1",
    504: b"5.5.4",
    530: b"5.7.0",
    535: b"5.7.8",
    538: b"5.7.11",
    550: b"5.1.1",
    552: b"5.3.4",
    553: b"5.1.3",
}
_HAS_ENHANCED = re.compile(rb"^[245]\.\d{1,3}\.\d{1,3}( |$)")
_SIZE = re.compile(rb"(?:^|\s)SIZE=(\d+)", re.I)


def _reply(code: int, message: bytes, plain: bool) -> bytes:
    """A reply's bytes: one write however many lines (Twisted writes each line), with
    the enhanced status code (RFC 3463) first unless C{plain} or already there."""
    if not plain and code in ENHANCED and not _HAS_ENHANCED.match(message):
        message = ENHANCED[code] + b" " + message
    lines = message.splitlines() or [b""]
    head = b"%03d" % code
    out = [head + b"-" + line + b"\r\n" for line in lines[:-1]]
    out.append(head + b" " + lines[-1] + b"\r\n")
    return b"".join(out)


#: The replies sent so far, by (code, message, plain): a session sends the same few
#: again and again, so each is built once, and every transcript that keeps one keeps
#: the same bytes object. Bounded (the first L{_REPLIES_KEPT}, each message of at
#: most L{_REPLY_KEPT_SIZE} bytes): a reply naming what a client sent is built anew.
_REPLIES: dict[tuple[int, bytes, bool], bytes] = {}
_REPLIES_KEPT = 256
_REPLY_KEPT_SIZE = 256


@dataclass(frozen=True)
class Policy:
    """What a zoo-smtp server accepts; shared by all its connections."""

    hostname: str = "localhost"
    max_size: int = DEFAULT_MAX_SIZE
    max_recipients: int = DEFAULT_MAX_RECIPIENTS
    max_line: int = DEFAULT_MAX_LINE
    require_tls: bool = False
    require_auth: bool = False
    allow_plaintext_auth: bool = False
    timeout: float | None = 300.0


class _Avatar:
    """What a successful SMTP AUTH logs in as: the mailbox name."""

    def __init__(self, name: str) -> None:
        self.name = name


@implementer(_portal.IRealm)
class _Realm:
    def requestAvatar(self, avatar_id: Any, mind: Any, *interfaces: Any) -> Any:
        return smtp.IMessageDelivery, _Avatar(avatar_id), lambda: None


class _PLAIN(PLAINCredentials):
    """AUTH PLAIN whose malformed response is a failed login, not an exception."""

    def setResponse(self, response: bytes) -> None:
        try:
            super().setResponse(response)
        except Exception:
            self.username = self.password = b""


class _LOGIN(LOGINCredentials):
    """AUTH LOGIN with the customary C{Username:}/C{Password:} prompts."""

    def __init__(self) -> None:
        super().__init__()
        self.challenges = [b"Password:", b"Username:"]


CHALLENGERS = {b"PLAIN": _PLAIN, b"LOGIN": _LOGIN}


@implementer(IHalfCloseableProtocol)
class _ZooESMTPBase(ESMTPAdapter):
    """Twisted's ESMTP with zoo's framing, limits, storage and TLS rules."""

    # Twisted declares these as None/int/methods; here they are set per connection.
    transport: Any
    portal: Any
    delivery: Any
    timeout: Any
    callLater: Any

    def __init__(self, factory: SMTPFactory) -> None:
        super().__init__(CHALLENGERS, factory.starttls)
        self.factory = factory
        self.policy = factory.policy
        self.host = self.policy.hostname
        self.portal = factory.portal
        self.timeout = self.policy.timeout
        self.callLater = factory.clock.callLater
        self._unparsed = b""
        self._skipping = False
        self._body: Body | None = None
        self._paused = False  # a delivery or a login is in flight: later commands wait
        self._login_hold = False  # it is a login: keep reading (a line's worth), to see a close
        self._eof = False  # the client half-closed: finish, answer, then close
        self._plain_sendcode = False
        self._secure = False
        self.user: str | None = None
        self._recipients: list[Any] | None = None  # for mail.stored, when observed

    # -- connection -------------------------------------------------------------

    def connectionMade(self) -> None:
        self._guard = self.factory.logins.guard(self.transport)
        self.portal = self._guard  # Twisted's AUTH calls portal.login
        self._secure = ISSLTransport.providedBy(self.transport)
        self._write = fast_writer(self.transport)
        self.gate = ReadGate(self.transport).start()  # stop reading when replies pile up unread
        self._plain_sendcode = True
        try:
            super().connectionMade()
        finally:
            self._plain_sendcode = False

    def greeting(self) -> bytes:
        return self.host + b" ESMTP zoo-smtp, a mail sink that never relays"

    def sendLine(self, line: bytes) -> None:
        self._write(line + b"\r\n")

    def sendCode(self, code: int, message: bytes = b"") -> None:
        if isinstance(message, str):
            message = message.encode()
        key = (code, message, self._plain_sendcode)
        reply = _REPLIES.get(key)
        if reply is None:
            reply = _reply(code, message, self._plain_sendcode)
            if len(_REPLIES) < _REPLIES_KEPT and len(message) <= _REPLY_KEPT_SIZE:
                _REPLIES[key] = reply
        self._write(reply)

    # -- framing ----------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self.gate.ready()
        self._unparsed += data
        if not self._paused:
            self.resetTimeout()
            self._process()
        elif self._login_hold:
            self._login_flow()

    def _process(self) -> None:
        max_line = self.policy.max_line
        while not self._paused and self._unparsed and not self.transport.disconnecting:
            if self._body is not None:
                rest = self._body.feed(self._unparsed)
                if rest is None:
                    self._unparsed = b""
                    return
                self._unparsed = rest
                self._end_of_data()
                continue
            newline = self._unparsed.find(b"\n")
            if self._skipping:
                if newline < 0:
                    self._unparsed = b""
                    return
                self._unparsed = self._unparsed[newline + 1 :]
                self._skipping = False
                continue
            if newline < 0:
                if len(self._unparsed) > max_line:
                    self._line_too_long(skip=True)
                return
            line = self._unparsed[:newline]
            self._unparsed = self._unparsed[newline + 1 :]
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > max_line:
                self._line_too_long(skip=False)
                continue
            self.lineReceived(line)

    def _line_too_long(self, skip: bool) -> None:
        """Reply 500 once and forget the line: the fix for Twisted's growing buffer."""
        if skip:
            self._unparsed = b""
            self._skipping = True
        if self.mode == smtp.AUTH:
            self.mode = smtp.COMMAND
            self.challenger = None
        self.sendCode(500, b"Line too long")

    def lineLengthExceeded(self, line: bytes) -> None:
        self._line_too_long(skip=False)

    def clearLineBuffer(self) -> bytes:
        """Drop and return the bytes not yet handled (STARTTLS drops pipelined plaintext)."""
        unparsed, self._unparsed = self._unparsed, b""
        return unparsed

    # -- commands ---------------------------------------------------------------

    def extensions(self) -> dict[bytes, Any]:
        ext: dict[bytes, Any] = {
            b"SIZE": [str(self.policy.max_size).encode()],
            b"PIPELINING": None,
            b"8BITMIME": None,
            b"ENHANCEDSTATUSCODES": None,
        }
        if self.canStartTLS and not self.startedTLS:
            ext[b"STARTTLS"] = None
        if self._auth_allowed() and not self.authenticated:
            ext[b"AUTH"] = list(self.challengers)
        return ext

    def _auth_allowed(self) -> bool:
        return self._secure or self.policy.allow_plaintext_auth

    def do_EHLO(self, rest: bytes) -> None:
        self._plain_sendcode = True
        try:
            super().do_EHLO(rest)
        finally:
            self._plain_sendcode = False

    def do_HELO(self, rest: bytes) -> None:
        self._plain_sendcode = True
        try:
            super().do_HELO(rest)
        finally:
            self._plain_sendcode = False

    def do_NOOP(self, rest: bytes) -> None:
        self.sendCode(250, b"OK")

    def do_VRFY(self, rest: bytes) -> None:
        self.sendCode(252, b"Cannot VRFY user, but will accept message")

    def lookupMethod(self, command: bytes) -> Any:
        # Twisted decodes the command word as ASCII and lets the error escape,
        # which drops the connection with a traceback: not ASCII is simply unknown.
        if not command.isascii():
            return None
        method = super().lookupMethod(command)
        if method is not None and fault_registry.points:
            return self._faulted(command.decode("ascii"), method)
        return method

    def _faulted(self, name: str, method: Any) -> Any:
        """C{method}, unless a fault at C{smtp:NAME} fires (L{zoo.faults.hook})."""

        def run(rest: bytes) -> Any:
            hit = at(self.transport, "smtp", name, mailbox=rest.decode("latin-1"), user=self.user)
            if hit is None:
                return method(rest)
            hit.perform(self.transport, self._fault_reply)
            return None

        return run

    def _fault_reply(self, value: str | None) -> None:
        code, text = reply_code(value, 451, "4.3.0 Requested action aborted (zoo fault)")
        self.sendCode(code, text.encode("utf-8", "replace"))

    def do_UNKNOWN(self, rest: bytes) -> None:
        self.sendCode(500, b"Command unrecognized")

    def ext_STARTTLS(self, rest: bytes) -> None:
        if self.startedTLS or self._secure:
            self.sendCode(503, b"TLS already active")
        elif self.ctx is not None and self.canStartTLS:
            self.sendCode(220, b"Ready to start TLS")
            start_tls(self, self.ctx)
            self.startedTLS = self._secure = True
            # RFC 3207 4.2: forget everything learnt before TLS.
            self.helo = (None, self.helo[1])
            self.mail_from = None
            self.rcpt_to = []
            self.authenticated = False
            self.delivery = None
            self.user = None
        else:
            self.sendCode(454, b"TLS not available")

    def ext_AUTH(self, rest: bytes) -> None:
        if self.policy.require_tls and not self._secure:
            self.sendCode(530, b"Must issue a STARTTLS command first")
        elif not self._auth_allowed():
            self.sendCode(538, b"Encryption required for requested authentication mechanism")
        elif self.mail_from is not None:
            self.sendCode(503, b"AUTH not allowed during a mail transaction")
        else:
            super().ext_AUTH(rest)

    def login_succeeded(self, login_info: Any) -> Any:
        result = super().login_succeeded(login_info)
        self.user = self.delivery.name
        self.delivery = None
        return result

    def lineReceived(self, line: bytes) -> Any:
        # Twisted's resets the idle timeout per line; dataReceived did it per read.
        command_done(self.transport)
        result = getattr(self, "state_" + self.mode)(line)
        if self._guard.pending is not None:
            # AUTH is being checked (or its failure delayed): later commands wait.
            self._paused = self._login_hold = True
            self._login_flow()
            self._guard.pending.addBoth(self._login_answered)
        elif self._guard.exhausted:
            self._too_many_failures()
        return result

    def _login_answered(self, result: Any) -> None:
        self._login_hold = False
        self.gate.resume(_LOGIN_CHECK)
        if self._guard.exhausted:
            self._too_many_failures()
        self._resume(None)

    def _too_many_failures(self) -> None:
        if not self.transport.disconnecting:
            self.sendCode(421, b"4.7.0 Too many authentication failures; closing")
            self.transport.loseConnection()

    def command_timed_out(self) -> None:
        """The shared command deadline passed in the middle of a command line."""
        self.sendCode(421, b"4.4.2 " + self.host + b" Error: timeout exceeded")
        self.transport.loseConnection()

    def do_MAIL(self, rest: bytes) -> None:
        """Twisted's C{do_MAIL}, with SIZE checked, and no Deferred: L{validateFrom} is synchronous."""
        size = _SIZE.search(rest.partition(b">")[2] or rest)
        if size and int(size.group(1)) > self.policy.max_size:
            self.sendCode(552, b"Message size exceeds fixed maximum message size")
            return
        if self.mail_from:
            self.sendCode(503, b"Only one sender per message, please")
            return
        self.rcpt_to = []
        m = self.mail_re.match(rest)
        if not m:
            self.sendCode(501, b"Syntax error")
            return
        try:
            addr = smtp.Address(m.group("path"), self.host)
            origin = self.validateFrom(self.helo, addr)
        except smtp.AddressError as e:
            self.sendCode(553, str(e).encode())
        except Exception:
            self.refuse_sender(Failure())
        else:
            self.accept_sender(origin)

    def do_RCPT(self, rest: bytes) -> None:
        """Twisted's C{do_RCPT}, with a recipient limit, and no Deferred (L{validateTo})."""
        if not self.mail_from:
            self.sendCode(503, b"Must have sender before recipient")
            return
        if len(self.rcpt_to) >= self.policy.max_recipients:
            self.sendCode(452, b"Too many recipients")
            return
        m = self.rcpt_re.match(rest)
        if not m:
            self.sendCode(501, b"Syntax error")
            return
        try:
            user = smtp.User(m.group("path"), self.helo, self, self.mail_from)
            mailbox = self.validateTo(user)
        except smtp.AddressError as e:
            self.sendCode(553, str(e).encode())
        except Exception:
            self.refuse_recipient(Failure())
        else:
            self.accept_recipient(mailbox, user)

    def validateFrom(self, helo: Any, origin: smtp.Address) -> smtp.Address:
        if self.policy.require_tls and not self._secure:
            raise smtp.SMTPServerError(530, "5.7.0 Must issue a STARTTLS command first")
        if self.policy.require_auth and not self.authenticated:
            raise smtp.SMTPServerError(530, "5.7.0 Authentication required")
        return origin

    def validateTo(self, user: smtp.User) -> str:
        address = bytes(user.dest)
        try:
            return mailbox_name(address, self.policy.hostname)
        except ValueError:
            raise smtp.SMTPBadRcpt(user) from None

    def do_DATA(self, rest: bytes) -> None:
        if self.mail_from is None or not self.rcpt_to:
            self.sendCode(503, b"Must have valid receiver and originator")
            return
        self._txn = (self.helo, self.mail_from, [mailbox for _, mailbox in self.rcpt_to])
        self._recipients = (
            [user.dest for user, _ in self.rcpt_to]  # made text when the event is read
            if self.factory.observatory.enabled
            else None
        )
        self.mail_from = None
        self.rcpt_to = []
        self._body = Body(self.policy.max_size)
        self.sendCode(354, b"End data with <CR><LF>.<CR><LF>")
        # The body has its own limits (SIZE and the idle timeout), not the command deadline.
        command_deadline_off(self.transport)

    def _end_of_data(self) -> None:
        command_done(self.transport)
        body, self._body = self._body, None
        helo, origin, mailboxes = self._txn
        del self._txn
        assert body is not None
        if body.too_big:
            self.sendCode(552, b"Message size exceeds fixed maximum message size")
            return
        if fault_registry.points:
            hit = at(self.transport, "smtp", "BODY", mailbox=" ".join(mailboxes), user=self.user)
            if hit is not None:  # after DATA's data: a reply instead of storing, or a drop
                hit.perform(self.transport, self._fault_reply)
                return
        data = body.message(self._trace(helo, origin, mailboxes))
        self._paused = True
        self.gate.pause(_DELIVERY)
        d = self.factory.writer.deliver(mailboxes, data)
        d.addCallbacks(self._stored, self._not_stored, callbackArgs=(origin, mailboxes, data))
        d.addBoth(self._resume)

    def _trace(self, helo: Any, origin: smtp.Address, mailboxes: list[str]) -> bytes:
        """The C{Return-Path:} and C{Received:} headers the sink adds."""
        name = helo[0] or b"unknown"
        peer = helo[1] if isinstance(helo[1], bytes) else str(helo[1]).encode()
        proto = b"ESMTP" if helo[0] else b"SMTP"
        if self._secure:
            proto += b"S"
        if self.authenticated:
            proto += b"A"
        date = self.factory.date()
        return (
            b"Return-Path: <" + bytes(origin) + b">\r\n"
            b"Received: from " + name + b" ([" + peer + b"])\r\n"
            b"\tby " + self.host + b" (zoo-smtp) with " + proto + b";\r\n"
            b"\t" + date + b"\r\n"
        )

    def _stored(self, paths: list[Any], origin: Any, mailboxes: list[str], data: bytes) -> None:
        self.factory.log_stored(origin, mailboxes, len(data))
        observatory = self.factory.observatory
        if observatory.enabled:
            recipients = self._recipients or mailboxes
            emit_stored(
                observatory,
                session_of(self.transport),
                origin,  # made text when the event is read
                recipients,
                mailboxes,
                paths,
                data,
            )
        if not self.transport.disconnecting:
            self.sendCode(250, b"Message accepted for delivery")

    def _not_stored(self, reason: Failure) -> None:
        log.failure("could not store a message; client told to retry", reason)
        if not self.transport.disconnecting:
            self.sendCode(451, b"Requested action aborted: local error in processing")

    def _resume(self, _: Any) -> None:
        self._paused = False
        if self.transport.disconnecting:
            return
        self.gate.resume(_DELIVERY)
        self.resetTimeout()
        self._process()
        self._close_if_done()

    # -- half-close: a client may send everything, then shut its side ------------

    def readConnectionLost(self) -> None:
        self._eof = True
        if self._login_hold:  # an AUTH waits for the throttle: a client gone now gets no answer
            self.transport.loseConnection()
            return
        self._close_if_done()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def _close_if_done(self) -> None:
        """After the client's EOF, close once the last message's reply is out."""
        if self._eof and not self._paused:
            self.transport.loseConnection()

    def _login_flow(self) -> None:
        """While an AUTH waits for its answer, read on (to see a client give up and close)
        until more than a line waits."""
        self.gate.hold(_LOGIN_CHECK, len(self._unparsed) > self.policy.max_line)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._body = None
        if hasattr(self, "_guard"):
            self._guard.close()
        super().connectionLost(reason)


class ZooESMTP(StartTLSMixin, _ZooESMTPBase):
    """The zoo-smtp protocol: L{_ZooESMTPBase} with pipelined plaintext dropped at STARTTLS."""


class SMTPFactory(ServerFactory):
    """Builds L{ZooESMTP} connections sharing one writer, policy and credential checker.

    @param writer: stores accepted messages (L{zoo.mail.maildir.ThreadWriter} in service).
    @param checker: the credentials checker for AUTH (a L{zoo.cred.PasswordChecker}).
    @param starttls: the TLS context factory for STARTTLS, or C{None} not to offer it.
    @param clock: an C{IReactorTime} for timeouts, the C{Received:} date and login delays.
    @param max_login_attempts: failed AUTHs before a connection is closed.
    @param throttle: the login throttle (default: the process's, L{shared_throttle}).
    @param observatory: where C{mail.stored} and login events go (L{zoo.events.hub}).
    """

    protocol = ZooESMTP
    #: Stored messages after a logged one are logged as one line this much later.
    SUMMARY_SECONDS = 1.0

    def __init__(
        self,
        writer: Writer,
        checker: Any,
        policy: Policy | None = None,
        starttls: Any = None,
        clock: Any = None,
        max_login_attempts: int = DEFAULT_MAX_LOGIN_ATTEMPTS,
        throttle: LoginThrottle | None = None,
        observatory: Any = None,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.observatory = observatory if observatory is not None else hub
        self.writer = writer
        self.policy = policy or Policy()
        self.starttls = starttls
        self.clock = clock
        self.portal = _portal.Portal(_Realm(), [checker])
        self.logins = Logins(
            self.portal,
            "smtp",
            throttle or shared_throttle(clock),
            max_login_attempts,
            self.observatory,
        )
        self._summary: list[int] | None = None  # [messages, bytes] logged in a summary
        self._date = (-1, b"")

    def date(self) -> bytes:
        """Now as an RFC 5322 date (for C{Received:}), formatted once a second."""
        second = int(self.clock.seconds())
        if second != self._date[0]:
            self._date = (second, formatdate(second).encode())
        return self._date[1]

    def log_stored(self, origin: Any, mailboxes: list[str], size: int) -> None:
        """Log a stored message: in full if it is the first for a while, else in a summary.

        Formatting a log line costs more CPU than the rest of a small message's
        session, so under load the messages that follow within L{SUMMARY_SECONDS}
        of a logged one are counted and logged as one line when that time is up.
        """
        if self._summary is not None:
            self._summary[0] += 1
            self._summary[1] += size
            return
        log.info(
            "stored {size} bytes from <{origin}> for {mailboxes}",
            size=size,
            origin=str(origin),
            mailboxes=mailboxes,
        )
        self._summary = [0, 0]
        self.clock.callLater(self.SUMMARY_SECONDS, self._log_summary)

    def _log_summary(self) -> None:
        summary, self._summary = self._summary, None
        if summary and summary[0]:
            log.info(
                "stored {count} more messages ({size} bytes) in the last {seconds:g} s",
                count=summary[0],
                size=summary[1],
                seconds=self.SUMMARY_SECONDS,
            )

    def buildProtocol(self, addr: Any) -> ZooESMTP:
        return self.protocol(self)


def encode_plain(user: str, password: str) -> bytes:
    """The base64 AUTH PLAIN response for C{user} and C{password} (for tests)."""
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
