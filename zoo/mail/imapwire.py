"""IMAP4rev1's wire syntax, without I/O: command framing, tokens, sequence sets, quoting.

L{Framer} cuts received bytes into whole commands, literals included (RFC 3501 4.3,
RFC 7888 LITERAL+); L{Tokens} reads a command's arguments; L{quote}, L{astring} and
L{nstring} write values back; L{SeqSet} is a parsed C{1:4,7,9:*}; L{encode_mutf7} and
L{decode_mutf7} convert mailbox names (RFC 3501 5.1.3).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

#: The longest command line (without its literals) the server reads (Dovecot's
#: default too: an ID command with its 30 fields of 1024 bytes needs most of it).
MAX_LINE = 64 * 1024
#: The largest literal (an APPEND's message) the server takes; other commands'
#: literals (a password, a SEARCH string) may be L{MAX_LINE} long.
MAX_LITERAL = 50 * 1024 * 1024

_LITERAL_END = re.compile(rb"\{(\d{1,10})(\+?)\}$")


class Syntax(Exception):
    """The client's command does not parse: answered with a tagged BAD."""


class TooLong(Exception):
    """A line or a literal over the limits: answered with BYE and a close."""


@dataclass
class Command:
    """One framed command: the line's pieces with the literals between them."""

    pieces: list[bytes] = field(default_factory=list)
    literals: list[bytes] = field(default_factory=list)
    #: A synchronising literal over the limit was announced (and never sent).
    too_big: bool = False

    @property
    def line(self) -> bytes:
        """The command with each literal shown as C{{n}} (for logs and tags)."""
        return b"".join(self.pieces)


class Framer:
    """Cuts a byte stream into L{Command}s.

    L{feed} returns the commands completed and whether a synchronising literal wants a
    C{+} continuation now (the caller sends it). A line over L{MAX_LINE} or a literal
    over L{MAX_LITERAL} raises L{TooLong}.
    """

    def __init__(self, max_literal: int = MAX_LITERAL) -> None:
        self.buffer = b""
        self.current = Command()
        self.need = 0  # bytes of literal still to read
        self.max_literal = max_literal
        self.line_bytes = 0

    def clear(self) -> None:
        """Forget everything not yet framed (after STARTTLS)."""
        self.buffer = b""
        self.current = Command()
        self.need = 0
        self.line_bytes = 0

    def feed(self, data: bytes) -> tuple[list[Command], int]:
        """Frame C{data}; return the complete commands and how many C{+} to send."""
        self.buffer += data
        done: list[Command] = []
        go_ahead = 0
        while True:
            if self.need:
                if len(self.buffer) < self.need:
                    return done, go_ahead
                self.current.literals.append(self.buffer[: self.need])
                self.buffer = self.buffer[self.need :]
                self.need = 0
            end = self.buffer.find(b"\n")
            if end < 0:
                if self.line_bytes + len(self.buffer) > MAX_LINE:
                    raise TooLong("line")
                return done, go_ahead
            line = self.buffer[:end].rstrip(b"\r")
            self.buffer = self.buffer[end + 1 :]
            self.line_bytes += len(line)
            if self.line_bytes > MAX_LINE:
                raise TooLong("line")
            self.current.pieces.append(line)
            m = _LITERAL_END.search(line)
            if m is None:
                done.append(self.current)
                self.current = Command()
                self.line_bytes = 0
                continue
            size = int(m.group(1))
            words = self.current.pieces[0].split(None, 3)
            appending = len(words) > 1 and words[1].upper() == b"APPEND"
            if size > (self.max_literal if appending else MAX_LINE):
                if not m.group(2):  # the client waits for "+": refuse, it sends nothing
                    self.current = Command()
                    self.line_bytes = 0
                    done.append(Command([line[: m.start()]], too_big=True))
                    continue
                raise TooLong("literal")
            self.need = size
            if not m.group(2):
                go_ahead += 1
            if size == 0:
                self.current.literals.append(b"")


class Tokens:
    """Reads the arguments of one L{Command}, left to right."""

    def __init__(self, command: Command) -> None:
        self.pieces = command.pieces
        self.literals = command.literals
        self.index = 0  # which piece
        self.text = self.pieces[0] if self.pieces else b""
        self.pos = 0

    # -- low level -------------------------------------------------------------

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos : self.pos + 1] == b" ":
            self.pos += 1

    def at_end(self) -> bool:
        """Is the command fully read?"""
        self._skip_space()
        return self.pos >= len(self.text) and self.index >= len(self.pieces) - 1

    def end(self) -> None:
        """Insist that nothing is left."""
        if not self.at_end():
            raise Syntax("unexpected arguments")

    def peek(self) -> bytes:
        """The next byte (C{b""} at the end of a piece)."""
        self._skip_space()
        return self.text[self.pos : self.pos + 1]

    def space(self) -> None:
        """Tolerate any spaces (clients differ in how many they send)."""
        self._skip_space()

    def take(self, char: bytes) -> bool:
        """Consume C{char} if it is next."""
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def expect(self, char: bytes) -> None:
        if not self.take(char):
            raise Syntax(f"expected {char.decode()}")

    def _literal(self) -> bytes | None:
        m = _LITERAL_END.match(self.text, self.pos)
        if m is None or m.end() != len(self.text):
            return None
        if self.index >= len(self.literals):
            raise Syntax("literal missing")
        value = self.literals[self.index]
        self.index += 1
        self.text = self.pieces[self.index] if self.index < len(self.pieces) else b""
        self.pos = 0
        return value

    # -- tokens ----------------------------------------------------------------

    def atom(self, extra: bytes = b"") -> bytes:
        """An atom (stops at space, parens, brackets unless in C{extra}, quote, CTL)."""
        self._skip_space()
        start = self.pos
        stops = b' (){%*"\\]' if b"]" not in extra else b' (){%*"\\'
        stops = bytes(c for c in stops if c not in extra)
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c in stops or c < 0x21 or c == 0x7F:
                break
            self.pos += 1
        if self.pos == start:
            raise Syntax("atom expected")
        return self.text[start : self.pos]

    def quoted(self) -> bytes:
        self.expect(b'"')
        out = bytearray()
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if c == 0x22:
                return bytes(out)
            if c == 0x5C:
                if self.pos >= len(self.text):
                    break
                c = self.text[self.pos]
                self.pos += 1
                if c not in (0x22, 0x5C):
                    raise Syntax("bad escape in quoted string")
            out.append(c)
        raise Syntax("unterminated quoted string")

    def string(self) -> bytes:
        """A quoted string or a literal."""
        self._skip_space()
        if self.peek() == b'"':
            return self.quoted()
        value = self._literal()
        if value is None:
            raise Syntax("string expected")
        return value

    def astring(self) -> bytes:
        """An atom (C{]} allowed), a quoted string or a literal."""
        self._skip_space()
        c = self.peek()
        if c == b'"':
            return self.quoted()
        if c == b"{":
            value = self._literal()
            if value is None:
                raise Syntax("bad literal")
            return value
        return self.atom(extra=b"]")

    def nstring(self) -> bytes | None:
        if self.peek() in (b"N", b"n") and self.text[self.pos : self.pos + 3].upper() == b"NIL":
            end = self.pos + 3
            if end == len(self.text) or self.text[end : end + 1] in b" )":
                self.pos = end
                return None
        return self.string()

    def list_mailbox(self) -> bytes:
        """A LIST pattern: an atom with C{%} and C{*} allowed, or a string."""
        self._skip_space()
        c = self.peek()
        if c in (b'"', b"{"):
            return self.string()
        return self.atom(extra=b"%*]")

    def number(self) -> int:
        word = self.atom()
        if not word.isdigit() or len(word) > 10:
            raise Syntax("number expected")
        return int(word)

    def paren_list(self) -> list[bytes]:
        """C{(a b c)} of atoms (flags, status items); a single atom is a one-item list."""
        if not self.take(b"("):
            return [self.atom(extra=b"\\")]
        out = []
        while not self.take(b")"):
            if self.peek() == b"":
                raise Syntax("unterminated list")
            out.append(self.atom(extra=b"\\"))
        return out

    def flag_list(self) -> list[bytes]:
        return self.paren_list()

    def rest(self) -> bytes:
        """What is left of the current piece, unparsed."""
        value = self.text[self.pos :]
        self.pos = len(self.text)
        return value


# -- writing -----------------------------------------------------------------


def quote(value: bytes) -> bytes:
    """A quoted string, or a literal if C{value} has bytes a quoted string cannot hold."""
    if b"\r" in value or b"\n" in value or b"\0" in value or not value.isascii():
        return b"{%d}\r\n" % len(value) + value
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def nstring(value: bytes | None) -> bytes:
    return b"NIL" if value is None else quote(value)


def literal(value: bytes) -> bytes:
    return b"{%d}\r\n" % len(value) + value


# -- sequence sets ---------------------------------------------------------------


class SeqSet:
    """A sequence set (C{1:4,7,9:*}); C{*} is the largest number, given at use."""

    def __init__(self, text: bytes) -> None:
        self.ranges: list[tuple[int | None, int | None]] = []
        if not text:
            raise Syntax("empty sequence set")
        for part in text.split(b","):
            lo, _, hi = part.partition(b":")
            a = _seq_number(lo)
            b = _seq_number(hi) if hi else a
            self.ranges.append((a, b))

    def contains(self, n: int, largest: int) -> bool:
        for a, b in self.ranges:
            lo = largest if a is None else a
            hi = largest if b is None else b
            if lo > hi:
                lo, hi = hi, lo
            if lo <= n <= hi:
                return True
        return False

    def numbers(self, largest: int) -> Iterator[int]:
        """The members up to C{largest}, ascending, each once."""
        seen: set[int] = set()
        for a, b in self.ranges:
            lo = largest if a is None else a
            hi = largest if b is None else b
            if lo > hi:
                lo, hi = hi, lo
            seen.update(range(max(lo, 1), min(hi, largest) + 1))
        return iter(sorted(seen))

    def has_star(self) -> bool:
        return any(a is None or b is None for a, b in self.ranges)


def _seq_number(word: bytes) -> int | None:
    if word == b"*":
        return None
    if not word.isdigit() or word.startswith(b"0") or len(word) > 10:
        raise Syntax("bad sequence set")
    n = int(word)
    if n > 0xFFFFFFFF:
        raise Syntax("bad sequence set")
    return n


def is_seqset(word: bytes) -> bool:
    try:
        SeqSet(word)
    except Syntax:
        return False
    return True


def format_uid_set(uids: list[int]) -> bytes:
    """C{1:3,5} for C{[1, 2, 3, 5]} (in the order given, runs merged)."""
    out: list[bytes] = []
    i = 0
    while i < len(uids):
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        out.append(b"%d" % uids[i] if i == j else b"%d:%d" % (uids[i], uids[j]))
        i = j + 1
    return b",".join(out)


# -- modified UTF-7 (RFC 3501 5.1.3) ------------------------------------------------------


def decode_mutf7(name: bytes) -> str:
    """A mailbox name as text; raises L{Syntax} if it is not valid modified UTF-7."""
    if not name.isascii():
        raise Syntax("Mailbox names are 7-bit (modified UTF-7)")
    out = []
    i = 0
    text = name.decode("ascii")
    while i < len(text):
        c = text[i]
        if c != "&":
            if not 0x20 <= ord(c) <= 0x7E:
                raise Syntax("control character in mailbox name")
            out.append(c)
            i += 1
            continue
        end = text.find("-", i)
        if end < 0:
            raise Syntax("unterminated &-sequence in mailbox name")
        chunk = text[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                raw = base64.b64decode(b64, validate=True)
                decoded = raw.decode("utf-16-be")
            except Exception:
                raise Syntax("bad modified UTF-7 in mailbox name") from None
            if encode_mutf7(decoded) != ("&" + chunk + "-").encode():
                raise Syntax("non-canonical modified UTF-7 in mailbox name")
            out.append(decoded)
        i = end + 1
    return "".join(out)


def encode_mutf7(text: str) -> bytes:
    """Text as a modified UTF-7 mailbox name."""
    out = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for c in text:
        if 0x20 <= ord(c) <= 0x7E:
            flush()
            out.append("&-" if c == "&" else c)
        else:
            pending.append(c)
    flush()
    return "".join(out).encode("ascii")
