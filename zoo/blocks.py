"""Length-prefixed blocks: the framing of *Foundations of Python Network Programming*'s C{blocks.py}.

Each block is a 4-byte big-endian unsigned length (C{struct.Struct('!I')}) and then
that many bytes. A block of length zero ends a series (so an empty message cannot be
sent: by design, as in the book). The book's client sends::

    b'\\x00\\x00\\x00\\x1eBeautiful is better than ugly.'
    b'\\x00\\x00\\x00!Explicit is better than implicit.'
    b'\\x00\\x00\\x00\\x1eSimple is better than complex.'
    b'\\x00\\x00\\x00\\x00'

Two modes:

- C{sink} (the default, the book's server): log C{Message says: '...'} for each block
  and send nothing back. The book's client shuts down its reading side; a server that
  answered would make the client's C{close()} reset the connection.
- C{echo}: send each block back, framed the same way, including the zero-length
  terminator. Useful to client tests and to the benchmark.

Limits: a header announcing more than C{max_size} bytes (default 16 MiB, against
Twisted's C{Int32StringReceiver.MAX_LENGTH} of 99,999) gets a framed error block and
the connection is closed. A connection that ends inside a header or a body is logged
as the book's C{recvall} reports it: C{socket closed 2 bytes into a 4-byte message}.

L{BlockParser} is the pure part: feed it bytes, get blocks. Unlike Twisted's
C{IntNStringReceiver}, which rebuilds C{unprocessed + data} on every read (quadratic
for a large block arriving in 64 KiB reads), it keeps a large body as a list of
chunks and joins them once.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo._twisted.speedups import speedups as _speedups
from zoo.events import hub, session_of
from zoo.flow import GatedStream
from zoo.policies import command_done, fast_writer, where

log = Logger()

PORT = 1061
HEADER = struct.Struct("!I")
ZERO = HEADER.pack(0)
DEFAULT_MAX_SIZE = 16 * 1024 * 1024
MODES = ("sink", "echo")
#: Blocks logged per connection in sink mode; later ones are counted, not logged.
LOG_LIMIT = 100


class End:
    """The zero-length block: the end of a series."""

    def __repr__(self) -> str:
        return "END"


END = End()


class BlockTooLarge(Exception):
    """A header announced a block longer than the limit."""

    def __init__(self, length: int, limit: int, before: list[bytes | End]) -> None:
        super().__init__(f"block of {length} bytes is larger than the limit of {limit} bytes")
        self.length = length
        self.limit = limit
        #: The complete blocks the same read held before the oversized header.
        self.before = before


def frame(message: bytes) -> bytes:
    """The bytes that send C{message} as one block."""
    return HEADER.pack(len(message)) + message


class BlockParser:
    """Split a byte stream into blocks.

    L{feed} returns the complete blocks (C{bytes}) and end-of-series markers
    (L{END}) the new bytes finish, in order. It raises L{BlockTooLarge} as soon as a
    header announces more than C{max_size} bytes (its C{before} holds the blocks
    that came earlier in the same read); after that, L{feed} ignores everything.
    """

    __slots__ = ("max_size", "failed", "_head", "_length", "_parts", "_got")

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size
        self.failed = False
        self._head = b""  # a partial header
        self._length = -1  # body length being read, or -1 between blocks
        self._parts: list[bytes] = []
        self._got = 0

    def feed(self, data: bytes) -> list[bytes | End]:
        out: list[bytes | End] = []
        if self.failed:
            return out
        i, n = 0, len(data)
        unpack = HEADER.unpack_from
        while i < n:
            if self._length < 0:
                if not self._head and n - i >= 4:
                    (length,) = unpack(data, i)
                    i += 4
                else:
                    take = 4 - len(self._head)
                    self._head += data[i : i + take]
                    i += take
                    if len(self._head) < 4:
                        break
                    (length,) = HEADER.unpack(self._head)
                    self._head = b""
                if length == 0:
                    out.append(END)
                    continue
                if length > self.max_size:
                    self.failed = True
                    raise BlockTooLarge(length, self.max_size, out)
                self._length = length
                if n - i >= length:  # the whole body is here: the fast path
                    out.append(data[i : i + length])
                    i += length
                    self._length = -1
                    continue
            need = self._length - self._got
            chunk = data[i : i + need]
            i += len(chunk)
            self._parts.append(chunk)
            self._got += len(chunk)
            if self._got == self._length:
                out.append(b"".join(self._parts))
                self._parts = []
                self._got = 0
                self._length = -1
        return out

    def between(self) -> bool:
        """Whether the parser is between blocks (no partial header or body, not failed)."""
        return not self.failed and not self._head and self._length < 0

    def pending(self) -> tuple[int, int] | None:
        """C{(received, expected)} for an unfinished header or body, else C{None}.

        Named as the book's C{recvall} does: a header is a 4-byte message.
        """
        if self.failed:
            return None
        if self._head:
            return len(self._head), HEADER.size
        if self._length > 0:
            return self._got, self._length
        return None


def skim_blocks(data: bytes, limit: int) -> tuple[int, int] | None:
    """C{(blocks, ends)}: the non-empty and the zero-length blocks C{data} holds, if
    it is whole blocks only, each announcing at most C{limit} bytes; else C{None}.

    L{WholeBlocks.echo} counts with it; its C twin counts the same way.
    """
    i, n = 0, len(data)
    blocks = ends = 0
    unpack = HEADER.unpack_from
    while i + 4 <= n:
        (length,) = unpack(data, i)
        if length > limit:
            return None
        i += 4 + length
        if length:
            blocks += 1
        else:
            ends += 1
    return (blocks, ends) if i == n else None


class WholeBlocks:
    """A connection's block and series counts, and echo mode's step for a read of whole blocks.

    C{echo(data)}: when the parser is between blocks (C{clean}) and C{data} is whole
    blocks only, each announcing at most C{limit} bytes (L{skim_blocks}), count them,
    stop the command clock (C{done(transport)}), send C{data} back as it came with
    C{write} and return C{True}. Anything else changes nothing and returns C{False}:
    the caller parses the read.

    A read at least C{grow_at} long is declined too (the server reads bigger chunks
    first, then asks again).

    C{zoo._twisted._speedups.WholeBlocks} is its C twin, used where it is built: the
    poll loop's C dispatch runs it for a read with no Python frame
    (C{_speedups.step}), and calls C{dataReceived} only when it declines.
    """

    __slots__ = ("limit", "done", "blocks", "series", "clean", "grow_at", "transport", "write")

    def __init__(self, limit: int, done: Callable[[Any], None]) -> None:
        self.limit = limit
        self.done = done
        self.blocks = 0
        self.series = 0
        self.clean = True
        self.grow_at = sys.maxsize
        self.transport: Any = None
        self.write: Callable[[bytes], object] | None = None

    def echo(self, data: bytes) -> bool:
        if not self.clean or self.write is None or len(data) >= self.grow_at:
            return False
        counts = skim_blocks(data, self.limit)
        if counts is None:
            return False
        if self.transport is not None:
            self.done(self.transport)
        self.blocks += counts[0]
        self.series += counts[1]
        self.write(data)
        return True


#: The counts in use: the C twin where zoo's speedups are built and on.
WHOLE_BLOCKS: Any = _speedups.WholeBlocks if _speedups is not None else WholeBlocks


def describe(message: bytes, limit: int = 60) -> str:
    """The book's C{repr} of a message, cut short for long ones."""
    text = message[:limit].decode("utf-8", "replace")
    if len(message) > limit:
        return f"{text!r}... ({len(message)} bytes)"
    return repr(text)


@implementer(IHalfCloseableProtocol)
class BlocksServer(GatedStream):
    """One connection: parse blocks, then log them (sink) or send them back (echo).

    @cvar fast: echo with L{zoo.policies.fast_writer} (see L{zoo.echo.EchoServer}).
    """

    fast = True

    def __init__(self, mode: str = "sink", max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.mode = mode
        self.parser = BlockParser(max_size)
        #: The counts of blocks and series (and echo mode's step for whole blocks):
        #: a L{WholeBlocks} or its C twin.
        self.tally = WHOLE_BLOCKS(max_size, command_done)
        self._step: Any = None  # echo mode: the tally, whose echo() is the read step

    @property
    def blocks(self) -> int:
        """Non-empty blocks received so far."""
        return self.tally.blocks  # type: ignore[no-any-return]

    @property
    def series(self) -> int:
        """Series ended (zero-length blocks received) so far."""
        return self.tally.series  # type: ignore[no-any-return]

    def connectionMade(self) -> None:
        super().connectionMade()
        transport = self.transport
        assert transport is not None  # makeConnection set it
        self._write = fast_writer(transport) if self.fast else transport.write
        self.peer = where(transport.getPeer())
        self.observatory = getattr(getattr(self, "factory", None), "observatory", hub)
        if self.mode == "sink":
            log.info("Accepted connection from {peer}", peer=self.peer)
        else:
            self.tally.transport = transport
            self.tally.write = self._write
            self.tally.grow_at = self.grow_at
            self._step = self.tally

    def dataReceived(self, data: bytes) -> None:
        # Whole blocks only: sent back as they came, and counted (the C dispatch runs
        # the C step itself, and calls this only when it declines).
        step = self._step
        if step is not None and step.echo(data):
            return
        if len(data) >= self._grow_at:
            self.read_more()
            if step is not None and step.echo(data):
                return
        try:
            events = self.parser.feed(data)
        except BlockTooLarge as e:
            self.tally.clean = False
            self.handle(e.before)
            log.warn("closing {peer}: {error}", peer=self.peer, error=str(e))
            transport = self.transport
            assert transport is not None  # connected: data arrived on it
            transport.write(frame(f"error: {e}".encode()))
            self.finish()
            return
        self.tally.clean = self.parser.between()
        if events:
            command_done(self.transport)  # a block, or its end, is complete
        self.handle(events)

    def handle(self, events: list[bytes | End]) -> None:
        """Send back (echo) or log (sink) the blocks of one read."""
        tally = self.tally
        if self.mode == "echo":
            parts: list[bytes] = []
            size = 0
            for e in events:
                if e is END:
                    tally.series += 1
                    parts.append(ZERO)
                else:
                    tally.blocks += 1
                    parts += (HEADER.pack(len(e)), e)  # type: ignore[arg-type]
                    size += len(e)  # type: ignore[arg-type]
            if size < 1 << 16:  # small: one send; large: no copy of the bodies
                if parts:
                    self._write(b"".join(parts))
            else:
                for part in parts:
                    self._write(part)
            return
        for e in events:
            if e is END:
                tally.series += 1
                log.info("{peer}: end of series ({n} blocks)", peer=self.peer, n=self.blocks)
                continue
            tally.blocks += 1
            if self.observatory.enabled:
                self.observatory.emit(
                    "blocks",
                    "blocks.block",
                    session_of(self.transport),
                    size=len(e),  # type: ignore[arg-type]
                    text=describe(e),  # type: ignore[arg-type]
                )
            if self.blocks <= LOG_LIMIT:
                log.info("Message says: {text}", text=describe(e))  # type: ignore[arg-type]
                if self.blocks == LOG_LIMIT:
                    log.info("{peer}: further blocks are counted, not logged", peer=self.peer)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        pending = self.parser.pending()
        if pending is not None:
            got, expected = pending
            log.warn(
                "{peer}: EOFError: socket closed {got} bytes into a {expected}-byte message",
                peer=self.peer,
                got=got,
                expected=expected,
            )
        elif self.mode == "sink":
            log.info("{peer}: closed after {n} blocks", peer=self.peer, n=self.blocks)
        observatory = getattr(self, "observatory", hub)
        if observatory.enabled:
            observatory.emit(
                "blocks",
                "blocks.closed",
                session_of(self.transport),
                mode=self.mode,
                blocks=self.blocks,
                series=self.series,
            )


# The poll loop's C dispatch runs a BlocksServer's step itself, while this
# dataReceived is still the class's.
if _speedups is not None:
    _speedups.step(BlocksServer.dataReceived, BlocksServer)


class BlocksFactory(Factory):
    """Builds L{BlocksServer}s sharing one mode and size limit."""

    def __init__(
        self, mode: str = "sink", max_size: int = DEFAULT_MAX_SIZE, observatory: Any = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        self.observatory = observatory if observatory is not None else hub
        self.mode = mode
        self.max_size = max_size

    def buildProtocol(self, addr: Any) -> BlocksServer:
        p = BlocksServer(self.mode, self.max_size)
        p.factory = self
        return p


__all__ = [
    "END",
    "BlockParser",
    "BlockTooLarge",
    "BlocksFactory",
    "BlocksServer",
    "DEFAULT_MAX_SIZE",
    "frame",
    "skim_blocks",
    "WholeBlocks",
]
