"""In-memory stand-ins shared by the mail unit tests."""

from __future__ import annotations

from twisted.internet.interfaces import ITLSTransport
from twisted.internet.testing import StringTransport
from zope.interface import implementer


@implementer(ITLSTransport)
class TLSStringTransport(StringTransport):
    """A StringTransport that can start TLS (it only records the context)."""

    tls = None

    def startTLS(self, ctx):  # noqa: N802
        self.tls = ctx
