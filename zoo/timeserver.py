"""Time services: *Introducing Python*'s exercise 17.1, RFC 868 time and RFC 867 daytime.

Three protocols, each over TCP and UDP, all reading one injected clock
(L{twisted.internet.interfaces.IReactorTime}: the reactor in service, a
L{twisted.internet.task.Clock} in tests). Nothing here calls C{time.time()}.

B{ISO time} (exercise 17.1, "when a client sends the string C{time} to the server,
return the current date and time as an ISO string"): the request is C{time}, with or
without a line ending; the reply is C{datetime.isoformat()} in UTC with an explicit
offset, C{2026-11-21T06:25:43.123456+00:00} (or the server's local time and offset
with C{local=True}), followed by the request's own line ending if it had one, so the
book's C{recv()}-once client gets exactly the ISO string and C{nc} users get lines.
Anything else gets C{error: unknown request ...; send 'time'}. Over TCP the
connection stays open for more requests; a bare request that cannot become C{time}
gets the error and the connection is closed (there is no line ending to resync on).

B{RFC 868 time}: on connection (TCP) or on any datagram (UDP) the server sends the
time as a 32-bit unsigned big-endian count of seconds since 1900-01-01T00:00:00Z, and
(TCP) closes. Twisted's C{wire.Time} sends the 1970-based Unix time as a signed
integer: wrong by 70 years. The 32-bit count wraps on 2036-02-07T06:28:16Z; this
server sends the value modulo 2**32 then, as RFC 868's successors (and C{rdate})
expect ("era 1").

B{RFC 867 daytime}: on connection or datagram, a human-readable line in the format
the RFC suggests, C{Saturday, November 21, 2026 06:25:43-UTC\\r\\n}, then (TCP)
close. (Twisted's C{wire.Daytime} raises C{TypeError} on Python 3.)
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any, cast

from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IReactorTime,
    ITCPTransport,
    IUDPTransport,
)
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from zope.interface import implementer

from zoo.events import hub, session_of
from zoo.flow import ReadGate
from zoo.policies import command_done, fast_writer

ISO_PORT = 1013
RFC868_PORT = 1037
DAYTIME_PORT = 1867

#: Seconds from 1900-01-01 to 1970-01-01 (RFC 868: 2,208,988,800).
EPOCH_1900 = 2_208_988_800
_U32 = struct.Struct("!I")

REQUEST = b"time"
KINDS = ("iso", "rfc868", "daytime")
#: The longest unterminated input kept while waiting for a line ending.
MAX_REQUEST = 256

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January February March April May June July August September October November December"
).split()


# -- the pure part: a time in, bytes out -------------------------------------------------


def rfc868(seconds: float) -> bytes:
    """RFC 868's 4 bytes for a Unix time: seconds since 1900, unsigned, modulo 2**32."""
    return _U32.pack((int(seconds // 1) + EPOCH_1900) % 2**32)


def from_rfc868(data: bytes, now: float) -> float:
    """Decode RFC 868 bytes to a Unix time, choosing the 136-year era nearest C{now}."""
    (value,) = _U32.unpack(data)
    base = value - EPOCH_1900
    era = round((now - base) / 2**32)
    return float(base + era * 2**32)


def iso(seconds: float, local: bool = False) -> bytes:
    """ISO 8601 date and time with its UTC offset (UTC unless C{local})."""
    when = datetime.fromtimestamp(seconds, UTC)
    if local:
        when = when.astimezone()
    return when.isoformat().encode("ascii")


def daytime(seconds: float) -> bytes:
    """RFC 867 daytime, in the RFC's suggested format, in UTC, with CRLF."""
    t = datetime.fromtimestamp(seconds, UTC)
    return (
        f"{_DAYS[t.weekday()]}, {_MONTHS[t.month - 1]} {t.day}, {t.year} "
        f"{t.hour:02}:{t.minute:02}:{t.second:02}-UTC\r\n"
    ).encode("ascii")


def error_for(request: bytes) -> bytes:
    shown = request[:40].decode("ascii", "backslashreplace")
    return f"error: unknown request {shown!r}; send 'time'".encode("ascii")


class IsoSession:
    """The server side of an ISO time conversation over a stream, without I/O.

    L{feed} takes bytes and the current time; it returns the bytes to send. When
    L{closing} is set the caller sends them and closes.
    """

    __slots__ = ("local", "_buffer", "_after_bare", "closing")

    def __init__(self, local: bool = False) -> None:
        self.local = local
        self._buffer = b""
        self._after_bare = False
        self.closing = False

    def answer(self, request: bytes, now: float) -> bytes:
        """The reply to one request (its line ending, if any, included)."""
        ending = request[len(request.rstrip(b"\r\n")) :]
        body = request[: len(request) - len(ending)]
        if body.strip(b" \t").lower() == REQUEST:
            return iso(now, self.local) + ending
        return error_for(body) + (ending or b"\r\n")

    def feed(self, data: bytes, now: float) -> bytes:
        """Take bytes from the client; return the replies they complete.

        However a stream of C{time} lines is cut into reads, the replies are the
        same bytes: a bare C{time} is answered at once, and a line ending that
        arrives after it is sent after the reply, completing its line.
        """
        if self.closing:
            return b""
        buf = self._buffer + data
        out = []
        if self._after_bare and buf:
            rest = buf.lstrip(b" \t")
            if rest in (b"", b"\r") and len(buf) <= MAX_REQUEST:
                self._buffer = buf  # blanks or a CR: wait for what follows
                return b""
            ending = b"\r\n" if rest.startswith(b"\r\n") else b"\n" if rest[:1] == b"\n" else b""
            if ending:
                out.append(ending)
                buf = rest[len(ending) :]
            self._after_bare = False
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line, buf = buf[: nl + 1], buf[nl + 1 :]
            if line.strip():
                out.append(self.answer(line, now))
        key = buf.strip(b" \t\r").lower()
        if key == REQUEST and not buf.endswith(b"\r"):
            # A bare 'time' (the book's recv()-once client): answer now.
            out.append(iso(now, self.local))
            self._after_bare = True
            buf = b""
        elif (key and not REQUEST.startswith(key)) or len(buf) > MAX_REQUEST:
            # It can no longer become 'time' and has no line ending to resync on.
            out.append(error_for(buf.rstrip(b"\r")) + b"\r\n")
            self.closing = True
            buf = b""
        self._buffer = buf
        return b"".join(out)


# -- the Twisted adapters ----------------------------------------------------------------


class _Clocked(Factory):
    """A factory holding the clock and the choice of local time."""

    #: The format L{tell} reports (set by each factory).
    format = "iso"

    def __init__(
        self, clock: IReactorTime | None = None, local: bool = False, observatory: Any = None
    ) -> None:
        if clock is None:
            from twisted.internet import reactor

            clock = cast(IReactorTime, reactor)
        self.clock: IReactorTime = clock
        self.local = local
        self.observatory = observatory if observatory is not None else hub

    def tell(self, transport: Any, reply: bytes, protocol: str = "tcp") -> None:
        """Report C{time.told} for C{reply} (if observed)."""
        if self.observatory.enabled:
            self.observatory.emit(
                "time",
                "time.told",
                session_of(transport),
                format=self.format,
                protocol=protocol,
                reply=reply.decode("ascii", "backslashreplace")[:200],
            )

    def now(self) -> float:
        return self.clock.seconds()


@implementer(IHalfCloseableProtocol)
class IsoTimeServer(Protocol):
    """Exercise 17.1 over TCP: answer each C{time} request with the ISO time.

    Half-closeable: C{printf 'time\\n' | nc HOST PORT} sends its request and its FIN
    together; without half-close Twisted would drop the connection, and the reply
    still in its write buffer, as soon as it read the FIN.
    """

    def __init__(self, factory: IsoTimeFactory) -> None:
        self.factory = factory
        self.session = IsoSession(factory.local)

    def connectionMade(self) -> None:
        self._write = fast_writer(self.transport)
        # Stop reading while answers back up unread. Nothing is written before the
        # client asks, so under TLS the gate can register before the handshake.
        self.gate = ReadGate(self.transport).start(after_handshake=False)

    def readConnectionLost(self) -> None:
        transport = self.transport
        assert transport is not None  # connected
        transport.loseConnection()

    def writeConnectionLost(self) -> None:
        transport = self.transport
        assert transport is not None  # connected
        transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        reply = self.session.feed(data, self.factory.now())
        if reply:
            command_done(self.transport)  # a request line was completed
            self._write(reply)
            self.factory.tell(self.transport, reply)
        if self.session.closing:
            transport = self.transport
            assert transport is not None  # connected: data arrived on it
            transport.loseConnection()


class IsoTimeFactory(_Clocked):
    def buildProtocol(self, addr: Any) -> IsoTimeServer:
        return IsoTimeServer(self)


@implementer(IHalfCloseableProtocol)
class _SayAndClose(Protocol):
    """Send one message computed at connection time, then close (RFC 867/868 over TCP).

    Half-closeable so that a client which shuts down its writing side at once
    (C{nc -N HOST 1037 </dev/null}) still gets the message: otherwise Twisted
    would drop it from the write buffer on reading the FIN.
    """

    def connectionMade(self) -> None:
        transport = self.transport
        assert transport is not None  # makeConnection set it
        message = self.factory.message(self.factory.now())
        fast_writer(transport)(message)
        self.factory.tell(transport, message)
        transport.loseConnection()

    def readConnectionLost(self) -> None:
        pass  # already closing once the message is sent

    def writeConnectionLost(self) -> None:
        cast(ITCPTransport, self.transport).abortConnection()


class Rfc868Factory(_Clocked):
    protocol = _SayAndClose
    format = "rfc868"

    def message(self, now: float) -> bytes:
        return rfc868(now)


class DaytimeFactory(_Clocked):
    protocol = _SayAndClose
    format = "daytime"

    def message(self, now: float) -> bytes:
        return daytime(now)


class TimeDatagram(DatagramProtocol):
    """Any of the three services over UDP: one reply datagram per request datagram.

    C{kind} is C{"iso"} (the request must be C{time}), C{"rfc868"} or C{"daytime"}
    (any datagram, usually empty, gets the time).
    """

    noisy = False

    def __init__(
        self,
        kind: str,
        clock: IReactorTime | None = None,
        local: bool = False,
        observatory: Any = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown time service {kind!r}; choose from {', '.join(KINDS)}")
        self.kind = kind
        self.clock = _Clocked(clock, local, observatory)
        self.clock.format = kind
        self.answered = 0

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        now = self.clock.now()
        if self.kind == "iso":
            reply = IsoSession(self.clock.local).answer(data, now)
        elif self.kind == "rfc868":
            reply = rfc868(now)
        else:
            reply = daytime(now)
        self.answered += 1
        cast(IUDPTransport, self.transport).write(reply, addr)
        self.clock.tell(None, reply, "udp")


__all__ = [
    "DAYTIME_PORT",
    "DaytimeFactory",
    "EPOCH_1900",
    "ISO_PORT",
    "IsoSession",
    "IsoTimeFactory",
    "RFC868_PORT",
    "Rfc868Factory",
    "TimeDatagram",
    "daytime",
    "from_rfc868",
    "iso",
    "rfc868",
]
