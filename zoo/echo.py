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

import sys
from collections.abc import Callable
from typing import Any, cast

from twisted.internet.interfaces import IHalfCloseableProtocol, IUDPTransport
from twisted.internet.protocol import DatagramProtocol, Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo._twisted.speedups import speedups as _speedups
from zoo.events import hub, session_of
from zoo.flow import GatedStream
from zoo.policies import fast_writer, where

log = Logger()

PORT = 7007

Transform = Callable[[bytes], bytes]

#: Transforms by name, for the command line.
TRANSFORMS: dict[str, Transform | None] = {"identity": None, "upper": bytes.upper}


class EchoStep:
    """An echo connection's byte count, and its step for a read.

    C{echo(data)}: count C{data} and send it back as it came with C{write}, and
    return C{True}; a read at least C{grow_at} long (the server reads bigger chunks
    first) or no C{write} yet: C{False}, nothing done.

    C{zoo._twisted._speedups.EchoStep} is its C twin, used where it is built: the
    poll loop's C dispatch runs it for a read with no Python frame
    (C{_speedups.step}), and calls C{dataReceived} only when it declines.
    """

    __slots__ = ("received", "grow_at", "write")

    def __init__(self) -> None:
        self.received = 0
        self.grow_at = sys.maxsize
        self.write: Callable[[bytes], object] | None = None

    def echo(self, data: bytes) -> bool:
        n = len(data)
        if self.write is None or n >= self.grow_at:
            return False
        self.received += n
        self.write(data)
        return True


#: The step in use: the C twin where zoo's speedups are built and on.
ECHO_STEP: Any = _speedups.EchoStep if _speedups is not None else EchoStep


@implementer(IHalfCloseableProtocol)
class EchoServer(GatedStream):
    """RFC 862 echo over a stream, optionally transforming each chunk.

    @cvar fast: send with L{zoo.policies.fast_writer} (straight to the socket when
        its buffer is empty; whatever does not fit goes through C{transport.write},
        so backpressure is unchanged) rather than C{transport.write}, which waits a
        reactor turn. Measured in bench/echo.py: about 1.4x the requests per second
        for 64-byte messages. C{False} gives plain Twisted behaviour.
    @ivar counted: the connection's L{EchoStep} (or its C twin): its byte count, and
        while nothing is transformed, its step for a read (C{_step}).
    """

    fast = True

    def __init__(self, transform: Transform | None = None) -> None:
        self.transform = transform
        self.counted = ECHO_STEP()
        self._step: Any = None

    @property
    def received(self) -> int:
        """Bytes received so far on this connection."""
        return self.counted.received  # type: ignore[no-any-return]

    def connectionMade(self) -> None:
        super().connectionMade()
        transport = self.transport
        assert transport is not None  # makeConnection set it
        self._write = fast_writer(transport) if self.fast else transport.write
        if self.transform is None:  # a read goes back as it came: the step does it
            self.counted.grow_at = self.grow_at
            self.counted.write = self._write
            self._step = self.counted
        if self.transform is not None:
            log.info(
                "Processing data from {peer} (upper-casing, as tcp_deadlock.py)",
                peer=where(transport.getPeer()),
            )

    def dataReceived(self, data: bytes) -> None:
        if self._step is not None and self._step.echo(data):
            return  # counted and sent back (the C dispatch runs the C step itself)
        n = len(data)
        self.counted.received += n
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


# The poll loop's C dispatch runs an EchoServer's step itself, while this
# dataReceived is still the class's.
if _speedups is not None:
    _speedups.step(EchoServer.dataReceived, EchoServer)


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


__all__ = ["EchoDatagram", "EchoFactory", "EchoServer", "EchoStep", "PORT", "TRANSFORMS"]
