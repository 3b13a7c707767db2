"""twisted.mail's servers with the private steps and state zoo changes under public names.

zoo's SMTP and POP3 servers change how Twisted answers a few things (a login
throttled, a message file closed). (zoo-imap has its own core: L{zoo.mail.imapcore}.) Twisted
does those in private methods and keeps the state they need in private attributes.
The classes here are the only code that names them: each private method Twisted calls
hands over to a public one whose default is Twisted's own behaviour, and the private
state is read and set through properties. The names are listed in L{zoo._twisted}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.mail import pop3, smtp
from twisted.python.failure import Failure


class ESMTPAdapter(smtp.ESMTP):
    """Twisted's C{ESMTP} with its envelope state and validation steps under public names.

    zoo's C{do_MAIL} and C{do_RCPT} validate synchronously and then finish as Twisted's
    do (L{accept_sender} ... L{refuse_recipient}); after STARTTLS the session is reset
    through L{helo}, L{mail_from} and L{rcpt_to}.
    """

    @property
    def helo(self) -> Any:
        """The client's HELO/EHLO argument and its address, C{(name or None, host)}."""
        return self._helo

    @helo.setter
    def helo(self, value: Any) -> None:
        self._helo = value

    @property
    def mail_from(self) -> Any:
        """The accepted envelope sender (an C{smtp.Address}), or C{None}."""
        return self._from

    @mail_from.setter
    def mail_from(self, value: Any) -> None:
        self._from = value

    @property
    def rcpt_to(self) -> list[Any]:
        """The accepted recipients, as C{(smtp.User, what validateTo returned)} pairs."""
        return self._to

    @rcpt_to.setter
    def rcpt_to(self, value: list[Any]) -> None:
        self._to = value

    def accept_sender(self, origin: Any) -> None:
        """Take C{origin} as the envelope sender and say so (Twisted's C{250})."""
        self._cbFromValidate(origin)

    def refuse_sender(self, reason: Failure) -> None:
        """Answer a sender that C{validateFrom} refused (or failed on), as Twisted does."""
        self._ebFromValidate(reason)

    def accept_recipient(self, mailbox: Any, user: smtp.User) -> None:
        """Add C{user} (delivered to C{mailbox}) to the recipients and say so."""
        self._cbToValidate(mailbox, user)

    def refuse_recipient(self, reason: Failure) -> None:
        """Answer a recipient that C{validateTo} refused (or failed on), as Twisted does."""
        self._ebToValidate(reason)

    def _cbAuthenticated(self, loginInfo: Any) -> Any:
        return self.login_succeeded(loginInfo)

    def login_succeeded(self, login_info: Any) -> Any:
        """An AUTH succeeded: Twisted keeps the avatar as C{delivery}, sets C{authenticated}.

        @param login_info: what the portal's C{login} returned.
        """
        return super()._cbAuthenticated(login_info)


class POP3Adapter(pop3.POP3):
    """Twisted's C{POP3} with its command queue and message sending under public names.

    Twisted holds the commands that arrive while a long reply (a C{RETR}, a login) is
    being produced in C{blocked}, a public attribute, and runs them in a private method.
    """

    def _unblock(self, _: object = None) -> None:
        self.run_held_commands()

    def run_held_commands(self) -> None:
        """Run the commands held in C{blocked}, until one holds the rest again."""
        super()._unblock(None)

    def _longOperation(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        return self.long_operation(d)

    def long_operation(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        """Hold later commands and the idle timeout until C{d} fires; C{d} is returned."""
        return super()._longOperation(d)

    def _sendMessageContent(self, i: bytes, fpWrapper: Any, successResponse: Any) -> Any:
        return self.send_message_content(i, fpWrapper, successResponse)

    def send_message_content(self, i: bytes, wrap: Any, response: Any) -> Any:
        """Send message C{i} (1-based) for RETR and TOP.

        @param wrap: makes the file object to send from the message's.
        @param response: makes the C{+OK} text from the message's size.
        @return: a Deferred that fires once the message is sent.
        """
        return super()._sendMessageContent(i, wrap, response)

    def message_file(self, i: bytes) -> defer.Deferred[Any]:
        """The size and an open file of message C{i} (1-based), or C{None} once refused."""
        return self._getMessageFile(i)

    @property
    def highest_retrieved(self) -> int:
        """The number of the highest message retrieved (what C{LAST} answers)."""
        return int(self._highest)

    @highest_retrieved.setter
    def highest_retrieved(self, value: int) -> None:
        self._highest = value

    def _ebMailbox(self, failure: Failure) -> None:
        return self.mailbox_refused(failure)

    def mailbox_refused(self, failure: Failure) -> None:
        """A login failed (C{LoginDenied} or C{LoginFailed}): answer C{-ERR}."""
        return super()._ebMailbox(failure)

    def forget_user(self) -> None:
        """Forget the name a C{USER} command gave (a C{PASS} must follow a new one)."""
        self._userIs = None
