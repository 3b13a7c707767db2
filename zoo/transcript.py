"""What a transcript shows of each chunk: bounded, with secrets hidden and commands named.

A session's transcript is the bytes each side sent, chunk by chunk (one read or one
write each). Before a chunk is kept, the session's L{Transcriber} turns it into a
L{Chunk}: at most L{LIMIT} bytes of it, with secrets replaced by L{MARK}, and the
command (C{"EHLO"}) or reply (C{250}) it starts with, where the protocol has them.

All protocol knowledge is here, in one table (L{TABLE}), so a protocol module never
deals with transcripts:

- C{smtp}: C{AUTH} initial responses and every client line while the server answers
  C{334}; message bodies are not parsed as commands (C{354} to the lone C{.});
- C{pop3}: C{PASS}, the C{APOP} digest, C{AUTH} as for SMTP (C{+ } continuations);
- C{imap}: the C{LOGIN} password (and every literal of a C{LOGIN}), C{AUTHENTICATE}
  as for SMTP; literals (C{{n}}) are skipped by count;
- C{ftp}: C{PASS} and C{ACCT};
- C{xmlrpc}: C{Authorization} and C{Proxy-Authorization} header values; bodies are
  skipped by C{Content-Length};
- C{pubsub}: every argument of C{AUTH} and what follows C{AUTH} in C{HELLO} (RESP
  multibulk or inline);
- C{ssh}: the version lines only; after them a chunk is encrypted and kept as its
  size alone (C{redacted}, empty data);
- C{telnet}: until the server says the login succeeded, every second non-empty
  client line (the answer to C{Password:}) is hidden, telnet commands skipped;
- the rest (lancelot, echo, blocks, time, tls): bounded only.

Transcribers are fed every byte in order, so a secret split across two reads (C{PA},
then C{SS hunter2\\r\\n}) is still hidden: the decision about a line is made on all of
its start that has arrived, and kept for the rest of the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from zoo._twisted.speedups import speedups as _speedups

#: The most bytes of one chunk a transcript shows (the chunk's real size is kept too).
LIMIT = 4096
#: A chunk's bytes object of at most this many bytes is kept whole rather than cut to
#: its first L{LIMIT}: no copy is made (a copy of 4 KiB for every pub-sub batch read
#: or written, held as long as the chunk is). The event shows its first L{LIMIT}
#: bytes when read, and the store counts all of them against its byte budget. A
#: larger chunk is cut, so that a 64 MiB write does not stay alive for 4 KiB of it.
KEEP_WHOLE = 2 * LIMIT


def kept(data: bytes) -> bytes:
    """What a transcript keeps of C{data} for its chunk (see L{KEEP_WHOLE})."""
    return data if len(data) <= KEEP_WHOLE and type(data) is bytes else data[:LIMIT]


#: What stands in a transcript where a secret was.
MARK = b"***"
#: Bytes of a line's start remembered to decide about it (a verb and its kept arguments).
_HEAD = 512
#: "No secret on this line."
_NONE = 1 << 62

Label = str | int | None


class Chunk(NamedTuple):
    """What a transcript keeps of one chunk.

    @ivar shown: the bytes shown (at most L{LIMIT}, or a read kept whole: see
        L{KEEP_WHOLE}), secrets replaced by L{MARK}.
    @ivar redacted: whether anything was hidden.
    @ivar label: the command (client) or reply (server) it starts with, or C{None}.
    """

    shown: bytes
    redacted: bool
    label: Label


#: C{_chunk((shown, redacted, label))}: a L{Chunk} without the Python call of its
#: C{__new__} (what C{Chunk._make} does, as one C call).
_chunk: Callable[[tuple[bytes, bool, Label]], Chunk] = partial(tuple.__new__, Chunk)


class Hidden(NamedTuple):
    """The tag of a line protocol's chunk with a secret hidden: its label, marked.

    A line side (L{zoo.sessions}) keeps each chunk as two values, not a L{Chunk}:
    the bytes shown and a tag (see L{tag_of}). Most chunks hide nothing, and their
    tag is their label, an object many chunks share (C{"MAIL"}, C{250}, C{None});
    a store holding thousands of chunks then holds no object per chunk beyond the
    bytes themselves.
    """

    label: Label


def tag_of(chunk: Chunk) -> Label | Hidden:
    """What a line side keeps of C{chunk} beside its shown bytes: its label, or, if
    anything was hidden, its label in a L{Hidden}."""
    return Hidden(chunk.label) if chunk.redacted else chunk.label


class Transcriber:
    """Bounds chunks and recognises nothing: byte streams (echo, blocks, time, tls, lancelot)."""

    def client(self, data: bytes) -> Chunk:
        """What the transcript shows of C{data}, sent by the client."""
        return Chunk(data[:LIMIT], False, None)

    def server(self, data: bytes) -> Chunk:
        """What the transcript shows of C{data}, sent by the server."""
        return Chunk(data[:LIMIT], False, None)


class Opaque(Transcriber):
    """SSH: each side's version line in clear, then sizes only (the rest is encrypted)."""

    def __init__(self) -> None:
        self._versioned = [False, False]

    def _side(self, i: int, data: bytes) -> Chunk:
        if self._versioned[i]:
            return Chunk(b"", bool(data), None)
        end = data.find(b"\n")
        if end < 0:
            return Chunk(data[:LIMIT], False, None)
        self._versioned[i] = True
        return Chunk(data[: min(end + 1, LIMIT)], end + 1 < len(data), None)

    def client(self, data: bytes) -> Chunk:
        return self._side(0, data)

    def server(self, data: bytes) -> Chunk:
        return self._side(1, data)


def _eol(seg: bytes) -> int:
    if seg.endswith(b"\r\n"):
        return 2
    return 1 if seg.endswith((b"\n", b"\r")) else 0


def _masked(seg: bytes, off: int, keep: int) -> bytes:
    """C{seg} (a piece of a line that started C{off} bytes earlier) with the bytes from
    line offset C{keep} to the line's end replaced by L{MARK}; C{seg} itself if none."""
    content = len(seg) - _eol(seg)
    visible = max(0, keep - off)
    if visible >= content:
        return seg
    return seg[:visible] + MARK + seg[content:]


class _LineEngine(Transcriber):
    """The client side of a line protocol: lines, byte-counted stretches and bodies.

    Subclasses say where a line's secret starts (L{_decide}) and what a finished line
    changes (L{_line_done}); the engine applies the decision to every piece of the
    line, however the line was split across reads.
    """

    def __init__(self) -> None:
        self._head = b""  # the start of the current client line
        self._end = b""  # and its last bytes
        self._off = 0  # bytes of the current client line seen so far
        self._keep: int | None = None  # where its secret starts (_NONE: no secret)
        self._skip = 0  # bytes to pass without parsing (a literal, an HTTP body)
        self._skip_secret = False
        self._body = False  # an SMTP message body, up to the lone "."
        self._tail = b""
        self._s_start = True  # the server's next byte starts a line

    # -- hooks ------------------------------------------------------------------------

    def _decide(self, head: bytes, complete: bool) -> int | None:
        """Where the secret on a line starting with C{head} starts, or None to wait."""
        return _NONE

    def _line_done(self, head: bytes, keep: int) -> Label:
        """A client line ended; update the state and return its command, if any."""
        return None

    def _server_line(self, start: bytes) -> None:
        """A server line starting with C{start} was sent."""

    def _reply(self, start: bytes) -> Label:
        return None

    # -- client -----------------------------------------------------------------------

    def client(self, data: bytes) -> Chunk:
        out: list[bytes] = []
        hidden = False
        label: Label = None
        pos, n = 0, len(data)
        while pos < n:
            if self._skip:
                take = min(self._skip, n - pos)
                if self._skip_secret:
                    out.append(MARK)
                    hidden = True
                else:
                    out.append(data[pos : pos + take])
                self._skip -= take
                pos += take
                continue
            if self._body:
                pos = self._in_body(data, pos, out)
                continue
            eol = data.find(b"\n", pos)
            end = n if eol < 0 else eol + 1
            seg = data[pos:end]
            if len(self._head) < _HEAD:
                self._head = (self._head + seg)[:_HEAD]
            self._end = (self._end + seg)[-24:]
            if self._keep is None:
                self._keep = self._decide(self._head, eol >= 0 or len(self._head) >= _HEAD)
            keep = _NONE if self._keep is None else self._keep
            shown = _masked(seg, self._off, keep)
            out.append(shown)
            hidden = hidden or shown is not seg
            self._off += len(seg)
            pos = end
            if eol >= 0:
                done = self._line_done(self._head, keep)
                if label is None:
                    label = done
                self._head, self._end, self._off, self._keep = b"", b"", 0, None
        return Chunk(b"".join(out)[:LIMIT], hidden, label)

    def _in_body(self, data: bytes, pos: int, out: list[bytes]) -> int:
        window = self._tail + data[pos:]
        found = window.find(b"\r\n.\r\n")
        if found < 0:
            out.append(data[pos:])
            self._tail = window[-4:]
            return len(data)
        end = pos + found + 5 - len(self._tail)
        out.append(data[pos:end])
        self._body, self._tail = False, b""
        return end

    # -- server -----------------------------------------------------------------------

    def server(self, data: bytes) -> Chunk:
        label = self._reply(data[:16]) if self._s_start else None
        if self._watching_server():
            self._server_lines(data)
        self._s_start = data.endswith(b"\n")
        return Chunk(data[:LIMIT], False, label)

    def _server_lines(self, data: bytes) -> None:
        """Tell L{_server_line} the start of every server line C{data} starts."""
        at = 0 if self._s_start else (data.find(b"\n") + 1 or len(data))
        while at < len(data):
            self._server_line(data[at : at + 16])
            nl = data.find(b"\n", at)
            if nl < 0:
                break
            at = nl + 1

    def _watching_server(self) -> bool:
        return False


def _code(start: bytes) -> Label:
    return int(start[:3]) if start[:3].isdigit() else None


def _pop(start: bytes) -> Label:
    for word in (b"+OK", b"-ERR"):
        if start.startswith(word):
            return word.decode()
    return "+" if start.startswith(b"+") else None


_IMAP_STATUS = {b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH"}


def _imap(start: bytes) -> Label:
    if start.startswith(b"+"):
        return "+"
    words = start.split(None, 2)
    if len(words) >= 2 and words[1].upper() in _IMAP_STATUS:
        return words[1].upper().decode()
    return None


_LITERAL = re.compile(rb"\{(\d{1,12})\+?\}\r?\n?$")


class Lines(_LineEngine):
    """A command-line protocol (SMTP, POP3, IMAP, FTP).

    @param secrets: verbs whose arguments hide a secret, each with how many leading
        arguments stay visible (C{PASS}: 0, C{APOP}: 1, C{AUTH}: 1 for the mechanism).
    @param sasl: the verb that starts a SASL exchange (every client line until the
        server stops asking is a secret), or C{None}.
    @param more: how the server's "go on" lines start during a SASL exchange.
    @param replies: reads a reply's label from the start of a server line.
    @param tagged: commands start with a tag (IMAP).
    @param literals: C{{n}} at a line's end announces n raw bytes (IMAP).
    @param body: C{DATA} and C{354} start a message body, ended by a lone C{.} (SMTP).
    """

    def __init__(
        self,
        secrets: dict[bytes, int],
        *,
        sasl: bytes | None = None,
        more: tuple[bytes, ...] = (),
        replies: Callable[[bytes], Label] = lambda start: None,
        tagged: bool = False,
        literals: bool = False,
        body: bool = False,
    ) -> None:
        super().__init__()
        self.secrets = secrets
        self.sasl = sasl
        self.more = more
        self.replies = replies
        self._codes = replies is _code
        self.tagged = tagged
        self.literals = literals
        self.body = body
        self._in_sasl = False
        self._want_body = False
        self._continued: bytes | None = None  # the verb whose line a literal interrupted

    def _verb(self, text: bytes, complete: bool) -> tuple[bytes, int] | None:
        """The verb of a line and where its arguments start; None if not known yet."""
        at = 0
        if self.tagged:
            sp = text.find(b" ")
            if sp < 0:
                return (b"", len(text)) if complete else None
            at = sp + 1
        sp = text.find(b" ", at)
        if sp < 0:
            return (text[at:].upper(), len(text)) if complete else None
        return text[at:sp].upper(), sp + 1

    def _decide(self, head: bytes, complete: bool) -> int | None:
        if self._in_sasl:
            return 0
        if self._continued is not None:
            return 0 if self._continued in self.secrets else _NONE
        text = head[: len(head) - _eol(head)] if complete else head
        found = self._verb(text, complete)
        if found is None:
            return None
        verb, start = found
        kept = self.secrets.get(verb)
        if kept is None:
            return _NONE
        at: int | None = start
        for _ in range(kept):
            assert at is not None
            at = self._skip_arg(text, at, complete)
            if at is None or at == _NONE:
                return at
        return at

    def _skip_arg(self, text: bytes, at: int, complete: bool) -> int | None:
        if at >= len(text):
            return _NONE if complete else None
        if self.tagged and text[at : at + 1] == b"{":
            return at  # a literal: hide it, and what follows
        if self.tagged and text[at : at + 1] == b'"':
            i = at + 1
            while i < len(text):
                if text[i : i + 1] == b"\\":
                    i += 2
                    continue
                if text[i : i + 1] == b'"':
                    return i + 2
                i += 1
            return at if complete else None
        sp = text.find(b" ", at)
        if sp < 0:
            return _NONE if complete else None
        return sp + 1

    def _line_done(self, head: bytes, keep: int) -> Label:
        text = head.rstrip(b"\r\n")
        if self._in_sasl:
            return None
        verb_at = None if self._continued is not None else self._verb(text, True)
        verb = self._continued if verb_at is None else verb_at[0]
        self._continued = None
        if self.literals:
            m = _LITERAL.search(self._end)
            if m is not None and verb is not None:
                self._skip = int(m.group(1))
                self._skip_secret = verb in self.secrets
                self._continued = verb
        if verb_at is None or verb is None:
            return None
        if self.sasl is not None and verb == self.sasl:
            self._in_sasl = True
        if self.body:
            self._want_body = verb == b"DATA"
        return verb.decode("ascii", "replace") or None

    def _watching_server(self) -> bool:
        return self._in_sasl or self._want_body

    def _server_line(self, start: bytes) -> None:
        if self._in_sasl and not start.startswith(self.more):
            self._in_sasl = False
        if self._want_body and start.startswith(b"354"):
            self._want_body = False
            self._body, self._tail = True, b"\r\n"

    def _reply(self, start: bytes) -> Label:
        return self.replies(start)

    # -- the short ways ---------------------------------------------------------------
    #
    # Most reads of a line protocol's client are one whole command line, and most of
    # its server's writes one reply: an SMTP session is a dozen of them, and the
    # general steps cost a fifth of a small message's CPU with transcripts on. Both
    # short ways give what the general ones would (tests/test_transcript.py compares
    # them on random reads, with _short turned off).

    #: Take the short ways (the tests turn them off to compare).
    _short = True

    def client(self, data: bytes) -> Chunk:
        n = len(data)
        if (
            self._short
            and 0 < n <= _HEAD
            and not (self._skip or self._body or self._off or self._in_sasl or self.literals)
            and self._continued is None
            and data.find(b"\n") == n - 1
        ):
            # One whole line at a line's start: what _decide and _line_done make of it.
            text = data[:-2] if data.endswith(b"\r\n") else data[:-1]
            if self.tagged:
                verb = self._verb(text, True)[0]  # type: ignore[index]  # complete: found
            else:
                sp = text.find(b" ")
                verb = (text if sp < 0 else text[:sp]).upper()
            if verb not in self.secrets:  # else the general way hides the secret
                if text.endswith(b"\r"):  # _line_done names the line without them all
                    verb = self._verb(text.rstrip(b"\r"), True)[0]  # type: ignore[index]
                if verb == self.sasl:
                    self._in_sasl = True
                if self.body:
                    self._want_body = verb == b"DATA"
                return _chunk((data, False, verb.decode("ascii", "replace") or None))
        return super().client(data)

    def server(self, data: bytes) -> Chunk:
        if not self._short:
            return super().server(data)
        if not self._s_start:
            label: Label = None
        elif self._codes:  # _code, without its call
            code = data[:3]
            label = int(code) if code.isdigit() else None
        else:
            label = self.replies(data[:16])
        if self._in_sasl or self._want_body:
            self._server_lines(data)
        self._s_start = data.endswith(b"\n")
        return _chunk((data[:LIMIT], False, label))


_AUTH_HEADERS = (b"authorization:", b"proxy-authorization:")
_REQUEST = re.compile(rb"([A-Z]{3,10}) \S+ HTTP/\d\.\d")


class Http(_LineEngine):
    """HTTP/1.1 requests (XML-RPC, JSON-RPC): the method, the status, credentials hidden."""

    def __init__(self) -> None:
        super().__init__()
        self._headers = False
        self._length = 0

    def _decide(self, head: bytes, complete: bool) -> int | None:
        if not self._headers:
            return _NONE
        low = head[:24].lower()
        for name in _AUTH_HEADERS:
            if low.startswith(name):
                rest = head[len(name) :]
                return len(name) + len(rest) - len(rest.lstrip(b" "))
            if name.startswith(low.rstrip(b"\r\n")) and not complete:
                return None
        return _NONE

    def _line_done(self, head: bytes, keep: int) -> Label:
        text = head.rstrip(b"\r\n")
        if not self._headers:
            m = _REQUEST.match(text)
            if m is None:
                return None
            self._headers, self._length = True, 0
            return m.group(1).decode()
        if not text:
            self._headers = False
            self._skip, self._skip_secret = self._length, False
        elif text[:15].lower() == b"content-length:":
            try:
                self._length = max(0, int(text[15:].strip()))
            except ValueError:
                self._length = 0
        return None

    def _reply(self, start: bytes) -> Label:
        if start.startswith(b"HTTP/") and start[9:12].isdigit():
            return int(start[9:12])
        return None


#: How a PUBLISH starts, as clients spell it (up to its channel's length).
_PUBLISH_HEADS = (b"*3\r\n$7\r\nPUBLISH\r\n$", b"*3\r\n$7\r\npublish\r\n$")


def has_auth(data: bytes) -> bool:
    """Whether C{data} holds the letters C{auth} in any case (AUTH, HELLO's AUTH).

    C{zoo._twisted._speedups.has_auth} is its C twin, used where it is built: the
    same answer without the lower-cased copy of the read.
    """
    return b"auth" in data.lower()


#: The check in use: the C twin where zoo's speedups are built and on.
HAS_AUTH: Callable[[bytes], bool] = _speedups.has_auth if _speedups is not None else has_auth


def _bulk(data: bytes, at: int, n: int) -> tuple[int, int] | None:
    """Where the RESP bulk string whose C{$} is at C{at} starts, and where it ends (after
    its CRLF); C{None} if it is cut by the end of C{data} or malformed."""
    if at >= n or data[at] != 36:  # b"$"
        return None
    eol = data.find(b"\r\n", at, at + 24)
    if eol < 0:
        return None
    try:
        size = int(data[at + 1 : eol])
    except ValueError:
        return None
    start = eol + 2
    end = start + size + 2
    if size < 0 or end > n or data[end - 2 : end] != b"\r\n":
        return None
    return start, end


class Resp(Transcriber):
    """RESP (pub-sub): the command name; AUTH's arguments and HELLO's after AUTH hidden."""

    def __init__(self) -> None:
        self._line = b""  # a header line (*N, $N or an inline command) in progress
        self._left = 0  # elements left in the current multibulk
        self._index = 0
        self._command = b""
        self._hiding = False  # the remaining elements of this command are secrets
        self._bulk = 0  # bulk bytes (with CRLF) still to come
        self._bulk_secret = False
        self._elem = b""
        self._inline_keep: int | None = None
        # Following a server's parser (L{follow}): the last read, taken whole on trust
        # and not yet stepped through, and whether the parser ended it on a boundary.
        self._following = False
        self._unsynced: bytes | None = None
        self._synced = False

    def follow(self) -> Callable[[bool], None]:
        """Take reads whole on the word of the server's own parser; return L{parsed}.

        The pub-sub server parses every command a client sends, so stepping through
        them here again costs as much as parsing them (a fifth of its CPU with
        transcripts on, at 64 PUBLISHes a read). A follower takes a read that starts
        a command, names that command and holds no C{auth} in any case (so nothing in
        it can be hidden) as it is, naming its first command only; the server calls
        L{parsed} once it has parsed that read. If the read ended on a command
        boundary and the next one can be taken whole too, the read is never stepped
        through. Otherwise it is stepped through (L{_parse}) before the next read, so
        the state a secret split across reads depends on is always the full parser's.
        """
        self._following = True
        return self.parsed

    def parsed(self, boundary: bool) -> None:
        """The server parsed the last read; C{boundary}: it ended on a command boundary."""
        if self._unsynced is not None:
            self._synced = boundary

    def client_side(
        self, observatory: Any, record: Callable[..., object], session: str | None
    ) -> Callable[[bytes], None]:
        """What records a followed client's reads: L{client}'s first step, without its call.

        A read L{client} would take whole (see L{follow}) is recorded here as it is,
        with no call of L{client} and no L{Chunk} built by its Python C{__new__}; any
        other read goes to L{client}. L{zoo.sessions.Session._side} uses it for the
        C{wire.in} side of a RESP session. (With the store's trimming in C, it made a
        transcribed pub-sub server 3.0% faster: docs/benchmarks.rst.)

        @param observatory: its C{enabled} is read at each read.
        @param record: the C{wire.in} recorder's C{record(session, size, chunk, length)}.
        """
        client = self.client

        def chunk(data: bytes) -> None:
            if observatory.enabled and data:
                if self._unsynced is not None:
                    whole = self._synced
                else:
                    whole = (
                        self._following
                        and not (self._bulk or self._line)
                        and self._inline_keep is None
                    )
                if whole:
                    name = _WHOLE(data)
                    if name is not None:
                        self._unsynced, self._synced = data, False
                        shown = kept(data)
                        record(session, len(shown), _chunk((shown, False, name)), len(data))
                        return
                seen = client(data)
                record(session, len(seen.shown), seen, len(data))

        return chunk

    def client(self, data: bytes) -> Chunk:
        if self._unsynced is not None:
            prev, self._unsynced = self._unsynced, None
            if self._synced:
                # The state after prev is the one before it (between commands), and
                # data's first header sets the rest: no need to step through prev.
                name = _WHOLE(data)
                if name is not None:
                    self._unsynced, self._synced = data, False
                    return _chunk((kept(data), False, name))
            self._catch_up(prev)
        if self._bulk or self._line or self._inline_keep is not None:
            return self._parse(data)  # in the middle of something: the full parser
        if self._following:
            name = _WHOLE(data)
            if name is not None:
                self._unsynced, self._synced = data, False
                return _chunk((kept(data), False, name))
        done, label = self._skim(data)
        if done == len(data):
            return Chunk(data[:LIMIT], False, label)
        rest = self._parse(data[done:] if done else data)
        if not done:
            return rest
        return Chunk((data[:done] + rest.shown)[:LIMIT], rest.redacted, label or rest.label)

    def _catch_up(self, data: bytes) -> None:
        """Step through C{data}, a read taken whole, to the state after it."""
        done, _ = self._skim(data)
        if done < len(data):
            self._parse(data[done:] if done else data)

    @staticmethod
    def _whole(data: bytes) -> str | None:
        """The name of the command C{data} starts with, if C{data} may be taken whole.

        It may if it starts with a well-formed multibulk header (at least one
        element) and the whole bulk of the command's name, and holds no C{auth} in
        any case: AUTH and HELLO's AUTH are what has secrets, and without those letters
        nothing in the read can be hidden. The name is what L{_parse} would give.
        """
        if data[:1] != b"*" or HAS_AUTH(data):
            return None
        eol = data.find(b"\r\n", 1, 24)
        if eol < 0:
            return None
        digits = data[1:eol]
        if not digits.isdigit() or not int(digits):
            return None
        at = eol + 2
        eol = data.find(b"\r\n", at, at + 24)
        if eol < 0 or data[at] != 36:  # b"$"
            return None
        digits = data[at + 1 : eol]
        if not digits.isdigit():
            return None
        start = eol + 2
        end = start + int(digits) + 2
        if end > len(data):
            return None
        return data[start : min(end, start + 16)].rstrip(b"\r\n").upper().decode("ascii", "replace")

    def _skim(self, data: bytes) -> tuple[int, Label]:
        """How many bytes at the start of C{data} are whole commands with nothing to hide.

        The fast path for a client that pipelines (PUBLISH after PUBLISH): each
        multibulk is stepped over by its lengths, the command name alone looked at.
        It stops before anything else (an inline command, AUTH, HELLO, a command cut
        by the end of the read, anything malformed), which L{_parse} then takes from
        a command's start, as it would have. The state it leaves is the one L{_parse}
        would: after a whole command, nothing to hide and nothing pending.
        """
        pos, n = 0, len(data)
        label: Label = None
        find = data.find
        startswith = data.startswith
        while pos < n and data[pos] == 42:  # b"*"
            if startswith(_PUBLISH_HEADS, pos):  # the usual command: two lengths
                # A run of PUBLISHes, each stepped over by its two lengths inline (what
                # _bulk does, without a call and a tuple per bulk; digits only: anything
                # else int() would take stops the run, and _parse reads it as it would).
                run = pos
                while startswith(_PUBLISH_HEADS, run):
                    dollar = run + 17
                    eol = find(b"\r\n", dollar, dollar + 24)
                    digits = data[dollar + 1 : eol]
                    if eol < 0 or not digits.isdigit():
                        break
                    end = eol + 4 + int(digits)  # after the channel's CRLF
                    if end >= n or not startswith(b"\r\n", end - 2) or data[end] != 36:
                        break
                    eol = find(b"\r\n", end, end + 24)
                    digits = data[end + 1 : eol]
                    if eol < 0 or not digits.isdigit():
                        break
                    end = eol + 4 + int(digits)
                    if end > n or not startswith(b"\r\n", end - 2):
                        break
                    run = end
                if run == pos:
                    break
                if label is None:
                    label = "PUBLISH"
                self._command, self._index, self._hiding = b"PUBLISH", 3, False
                pos = run
                continue
            eol = find(b"\r\n", pos)
            if eol < 0:
                break
            try:
                count = int(data[pos + 1 : eol])
            except ValueError:
                break
            if count < 0 or count > 1024:
                break
            at = eol + 2
            word = b""
            for i in range(count):
                found = _bulk(data, at, n)
                if found is None:
                    break
                start, at = found
                if i == 0:
                    word = data[start : min(at, start + 16)].rstrip(b"\r\n").upper()
                    if word == b"AUTH" or word == b"HELLO":
                        break
            else:
                if label is None and count:
                    label = word.decode("ascii", "replace")
                # As _parse leaves it after a whole command (for *0: no command yet).
                self._command, self._index, self._hiding = word, count, False
                pos = at
                continue
            break
        return pos, label

    def _parse(self, data: bytes) -> Chunk:
        out: list[bytes] = []
        hidden = False
        label: Label = None
        pos, n = 0, len(data)
        while pos < n:
            if self._bulk:
                take = min(self._bulk, n - pos)
                piece = data[pos : pos + take]
                secret = max(0, min(take, self._bulk - 2)) if self._bulk_secret else 0
                if secret:
                    out.append(MARK + piece[secret:])  # the bytes hidden, their CRLF shown
                    hidden = True
                else:
                    out.append(piece)
                if len(self._elem) < 16:
                    self._elem += piece[: 16 - len(self._elem)]
                self._bulk -= take
                pos += take
                if not self._bulk:
                    found = self._element_done()
                    label = label if label is not None else found
                continue
            eol = data.find(b"\n", pos)
            end = n if eol < 0 else eol + 1
            seg = data[pos:end]
            line = self._line + seg
            pos = end
            if line[:1] in (b"*", b"$"):
                out.append(seg)
                if eol < 0:
                    self._line = line[:64]
                    continue
                self._line = b""
                self._header(line)
                continue
            # An inline command: "AUTH secret", "HELLO 3 AUTH user pass".
            if self._inline_keep is None:
                self._inline_keep = self._inline(line, eol >= 0)
            keep = _NONE if self._inline_keep is None else self._inline_keep
            shown = _masked(seg, len(self._line), keep)
            out.append(shown)
            hidden = hidden or shown is not seg
            if eol < 0:
                self._line = line[:_HEAD] if len(line) <= _HEAD else line
                continue
            words = line.split(None, 1)
            if label is None and words:
                label = words[0].upper().decode("ascii", "replace")
            self._line, self._inline_keep = b"", None
        return Chunk(b"".join(out)[:LIMIT], hidden, label)

    def _header(self, line: bytes) -> None:
        try:
            count = int(line[1:].strip())
        except ValueError:
            return
        if line[:1] == b"*":
            self._left, self._index, self._command, self._hiding = count, 0, b"", False
        elif count >= 0:
            self._bulk = count + 2
            self._bulk_secret = self._hiding
            self._elem = b""

    def _element_done(self) -> Label:
        word = self._elem.rstrip(b"\r\n").upper()
        label: Label = None
        if self._index == 0:
            self._command = word
            label = word.decode("ascii", "replace")
            self._hiding = word == b"AUTH"
        elif self._command == b"HELLO" and word == b"AUTH":
            self._hiding = True
        self._index += 1
        return label

    @staticmethod
    def _inline(line: bytes, complete: bool) -> int | None:
        upper = line.upper()
        if upper.startswith(b"AUTH "):
            return 5
        if upper.startswith(b"HELLO "):
            at = upper.find(b" AUTH ")
            if at >= 0:
                return at + 6
            return _NONE if complete else None
        if (
            len(line) < 6
            and not complete
            and (b"AUTH ".startswith(upper) or b"HELLO ".startswith(upper))
        ):
            return None
        return _NONE

    # The server's replies are shown as they are: Transcriber.server.


class Telnet(Transcriber):
    """Telnet logins: the password lines hidden, until the server says the login succeeded.

    A login is a name line then a password line (a blank name line is asked again),
    in turn until the server writes L{LOGGED_IN}; client lines are counted, so a
    password typed ahead of its prompt is hidden too. Telnet commands (C{IAC ...})
    are shown and skipped; CR LF and CR NUL end one line, as a lone CR or LF does.
    """

    #: The start of zoo-telnet's line once a login succeeded (L{zoo.telnet.WELCOME}).
    LOGGED_IN = b"zoo-telnet: logged in as "

    def __init__(self) -> None:
        self._phase = "name"  # name, password, shell
        self._state = "data"  # data, iac, option, sb, sb-iac
        self._after_cr = False
        self._name = bytearray()  # the name line so far, edited as zoo-telnet edits it

    def client(self, data: bytes) -> Chunk:
        if self._phase == "shell":
            return Chunk(data[:LIMIT], False, None)
        out = bytearray()
        hidden = masking = False
        state = self._state
        for b in data:
            if state == "data":
                if self._after_cr:
                    self._after_cr = False
                    if b in (0, 10):
                        out.append(b)
                        continue
                if b == 255:
                    state = "iac"  # shown with the byte after it
                    continue
                if b in (10, 13):
                    self._after_cr = b == 13
                    if self._phase == "password":
                        self._phase = "name"
                    elif self._name.strip():
                        self._phase = "password"
                    self._name.clear()
                    masking = False
                    out.append(b)
                elif self._phase == "password":
                    if not masking:
                        out += MARK
                        masking = hidden = True
                else:
                    self._edit(b)
                    out.append(b)
                continue
            if state == "iac":
                state = "option" if 251 <= b <= 254 else "sb" if b == 250 else "data"
                if b == 255:  # IAC IAC: a data byte 255
                    if self._phase == "password":
                        if not masking:
                            out += MARK
                            masking = hidden = True
                        continue
                    self._edit(b)
                out += bytes((255, b))
                continue
            out.append(b)
            if state == "option":
                state = "data"
            elif state == "sb":
                state = "sb-iac" if b == 255 else "sb"
            else:
                state = "data" if b == 240 else "sb"
        self._state = state
        return Chunk(bytes(out[:LIMIT]), hidden, None)

    def _edit(self, b: int) -> None:
        """Apply one name-line byte as zoo-telnet's line editor does (BS, DEL, ^U)."""
        if b in (8, 127):
            if self._name:
                del self._name[-1]
        elif b == 21:
            self._name.clear()
        elif b >= 32 and len(self._name) < _HEAD:
            self._name.append(b)

    def server(self, data: bytes) -> Chunk:
        if self._phase != "shell" and self.LOGGED_IN in data:
            self._phase = "shell"
        return Chunk(data[:LIMIT], False, None)


_PLUS = (b"+ ", b"+\r\n", b"+\n")

#: Per service: how its transcript is made. Services not listed are bounded only.
TABLE: dict[str, Callable[[], Transcriber]] = {
    "smtp": lambda: Lines({b"AUTH": 1}, sasl=b"AUTH", more=(b"334",), replies=_code, body=True),
    "pop3": lambda: Lines(
        {b"PASS": 0, b"APOP": 1, b"AUTH": 1}, sasl=b"AUTH", more=_PLUS, replies=_pop
    ),
    "imap": lambda: Lines(
        {b"LOGIN": 1, b"AUTHENTICATE": 1},
        sasl=b"AUTHENTICATE",
        more=_PLUS,
        replies=_imap,
        tagged=True,
        literals=True,
    ),
    "ftp": lambda: Lines({b"PASS": 0, b"ACCT": 0}, replies=_code),
    "xmlrpc": Http,
    "pubsub": Resp,
    "ssh": Opaque,
    "telnet": Telnet,
}


def transcriber(service: str) -> Transcriber:
    """A new transcriber for one session of C{service}."""
    return TABLE.get(service, Transcriber)()


__all__ = ["KEEP_WHOLE", "LIMIT", "MARK", "TABLE", "Chunk", "Transcriber", "kept", "transcriber"]


#: L{Resp._whole} in use: its C twin (C{zoo._twisted._speedups.resp_whole}) where zoo's
#: speedups are built and on. It runs once a read of a followed client (a publisher's
#: pipeline): the Python steps were a few percent of pub-sub's CPU with transcripts on.
_WHOLE: Callable[[bytes], str | None] = (
    _speedups.resp_whole if _speedups is not None else Resp._whole
)
