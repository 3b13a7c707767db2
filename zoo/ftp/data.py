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
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from twisted.internet import defer, protocol, tcp
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IHandshakeListener,
    IPullProducer,
    ITCPTransport,
    ITLSTransport,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo._twisted.accept import PassiveListener
from zoo._twisted.sendfile import (
    Sender,
    SendfileSender,
    can_sendfile,
)
from zoo._twisted.tlslayer import watch_tcp_close
from zoo.faults.hook import at
from zoo.faults.model import registry as fault_registry
from zoo.faults.wire import cut
from zoo.policies import set_nodelay, watch_of

#: Bytes read from disk per write to the data connection.
CHUNK = 256 * 1024
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


@implementer(IPullProducer)
class FileSender(Sender):
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

    def resumeProducing(self) -> None:
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


def _size(f: Any) -> int | None:
    """The size of a real file, or None."""
    try:
        return os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


@implementer(IHandshakeListener)
class DataChannel(protocol.Protocol):
    """The protocol on one data connection.

    @ivar reason: why the connection closed, once it has.
    @ivar tls: the connection was switched to TLS.
    """

    reason: Failure | None = None
    #: Bytes read and written on this connection (for the session's summary).
    received = 0
    sent = 0
    _sender: Any = None
    #: Under TLS: the handshake is done; a close asked for before it waits for it.
    _handshaken = False
    _close_pending = False
    #: Under TLS: how the TCP connection under it ended (L{clean_close}).
    _tcp_watched = False
    _tcp_reason: Failure | None = None

    def __init__(self, session: Any, tls_context: Any = None, dialled_out: bool = False) -> None:
        self.session = session
        self.tls_context = tls_context
        self.dialled_out = dialled_out
        self.tls = False
        self._sink: Callable[[bytes], None] | None = None
        self._early: list[bytes] = []
        self._early_size = 0
        self._lost: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
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
            self._tcp_watched = watch_tcp_close(transport, self._tcp_closed)
        self.session.data_connected(self)

    def dataReceived(self, data: bytes) -> None:
        self.received += len(data)
        self.session.touch()
        if self._sink is not None:
            self._sink(data)
            return
        self._early.append(data)
        self._early_size += len(data)
        if self._early_size > MAX_EARLY:
            cast(ITCPTransport, self.transport).abortConnection()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.reason = reason
        self._lost.callback(None)  # not the Failure itself: that would run the errbacks
        self.session.data_lost(self)
        watch = watch_of(self.session)
        if watch is not None:  # observed: one summary, not a transcript, per data connection
            sent = self._sender.sent if self._sender is not None else self.sent
            watch.data_connection(self.received, sent, self.tls, self.dialled_out)

    def handshakeCompleted(self) -> None:
        self._handshaken = True
        if self._close_pending:
            self._close_pending = False
            assert self.transport is not None
            self.transport.loseConnection()

    def _close_after_write(self) -> None:
        """Close once what was written is sent; under TLS, not before the handshake.

        Closing a TLS data connection whose handshake has not finished (an empty
        listing, an empty file) reset it, and the client saw an error instead of
        nothing.
        """
        if self.tls and not self._handshaken:
            self._close_pending = True
            return
        assert self.transport is not None
        self.transport.loseConnection()

    def when_lost(self) -> defer.Deferred[None]:
        """A Deferred that fires once the connection has closed (see L{reason})."""
        d: defer.Deferred[None] = defer.Deferred()
        self._lost.addCallback(lambda _: d.callback(None))
        return d

    def _tcp_closed(self, reason: Failure) -> None:
        self._tcp_reason = reason

    def clean_close(self) -> bool:
        """The peer closed normally: a FIN, not a reset (under TLS, with or without a
        C{close_notify}: many clients skip it).

        Twisted's TLS layer reports a bare FIN and a reset alike (C{ConnectionLost}),
        so under TLS the TCP layer's own reason decides (L{watch_tcp_close}). A reset
        is not an end of file: the kernel drops what the peer sent and this side had
        not read yet (curl, for one, resets an upload's data connection now and then,
        when it closes with the server's TLS session tickets unread).
        """
        if self.reason is None:
            return False
        if self.reason.check(ConnectionDone) is not None:
            return True
        if not self.tls:
            return False
        if not self._tcp_watched:  # no TLS layer found to watch: as before, any close
            return True
        return self._tcp_reason is not None and self._tcp_reason.check(ConnectionDone) is not None

    # -- transfers --------------------------------------------------------------------

    def send_bytes(self, data: bytes) -> defer.Deferred[None]:
        """Send C{data} (a listing), close, and fire when closed."""
        self.session.touch()
        transport = self.transport
        assert transport is not None  # transfers run on a connected channel
        self.sent = len(data)
        transport.write(data)
        self._close_after_write()
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

        self._sender = sender
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
        self.sent = len(data)
        transport.write(data)
        self._close_after_write()

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


def _faulted(session: Any, channel: DataChannel) -> Any:
    """The data channel, under a cut if a fault at C{ftp:DATA} fires (a mid-transfer drop)."""
    if not fault_registry.points:
        return channel
    user = getattr(session, "username", None)
    hit = at(session.transport, "ftp", "DATA", user=user)
    if hit is None:
        return channel
    return cut(channel, hit.value, getattr(session, "reactor", None))


class TransferAborted(Exception):
    """The data connection closed before the transfer was complete."""


class PassiveFactory(protocol.ServerFactory):
    """Accepts exactly one data connection, and only from the control connection's peer."""

    noisy = False

    def __init__(self, session: Any, peer_host: str) -> None:
        self.session = session
        self.peer_host = peer_host
        self.used = False

    def buildProtocol(self, addr: Any) -> DataChannel | None:
        if self.used or _plain(getattr(addr, "host", "")) != _plain(self.peer_host):
            return None  # port theft: someone other than our client connected first
        self.used = True
        return _faulted(self.session, DataChannel(self.session, self.session.data_tls()))


class ActiveFactory(protocol.ClientFactory):
    """Dials the client's own address for PORT/EPRT."""

    noisy = False

    def __init__(self, session: Any) -> None:
        self.session = session

    def buildProtocol(self, addr: Any) -> Any:
        return _faulted(
            self.session, DataChannel(self.session, self.session.data_tls(), dialled_out=True)
        )

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.session.data_failed(reason)


def _plain(host: str) -> str:
    """C{::ffff:1.2.3.4} and C{1.2.3.4} are the same client."""
    return host[7:] if host.startswith("::ffff:") else host


def listen_passive(reactor: Any, factory: PassiveFactory, interface: str, port: int) -> Any:
    """Listen for one data connection; quietly on real reactors, via C{listenTCP} otherwise."""
    from twisted.internet.posixbase import PosixReactorBase

    if isinstance(reactor, PosixReactorBase):
        return PassiveListener(reactor, factory, interface, port)
    return reactor.listenTCP(port, factory, backlog=1, interface=interface)
