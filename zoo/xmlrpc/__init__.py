"""XML-RPC and JSON-RPC servers for your own functions, on twisted.web.

The public API::

    from zoo.xmlrpc import Methods, make_site

    methods = Methods()

    @methods.register
    def double(num):
        "Return twice num."
        return num * 2

    site = make_site(methods)          # a twisted.web Site
    # reactor.listenTCP(7001, site), or endpoints.serverFromString(...).listen(site)

- L{Methods}: the table of functions (C{register}, C{add_module}), with
  introspection and C{system.multicall} built in.
- L{make_site}: XML-RPC at C{/} and C{/RPC2}, JSON-RPC 2.0 at C{/jsonrpc}, request
  bodies capped at C{max_body} bytes.
- L{XMLRPCResource}, L{JSONRPCResource}: the two resources, to mount in a tree of your own.
- L{book_methods}: the books' methods (C{double}, C{addtogether}, C{quadratic},
  C{remote_repr}, C{lengths}, C{now}).
- L{RPCError}: raise it (or C{xmlrpc.client.Fault}) to send a fault with your own code.
"""

from zoo.xmlrpc.book import PORT, book_methods
from zoo.xmlrpc.channel import DEFAULT_MAX_BODY, RPCSite
from zoo.xmlrpc.methods import Methods, RPCError
from zoo.xmlrpc.web import (
    JSONRPCResource,
    XMLRPCResource,
    make_site,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "PORT",
    "JSONRPCResource",
    "Methods",
    "RPCError",
    "RPCSite",
    "XMLRPCResource",
    "book_methods",
    "make_site",
]
