"""In-memory stand-ins shared by the mail unit tests."""

from __future__ import annotations

from twisted.internet.interfaces import ITLSTransport
from twisted.internet.testing import StringTransport
from zope.interface import implementer


@implementer(ITLSTransport)
class TLSStringTransport(StringTransport):
    """A StringTransport that can start TLS (it only records the context)."""

    tls = None

    def startTLS(self, ctx):
        self.tls = ctx


def mail_users(table, domain="localhost", **kw):
    """A zoo.cred checker as the mail services build it: avatar ids are mailbox names."""
    from zoo.cred import PasswordChecker
    from zoo.mail.maildir import mailbox_name

    return PasswordChecker(table, avatar_id=lambda name: mailbox_name(name, domain), **kw)


def any_login():
    """The --accept-any-login checker."""
    return mail_users({}, accept_any=True)


def settle(proto, clock, limit=60.0):
    """Let the login throttle's delays run out (in clock steps) until no login is pending."""
    waited = 0.0
    while proto._guard.pending is not None and waited < limit:
        clock.advance(0.05)
        waited += 0.05
    return waited
