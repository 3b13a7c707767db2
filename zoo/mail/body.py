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
    """

    __slots__ = ("chunks", "size", "limit", "too_big", "tail")

    def __init__(self, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.too_big = False
        # The CRLF that ended the DATA command: lets ".\r\n" end an empty message.
        self.tail = b"\r\n"

    def feed(self, data: bytes) -> bytes | None:
        hay = self.tail + data
        end = hay.find(b"\r\n.\r\n")
        if end < 0:
            self._keep(data)
            self.tail = hay[-4:]
            return None
        cut = end + 2 - len(self.tail)  # where the message ends in data (may be < 0)
        if cut >= 0:
            self._keep(data[:cut])
        else:
            self._trim(-cut)
        return data[end + 5 - len(self.tail) :]

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

    def message(self) -> bytes:
        data = b"\r\n" + b"".join(self.chunks)
        if b"\r\n.." in data:
            data = data.replace(b"\r\n..", b"\r\n.")
        return data[2:]
