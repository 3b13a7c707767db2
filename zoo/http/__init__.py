"""zoo-http: an HTTP test service in httpbin's image, on twisted.web.

FOPNP's HTTP chapter talks to a server like this one: the 3rd edition runs httpbin
under gunicorn on port 8000 and fetches C{/ip}; the 2nd edition's sessions show
GET and the Host header, persistent connections, a form POST answered with
C{302 Found}, HEAD, compression, Basic auth and cookies.

- L{zoo.http.endpoints}: httpbin's endpoints (L{HTTPBin}) and their caps (L{Limits});
- L{zoo.http.answers}: what several endpoints answer with (status extras, redirects);
- L{zoo.http.echo}: a request described as httpbin's JSON;
- L{zoo.http.site}: the bounded HTTP layer and the C{http.request} events;
- L{zoo.http.pages}: the fixed documents.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime

from zoo.http.endpoints import HTTPBin, Limits
from zoo.http.site import HTTPBinSite

#: The book's port: FOPNP's 3rd edition runs httpbin on localhost:8000.
PORT = 8000


def make_site(
    limits: Limits | None = None,
    reactor: IReactorTime | None = None,
    **kw: Any,
) -> HTTPBinSite:
    """The whole service as a twisted.web Site.

    @param limits: the caps on C{/delay}, C{/drip} and generated bodies.
    @param reactor: the reactor (its clock drives C{/delay} and C{/drip}).
    @param kw: passed to L{HTTPBinSite} (C{max_body}, C{max_line}, C{max_headers},
        C{max_header_bytes}, C{access_log}, C{observatory}, ...).
    """
    if reactor is None:
        from twisted.internet import reactor as default

        reactor = default  # type: ignore[assignment]
    assert reactor is not None
    root = HTTPBin(reactor, limits)
    return HTTPBinSite(root, reactor=reactor, **kw)


__all__ = ["PORT", "HTTPBin", "HTTPBinSite", "Limits", "make_site"]
