"""One ZMTP connection as a state machine, without I/O: greeting, handshake, traffic.

A L{Connection} is given the bytes the peer sent (L{Connection.receive}) and
writes through the C{write} callable it was made with. It answers the greeting,
checks the peer's (ZMTP 3.0 or 3.1, mechanism C{NULL}), sends and checks
C{READY} (is the peer's socket type one ours may talk to?), answers C{PING} with
C{PONG}, and hands the socket above it what remains (L{Peer}): messages, and a
subscriber's subscriptions in either form, ZMTP 3.0's messages (C{0x01} or
C{0x00} and the topic) or ZMTP 3.1's C{SUBSCRIBE}/C{CANCEL} commands.

We greet as 3.1; the version spoken is the lower of the two (rfc 37: a 3.1 peer
talking to a 3.0 one speaks 3.0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from zoo.zmq import codec
from zoo.zmq.codec import ProtocolError

#: Which peer socket types each of ours may talk to (rfc 23, "Socket types").
COMPATIBLE: dict[bytes, frozenset[bytes]] = {
    b"REP": frozenset({b"REQ", b"DEALER"}),
    b"PUB": frozenset({b"SUB", b"XSUB"}),
    b"PUSH": frozenset({b"PULL"}),
    b"ROUTER": frozenset({b"REQ", b"DEALER", b"ROUTER"}),
}

GREETING, HANDSHAKE, TRAFFIC, CLOSED = "greeting", "handshake", "traffic", "closed"


class Peer(Protocol):
    """What a socket type sees of one connection (L{zoo.zmq.sockets})."""

    def message(self, conn: Connection, parts: list[bytes]) -> None: ...

    def subscribe(self, conn: Connection, topic: bytes, on: bool) -> None: ...


class Connection:
    """The ZMTP state of one connection.

    @param socket_type: ours, C{b"REP"}, C{b"PUB"}, C{b"PUSH"} or C{b"ROUTER"}.
    @param write: sends bytes to the peer.
    @param close: closes the connection (after what was written), with the reason.
    @param peer: told about the peer's messages and subscriptions once ready.
    @ivar minor: the ZMTP minor version spoken (0 or 1), once greeted.
    @ivar identity: the peer's C{Identity} property (C{b""} if none).
    @ivar peer_type: the peer's C{Socket-Type}.
    """

    def __init__(
        self,
        socket_type: bytes,
        write: Callable[[bytes], None],
        close: Callable[[str], None],
        peer: Peer,
        max_message: int = codec.DEFAULT_MAX_MESSAGE,
        max_parts: int = codec.DEFAULT_MAX_PARTS,
    ) -> None:
        self.socket_type = socket_type
        self.write = write
        self._close = close
        self.peer = peer
        self.decoder = codec.Decoder(max_message, max_parts)
        self.state = GREETING
        self.minor = 1
        self.identity = b""
        self.peer_type = b""
        self.properties: dict[bytes, bytes] = {}
        self._greeting = b""
        #: The socket's view of this connection (a L{zoo.zmq.sockets.Pipe}), set by its owner.
        self.pipe: Any = None
        #: Called once READY has been checked, before any message that follows it in
        #: the same read is handed on (a ROUTER must know the peer's routing id first).
        self.on_ready: Callable[[], None] | None = None

    def start(self) -> None:
        """Send our greeting (the whole 64 bytes at once; libzmq peers accept that)."""
        self.write(codec.greeting(1))

    @property
    def ready(self) -> bool:
        """Whether the handshake is done and messages flow."""
        return self.state == TRAFFIC

    def receive(self, data: bytes) -> None:
        """Handle bytes from the peer; on a protocol error, send C{ERROR} if possible and close."""
        if self.state == CLOSED:
            return
        try:
            if self.state == GREETING:
                data = self._receive_greeting(data)
                if not data:
                    return
            for is_command, item in self.decoder.feed(data):
                if self.state == CLOSED:
                    return
                if is_command:
                    self._command(*codec.split_command(item))  # type: ignore[arg-type]
                elif self.state != TRAFFIC:
                    raise ProtocolError("a message before READY")
                else:
                    self._message(item)  # type: ignore[arg-type]
        except ProtocolError as e:
            self.fail(str(e), send_error=self.state != GREETING)

    def fail(self, reason: str, send_error: bool = True) -> None:
        """Close because of C{reason}; tell the peer with an C{ERROR} command if it was greeted."""
        if self.state == CLOSED:
            return
        if send_error:
            self.write(codec.error(reason))
        self.state = CLOSED
        self._close(reason)

    def send(self, parts: list[bytes] | tuple[bytes, ...]) -> None:
        """Send one message."""
        self.write(codec.message(parts))

    # -- the steps ---------------------------------------------------------------------

    def _receive_greeting(self, data: bytes) -> bytes:
        got = self._greeting + data
        codec.check_signature(got)
        if len(got) < codec.GREETING_SIZE:
            self._greeting = got
            return b""
        self._greeting = b""
        greeting = codec.parse_greeting(got[: codec.GREETING_SIZE])
        self.minor = min(greeting.minor, 1) if greeting.major == 3 else 1
        self.state = HANDSHAKE
        if greeting.mechanism != b"NULL":
            raise ProtocolError(
                f"security mechanism {greeting.mechanism.decode('ascii')} is not "
                "supported (only NULL)"
            )
        self.write(codec.ready(self.socket_type))
        return got[codec.GREETING_SIZE :]

    def _command(self, name: bytes, data: bytes) -> None:
        if self.state == HANDSHAKE:
            if name == b"ERROR":
                self.fail("peer sent ERROR: " + _reason(data), send_error=False)
                return
            if name != b"READY":
                raise ProtocolError(f"expected READY, got {_show(name)}")
            self._ready(codec.parse_properties(data))
            return
        if name == b"SUBSCRIBE" or name == b"CANCEL":
            if self.socket_type != b"PUB":
                raise ProtocolError(f"{_show(name)} sent to a {self.socket_type.decode()} socket")
            self.peer.subscribe(self, data, name == b"SUBSCRIBE")
        elif name == b"PING":
            if len(data) < 2 or len(data) > 18:
                raise ProtocolError("malformed PING")
            self.write(codec.command(b"PONG", data[2:]))
        elif name == b"PONG":
            pass
        elif name == b"ERROR":
            self.fail("peer sent ERROR: " + _reason(data), send_error=False)
        elif name == b"READY":
            raise ProtocolError("READY sent twice")
        # Unknown commands are ignored, as rfc 37 says a peer should.

    def _ready(self, props: dict[bytes, bytes]) -> None:
        peer_type = props.get(b"socket-type", b"")
        if peer_type not in COMPATIBLE[self.socket_type]:
            raise ProtocolError(
                f"socket type {_show(peer_type)} cannot talk to {self.socket_type.decode()}"
            )
        self.peer_type = peer_type
        self.identity = props.get(b"identity", b"")
        self.properties = props
        self.state = TRAFFIC
        if self.on_ready is not None:
            self.on_ready()

    def _message(self, parts: list[bytes]) -> None:
        if self.socket_type == b"PUB":
            # ZMTP 3.0 subscriptions (and what a 3.1 XSUB may still send): one frame,
            # 1 or 0 then the topic. Anything else sent to a publisher is dropped.
            if len(parts) == 1 and parts[0][:1] in (b"\x01", b"\x00"):
                self.peer.subscribe(self, parts[0][1:], parts[0][0] == 1)
            return
        if self.socket_type == b"PUSH":
            raise ProtocolError("a PULL peer sent a message to a PUSH socket")
        self.peer.message(self, parts)


def _show(name: bytes) -> str:
    return repr(name.decode("ascii", "replace"))[:40]


def _reason(data: bytes) -> str:
    return data[1 : 1 + data[0]].decode("utf-8", "replace") if data else ""
