"""The thin Twisted adapter: a ZMTP L{Connection} on a transport, attached to a socket.

Each connection reads through a L{zoo.flow.ReadGate}: when the transport's write
buffer fills, the gate stops reading the peer and marks the pipe paused (a
publisher then queues for it up to its high-water mark and drops beyond); when
it drains, what was queued is sent.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from zoo.events import session_of
from zoo.flow import ReadGate
from zoo.policies import command_done, fast_writer
from zoo.zmq import codec
from zoo.zmq.core import Connection
from zoo.zmq.sockets import Pipe, Socket

log = Logger()


class ZMTPProtocol(Protocol, Pipe):
    """One peer of a zoo-zmq endpoint."""

    factory: ZMTPFactory
    transport: Any

    def __init__(self) -> None:
        Pipe.__init__(self)
        self.attached = False

    def connectionMade(self) -> None:
        f = self.factory
        self.session = session_of(self.transport)
        # Replies go out at once (one syscall each, no reactor turn of latency);
        # a publisher's messages are left to Twisted to gather into fewer writes.
        replies = f.socket.kind in (b"REP", b"ROUTER")
        write = fast_writer(self.transport) if replies else self.transport.write
        self.conn = Connection(
            f.socket.kind,
            write,
            self._close,
            f.socket,
            f.max_message,
            f.max_parts,
        )
        self.conn.pipe = self
        self.conn.on_ready = self._attach
        self.gate = ReadGate(self.transport).start()
        self.gate.on_backed_up = self._backed_up
        self.conn.start()

    def dataReceived(self, data: bytes) -> None:
        self.gate.ready()
        conn = self.conn
        conn.receive(data)
        if not conn.decoder.pending:
            command_done(self.transport)

    def _attach(self) -> None:
        self.attached = True
        self.factory.socket.attach(self)
        self.factory.connected(self)

    def _close(self, reason: str) -> None:
        log.info(
            "zmq {name}: closing {peer}: {reason}",
            name=self.factory.socket.name,
            peer=self.transport.getPeer(),
            reason=reason,
        )
        self._detach()
        self.gate.release()
        self.transport.loseConnection()

    def _backed_up(self, full: bool) -> None:
        self.set_paused(full)

    def hold_reading(self, holds: bool) -> None:
        self.gate.hold("replies owed", holds)

    def _detach(self) -> None:
        if self.attached:
            self.attached = False
            self.factory.socket.detach(self)
        self.queue.clear()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.state = "closed"
        self._detach()


class ZMTPFactory(Factory):
    """All connections of one endpoint, which is one L{Socket}.

    @param socket: the endpoint's socket (L{zoo.zmq.sockets.Replier}, ...).
    @param max_message: the most bytes in one message from a peer.
    @param max_parts: the most frames in one message from a peer.
    @param on_connect: called with each pipe once its handshake is done.
    """

    protocol = ZMTPProtocol  # type: ignore[assignment]

    def __init__(
        self,
        socket: Socket,
        *,
        max_message: int = codec.DEFAULT_MAX_MESSAGE,
        max_parts: int = codec.DEFAULT_MAX_PARTS,
        on_connect: Any = None,
    ) -> None:
        self.socket = socket
        self.max_message = max_message
        self.max_parts = max_parts
        self.on_connect = on_connect

    def connected(self, pipe: Pipe) -> None:
        if self.on_connect is not None:
            self.on_connect(pipe)
