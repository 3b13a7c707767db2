"""The books' socket exercises: the servers their first client programs talk to.

Four small exchanges, each the server half of a program pair in the books:

- B{hey} (I{Introducing Python}, chapter 17, C{tcp_server.py} and
  C{udp_server.py}): any request, over TCP or UDP, gets C{Are you talking to me?};
  over TCP the server then closes, as the book's does after one exchange.
- B{length} (I{Foundations of Python Network Programming}, C{udp_local.py} and
  C{udp_remote.py}): each UDP datagram gets C{Your data was N bytes}. For
  C{udp_remote.py} the server drops some datagrams on purpose, so the client's
  exponential backoff shows; unlike the book's coin flip (C{random.randint}), the
  drops here are repeatable: the first N, or a rate drawn from a seeded generator
  (L{Dropper}).
- B{sixteen} (FOPNP C{tcp_sixteen.py}): a fixed-length 16-byte message
  (C{Hi there, server}) is answered with the 16 bytes C{Farewell, client}, and the
  server closes.
- B{streamer} (FOPNP C{streamer.py}): a sink framed by end-of-file. The server shuts
  its write side as soon as it accepts, reads until the client closes, then logs
  C{Done receiving the message; it says:} and the text.

What the books' servers get wrong, and these do not: the books' servers serve one
client and exit (C{tcp_server.py}, C{streamer.py}) or die on a short message
(C{tcp_sixteen.py}'s C{EOFError}); here every server keeps serving, says what went
wrong in the book's own words in the log, and keeps memory per client bounded.

Layout: L{Dropper}, L{FixedLength} and L{Sink} are the pure cores (plain values in,
plain values out); the C{Protocol} and C{DatagramProtocol} classes are thin adapters.

Each exchange is reported to the observatory as one C{exercise.exchange} event
(L{exchange_fields}): the mode, the transport, the bytes in and out, and for
datagrams the sender and whether the datagram was dropped on purpose.
"""

from __future__ import annotations

import random
from typing import Any, cast

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHalfCloseableProtocol, ISSLTransport, IUDPTransport
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo.events import hub, session_of
from zoo.policies import command_deadline_off, command_done, where

log = Logger()

#: Default ports. The books use 6789 (I{Introducing Python}) and 1060 (FOPNP); TCP 1060
#: is zoo-lancelot's and 1061 zoo-blocks', so sixteen and streamer take the next two.
HEY_PORT = 6789
LENGTH_PORT = 1060
SIXTEEN_PORT = 1062
STREAMER_PORT = 1063

HEY_REPLY = b"Are you talking to me?"
FAREWELL = b"Farewell, client"
SIXTEEN = 16

#: Largest UDP datagram read whole (FOPNP's C{MAX = 65535}); Twisted reads 8192 by default,
#: and would cut a larger datagram short and miscount it.
MAX_DATAGRAM = 65535

#: Bytes of a streamed message kept for the log; the rest is counted, not kept.
DEFAULT_MAX_KEPT = 64 * 1024


def exchange_fields(
    mode: str,
    transport: str,
    bytes_in: int,
    bytes_out: int,
    peer: Any = None,
    dropped: bool = False,
) -> dict[str, Any]:
    """The fields of an C{exercise.exchange} event, built when it is read.

    @param mode: C{hey}, C{length}, C{sixteen} or C{streamer}.
    @param transport: C{tcp} or C{udp}.
    @param peer: a datagram's sender C{(host, port)}; TCP sessions carry theirs.
    """
    fields: dict[str, Any] = {
        "mode": mode,
        "transport": transport,
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
    }
    if peer is not None:
        fields["peer"] = f"{peer[0]}:{peer[1]}"
    if mode == "length":
        fields["dropped"] = dropped
    return fields


def _report(
    observatory: Any, mode: str, transport: Any, bytes_in: int, bytes_out: int, **more: Any
) -> None:
    """Record one C{exercise.exchange} (nothing if the observatory is off)."""
    if observatory.enabled:
        kind = "udp" if more.get("peer") is not None else "tcp"
        observatory.record(
            "exercises",
            "exercise.exchange",
            None if kind == "udp" else session_of(transport),
            exchange_fields,
            mode,
            kind,
            bytes_in,
            bytes_out,
            more.get("peer"),
            more.get("dropped", False),
        )


def _observatory(protocol: Any) -> Any:
    return getattr(getattr(protocol, "factory", None), "observatory", hub)


def length_reply(size: int) -> bytes:
    """The reply of FOPNP's UDP servers to a datagram of C{size} bytes."""
    return b"Your data was %d bytes" % size


class Dropper:
    """Decides, repeatably, which datagrams to pretend to lose.

    The first C{first} datagrams are dropped; after them each one is dropped with
    probability C{rate}, drawn from a generator seeded with C{seed}, so the same
    options drop the same datagrams on every run.

    @ivar dropped: datagrams dropped so far.
    @ivar seen: datagrams decided on so far.
    """

    def __init__(self, first: int = 0, rate: float = 0.0, seed: int = 0) -> None:
        if first < 0:
            raise ValueError("first must be >= 0")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self.first = first
        self.rate = rate
        self._random = random.Random(seed)
        self.seen = 0
        self.dropped = 0

    def drop(self) -> bool:
        """Whether to drop the next datagram."""
        self.seen += 1
        if self.seen <= self.first:
            lose = True
        else:
            lose = self.rate > 0.0 and self._random.random() < self.rate
        self.dropped += lose
        return lose


class FixedLength:
    """Collects exactly C{size} bytes (FOPNP's C{recv_all(sock, 16)}); later bytes are ignored."""

    def __init__(self, size: int = SIXTEEN) -> None:
        self.size = size
        self._buffer = b""
        self.message: bytes | None = None

    @property
    def received(self) -> int:
        """Bytes of the message received so far."""
        return len(self.message) if self.message is not None else len(self._buffer)

    def feed(self, data: bytes) -> bytes | None:
        """Take C{data}; return the message the first time it is complete, else C{None}."""
        if self.message is not None:
            return None
        self._buffer += data[: self.size - len(self._buffer)]
        if len(self._buffer) < self.size:
            return None
        self.message, self._buffer = self._buffer, b""
        return self.message

    def short_message(self) -> str:
        """The book's words for an end of file before the message is complete."""
        return f"socket closed {self.received} bytes into a {self.size}-byte message"


class Sink:
    """Takes a stream until end-of-file, keeping at most C{max_kept} bytes of it."""

    def __init__(self, max_kept: int = DEFAULT_MAX_KEPT) -> None:
        self.max_kept = max_kept
        self.total = 0
        self._kept: list[bytes] = []
        self._room = max_kept

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self._room > 0:
            piece = data[: self._room]
            self._kept.append(piece)
            self._room -= len(piece)

    @property
    def kept(self) -> bytes:
        """The start of the message (all of it unless it passed C{max_kept})."""
        return b"".join(self._kept)

    def report(self) -> str:
        """What the book's server prints at end-of-file, with a note if the text was cut."""
        text = self.kept.decode("utf-8", "replace")
        lines = f"Done receiving the message; it says:\n{text}"
        if self.total > self.max_kept:
            lines += f"\n[{self.total - self.max_kept} more bytes not kept; {self.total} in all]"
        return lines


@implementer(IHalfCloseableProtocol)
class HeyServer(Protocol):
    """I{Introducing Python}'s C{tcp_server.py}: the first bytes get the reply, then a close.

    The book reads one C{recv(1000)} as the request, whatever it holds; so does
    this server (any first chunk is the request, and what follows is ignored).
    """

    answered = False

    def dataReceived(self, data: bytes) -> None:
        if self.answered:
            return
        self.answered = True
        assert self.transport is not None
        command_done(self.transport)
        self.transport.write(HEY_REPLY)
        _report(_observatory(self), "hey", self.transport, len(data), len(HEY_REPLY))
        self.transport.loseConnection()

    def readConnectionLost(self) -> None:
        assert self.transport is not None
        if not self.answered:
            log.info("{peer} closed without saying anything", peer=where(self.transport.getPeer()))
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """The client stopped reading; the reply, if any, is already on its way."""

    def command_timed_out(self) -> None:
        """A request cannot be unfinished (any byte is one); kept for the command layer."""
        assert self.transport is not None
        self.transport.loseConnection()


class HeyDatagram(DatagramProtocol):
    """I{Introducing Python}'s C{udp_server.py}: each datagram gets C{Are you talking to me?}.

    The reply (22 bytes) is larger than the book's C{Hey!} (4 bytes): a reflector
    with a small gain, which is one reason UDP listeners are loopback-only by default.
    """

    noisy = False

    def __init__(self, observatory: Any = None) -> None:
        self.answered = 0
        self.observatory = observatory if observatory is not None else hub

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.answered += 1
        cast(IUDPTransport, self.transport).write(HEY_REPLY, addr)
        _report(self.observatory, "hey", self.transport, len(data), len(HEY_REPLY), peer=addr)


class LengthDatagram(DatagramProtocol):
    """FOPNP's C{udp_local.py} and C{udp_remote.py} servers: C{Your data was N bytes}.

    @ivar dropper: decides which datagrams to pretend to lose (none by default).
    """

    noisy = False

    def __init__(self, dropper: Dropper | None = None, observatory: Any = None) -> None:
        self.dropper = dropper if dropper is not None else Dropper()
        self.answered = 0
        self.observatory = observatory if observatory is not None else hub

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        if self.dropper.drop():
            log.info("Pretending to drop packet from {addr}", addr=addr)  # the book's words
            _report(
                self.observatory, "length", self.transport, len(data), 0, peer=addr, dropped=True
            )
            return
        self.answered += 1
        reply = length_reply(len(data))
        cast(IUDPTransport, self.transport).write(reply, addr)
        _report(self.observatory, "length", self.transport, len(data), len(reply), peer=addr)


@implementer(IHalfCloseableProtocol)
class SixteenServer(Protocol):
    """FOPNP's C{tcp_sixteen.py} server: 16 bytes in, C{Farewell, client} out, then close."""

    def __init__(self) -> None:
        self.reader = FixedLength(SIXTEEN)

    def dataReceived(self, data: bytes) -> None:
        message = self.reader.feed(data)
        if message is None:
            return
        assert self.transport is not None
        command_done(self.transport)
        log.info("The incoming sixteen-octet message says {message!r}", message=message)
        self.transport.write(FAREWELL)
        _report(_observatory(self), "sixteen", self.transport, len(message), len(FAREWELL))
        self.transport.loseConnection()

    def readConnectionLost(self) -> None:
        assert self.transport is not None
        if self.reader.message is None:
            log.info(
                "{peer}: {why}",
                peer=where(self.transport.getPeer()),
                why=self.reader.short_message(),
            )
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """The client stopped reading; nothing more is written after the farewell."""

    def command_timed_out(self) -> None:
        """The 16 bytes did not come in time: close, as the book's would on EOF."""
        assert self.transport is not None
        log.info(
            "{peer}: {why} (timed out)",
            peer=where(self.transport.getPeer()),
            why=self.reader.short_message(),
        )
        self.transport.loseConnection()


@implementer(IHalfCloseableProtocol)
class StreamerSink(Protocol):
    """FOPNP's C{streamer.py} server: shut the write side at accept, read to end-of-file."""

    def __init__(self, max_kept: int = DEFAULT_MAX_KEPT) -> None:
        self.sink = Sink(max_kept)
        self.finished = False

    def connectionMade(self) -> None:
        assert self.transport is not None
        command_deadline_off(self.transport)  # a stream, not commands: the idle timeout applies
        if not ISSLTransport.providedBy(self.transport):
            # TLS has no half-close to offer (shutting the TCP write side would cut
            # the handshake short); over TLS the sink just never writes.
            self.transport.loseWriteConnection()  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        self.sink.feed(data)

    def readConnectionLost(self) -> None:
        self.finished = True
        log.info("{report}", report=self.sink.report())
        _report(_observatory(self), "streamer", self.transport, self.sink.total, 0)
        assert self.transport is not None
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """Our own write side is shut (at accept); nothing to do."""

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if not self.finished and reason is not None and reason.check(ConnectionDone):
            # Over TLS the client's close_notify ends the stream: a clean close.
            self.readConnectionLost()
            return
        if not self.finished:
            log.info(
                "connection lost after {n} bytes, before end-of-file: {why}",
                n=self.sink.total,
                why=reason.getErrorMessage() if reason is not None else "unknown",
            )


class ExerciseFactory(Factory):
    """Builds one exercise's stream protocol (L{HeyServer}, L{SixteenServer}, L{StreamerSink})."""

    def __init__(self, protocol: type[Protocol], observatory: Any = None, **kwargs: Any) -> None:
        self.kind = protocol
        self.kwargs = kwargs
        self.observatory = observatory if observatory is not None else hub

    def buildProtocol(self, addr: Any) -> Protocol:
        p = self.kind(**self.kwargs)
        p.factory = self
        return p


__all__ = [
    "DEFAULT_MAX_KEPT",
    "Dropper",
    "ExerciseFactory",
    "FAREWELL",
    "FixedLength",
    "HEY_PORT",
    "HEY_REPLY",
    "HeyDatagram",
    "HeyServer",
    "LENGTH_PORT",
    "LengthDatagram",
    "MAX_DATAGRAM",
    "SIXTEEN_PORT",
    "STREAMER_PORT",
    "Sink",
    "SixteenServer",
    "StreamerSink",
    "exchange_fields",
    "length_reply",
]
