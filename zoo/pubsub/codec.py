"""RESP2, the Redis wire format, for the commands a pub-sub broker receives and the replies it sends.

Requests arrive in two shapes, and a connection may mix them:

- a multibulk: C{*<n>\\r\\n} then C{n} times C{$<len>\\r\\n<len bytes>\\r\\n}; binary-safe;
- an inline command: one line ending in C{\\n} (or C{\\r\\n}), split on blanks the way
  C{redis-cli} and Redis do (C{sdssplitargs}: double quotes with C{\\n \\r \\t \\b \\a \\xHH}
  escapes, single quotes with C{\\'}). This is what C{nc} and telnet send.

L{RequestParser} is fed bytes as they arrive and returns the complete commands; any
split of the input gives the same commands. Malformed input or input over a limit sets
L{RequestParser.error} to Redis's message; the caller replies C{-ERR Protocol error: ...}
and closes, as Redis does.

The encoders at the bottom build replies; L{message} and L{pmessage} build the pushed
frames once per publish, shared by every receiving connection (a RESP3 connection gets
the same bytes with C{>} for C{*}, see L{as_push}).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from zoo._twisted.speedups import speedups as _speedups

#: Redis's PROTO_INLINE_MAX_SIZE: longest inline command and longest C{*n}/C{$n} line.
MAX_INLINE = 64 * 1024
DEFAULT_MAX_BULK = 8 * 1024 * 1024
DEFAULT_MAX_ARGS = 64 * 1024
DEFAULT_MAX_REQUEST = 32 * 1024 * 1024

_INT = re.compile(rb"-?[1-9][0-9]{0,17}|0")

#: How a PUBLISH multibulk starts, up to its channel's length (see L{RequestParser._publishes}).
_PUBLISH_HEADS = (b"*3\r\n$7\r\nPUBLISH\r\n$", b"*3\r\n$7\r\npublish\r\n$")
#: The command names the fast path produces: the same objects every time, so their
#: hash is computed once (L{zoo.pubsub.commands.Session.execute} looks them up).
PUBLISH_NAMES = (b"PUBLISH", b"publish")
#: The same, for membership tests (any other spelling takes the general path).
PUBLISH_NAME_SET = frozenset(PUBLISH_NAMES)


def _int(b: bytes | bytearray) -> int | None:
    """Redis's C{string2ll}: an optional minus, no leading zeros, no spaces, no plus."""
    if b.isdigit() and len(b) < 19 and (b[0] != 48 or len(b) == 1):  # the common case
        return int(b)
    if _INT.fullmatch(b) is None:
        return None
    return int(b)


class RequestParser:
    """Split a byte stream into commands (lists of C{bytes} arguments).

    @ivar error: C{None}, or the reason (Redis's words) the stream cannot be parsed;
        once set, L{feed} returns nothing more.
    """

    __slots__ = ("max_bulk", "max_args", "max_request", "error", "_buf", "_args", "_need", "_want")

    def __init__(
        self,
        max_bulk: int = DEFAULT_MAX_BULK,
        max_args: int = DEFAULT_MAX_ARGS,
        max_request: int = DEFAULT_MAX_REQUEST,
    ) -> None:
        self.max_bulk = max_bulk
        self.max_args = max_args
        self.max_request = max_request
        self.error: str | None = None
        self._buf = bytearray()
        self._args: list[bytes] | None = None  # the multibulk being read
        self._need = 0  # arguments still to read for it
        self._want = 0  # bytes needed before parsing can progress

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete command."""
        return len(self._buf) + sum(map(len, self._args or ()))

    @property
    def at_boundary(self) -> bool:
        """Whether everything received so far was whole commands (and no error)."""
        return self._args is None and not self._buf and self.error is None

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Take bytes from the client; return the commands they complete, in order."""
        if self.error is not None:
            return []
        buf: bytes | bytearray
        if self._buf:
            self._buf += data
            if len(self._buf) < self._want:
                if self.buffered > self.max_request:
                    self.error = "query buffer limit exceeded"
                return []
            buf = self._buf
        else:
            buf = data
        out: list[list[bytes]] = []
        pos = self._parse(buf, out)
        rest = len(buf) - pos
        if rest == 0:
            if buf is self._buf:
                self._buf = bytearray()
        elif buf is self._buf:
            del buf[:pos]
        else:
            self._buf = bytearray(memoryview(buf)[pos:])
        # (Nothing is buffered after a read that ended on a command boundary.)
        if self.error is None and (rest or self._args) and self.buffered > self.max_request:
            self.error = "query buffer limit exceeded"
        return out

    def _parse(self, buf: bytes | bytearray, out: list[list[bytes]]) -> int:
        pos = 0
        end = len(buf)
        args, need = self._args, self._need
        find = buf.find
        self._want = 0
        try:
            while pos < end:
                if args is None:
                    if buf[pos] == 42:  # '*': maybe a run of PUBLISH commands
                        pos = self._publishes(buf, pos, out)
                        if pos >= end:
                            break
                    if buf[pos] != 42:  # not '*': an inline command
                        nl = find(b"\n", pos)
                        if nl < 0:
                            if end - pos > MAX_INLINE:
                                self.error = "too big inline request"
                            return pos
                        line = bytes(buf[pos : nl - 1 if nl > pos and buf[nl - 1] == 13 else nl])
                        pos = nl + 1
                        argv = split_args(line)
                        if argv is None:
                            self.error = "unbalanced quotes in request"
                            return pos
                        if argv:
                            out.append(argv)
                        continue
                    nl = find(b"\r\n", pos)
                    if nl < 0:
                        if end - pos > MAX_INLINE:
                            self.error = "too big mbulk count string"
                        return pos
                    n = _int(buf[pos + 1 : nl])
                    if n is None or n > self.max_args:
                        self.error = "invalid multibulk length"
                        return pos
                    pos = nl + 2
                    if n <= 0:
                        continue
                    args, need = [], n
                while need:
                    if pos >= end:
                        return pos
                    if buf[pos] != 36:  # '$'
                        got = bytes([buf[pos]]).decode("utf-8", "surrogateescape")  # the raw byte
                        self.error = f"expected '$', got '{got}'"
                        return pos
                    nl = find(b"\r\n", pos)
                    if nl < 0:
                        if end - pos > MAX_INLINE:
                            self.error = "too big bulk count string"
                        return pos
                    length = _int(buf[pos + 1 : nl])
                    if length is None or length < 0 or length > self.max_bulk:
                        self.error = "invalid bulk length"
                        return pos
                    start = nl + 2
                    stop = start + length
                    if stop + 2 > end:
                        self._want = stop + 2 - pos
                        return pos
                    args.append(bytes(buf[start:stop]))
                    pos = stop + 2  # like Redis, the two bytes after the data are not checked
                    need -= 1
                out.append(args)
                args = None
            return pos
        finally:
            self._args, self._need = args, need

    def _publishes(self, buf: bytes | bytearray, pos: int, out: list[list[bytes]]) -> int:
        """The fast path: parse the complete PUBLISH commands at C{pos}; return where they end.

        See L{scan_publishes}; none are taken when fewer than three arguments are allowed.
        """
        if self.max_args < 3:
            return pos
        return SCAN_PUBLISHES(buf, pos, out, self.max_bulk, PUBLISH_NAMES)


def _bulk_at(buf: bytes | bytearray, start: int, max_bulk: int) -> tuple[int, int] | None:
    """Where the bulk whose length line starts at C{start} has its data: (start, stop).

    C{None} unless the line is digits only, without a leading zero (like L{_int}),
    short (so the search for its CRLF is bounded too) and within C{max_bulk}.
    """
    nl = buf.find(b"\r\n", start, start + 20)
    if nl < 0:
        return None
    digits = buf[start:nl]
    if not digits.isdigit() or (digits[0] == 48 and nl - start > 1):
        return None
    length = int(digits)
    if length > max_bulk:
        return None
    return nl + 2, nl + 2 + length


def scan_publishes(
    buf: bytes | bytearray,
    pos: int,
    out: list[list[bytes]],
    max_bulk: int,
    names: tuple[bytes, bytes] = PUBLISH_NAMES,
) -> int:
    """The fast path: parse the complete PUBLISH commands at C{pos}; return where they end.

    A publisher's pipeline is nearly all C{*3 $7 PUBLISH $n <channel> $m <payload>},
    and the general loop in L{RequestParser._parse} (a C{_int} call and several index checks per
    argument) was about half of zoo's CPU per published message. Here each such
    command costs two bounded C{find}s and two C{int}s on slices (and in the C twin,
    a few comparisons).

    Only a complete, well-formed PUBLISH (name in upper or lower case) within the
    limits is taken; at anything else -- another command, other spellings, a
    command cut by the end of the read, a bad length, a limit -- this stops and
    returns the position of that command untouched, and the general loop reads it
    from there. So both paths give the same commands, errors and partial state
    for any input and any split (tests/test_pubsub_codec.py checks this).

    C{names} are the command names to put in the argvs (upper and lower case). A run
    of commands to the same channel shares one channel object (the pipeline's usual
    case: one object to make, and one for every event that records them to keep).
    C{zoo._twisted._speedups.publishes} is its C twin, used where it is built.
    """
    end = len(buf)
    append = out.append
    last = b""
    while buf.startswith(_PUBLISH_HEADS, pos):
        channel = _bulk_at(buf, pos + 18, max_bulk)
        if channel is None:
            break
        channel_start, channel_stop = channel
        # Like Redis, the two bytes after the data are not checked; then the '$'.
        if channel_stop + 2 >= end or buf[channel_stop + 2] != 36:
            break
        payload = _bulk_at(buf, channel_stop + 3, max_bulk)
        if payload is None or payload[1] + 2 > end:
            break
        payload_start, payload_stop = payload
        if channel_stop - channel_start != len(last) or not buf.startswith(last, channel_start):
            last = bytes(buf[channel_start:channel_stop])
        append(
            [
                names[buf[pos + 8] == 112],  # 'p': which spelling it was
                last,
                bytes(buf[payload_start:payload_stop]),
            ]
        )
        pos = payload_stop + 2
    return pos


#: The PUBLISH scan in use: the C twin where zoo's speedups are built and on.
SCAN_PUBLISHES: Any = _speedups.publishes if _speedups is not None else scan_publishes


_SPACE = frozenset(b" \t\n\r\x0b\x0c")
_SPECIAL = frozenset(b"\"'\x0b\x0c\x00")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


def split_args(line: bytes) -> list[bytes] | None:
    """Split an inline command like Redis's C{sdssplitargs}; C{None} for unbalanced quotes."""
    if not _SPECIAL.intersection(line):
        return line.split()
    line = line.split(b"\x00", 1)[0]  # a C string ends at NUL
    argv: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return argv
        cur = bytearray()
        quote = 0  # the open quote (0x22 or 0x27), or 0 outside quotes
        while True:
            c = line[i] if i < n else 0
            nxt = line[i + 1] if i + 1 < n else 0
            if not quote:
                if i >= n or c in b" \n\r\t\x00":
                    break
                if c in (0x22, 0x27):
                    quote = c
                else:
                    cur.append(c)
            elif (
                quote == 0x22
                and c == 0x5C
                and nxt == 0x78
                and i + 3 < n
                and line[i + 2] in _HEX
                and line[i + 3] in _HEX
            ):
                cur.append(int(line[i + 2 : i + 4], 16))  # "\xHH"
                i += 3
            elif c == 0x5C and (nxt if quote == 0x22 else nxt == 0x27):
                i += 1  # "\n", "\t" ... in double quotes; only \' in single quotes
                cur.append(_ESCAPES.get(nxt, nxt) if quote == 0x22 else nxt)
            elif c == quote:
                if nxt and nxt not in _SPACE:
                    return None  # a closing quote must end the argument
                i += 1
                break
            elif i >= n:
                return None  # unbalanced quotes
            else:
                cur.append(c)
            i += 1
        argv.append(bytes(cur))


# Replies ------------------------------------------------------------------------------

OK = b"+OK\r\n"
PONG = b"+PONG\r\n"
NULL = b"$-1\r\n"
#: RESP3's null (after C{HELLO 3}).
NULL3 = b"_\r\n"


def bulk(value: bytes | None, resp: int = 2) -> bytes:
    if value is None:
        return NULL if resp == 2 else NULL3
    return b"$%d\r\n%b\r\n" % (len(value), value)


def integer(n: int) -> bytes:
    return b":%d\r\n" % n


def status(text: str) -> bytes:
    return b"+" + text.encode() + b"\r\n"


def error(text: str | bytes) -> bytes:
    """An error reply; C{ERR } is prepended unless the text starts with a code like C{-NOPROTO}.

    CR and LF inside the text become spaces, as in Redis, so a reply is always one line.
    """
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    text = text.replace(b"\r", b" ").replace(b"\n", b" ")
    if text.startswith(b"-"):
        return text + b"\r\n"
    return b"-ERR " + text + b"\r\n"


def array(items: Iterable[bytes]) -> bytes:
    """An array of already-encoded replies."""
    items = list(items)
    return b"*%d\r\n" % len(items) + b"".join(items)


def bulk_array(values: Iterable[bytes]) -> bytes:
    return array(bulk(v) for v in values)


def subscription(kind: bytes, name: bytes | None, count: int, resp: int = 2) -> bytes:
    """A (un)subscribe confirmation: C{[kind, name, count]} (a push in RESP3)."""
    head = b"*" if resp == 2 else b">"
    return head + b"3\r\n$%d\r\n%b\r\n%b:%d\r\n" % (len(kind), kind, bulk(name, resp), count)


def as_push(frame: bytes) -> bytes:
    """A pushed RESP2 frame (C{*3...} or C{*4...}) as RESP3 sends it (C{>3...})."""
    return b">" + frame[1:]


def mapping(items: Iterable[tuple[bytes, bytes]], resp: int = 2) -> bytes:
    """A map of already-encoded keys and values: a flat array in RESP2, C{%} in RESP3."""
    items = list(items)
    if resp == 2:
        return b"*%d\r\n" % (2 * len(items)) + b"".join(k + v for k, v in items)
    return b"%%%d\r\n" % len(items) + b"".join(k + v for k, v in items)


def message(channel: bytes, payload: bytes) -> bytes:
    """The frame pushed to channel subscribers: C{["message", channel, payload]}."""
    return b"*3\r\n$7\r\nmessage\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        len(channel),
        channel,
        len(payload),
        payload,
    )


def pmessage(pattern: bytes, channel: bytes, payload: bytes) -> bytes:
    """The frame pushed to pattern subscribers: C{["pmessage", pattern, channel, payload]}."""
    return b"*4\r\n$8\r\npmessage\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        len(pattern),
        pattern,
        len(channel),
        channel,
        len(payload),
        payload,
    )


def command(*args: bytes) -> bytes:
    """Encode a command as a multibulk (what a client sends)."""
    return b"*%d\r\n" % len(args) + b"".join(bulk(a) for a in args)
