"""memcached's text protocol without I/O: bytes in, reply bytes out, one L{Store} behind.

A L{Session} is one connection. L{Session.feed} buffers what the client sent;
L{Session.run} executes complete commands until it has produced about C{budget}
bytes of replies or needs more input, and returns them. A multi-key C{get} whose
values are large is answered in several L{run} calls, so the caller can stop while
the client is not reading (see L{zoo.memcached.protocol}).

Replies and errors are memcached 1.6's, byte for byte (C{tests/integration/
test_memcached_twistd.py} compares them with Debian's memcached). Where memcached
is lenient (flags past 32 bits wrap, a word other than C{noreply} in its place is
ignored), this is too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from zoo.events import bounded_text, hub
from zoo.memcached import store as st
from zoo.memcached.store import Store

#: The longest key memcached accepts.
KEY_MAX = 250
#: Bytes of an unfinished command line before the connection is closed (memcached's
#: 2048); retrieval commands, which may name many keys, get L{GET_LINE_MAX}.
LINE_MAX = 2048
GET_LINE_MAX = 64 * 1024
#: The memcached release whose replies these are (C{version}, C{stats}).
VERSION = b"1.6.18"

ERROR = b"ERROR\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
BAD_CHUNK = b"CLIENT_ERROR bad data chunk\r\n"
TOO_LARGE = b"SERVER_ERROR object too large for cache\r\n"
LINE_TOO_LONG = b"CLIENT_ERROR line too long\r\n"
BAD_EXPTIME = b"CLIENT_ERROR invalid exptime argument\r\n"
BAD_DELTA = b"CLIENT_ERROR invalid numeric delta argument\r\n"
NON_NUMERIC = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
DELETE_USAGE = b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
END = b"END\r\n"
_RESULTS = {
    st.STORED: b"STORED\r\n",
    st.NOT_STORED: b"NOT_STORED\r\n",
    st.EXISTS: b"EXISTS\r\n",
    st.NOT_FOUND: b"NOT_FOUND\r\n",
    st.TOO_LARGE: TOO_LARGE,
}
_STORAGE = frozenset([b"set", b"add", b"replace", b"append", b"prepend", b"cas"])
_RETRIEVAL = (b"get ", b"gets ", b"gat ", b"gats ")
_U32 = 1 << 32


def _line_max(buffer: bytes) -> int:
    """How long the unfinished line starting C{buffer} may grow."""
    return GET_LINE_MAX if buffer.startswith(_RETRIEVAL) else LINE_MAX


def _unsigned(token: bytes, limit: int = st.U64) -> int | None:
    """A number as C{strtoull} reads a whole token (an optional C{+}), below C{limit}."""
    digits = token[1:] if token[:1] == b"+" else token
    if not digits.isdigit():
        return None
    n = int(digits)
    return n if n < limit else None


def _signed32(token: bytes) -> int | None:
    """An expiry time: a signed number, cut to 32 bits as memcached stores it."""
    digits = token[1:] if token[:1] in (b"+", b"-") else token
    if not digits.isdigit() or len(digits) > 19:
        return None
    n = int(token)
    return (n + (1 << 31)) % _U32 - (1 << 31)


def _fields(command: str, key: bytes, result: str, size: int) -> dict[str, Any]:
    """The fields of a C{memcached.command} event, built when it is read."""
    fields: dict[str, Any] = {"command": command, "key": bounded_text(key, 256), "result": result}
    if size >= 0:
        fields["size"] = size
    return fields


class Session:
    """One client's commands against a shared L{Store}.

    @param observatory: where commands are reported (L{zoo.events.hub} by default).
    @param session: the connection's session id, for its events.
    @param connections: returns (current, total) connections, for C{stats}.
    @ivar closing: C{quit}, or a line past the limit: send what L{run} returned, then close.
    """

    def __init__(
        self,
        store: Store,
        observatory: Any = None,
        session: str | None = None,
        connections: Callable[[], tuple[int, int]] = lambda: (1, 1),
    ) -> None:
        self.store = store
        self.observatory = observatory if observatory is not None else hub
        self.session_id = session
        self.connections = connections
        self._command_event = self.observatory.recorder(
            "memcached", "memcached.command", _fields
        ).record
        self.closing = False
        self._buffer = b""
        #: A storage command waiting for its data block: (handler args) and bytes wanted.
        self._block: tuple[str, bytes, int, int, int, bool] | None = None
        self._want = 0
        #: Bytes of an over-large data block still to throw away.
        self._swallow = 0
        #: A retrieval under way: (command, keys left, with cas, exptime or None).
        self._fetching: tuple[str, list[bytes], bool, int | None] | None = None

    def feed(self, data: bytes) -> None:
        """Buffer bytes from the client (L{run} executes them)."""
        self._buffer = self._buffer + data if self._buffer else data

    @property
    def busy(self) -> bool:
        """Whether L{run} has work it could do now without more input."""
        if self.closing:
            return False
        if self._fetching is not None:
            return True
        buffer = self._buffer
        if self._swallow:
            return bool(buffer)
        if self._block is not None:
            return len(buffer) >= self._want
        return b"\n" in buffer or len(buffer) > _line_max(buffer)

    @property
    def between_commands(self) -> bool:
        """Whether every byte received so far belongs to a command already read whole."""
        return not self._buffer and self._block is None and not self._swallow

    def run(self, budget: int = 256 * 1024) -> bytes:
        """Execute buffered commands until about C{budget} bytes of replies are ready."""
        out: list[bytes] = []
        size = 0
        while size < budget and not self.closing:
            if self._fetching is not None:
                size += self._fetch_some(out, budget - size)
                continue
            if self._swallow:
                dropped = min(self._swallow, len(self._buffer))
                self._swallow -= dropped
                self._buffer = self._buffer[dropped:]
                if self._swallow:
                    break
                continue
            if self._block is not None:
                if len(self._buffer) < self._want:
                    break
                reply = self._finish_block()
            else:
                buffer = self._buffer
                end = buffer.find(b"\n")
                if end < 0:
                    if len(buffer) > _line_max(buffer):
                        self._buffer = b""
                        self.closing = True
                        reply = LINE_TOO_LONG
                    else:
                        break
                else:
                    line = buffer[:end]
                    self._buffer = buffer[end + 1 :]
                    if line.endswith(b"\r"):
                        line = line[:-1]
                    reply = self._command(line, out)
            if reply:
                out.append(reply)
                size += len(reply)
        return b"".join(out)

    def quick(self, data: bytes) -> bytes | None:
        """The reply when C{data} is exactly one plain C{get KEY} or C{set}; else C{None}.

        Most reads of a client waiting for each answer are one such command, and this
        answers it without the general path's buffering and tokenizing, with the same
        reply and the same events. Anything else (several commands, a part of one,
        noreply, another command) returns C{None}: L{feed} and L{run} then.
        """
        if (
            self._buffer
            or self._fetching is not None
            or self._block is not None
            or self._swallow
            or not data.endswith(b"\r\n")
        ):
            return None
        head = data[:4]
        if head == b"get ":
            key = data[4:-2]
            if not key or len(key) > KEY_MAX or b" " in key or b"\n" in key:
                return None
            item = self.store.get(key)
            if self.observatory.enabled:
                self._record("get", key, "hit" if item is not None else "miss")
            if item is None:
                return END
            value = item.value
            return b"VALUE %b %d %d\r\n%b\r\nEND\r\n" % (key, item.flags, len(value), value)
        if head == b"set ":
            end = data.find(b"\r\n")
            line = data[4:end]
            words = line.split(b" ")
            if len(words) != 4 or b"\n" in line:
                return None
            key, flags, exptime, length = words
            if not (
                key
                and len(key) <= KEY_MAX
                and flags.isdigit()
                and len(flags) <= 10
                and exptime.isdigit()
                and len(exptime) <= 9
                and length.isdigit()
                and len(data) == end + 4 + int(length)
                and st.item_size(key, b"") + int(length) <= self.store.item_max
            ):
                return None
            value = data[end + 2 : -2]
            result = self.store.store("set", key, int(flags) % _U32, int(exptime), value)
            if self.observatory.enabled:
                self._record("set", key, result, len(value))
            return _RESULTS[result]
        return None

    # -- dispatch --------------------------------------------------------------------

    def _command(self, line: bytes, out: list[bytes]) -> bytes:
        tokens = [t for t in line.split(b" ") if t]
        if not tokens:
            return ERROR
        name = tokens[0]
        n = len(tokens)
        if name == b"get" or name == b"gets":
            if n < 2:
                return ERROR
            return self._start_fetch(name.decode(), tokens[1:], name == b"gets", None)
        if name in _STORAGE:
            if not (6 <= n <= 7 if name == b"cas" else 5 <= n <= 6):
                return ERROR
            return self._start_block(name.decode(), tokens)
        handler = _HANDLERS.get(name)
        if handler is None:
            return ERROR
        return handler(self, tokens)

    # -- retrieval -------------------------------------------------------------------

    def _start_fetch(
        self, command: str, keys: list[bytes], cas: bool, exptime: int | None
    ) -> bytes:
        if any(len(k) > KEY_MAX for k in keys):
            return BAD_FORMAT
        self._fetching = (command, keys[::-1], cas, exptime)
        return b""

    def _fetch_some(self, out: list[bytes], budget: int) -> int:
        """Answer keys of the retrieval under way until C{budget} bytes; C{END} at the end."""
        assert self._fetching is not None
        command, keys, with_cas, exptime = self._fetching
        store = self.store
        observing = self.observatory.enabled
        size = 0
        while keys and size < budget:
            key = keys.pop()
            item = store.get(key) if exptime is None else store.touch(key, exptime, get=True)
            if observing:
                self._record(command, key, "hit" if item is not None else "miss")
            if item is None:
                continue
            value = item.value
            if with_cas:
                head = b"VALUE %b %d %d %d\r\n" % (key, item.flags, len(value), item.cas)
            else:
                head = b"VALUE %b %d %d\r\n" % (key, item.flags, len(value))
            out += (head, value, b"\r\n")
            size += len(head) + len(value) + 2
        if not keys:
            self._fetching = None
            out.append(END)
            size += 5
        return size

    def gat(self, tokens: list[bytes]) -> bytes:
        if len(tokens) < 3:
            return ERROR
        exptime = _signed32(tokens[1])
        if exptime is None:
            return BAD_EXPTIME
        name = tokens[0]
        return self._start_fetch(name.decode(), tokens[2:], name == b"gats", exptime)

    # -- storage ---------------------------------------------------------------------

    def _start_block(self, command: str, tokens: list[bytes]) -> bytes:
        key = tokens[1]
        flags = _unsigned(tokens[2])
        exptime = _signed32(tokens[3])
        length = _unsigned(tokens[4], 1 << 31)
        cas = 0
        if command == "cas":
            cas_value = _unsigned(tokens[5])
            if cas_value is None:
                return BAD_FORMAT
            cas = cas_value
        if len(key) > KEY_MAX or flags is None or exptime is None or length is None:
            return BAD_FORMAT
        noreply = tokens[-1] == b"noreply"
        if st.item_size(key, b"") + length > self.store.item_max:
            self.store.stats.cmd_set += 1
            if command == "set":  # memcached drops the stale value rather than keep it
                self.store.delete(key, count=False)
            self._swallow = length + 2
            if self.observatory.enabled:
                self._record(command, key, st.TOO_LARGE, length)
            return b"" if noreply else TOO_LARGE
        self._block = (command, key, flags % _U32, exptime, cas, noreply)
        self._want = length + 2
        return b""

    def _finish_block(self) -> bytes:
        assert self._block is not None
        command, key, flags, exptime, cas, noreply = self._block
        want = self._want
        data = self._buffer[:want]
        self._buffer = self._buffer[want:]
        self._block = None
        if not data.endswith(b"\r\n"):
            if self.observatory.enabled:
                self._record(command, key, "BAD_CHUNK", want - 2)
            return b"" if noreply else BAD_CHUNK
        value = data[:-2]
        result = self.store.store(command, key, flags, exptime, value, cas)
        if self.observatory.enabled:
            self._record(command, key, result, len(value))
        return b"" if noreply else _RESULTS[result]

    # -- the other commands ----------------------------------------------------------

    def delete(self, tokens: list[bytes]) -> bytes:
        n = len(tokens)
        if not 2 <= n <= 4:
            return ERROR
        noreply = tokens[-1] == b"noreply"
        if n > 2:
            zero = tokens[2] == b"0"
            if not ((n == 3 and (zero or noreply)) or (n == 4 and zero and noreply)):
                return DELETE_USAGE
        key = tokens[1]
        if len(key) > KEY_MAX:
            return BAD_FORMAT
        found = self.store.delete(key)
        if self.observatory.enabled:
            self._record("delete", key, "DELETED" if found else st.NOT_FOUND)
        if noreply:
            return b""
        return b"DELETED\r\n" if found else b"NOT_FOUND\r\n"

    @staticmethod
    def _key_and_number(
        tokens: list[bytes], parse: Callable[[bytes], int | None], bad: bytes
    ) -> tuple[bytes, int, bool] | bytes:
        """C{COMMAND KEY NUMBER [noreply]} (incr, decr, touch): C{(key, number, noreply)},
        or the error line to answer (C{bad} for a number C{parse} refuses)."""
        if not 3 <= len(tokens) <= 4:
            return ERROR
        key = tokens[1]
        if len(key) > KEY_MAX:
            return BAD_FORMAT
        number = parse(tokens[2])
        if number is None:
            return bad
        return key, number, tokens[-1] == b"noreply"

    def incr(self, tokens: list[bytes]) -> bytes:
        parsed = self._key_and_number(tokens, _unsigned, BAD_DELTA)
        if isinstance(parsed, bytes):
            return parsed
        key, delta, noreply = parsed
        command = tokens[0].decode()
        result = self.store.incr(key, delta, decr=command == "decr")
        if self.observatory.enabled:
            self._record(command, key, str(result))
        if noreply:
            return b""
        if isinstance(result, int):
            return b"%d\r\n" % result
        return b"NOT_FOUND\r\n" if result == st.NOT_FOUND else NON_NUMERIC

    def touch(self, tokens: list[bytes]) -> bytes:
        parsed = self._key_and_number(tokens, _signed32, BAD_EXPTIME)
        if isinstance(parsed, bytes):
            return parsed
        key, exptime, noreply = parsed
        found = self.store.touch(key, exptime) is not None
        if self.observatory.enabled:
            self._record("touch", key, "TOUCHED" if found else st.NOT_FOUND)
        if noreply:
            return b""
        return b"TOUCHED\r\n" if found else b"NOT_FOUND\r\n"

    def flush_all(self, tokens: list[bytes]) -> bytes:
        n = len(tokens)
        if n > 3:
            return ERROR
        noreply = tokens[-1] == b"noreply"
        delay = 0
        if n == (3 if noreply else 2):
            parsed = _signed32(tokens[1])
            if parsed is None:
                return BAD_EXPTIME
            delay = parsed
        self.store.flush(delay)
        if self.observatory.enabled:
            self.observatory.emit("memcached", "memcached.flushed", self.session_id, delay=delay)
        return b"" if noreply else b"OK\r\n"

    def version(self, tokens: list[bytes]) -> bytes:
        return b"VERSION %b\r\n" % VERSION

    def verbosity(self, tokens: list[bytes]) -> bytes:
        if not 2 <= len(tokens) <= 3:
            return ERROR
        noreply = tokens[-1] == b"noreply"
        if _unsigned(tokens[1], _U32) is None:
            return BAD_FORMAT
        return b"" if noreply else b"OK\r\n"  # the zoo logs what it logs

    def quit(self, tokens: list[bytes]) -> bytes:
        self.closing = True
        return b""

    def stats(self, tokens: list[bytes]) -> bytes:
        if len(tokens) == 1:
            return b"".join(b"STAT %b %b\r\n" % (k.encode(), v) for k, v in self.numbers()) + END
        if tokens[1] == b"reset" and len(tokens) == 2:
            self.store.stats = st.Counters()
            return b"RESET\r\n"
        return ERROR

    def numbers(self) -> list[tuple[str, bytes]]:
        """C{stats}: name and value, a subset of memcached's in memcached's order."""
        store = self.store
        now = store.clock.seconds()
        current, total = self.connections()
        head = [
            ("pid", b"%d" % os.getpid()),
            ("uptime", b"%d" % (now - store.started)),
            ("time", b"%d" % now),
            ("version", VERSION),
            ("pointer_size", b"64"),
            ("curr_connections", b"%d" % current),
            ("total_connections", b"%d" % total),
        ]
        counters = [(k, b"%d" % v) for k, v in vars(store.stats).items() if k != "total_items"]
        tail = [
            ("threads", b"1"),
            ("bytes", b"%d" % store.bytes),
            ("curr_items", b"%d" % len(store.items)),
            ("total_items", b"%d" % store.stats.total_items),
            ("limit_maxbytes", b"%d" % store.memory),
            ("item_size_max", b"%d" % store.item_max),
        ]
        return head + counters + tail

    # -- events ----------------------------------------------------------------------

    def _record(self, command: str, key: bytes, result: str, size: int = -1) -> None:
        """A C{memcached.command} event (the caller checks C{observatory.enabled})."""
        self._command_event(self.session_id, 64 + len(key), command, key, result, size)


_HANDLERS: dict[bytes, Callable[[Session, list[bytes]], bytes]] = {
    b"gat": Session.gat,
    b"gats": Session.gat,
    b"delete": Session.delete,
    b"incr": Session.incr,
    b"decr": Session.incr,
    b"touch": Session.touch,
    b"flush_all": Session.flush_all,
    b"version": Session.version,
    b"verbosity": Session.verbosity,
    b"quit": Session.quit,
    b"stats": Session.stats,
}
