"""The DATA section of an SMTP message, parsed as it arrives (no I/O).

Read in bulk rather than line by line: the C{CRLF.CRLF} terminator is found across
read boundaries, dot-stuffing is undone in one pass, and past the size limit
nothing more is kept, so memory stays bounded however much a client sends.
"""

from __future__ import annotations


class Body:
    """The DATA section of one message, fed as it arrives (no I/O).

    L{feed} returns C{None} until the C{CRLF.CRLF} terminator has arrived, then the
    bytes after it. L{message} is the unstuffed message ending in CRLF. Past
    C{limit} bytes nothing more is kept and L{too_big} is set; memory stays bounded.

    One scan per chunk, for lines starting with a dot (C{CRLF.}, rare in mail): it
    finds the terminator and notes whether any line needs unstuffing, so a message
    without C{..} lines is joined in one copy and never searched again. The last 4
    bytes fed are kept to find what straddles two chunks.
    """

    __slots__ = ("chunks", "size", "limit", "too_big", "tail", "dotted")

    def __init__(self, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.too_big = False
        self.dotted = False  # a line starts with ".." (dot-stuffing to undo)
        # The CRLF that ended the DATA command: lets ".\r\n" end an empty message.
        self.tail = b"\r\n"

    def feed(self, data: bytes) -> bytes | None:
        tail = self.tail
        nt = len(tail)
        # Dot-lines starting in the tail (the end of the previous chunks).
        edge = tail + data[:4]
        i = edge.find(b"\r\n.")
        while 0 <= i < nt:
            after = edge[i + 3 : i + 5]
            if after == b"\r\n":
                return self._end(data, i - nt)
            if after[:1] == b".":
                self.dotted = True
            i = edge.find(b"\r\n.", i + 3)
        # Dot-lines starting in this chunk; one cut short at its end starts in the
        # new tail and is looked at again with the next chunk.
        i = data.find(b"\r\n.")
        while i >= 0:
            after = data[i + 3 : i + 5]
            if after == b"\r\n":
                return self._end(data, i)
            if after[:1] == b".":
                self.dotted = True
            i = data.find(b"\r\n.", i + 3)
        self._keep(data)
        self.tail = data[-4:] if len(data) >= 4 else (tail + data)[-4:]
        return None

    def _end(self, data: bytes, at: int) -> bytes:
        """The terminator starts at C{at} in C{data} (negative: in the tail)."""
        cut = at + 2  # the message keeps the CRLF before the dot
        if cut >= 0:
            self._keep(data[:cut])
        else:
            self._trim(-cut)
        return data[at + 5 :]

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self.too_big = True
            self.chunks = []
        elif data:
            self.chunks.append(data)

    def _trim(self, n: int) -> None:
        self.size -= n
        if self.too_big:
            return
        while n:
            last = self.chunks.pop()
            if len(last) > n:
                self.chunks.append(last[:-n])
                return
            n -= len(last)

    def message(self, prefix: bytes = b"") -> bytes:
        """C{prefix} (headers to add) and the unstuffed message, in one string."""
        if not self.dotted:
            return b"".join([prefix, *self.chunks])
        data = b"\r\n" + b"".join(self.chunks)
        data = data.replace(b"\r\n..", b"\r\n.")
        return prefix + data[2:]
