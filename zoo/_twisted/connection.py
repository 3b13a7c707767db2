"""Accepted TCP connections whose read and write state C reads as fields.

Before every send, the fast writer checks seven attributes of Twisted's
C{tcp.Connection} (C{connected}, C{disconnecting}, C{TLS}, C{_tempDataBuffer},
C{dataBuffer}, C{offset}, C{_writeDisconnected}: nothing queued, nothing in the way),
so that a write never overtakes bytes Twisted holds and STARTTLS or a closing
connection is noticed; and before every read the poll loop reads two more
(C{bufferSize}, C{protocol}). By name from C each is an attribute lookup: about a
twentieth of zoo-echo's CPU per request.

L{Server} is C{tcp.Server} with those nine as C fields of its base,
C{zoo._twisted._speedups.ConnState}: a member descriptor under each name, as a
C{__slots__} name is, so Twisted's own code reads and sets them exactly as before,
while the C writer and the C read step read the fields directly. L{adopt} makes a
listening C{tcp.Port} build L{Server}s (its C{transport} attribute, the class
C{Port.doRead} instantiates). Without the C speedups (not built, or
C{ZOO_NO_SPEEDUPS=1}) L{SERVER} is C{tcp.Server} itself and L{adopt} does nothing.
Listed in L{zoo._twisted}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp

from zoo._twisted.speedups import speedups as _speedups

#: The attributes of C{tcp.Connection} kept as C fields (C{ConnState}'s members).
FIELDS = (
    "connected",
    "disconnecting",
    "TLS",
    "_tempDataBuffer",
    "dataBuffer",
    "offset",
    "_writeDisconnected",
    "bufferSize",
    "protocol",
)

#: Twisted's class-level defaults of those fields, which the fields would hide.
_DEFAULTS = {name: getattr(tcp.Server, name) for name in FIELDS if hasattr(tcp.Server, name)}

SERVER: type[tcp.Server]

if _speedups is not None:

    class Server(_speedups.ConnState, tcp.Server):  # type: ignore[misc,name-defined]
        """C{tcp.Server}, with its read and write state in C fields (see the module)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            for name, value in _DEFAULTS.items():
                setattr(self, name, value)
            super().__init__(*args, **kwargs)

    SERVER = Server
else:
    SERVER = tcp.Server


_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def addresses(transport: Any) -> tuple[Any, Any]:
    """The peer's and the local address of a connection (what a session records).

    For an accepted TCP connection: the peer is Twisted's C{client} tuple (C{host,
    port}, which L{zoo.sessions.where} formats as it does an address object) rather
    than a new C{IPv4Address}, and the local address is asked of the kernel once per
    listening port (Twisted's C{server}) bound to one address, whose every connection
    has that address (kept on the port as C{zoo_local}): two address objects and a
    C{getsockname} fewer per connection (zoo-smtp's one-message sessions, observed).
    Any other transport is asked C{getPeer()} and C{getHost()}.
    """
    if isinstance(transport, tcp.Server):
        port = transport.server
        listener = getattr(port, "zoo_local", None)
        if listener is None:
            listener = transport.getHost()
            if port is not None and getattr(port.getHost(), "host", "") not in _WILDCARDS:
                port.zoo_local = listener  # type: ignore[attr-defined]
        return transport.client, listener
    return transport.getPeer(), transport.getHost()


def adopt(port: Any) -> Any:
    """Make C{port}, if it is a C{tcp.Port} building plain C{tcp.Server}s, build
    L{SERVER}s instead; return C{port}."""
    if SERVER is not tcp.Server and isinstance(port, tcp.Port):
        if getattr(port, "transport", None) is tcp.Server:
            port.transport = SERVER
    return port


__all__ = ["FIELDS", "SERVER", "addresses", "adopt"]
