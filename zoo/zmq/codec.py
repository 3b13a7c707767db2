"""ZMTP 3.0 and 3.1 on the wire, without any I/O: the greeting, frames, commands.

What the bytes look like (rfc.zeromq.org specs 23, ZMTP 3.0, and 37, ZMTP 3.1):

- the B{greeting}, 64 bytes each way: the signature C{FF, 8 padding bytes, 7F},
  the version (major 3, minor 0 or 1), the mechanism name padded with zeros to 20
  bytes (C{NULL} here), the as-server byte and 31 bytes of filler;
- then B{frames}: a flags byte (bit 0 MORE, bit 1 LONG, bit 2 COMMAND), a size
  (one byte, or eight in network order when LONG), and the body;
- a B{command} is one frame whose body is a name (one length byte, then the name)
  and data. The NULL mechanism's handshake is one C{READY} each way, whose data is
  properties: a name (one length byte), a value (four length bytes);
- a B{message} is one or more frames, all but the last with MORE set.

L{Decoder} takes bytes as they come and returns whole messages and commands,
refusing frames, messages and part counts over its limits with L{ProtocolError}.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: The signature's first and last byte; the 8 bytes between are padding.
SIGNATURE_HEAD = b"\xff"
SIGNATURE_TAIL = b"\x7f"
GREETING_SIZE = 64
#: Bytes of the greeting that say it is ZMTP 3 (signature and major version).
MORE = 0x01
LONG = 0x02
COMMAND = 0x04

#: The most bytes in one message (all its frames) unless configured otherwise.
DEFAULT_MAX_MESSAGE = 1024 * 1024
#: The most frames in one message unless configured otherwise.
DEFAULT_MAX_PARTS = 64

_LONG_SIZE = struct.Struct("!Q")
_PROP_SIZE = struct.Struct("!I")


class ProtocolError(Exception):
    """The peer broke ZMTP; the connection is closed, with C{ERROR} if one can be sent."""


@dataclass(frozen=True)
class Greeting:
    """What a peer's greeting says."""

    major: int
    minor: int
    mechanism: bytes
    as_server: bool


def greeting(minor: int = 1, mechanism: bytes = b"NULL", as_server: bool = False) -> bytes:
    """Our 64-byte greeting: ZMTP 3.C{minor} with C{mechanism}."""
    return (
        SIGNATURE_HEAD
        + b"\x00" * 8
        + SIGNATURE_TAIL
        + bytes([3, minor])
        + mechanism.ljust(20, b"\x00")
        + (b"\x01" if as_server else b"\x00")
        + b"\x00" * 31
    )


def check_signature(data: bytes) -> None:
    """Raise L{ProtocolError} unless C{data} (the first bytes seen) can start a ZMTP 3 greeting."""
    if data[:1] and data[:1] != SIGNATURE_HEAD:
        raise ProtocolError("not a ZMTP greeting (first byte is not 0xFF)")
    if len(data) >= 10 and data[9:10] != SIGNATURE_TAIL:
        raise ProtocolError("not a ZMTP 3 greeting (byte 10 is not 0x7F)")
    if len(data) >= 11 and data[10] < 3:
        raise ProtocolError(f"ZMTP {data[10]}.x is not supported (only 3.0 and 3.1)")


def parse_greeting(data: bytes) -> Greeting:
    """Parse a whole 64-byte greeting; raise L{ProtocolError} if it is not ZMTP 3."""
    if len(data) != GREETING_SIZE:
        raise ProtocolError("short greeting")
    check_signature(data)
    mechanism = data[12:32].rstrip(b"\x00")
    if not mechanism or not all(0x20 < c < 0x7F for c in mechanism):
        raise ProtocolError("malformed mechanism in the greeting")
    if data[32] not in (0, 1):
        raise ProtocolError("malformed as-server byte in the greeting")
    return Greeting(data[10], data[11], mechanism, bool(data[32]))


def frame(body: bytes, more: bool = False, command: bool = False) -> bytes:
    """One frame carrying C{body}: short (one size byte) up to 255 bytes, long beyond."""
    flags = (MORE if more else 0) | (COMMAND if command else 0)
    size = len(body)
    if size < 256:
        return bytes((flags, size)) + body
    return bytes((flags | LONG,)) + _LONG_SIZE.pack(size) + body


def message(parts: list[bytes] | tuple[bytes, ...]) -> bytes:
    """A whole multipart message: every part but the last with MORE."""
    last = len(parts) - 1
    return b"".join([frame(p, i < last) for i, p in enumerate(parts)])


def command(name: bytes, data: bytes = b"") -> bytes:
    """A command frame: C{name} (up to 255 bytes) and C{data}."""
    return frame(bytes((len(name),)) + name + data, command=True)


def properties(props: dict[bytes, bytes]) -> bytes:
    """The metadata of C{READY}: C{name-length name value-length value}, each in turn."""
    out = []
    for name, value in props.items():
        out.append(bytes((len(name),)) + name + _PROP_SIZE.pack(len(value)) + value)
    return b"".join(out)


def parse_properties(data: bytes) -> dict[bytes, bytes]:
    """Read C{READY} metadata; names are compared case-insensitively, so they come back title-cased by the caller."""
    props: dict[bytes, bytes] = {}
    i, end = 0, len(data)
    while i < end:
        n = data[i]
        i += 1
        if n == 0 or i + n + 4 > end:
            raise ProtocolError("malformed READY metadata")
        name = data[i : i + n]
        i += n
        (size,) = _PROP_SIZE.unpack_from(data, i)
        i += 4
        if i + size > end:
            raise ProtocolError("malformed READY metadata")
        props[name.lower()] = data[i : i + size]
        i += size
    return props


def ready(socket_type: bytes, identity: bytes | None = None) -> bytes:
    """Our C{READY} command, naming our socket type (and identity, if any)."""
    props = {b"Socket-Type": socket_type}
    if identity is not None:
        props[b"Identity"] = identity
    return command(b"READY", properties(props))


def error(reason: str) -> bytes:
    """An C{ERROR} command: the reason, at most 255 bytes of it."""
    text = reason.encode("utf-8", "replace")[:255]
    return command(b"ERROR", bytes((len(text),)) + text)


def split_command(body: bytes) -> tuple[bytes, bytes]:
    """A command frame's body as (name, data)."""
    if not body:
        raise ProtocolError("empty command frame")
    n = body[0]
    if n == 0 or n + 1 > len(body):
        raise ProtocolError("malformed command name")
    return body[1 : n + 1], body[n + 1 :]


class Decoder:
    """Frames in, whole messages and commands out, within limits.

    L{feed} returns a list of items, each C{(False, parts)} for a message or
    C{(True, body)} for a command frame, and raises L{ProtocolError} when the
    peer breaks the framing or a limit.

    @param max_message: the most bytes of one message, all its frames together.
    @param max_parts: the most frames in one message.
    """

    def __init__(
        self, max_message: int = DEFAULT_MAX_MESSAGE, max_parts: int = DEFAULT_MAX_PARTS
    ) -> None:
        self.max_message = max_message
        self.max_parts = max_parts
        self._buffer = b""
        self._parts: list[bytes] = []
        self._size = 0

    @property
    def pending(self) -> bool:
        """Whether part of a frame or message has been read and not yet returned."""
        return bool(self._buffer or self._parts)

    def feed(self, data: bytes) -> list[tuple[bool, object]]:
        buffer = self._buffer + data if self._buffer else data
        out: list[tuple[bool, object]] = []
        i, end = 0, len(buffer)
        while end - i >= 2:
            flags = buffer[i]
            if flags & 0xF8:
                raise ProtocolError(f"reserved frame flags set (0x{flags:02x})")
            if flags & LONG:
                if end - i < 9:
                    break
                (size,) = _LONG_SIZE.unpack_from(buffer, i + 1)
                start = i + 9
            else:
                size = buffer[i + 1]
                start = i + 2
            is_command = bool(flags & COMMAND)
            if is_command:
                if flags & MORE:
                    raise ProtocolError("a command frame cannot have MORE set")
                if self._parts:
                    raise ProtocolError("a command frame inside a multipart message")
            if self._size + size > self.max_message:
                raise ProtocolError(
                    f"message too large ({self._size + size} bytes; the limit is "
                    f"{self.max_message})"
                )
            if start + size > end:
                break
            body = buffer[start : start + size]
            i = start + size
            if is_command:
                out.append((True, body))
                continue
            self._parts.append(body)
            self._size += size
            if flags & MORE:
                if len(self._parts) >= self.max_parts:
                    raise ProtocolError(f"too many message parts (the limit is {self.max_parts})")
                continue
            out.append((False, self._parts))
            self._parts = []
            self._size = 0
        self._buffer = buffer[i:] if i < end else b""
        return out
