"""The telnet layer of zoo-telnet: Twisted's C{TelnetTransport}, bounded, and its pure parts.

- L{InputFilter}: client bytes on their way to Twisted's parser (garbage commands
  dropped, every CR a line end);
- L{terminal_type} and L{window_size}: the TTYPE and NAWS subnegotiations;
- L{ZooTelnetTransport}: Twisted's transport with the filter, a cap on the option
  requests it answers, and no newline rewriting.
"""

from __future__ import annotations

import struct
from typing import Any

from twisted.conch.telnet import AYT, CR, DO, DONT, IAC, WILL, WONT, TelnetTransport

#: Terminal type (RFC 1091); Twisted has no name for it.
TTYPE = b"\x18"
TTYPE_IS = b"\x00"
TTYPE_SEND = b"\x01"
#: The commands that may follow IAC (RFC 854, 885); Twisted raises on any other byte.
_COMMANDS = frozenset(range(239, 256)) - {240}  # SE only ends a subnegotiation
_NEGOTIATION = frozenset({WILL[0], WONT[0], DO[0], DONT[0]})

#: The longest subnegotiation (TTYPE, NAWS, ...) taken; a longer one closes the connection.
MAX_SUBNEGOTIATION = 4096
#: Option requests (WILL, WONT, DO, DONT, subnegotiations, AYT) answered per connection.
MAX_NEGOTIATIONS = 200
#: Longest terminal type kept (RFC 1091 allows 40 characters).
MAX_TERM = 40


class InputFilter:
    """Client bytes on their way to Twisted's telnet parser.

    - C{IAC} followed by a byte that is no telnet command is dropped (Twisted's
      parser raises C{ValueError("Stumped")} on it and loses the connection's state).
    - Every CR ends a line at once: C{CR} becomes C{CR NUL}, which Twisted delivers
      as a lone C{\\r}, and the C{LF} or C{NUL} that may follow is dropped. Twisted
      would hold a CR until the next byte, and FOPNP's third edition sends
      C{name\\r} and then waits for the password prompt.

    A lone C{IAC} at the end of a read is held back until the next one.
    """

    def __init__(self) -> None:
        self._state = "data"  # data, iac, option, sb, sb-iac
        self._after_cr = False
        self._sb = 0  # bytes of the subnegotiation in progress
        #: Set once a subnegotiation ran past L{MAX_SUBNEGOTIATION}: close the connection.
        self.overflow = False

    def feed(self, data: bytes) -> bytes:
        """The bytes to hand to Twisted's parser for C{data}."""
        if self._state == "data" and not self._after_cr and IAC not in data and CR not in data:
            return data
        out = bytearray()
        state = self._state
        for b in data:
            if state == "data":
                if self._after_cr:
                    self._after_cr = False
                    if b in (10, 0):
                        continue
                if b == 255:
                    state = "iac"
                elif b == 13:
                    out += b"\r\x00"
                    self._after_cr = True
                else:
                    out.append(b)
            elif state == "iac":
                if b in _NEGOTIATION:
                    out += bytes((255, b))
                    state = "option"
                elif b == 250:  # SB
                    out += bytes((255, b))
                    state = "sb"
                    self._sb = 0
                elif b in _COMMANDS:  # IAC IAC, NOP, AYT, ...
                    out += bytes((255, b))
                    state = "data"
                else:
                    state = "data"  # garbage: dropped with its IAC
            elif state == "option":
                out.append(b)
                state = "data"
            elif state == "sb":
                self._sb += 1
                if self._sb > MAX_SUBNEGOTIATION:  # whatever Twisted's own cap is
                    self.overflow = True
                    break
                out.append(b)
                if b == 255:
                    state = "sb-iac"
            else:  # sb-iac
                out.append(b)
                state = "data" if b == 240 else "sb"
        self._state = state  # "iac": the command byte comes in the next read
        return bytes(out)


def terminal_type(payload: bytes) -> str | None:
    """The terminal type of a C{TTYPE IS name} subnegotiation, lower-cased; else C{None}.

    Only letters, digits and C{-_.+/} are kept, at most L{MAX_TERM} of them.
    """
    if not payload.startswith(TTYPE_IS):
        return None
    name = payload[1:].decode("ascii", "replace").lower()
    kept = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "-_.+/"))
    return kept[:MAX_TERM] or None


def window_size(payload: bytes) -> tuple[int, int] | None:
    """C{(columns, rows)} of a NAWS subnegotiation (RFC 1073), or C{None} if malformed."""
    if len(payload) != 4:
        return None
    cols, rows = struct.unpack("!HH", payload)
    return (cols, rows) if cols and rows else None


class ZooTelnetTransport(TelnetTransport):
    """Twisted's telnet transport, with garbage dropped and option requests counted."""

    protocol: Any

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.filter = InputFilter()
        self.negotiations = 0
        self.stopped = False

    def dataReceived(self, data: bytes) -> None:
        if self.stopped:
            return
        fed = self.filter.feed(data)
        if self.filter.overflow:
            self.stopped = True
            assert self.transport is not None
            self.transport.loseConnection()
            return
        super().dataReceived(fed)

    def _count(self) -> bool:
        self.negotiations += 1
        if self.negotiations <= MAX_NEGOTIATIONS:
            return True
        if not self.stopped:
            self.stopped = True
            self.protocol.too_many_options(self.negotiations - 1)
        return False

    def commandReceived(self, command: bytes, argument: Any) -> None:
        if self.stopped:
            return
        if (command in (WILL, WONT, DO, DONT, AYT)) and not self._count():
            return
        super().commandReceived(command, argument)

    def negotiate(self, data: list[bytes]) -> None:
        if self.stopped or not data or not self._count():
            return  # an empty subnegotiation (IAC SB IAC SE) would raise in Twisted
        super().negotiate(data)

    def applicationDataReceived(self, data: bytes) -> None:
        if not self.stopped:
            super().applicationDataReceived(data)

    def write(self, data: bytes) -> None:
        """Send C{data} with IAC doubled; line ends are the writer's (C{\\r\\n}).

        Twisted's transport also turns every C{\\n} into C{\\r\\n}, which made the
        terminal's own C{\\r\\n} a C{\\r\\r\\n}.
        """
        assert self.transport is not None
        self.transport.write(data.replace(IAC, IAC + IAC))


__all__ = [
    "MAX_NEGOTIATIONS",
    "MAX_TERM",
    "TTYPE",
    "TTYPE_IS",
    "TTYPE_SEND",
    "InputFilter",
    "ZooTelnetTransport",
    "terminal_type",
    "window_size",
]
