"""The TLS layer under every zoo TLS connection: Twisted's, with half-close and fewer syscalls.

L{HalfCloseTLSProtocol} subclasses Twisted's L{BufferingTLSTransport}; use it through
L{zoo.tls.wrap_factory}, which builds L{HalfCloseTLSFactory}. The private Twisted names it
uses are listed in L{zoo._twisted}.
"""

from __future__ import annotations

from typing import Any, cast

from OpenSSL import SSL
from twisted.internet._producer_helpers import _PullToPush
from twisted.internet.interfaces import IHalfCloseableProtocol, ITCPTransport
from twisted.internet.protocol import Protocol
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import BufferingTLSTransport, TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

from zoo._twisted.fastwrite import fast_writer


class HalfCloseTLSProtocol(BufferingTLSTransport):
    """Twisted's TLS layer, plus half-close for protocols that want it.

    Twisted's L{TLSMemoryBIOProtocol} treats the peer's C{close_notify} as the end of
    the whole connection and has no C{loseWriteConnection} of its own (the call falls
    through to TCP and sends a FIN with no C{close_notify}, which the peer must treat
    as a truncation attack). When the wrapped protocol provides
    L{IHalfCloseableProtocol}, this layer instead:

    - turns the peer's C{close_notify} into C{readConnectionLost()} and keeps the
      sending direction open (TLS 1.3 allows it; OpenSSL allows it for 1.2 too);
    - makes C{loseWriteConnection()} send our C{close_notify} (after any buffered
      data), then a TCP FIN, and keep reading until the peer closes too;
    - closes the TCP connection once both directions are closed.

    A TCP EOF that arrives without a C{close_notify} is still a truncation: the
    connection is closed and the protocol gets C{ConnectionLost}, as before. Protocols
    that do not provide L{IHalfCloseableProtocol} keep Twisted's closing behaviour.

    For every protocol, ciphertext is sent as soon as it is made (see
    L{zoo._twisted.fastwrite.fast_writer}) and one application write becomes one C{send()}.
    """

    _half_close = False
    _read_closed = False
    _write_closed = False
    _write_close_pending = False

    def makeConnection(self, transport: Any) -> None:
        # Twisted's version first copies the transport's interfaces onto this object
        # with one directlyProvides() per interface, each replacing the last, then
        # ProtocolWrapper.makeConnection copies them all again in one call: the loop
        # is wasted work, measurable per handshake. Same steps, minus the loop.
        self._tlsConnection = self.factory._creatorCallable(self)
        self._appSendBuffer = []
        # Ciphertext goes to the socket at once when its buffer is empty, instead of
        # waiting a reactor turn with two epoll_ctl calls around it (most of a
        # handshake's system calls otherwise).
        # The idle sweep's wrapper under us counts the writes as activity.
        self._send_raw = fast_writer(
            transport, transport if hasattr(transport, "activity") else None
        )
        if self._connectWrapped:
            ProtocolWrapper.makeConnection(self, transport)
        else:
            directlyProvides(self, providedBy(transport))
            Protocol.makeConnection(self, transport)
            self.factory.registerProtocol(self)
        self._checkHandshakeStatus()

    def _flushReceiveBIO(self) -> None:
        if not self._half_close:
            return super()._flushReceiveBIO()
        while not self._lostTLSConnection and not self._read_closed:
            try:
                data = self._tlsConnection.recv(2**15)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self._close_notify_received()
            except SSL.Error:
                self._tlsShutdownFinished(Failure())
            else:
                if not self._aborted:
                    ProtocolWrapper.dataReceived(self, data)
        self._flushSendBIO()
        return None

    def _flushSendBIO(self) -> None:
        # Once our FIN is out, closing the TCP connection runs connectionLost at once
        # (which drops the OpenSSL connection) while this layer is still on the stack.
        conn = self._tlsConnection
        if conn is None:
            return
        chunks = []
        while True:
            try:
                chunks.append(conn.bio_read(2**17))
            except SSL.WantReadError:
                break
        if chunks:
            self._send_raw(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def _close_notify_received(self) -> None:
        self._read_closed = True
        if self._write_closed:
            transport = self.transport
            assert transport is not None  # connected: a close_notify arrived on it
            transport.loseConnection()
        else:
            # Only reached with _half_close set, which means it provides the interface.
            cast(IHalfCloseableProtocol, self.wrappedProtocol).readConnectionLost()

    def readConnectionLost(self) -> None:
        """TCP EOF: fine after a C{close_notify}; without one, a truncation."""
        if self._read_closed or self._lostTLSConnection:
            return
        self._tlsConnection.bio_shutdown()
        self._flushReceiveBIO()
        if not self._read_closed and not self._lostTLSConnection:
            self._tlsShutdownFinished(None)

    def writeConnectionLost(self) -> None:
        """Our TCP FIN went out; the wrapped protocol already knows it stopped writing."""

    def loseWriteConnection(self) -> None:
        """Send C{close_notify} and a FIN once buffered data is out; keep reading."""
        if self._write_closed or self.disconnecting or self._lostTLSConnection:
            return
        self._aggregator.flush()
        self._write_closed = True
        if self._appSendBuffer:  # still handshaking: close after the data goes
            self._write_close_pending = True
            return
        self._send_close_notify()

    def loseConnection(self) -> None:
        # Twisted's TLS layer shuts down only once a registered producer unregisters;
        # TCP waits only for a paused one. A push producer that is not paused (a
        # zoo.flow.ReadGate between backlogs) would hold the close forever, so it is
        # let go here, as TCP would. A paused one unregisters itself once the
        # buffer drains (see ReadGate.resumeProducing).
        # TWISTED-PRIVATE: TLSMemoryBIOProtocol._producer, _ProducerMembrane._producer
        # and ._producerPaused, twisted.internet._producer_helpers._PullToPush
        membrane = self._producer
        if (
            membrane is not None
            and not isinstance(membrane._producer, _PullToPush)  # a pull producer: TCP waits too
            and not membrane._producerPaused
            and not self.disconnecting
        ):
            self.unregisterProducer()
        super().loseConnection()

    def _shutdownTLS(self) -> None:
        # Closing both ways (loseConnection, or an error): send close_notify and close,
        # without waiting for the peer's, which a half-closing peer need not send.
        super()._shutdownTLS()
        if self._half_close and self._tlsConnection is not None:
            transport = self.transport
            assert transport is not None  # connected: _shutdownTLS needs a connection
            transport.loseConnection()

    def _send_close_notify(self) -> None:
        self._write_close_pending = False
        try:
            self._tlsConnection.shutdown()
        except SSL.Error:
            pass
        self._flushSendBIO()
        transport = cast(ITCPTransport, self.transport)
        if self._read_closed:
            transport.loseConnection()
        else:
            transport.loseWriteConnection()

    def _unbufferPendingWrites(self) -> None:
        super()._unbufferPendingWrites()
        if self._write_close_pending and not self._appSendBuffer:
            self._send_close_notify()

    def _write(self, data: bytes) -> None:
        """Encrypt C{data} in 16 KiB records, then send all the records at once.

        (Twisted's version sends each record as it is made: one system call per
        16 KiB instead of one per write.)
        """
        if (self._write_closed and not self._write_close_pending) or self._lostTLSConnection:
            return  # after loseWriteConnection bytes are dropped, as TCP does
        conn = self._tlsConnection
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += conn.send(view[done : done + 2**14])
        except SSL.WantReadError:
            self._bufferedWrite(bytes(view[done:]))
        except SSL.Error:
            self._tlsShutdownFinished(Failure())
            return
        self._flushSendBIO()


@implementer(IHalfCloseableProtocol)
class _HalfClosingTLSProtocol(HalfCloseTLSProtocol):
    """The variant used when the wrapped protocol supports half-close."""

    _half_close = True


class HalfCloseTLSFactory(TLSMemoryBIOFactory):
    """A L{TLSMemoryBIOFactory} whose connections are L{HalfCloseTLSProtocol}s.

    Whether a connection half-closes is decided by class, when it is built, and not
    with C{alsoProvides} per connection: a per-instance interface declaration costs
    a C3 resolution per connection in zope.interface, about a tenth of the server's
    CPU per TLS handshake.
    """

    protocol = HalfCloseTLSProtocol

    def buildProtocol(self, addr: Any) -> Any:
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        return self.wrap(wrapped)

    def wrap(self, wrapped: Any) -> Any:
        """The TLS layer of this factory around the protocol C{wrapped}."""
        # A plain bool, so that mypy-zope does not narrow `wrapped` to the interface
        # (and forget that it is an IProtocol).
        half_closeable = IHalfCloseableProtocol.providedBy(wrapped)
        if half_closeable:
            return _HalfClosingTLSProtocol(self, wrapped)
        return self.protocol(self, wrapped)


def watch_tcp_close(transport: Any, record: Any) -> bool:
    """After C{startTLS} on a TCP transport, tell C{record(reason)} how the TCP
    connection under the TLS layer ended, before that layer reports it.

    Twisted's TLS layer reports a bare TCP FIN (a peer that skips C{close_notify})
    and a reset alike, as C{ConnectionLost}; the TCP layer's own reason tells them
    apart (C{ConnectionDone} for a FIN, C{ConnectionLost} for a reset, whose unread
    bytes the kernel has thrown away). Twisted's C{startTLS} puts its TLS protocol
    in the TCP connection's C{protocol}; this wraps that instance's C{connectionLost}.

    @return: C{False} (and nothing is watched) if C{transport} has no TLS layer there.
    """
    tls = getattr(transport, "protocol", None)
    if not isinstance(tls, BufferingTLSTransport):
        return False
    lost = tls.connectionLost

    def connectionLost(reason: Failure) -> None:
        record(reason)
        lost(reason)

    tls.connectionLost = connectionLost  # type: ignore[method-assign,assignment]
    return True
