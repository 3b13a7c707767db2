"""Echo (RFC 862), over TCP and UDP, with half-close and backpressure.

RFC 862: whatever a TCP client sends comes back unchanged until the client closes;
a UDP datagram is answered with a datagram holding the same bytes. The books have no
plain echo; their nearest is *Foundations of Python Network Programming*'s
C{tcp_deadlock.py}, an upper-casing echo, reproduced by C{transform=bytes.upper}
(C{twistd zoo-echo --upper}).

What Twisted's C{twisted.protocols.wire.Echo} gets wrong, and this one does not:

- B{backpressure}: C{wire.Echo} writes everything it reads, so a client that sends
  and never reads grows the server's write buffer without bound (the book's
  C{tcp_deadlock.py} run with 1 GiB). L{EchoServer} is a L{zoo.flow.GatedStream}:
  when the transport's write buffer is full Twisted pauses the connection's
  L{zoo.flow.ReadGate}, which stops reading from the socket; TCP flow control then
  stops the client. Memory per connection stays about one write buffer.
- B{half-close}: after the client shuts down its write side (C{shutdown(SHUT_WR)},
  as the book's client does), every byte it sent is still echoed, and then the
  server closes. C{wire.Echo} is not C{IHalfCloseableProtocol}, so Twisted closes
  the connection at once and the tail of the reply is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from twisted.internet.interfaces import IHalfCloseableProtocol, IUDPTransport
from twisted.internet.protocol import DatagramProtocol, Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo.events import hub, session_of
from zoo.flow import GatedStream
from zoo.policies import fast_writer, where

log = Logger()

PORT = 7007

Transform = Callable[[bytes], bytes]

#: Transforms by name, for the command line.
TRANSFORMS: dict[str, Transform | None] = {"identity": None, "upper": bytes.upper}


@implementer(IHalfCloseableProtocol)
class EchoServer(GatedStream):
    """RFC 862 echo over a stream, optionally transforming each chunk.

    @cvar fast: send with L{zoo.policies.fast_writer} (straight to the socket when
        its buffer is empty; whatever does not fit goes through C{transport.write},
        so backpressure is unchanged) rather than C{transport.write}, which waits a
        reactor turn. Measured in bench/echo.py: about 1.4x the requests per second
        for 64-byte messages. C{False} gives plain Twisted behaviour.
    @ivar received: bytes received so far on this connection.
    """

    fast = True

    def __init__(self, transform: Transform | None = None) -> None:
        self.transform = transform
        self.received = 0

    def connectionMade(self) -> None:
        super().connectionMade()
        transport = self.transport
        assert transport is not None  # makeConnection set it
        self._write = fast_writer(transport) if self.fast else transport.write
        if self.transform is not None:
            log.info(
                "Processing data from {peer} (upper-casing, as tcp_deadlock.py)",
                peer=where(transport.getPeer()),
            )

    def dataReceived(self, data: bytes) -> None:
        n = len(data)
        self.received += n
        if n >= self._grow_at:
            self.read_more()
        if self.transform is not None:
            data = self.transform(data)
        self._write(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.transform is not None:
            log.info(
                "{n} bytes processed so far; completed processing",
                n=self.received,
            )
        observatory = getattr(getattr(self, "factory", None), "observatory", hub)
        if observatory.enabled:
            observatory.emit(
                "echo",
                "echo.closed",
                session_of(self.transport),
                bytes=self.received,
                transform="upper" if self.transform is bytes.upper else None,
            )


class EchoFactory(Factory):
    """Builds L{EchoServer}s (or C{protocol}) sharing one transform."""

    protocol = EchoServer

    def __init__(self, transform: Transform | None = None, observatory: Any = None) -> None:
        self.transform = transform
        self.observatory = observatory if observatory is not None else hub

    def buildProtocol(self, addr: Any) -> EchoServer:
        p = self.protocol(self.transform)
        p.factory = self
        return p


class EchoDatagram(DatagramProtocol):
    """RFC 862 over UDP: each datagram goes back, transformed, to its sender.

    The reply is never larger than the request, so echo amplifies nothing by size;
    it still reflects traffic at a spoofed source, which is why zoo refuses UDP on
    a non-loopback interface unless told otherwise (see C{zoo.tap.echo}).
    """

    noisy = False

    def __init__(self, transform: Transform | None = None) -> None:
        self.transform = transform
        self.answered = 0

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        if self.transform is not None:
            data = self.transform(data)
        self.answered += 1
        cast(IUDPTransport, self.transport).write(data, addr)


__all__ = ["EchoDatagram", "EchoFactory", "EchoServer", "PORT", "TRANSFORMS"]
