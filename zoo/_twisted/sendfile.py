"""Sending a file with C{os.sendfile}, which Twisted lacks, on a plain TCP connection.

L{SendfileSender} is a pull producer that writes nothing through Twisted: it calls
C{os.sendfile} on the connection's socket (C{tcp.Connection.socket}) and asks to be
woken when the socket is writable again with C{startWriting()}. L{Sender} is what it
shares with zoo-ftp's ordinary L{zoo.ftp.data.FileSender}. Listed in L{zoo._twisted}.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, BinaryIO

from twisted.internet import defer, tcp
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPullProducer
from twisted.python.failure import Failure
from zope.interface import implementer

#: Bytes per C{os.sendfile} call: one splice pipe's worth (16 pages). For a larger
#: count the kernel sends every 64 KiB piece but the last with MSG_MORE, in one long
#: call that queues megabytes on the socket at once: on loopback 4 MiB calls cost
#: 0.37 ms of server CPU per MB, 64 KiB ones 0.24 (bench/ftp.py, 512 MiB download).
SENDFILE_CHUNK = 64 * 1024
#: Bytes sent per reactor turn (a little more: the call that passes it) before other
#: connections get theirs; a 1 MiB file goes out in one turn, end included.
SENDFILE_TURN = 1024 * 1024


class Sender:
    """What a file sender needs: a Deferred for the end, and stopping early."""

    finished = False
    complete = False

    def __init__(self) -> None:
        self.done: defer.Deferred[None] = defer.Deferred()

    def stopProducing(self) -> None:
        self._stop(Failure(ConnectionDone("data connection closed by the client")))

    def _stop(self, why: Failure) -> None:
        if not self.finished:
            self.finished = True
            self.done.errback(why)


@implementer(IPullProducer)
class SendfileSender(Sender):
    """Send a file over a plain TCP connection with C{os.sendfile}: no copy through Python.

    A pull producer that never calls C{write}: each time the transport asks for more,
    it C{sendfile}s L{SENDFILE_CHUNK} at a time until the socket is full, the file
    ends, or more than L{SENDFILE_TURN} bytes have gone; then it asks the transport to
    tell it when the socket is writable again (C{startWriting}), and Twisted's
    C{doWrite} finds an empty buffer and calls L{resumeProducing}. Twisted itself has
    no sendfile.
    """

    #: C{os.sendfile}; an attribute so that tests can give a fake socket.
    sendfile = staticmethod(os.sendfile)

    def __init__(self, f: BinaryIO, transport: Any, touch: Callable[[], None]) -> None:
        self.file = f
        self.transport = transport
        self.touch = touch
        self.offset = f.tell()
        self.start_offset = self.offset
        super().__init__()

    @property
    def sent(self) -> int:
        return self.offset - self.start_offset

    def start(self) -> defer.Deferred[None]:
        self.transport.registerProducer(self, False)
        return self.done

    def resumeProducing(self) -> None:
        if self.finished:
            return
        out, src, start = self.transport.socket.fileno(), self.file.fileno(), self.offset
        end = False
        while True:
            try:
                n = self.sendfile(out, src, self.offset, SENDFILE_CHUNK)
            except BlockingIOError:
                break  # the socket is full
            except OSError as e:
                self._stop(Failure(e))
                self.transport.abortConnection()
                return
            if n == 0:
                end = True
                break
            self.offset += n
            if self.offset - start > SENDFILE_TURN:
                break  # other connections' turn
        if self.offset > start:
            self.touch()
        if not end:
            self.transport.startWriting()
            return
        self.finished = self.complete = True
        self.transport.unregisterProducer()
        self.done.callback(None)


def can_sendfile(transport: Any, f: Any) -> bool:
    """A plain (non-TLS) TCP transport and a real file: C{os.sendfile} can be used."""
    return (
        hasattr(os, "sendfile")
        and isinstance(transport, tcp.Connection)
        and not getattr(transport, "TLS", False)
        and hasattr(f, "fileno")
    )
