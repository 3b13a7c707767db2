"""FTP data connections: one per transfer, passive or active, plain or TLS.

A L{DataChannel} is the protocol on the data connection. It tells its control session
when it connects (L{FTPSession.data_connected}), switches to TLS first when the session
asked for C{PROT P} (the FTP client is always the TLS client, RFC 4217 §6, even when the
server dialled out for C{PORT}), turns off Nagle, and counts its traffic as activity on
the control connection so a long transfer is not closed as idle.

L{FileSender} streams a file to it as a pull producer (256 KiB reads, so memory stays
bounded whatever the client's speed); L{LineEndings} converts text for C{TYPE A}.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from twisted.internet import defer, protocol, tcp
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.interfaces import (
    IPullProducer,
    IReadDescriptor,
    ITCPTransport,
    ITLSTransport,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo.policies import set_nodelay

#: Bytes read from disk per write to the data connection.
CHUNK = 256 * 1024
#: Bytes per C{os.sendfile} call: one splice pipe's worth (16 pages). For a larger
#: count the kernel sends every 64 KiB piece but the last with MSG_MORE, in one long
#: call that queues megabytes on the socket at once: on loopback 4 MiB calls cost
#: 0.37 ms of server CPU per MB, 64 KiB ones 0.24 (bench/ftp.py, 512 MiB download).
SENDFILE_CHUNK = 64 * 1024
#: Bytes sent per reactor turn (a little more: the call that passes it) before other
#: connections get theirs; a 1 MiB file goes out in one turn, end included.
SENDFILE_TURN = 1024 * 1024
#: Bytes a client may send on a data connection before any STOR claims them.
MAX_EARLY = 64 * 1024


class LineEndings:
    """Convert text between local C{\\n} and the network's C{\\r\\n}, across chunk boundaries.

    @param to_network: C{True} for downloads (C{\\n} becomes C{\\r\\n}; existing C{\\r\\n}
        is kept), C{False} for uploads (C{\\r\\n} becomes C{\\n}).
    """

    def __init__(self, to_network: bool) -> None:
        self.to_network = to_network
        self.carry = b""

    def convert(self, data: bytes) -> bytes:
        data = self.carry + data
        if data.endswith(b"\r"):
            self.carry, data = b"\r", data[:-1]
        else:
            self.carry = b""
        data = data.replace(b"\r\n", b"\n")
        if self.to_network:
            data = data.replace(b"\n", b"\r\n")
        return data

    def flush(self) -> bytes:
        out, self.carry = self.carry, b""
        return out


class _Sender:
    """What both senders share: a Deferred for the end, and stopping early."""

    finished = False
    complete = False

    def __init__(self) -> None:
        self.done: defer.Deferred[None] = defer.Deferred()

    def stopProducing(self) -> None:  # noqa: N802
        self._stop(Failure(ConnectionDone("data connection closed by the client")))

    def _stop(self, why: Failure) -> None:
        if not self.finished:
            self.finished = True
            self.done.errback(why)


@implementer(IPullProducer)
class FileSender(_Sender):
    """Send a file to a consumer one chunk each time the consumer asks for more."""

    def __init__(
        self,
        f: BinaryIO,
        consumer: Any,
        *,
        ascii: bool = False,
        touch: Callable[[], None] = lambda: None,
    ) -> None:
        self.file = f
        self.consumer = consumer
        self.text = LineEndings(to_network=True) if ascii else None
        self.touch = touch
        self.sent = 0
        super().__init__()

    def start(self) -> defer.Deferred[None]:
        self.consumer.registerProducer(self, False)
        return self.done

    def resumeProducing(self) -> None:  # noqa: N802
        if self.finished:
            return
        try:
            chunk = self.file.read(CHUNK)
        except OSError as e:
            self._stop(Failure(e))
            return
        if self.text is not None:
            chunk = self.text.convert(chunk) if chunk else self.text.flush()
            if not chunk and self.text.carry:
                chunk = self.text.flush()
        if not chunk:
            self.finished = self.complete = True
            self.consumer.unregisterProducer()
            self.done.callback(None)
            return
        self.sent += len(chunk)
        self.touch()
        self.consumer.write(chunk)


@implementer(IPullProducer)
class SendfileSender(_Sender):
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

    def resumeProducing(self) -> None:  # noqa: N802
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


def _size(f: Any) -> int | None:
    """The size of a real file, or None."""
    try:
        return os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


def can_sendfile(transport: Any, f: Any) -> bool:
    """A plain (non-TLS) TCP transport and a real file: C{os.sendfile} can be used."""
    return (
        hasattr(os, "sendfile")
        and isinstance(transport, tcp.Connection)
        and not getattr(transport, "TLS", False)
        and hasattr(f, "fileno")
    )


class DataChannel(protocol.Protocol):
    """The protocol on one data connection.

    @ivar reason: why the connection closed, once it has.
    @ivar tls: the connection was switched to TLS.
    """

    reason: Failure | None = None

    def __init__(self, session: Any, tls_context: Any = None, dialled_out: bool = False) -> None:
        self.session = session
        self.tls_context = tls_context
        self.dialled_out = dialled_out
        self.tls = False
        self._sink: Callable[[bytes], None] | None = None
        self._early: list[bytes] = []
        self._early_size = 0
        self._lost: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:  # noqa: N802
        transport = self.transport
        set_nodelay(transport)
        if isinstance(transport, tcp.Connection):
            # Read up to 256 KiB per turn instead of Twisted's 64 KiB: a quarter of
            # the reactor turns per upload.
            transport.bufferSize = CHUNK
        if self.tls_context is not None:
            # The FTP client is the TLS client on data connections in both directions.
            # Twisted's ITLSTransport omits the `normal` (server side) argument that its
            # TCP transports' startTLS takes.
            cast(ITLSTransport, transport).startTLS(
                self.tls_context,
                normal=not self.dialled_out,  # type: ignore[call-arg]
            )
            self.tls = True
        self.session.data_connected(self)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.session.touch()
        if self._sink is not None:
            self._sink(data)
            return
        self._early.append(data)
        self._early_size += len(data)
        if self._early_size > MAX_EARLY:
            cast(ITCPTransport, self.transport).abortConnection()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:  # noqa: N802
        self.reason = reason
        self._lost.callback(None)  # not the Failure itself: that would run the errbacks
        self.session.data_lost(self)

    def when_lost(self) -> defer.Deferred[None]:
        """A Deferred that fires once the connection has closed (see L{reason})."""
        d: defer.Deferred[None] = defer.Deferred()
        self._lost.addCallback(lambda _: d.callback(None))
        return d

    def clean_close(self) -> bool:
        """The peer closed normally (for TLS, any close: many clients skip close_notify)."""
        if self.reason is None:
            return False
        return self.tls or self.reason.check(ConnectionDone) is not None

    # -- transfers --------------------------------------------------------------------

    def send_bytes(self, data: bytes) -> defer.Deferred[None]:
        """Send C{data} (a listing), close, and fire when closed."""
        self.session.touch()
        transport = self.transport
        assert transport is not None  # transfers run on a connected channel
        transport.write(data)
        transport.loseConnection()
        return self.when_lost()

    def send_file(self, f: BinaryIO, ascii: bool) -> defer.Deferred[int]:
        """Stream C{f}, close, and fire with the bytes sent (or fail if cut short)."""
        start = f.tell()
        size = _size(f)
        if size is None or size - start < CHUNK:  # fstat first: no 256 KiB read to find out
            head = f.read(CHUNK)
            if len(head) < CHUNK:
                return self._send_small(head, ascii)
            f.seek(start)
        sender: FileSender | SendfileSender
        if not ascii and not self.tls and can_sendfile(self.transport, f):
            sender = SendfileSender(f, self.transport, self.session.touch)
        else:
            sender = FileSender(f, self.transport, ascii=ascii, touch=self.session.touch)

        def sent(_: object) -> None:
            transport = self.transport
            assert transport is not None  # transfers run on a connected channel
            transport.loseConnection()

        sender.start().addCallbacks(sent, lambda _: None)

        def closed(_: None) -> int:
            if not sender.complete:
                raise TransferAborted("data connection closed before the end of the file")
            return sender.sent

        return self.when_lost().addCallback(closed)

    def _send_small(self, data: bytes, ascii: bool) -> defer.Deferred[int]:
        """A file that fits in one chunk: one write and close, no producer (small-file speed)."""
        if ascii:
            text = LineEndings(to_network=True)
            data = text.convert(data) + text.flush()
        self.session.touch()
        transport = self.transport
        assert transport is not None  # transfers run on a connected channel
        transport.write(data)
        transport.loseConnection()

        def closed(_: None) -> int:
            if self.reason is not None and not self.reason.check(ConnectionDone):
                if not self.tls:
                    raise TransferAborted("data connection lost before the file was sent")
            return len(data)

        return self.when_lost().addCallback(closed)

    def receive(self, sink: Callable[[bytes], None]) -> defer.Deferred[None]:
        """Hand everything received (including early data) to C{sink}; fire when closed."""
        self._sink = sink
        early, self._early = self._early, []
        for chunk in early:
            sink(chunk)
        return self.when_lost()


class TransferAborted(Exception):
    """The data connection closed before the transfer was complete."""


class PassiveFactory(protocol.ServerFactory):
    """Accepts exactly one data connection, and only from the control connection's peer."""

    noisy = False

    def __init__(self, session: Any, peer_host: str) -> None:
        self.session = session
        self.peer_host = peer_host
        self.used = False

    def buildProtocol(self, addr: Any) -> DataChannel | None:  # noqa: N802
        if self.used or _plain(getattr(addr, "host", "")) != _plain(self.peer_host):
            return None  # port theft: someone other than our client connected first
        self.used = True
        return DataChannel(self.session, self.session.data_tls())


class ActiveFactory(protocol.ClientFactory):
    """Dials the client's own address for PORT/EPRT."""

    noisy = False

    def __init__(self, session: Any) -> None:
        self.session = session

    def buildProtocol(self, addr: Any) -> DataChannel:  # noqa: N802
        return DataChannel(self.session, self.session.data_tls(), dialled_out=True)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:  # noqa: N802
        self.session.data_failed(reason)


@implementer(IReadDescriptor)
class PassiveListener:
    """A listening socket for one passive data connection, watched by the reactor directly.

    Twisted's C{listenTCP} logs two lines per listener ("starting on", "Port closed"):
    two log lines per file transferred. This accepts with the socket itself and hands
    the connection to the reactor as a C{tcp.Server} (see L{_adopt}). Used on real reactors
    only; in-memory reactors get C{listenTCP} (see L{listen_passive}).
    """

    def __init__(self, reactor: Any, factory: PassiveFactory, interface: str, port: int) -> None:
        self.reactor = reactor
        self.factory = factory
        self.family = socket.AF_INET6 if ":" in interface else socket.AF_INET
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            if port:
                # A port of the configured range may still have the last transfer's
                # connection in TIME_WAIT. Not for port 0: there SO_REUSEADDR makes
                # the kernel's search for a free port walk the TIME_WAIT sockets of
                # earlier transfers, which took a third of the server's CPU with 300
                # concurrent 1 MiB downloads.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((interface, port))
            sock.listen(1)
        except OSError as e:
            sock.close()
            raise CannotListenError(interface, port, e) from None
        sock.setblocking(False)
        self.socket: socket.socket | None = sock
        reactor.addReader(self)

    def fileno(self) -> int:
        return self.socket.fileno() if self.socket is not None else -1

    def logPrefix(self) -> str:  # noqa: N802
        return "ftp-data"

    def getHost(self) -> Any:
        assert self.socket is not None
        host, port = self.socket.getsockname()[:2]
        return (IPv6Address if self.family == socket.AF_INET6 else IPv4Address)("TCP", host, port)

    def doRead(self) -> None:  # noqa: N802
        if self.socket is None:
            return
        try:
            conn, addr = self.socket.accept()
        except OSError:
            return  # EAGAIN, or the client gave up
        conn.setblocking(False)
        try:
            self._adopt(conn, addr)
        except BaseException:
            conn.close()
            raise

    def _adopt(self, conn: socket.socket, addr: Any) -> None:
        """Make C{conn} a Twisted TCP connection of C{self.factory}'s protocol.

        What C{reactor.adoptStreamConnection} does, without its C{dup} of the
        descriptor, second socket object and C{getpeername}: a fifth of zoo-ftp's
        Python time per small file. PassiveFactory checks the peer.
        """
        client = tcp._getrealname(addr)
        address_type = IPv6Address if self.family == socket.AF_INET6 else IPv4Address
        proto = self.factory.buildProtocol(address_type("TCP", *client))
        if proto is None:
            conn.close()
            return
        # No Port: the socket was accepted here (adoptStreamConnection passes None too).
        transport = tcp.Server(
            conn,
            proto,
            client,
            None,  # type: ignore[arg-type]
            client[1],
            self.reactor,
        )
        transport.repstr = f"<{type(proto).__name__} #{client[1]} on ftp-data>"
        proto.makeConnection(transport)

    def connectionLost(self, reason: Any) -> None:  # noqa: N802
        self.stopListening()

    def stopListening(self) -> None:  # noqa: N802
        sock, self.socket = self.socket, None
        if sock is not None:
            self.reactor.removeReader(self)
            sock.close()


def listen_passive(reactor: Any, factory: PassiveFactory, interface: str, port: int) -> Any:
    """Listen for one data connection; quietly on real reactors, via C{listenTCP} otherwise."""
    from twisted.internet.posixbase import PosixReactorBase

    if isinstance(reactor, PosixReactorBase):
        return PassiveListener(reactor, factory, interface, port)
    return reactor.listenTCP(port, factory, backlog=1, interface=interface)


def _plain(host: str) -> str:
    """C{::ffff:1.2.3.4} and C{1.2.3.4} are the same client."""
    return host[7:] if host.startswith("::ffff:") else host
