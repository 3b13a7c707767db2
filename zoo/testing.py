"""Public helpers for testing against zoo servers, in memory or as real processes.

- L{TwistdProcess}: run C{twistd -n zoo-NAME ...} (or the runner) on port 0 in a
  subprocess, wait until it is listening, and read the addresses it bound (from
  L{zoo.process}, which imports no Twisted).
- L{connected}: an in-memory server/client pair over L{twisted.test.iosim}.
- L{Network}, L{Wire}, L{End}: an in-memory TCP-like wire with half-close,
  flow control and a real C{startTLS} (STARTTLS, STLS), for what C{iosim} cannot show.
- L{tls_pair}: a client and a server protocol connected over TLS on a L{Network},
  with certificates made on the spot.
- L{dev_ca}: a throwaway CA and certificates for TLS tests (from L{zoo.certs}).

Nothing here opens a socket except L{TwistdProcess} and L{run_twistd}.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IProtocol,
    ISSLTransport,
    ITLSTransport,
)
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import alsoProvides, implementer

from zoo.certs import Issued, issue, make_ca
from zoo.process import TWISTD, TwistdError, TwistdProcess, run_twistd


def connected(server_factory: Any, client_protocol: Any, addr: Any = None) -> tuple[Any, Any, Any]:
    """Connect a protocol from C{server_factory} to C{client_protocol} in memory.

    @return: C{(client, server, pump)}; call C{pump.flush()} to move bytes both ways.
    """
    from twisted.test import iosim

    return iosim.connectedServerAndClient(
        lambda: server_factory.buildProtocol(addr), lambda: client_protocol, greet=True
    )


def dev_ca() -> Issued:
    """A fresh throwaway CA for a test (use L{issue} for server and client certificates)."""
    return make_ca("zoo test CA")


# -- an in-memory wire with half-close and backpressure ------------------------------
#
# twisted.test.iosim cannot half-close (its loseWriteConnection does nothing) and
# never tells a producer to pause, so TLS half-close and relay backpressure are
# tested over this instead: two StringTransports whose bytes, FINs and closes are
# moved by Network.flush, with a Clock advanced on the way (Twisted's TLS layer
# defers small writes by one reactor turn).

#: Bytes a transport buffers before it pauses its producer (Twisted's TCP uses 64 KiB).
BUFFER_LIMIT = 64 * 1024


class _Raw:
    """What a TLS layer started on an L{End} writes through: the End's own bytes."""

    def __init__(self, end: End) -> None:
        self.end = end

    def write(self, data: bytes) -> None:
        End.write(self.end, data, raw=True)

    def writeSequence(self, data: Any) -> None:
        End.write(self.end, b"".join(data), raw=True)

    def loseConnection(self) -> None:
        StringTransport.loseConnection(self.end)

    def abortConnection(self) -> None:
        self.end.clear()
        StringTransport.loseConnection(self.end)

    def loseWriteConnection(self) -> None:
        self.end.write_closed = True

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        StringTransport.registerProducer(self.end, producer, streaming)

    def unregisterProducer(self) -> None:
        StringTransport.unregisterProducer(self.end)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.end, name)


@implementer(ITLSTransport)
class End(StringTransport):
    """One end of a L{Wire}: a transport that can half-close and apply backpressure.

    C{startTLS} works as on Twisted's TCP transports: a real TLS layer goes under
    the protocol (so a protocol's STARTTLS can be tested in memory); the client end
    is the TLS client.

    @ivar reading: C{False} makes the peer behave as if it stopped reading: bytes
        written here stay buffered, and past L{BUFFER_LIMIT} the producer is paused.
    @ivar max_buffered: the most bytes this end ever held unread.
    @ivar tls: the TLS layer C{startTLS} put under the protocol, or C{None}.
    """

    write_closed = False
    lost = False
    tls: Any = None
    #: Set by L{Wire}: the protocol on this end, whether it is the client, the clock.
    protocol: Any = None
    client = False
    clock: Any = None

    nodelay = False
    keepalive = False

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.nodelay = bool(enabled)

    def getTcpNoDelay(self) -> bool:
        return self.nodelay

    def setTcpKeepAlive(self, enabled: bool) -> None:
        self.keepalive = bool(enabled)

    def getTcpKeepAlive(self) -> bool:
        return self.keepalive

    def startTLS(self, contextFactory: Any, normal: bool = True) -> None:
        """Put a TLS layer between this end and its protocol (the client end is the TLS client)."""
        from twisted.protocols.tls import TLSMemoryBIOFactory

        producer, streaming = self.producer, self.streaming
        if producer is not None:
            StringTransport.unregisterProducer(self)
        nothing: Any = None  # the layer wraps this end's protocol, not a factory's
        factory = TLSMemoryBIOFactory(contextFactory, self.client == normal, nothing, self.clock)
        self.tls = factory.protocol(factory, self.protocol, False)
        self.getHandle = self.tls.getHandle  # type: ignore[method-assign]
        self.getPeerCertificate = self.tls.getPeerCertificate
        alsoProvides(self, ISSLTransport)
        self.tls.makeConnection(_Raw(self))
        if producer is not None:
            self.registerProducer(producer, streaming)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        if self.tls is not None:
            self.tls.registerProducer(producer, streaming)
        else:
            super().registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        if self.tls is not None:
            self.tls.unregisterProducer()
        else:
            super().unregisterProducer()

    def loseConnection(self) -> None:
        if self.tls is not None:
            self.tls.loseConnection()
        else:
            super().loseConnection()

    def __init__(self) -> None:
        super().__init__()
        self.reading = True  # False: the other end models a peer that stops reading
        self.max_buffered = 0

    def write(self, data: bytes, raw: bool = False) -> None:
        """Buffer C{data} for the peer; pause a streaming producer past L{BUFFER_LIMIT}."""
        if self.tls is not None and not raw:
            self.tls.write(data)
            return
        if self.write_closed or self.lost:
            return
        super().write(data)
        size = len(self.io.getvalue())
        self.max_buffered = max(self.max_buffered, size)
        if size > BUFFER_LIMIT and self.producer is not None and self.streaming:
            if not getattr(self, "_producer_paused", False):
                self._producer_paused = True
                self.producer.pauseProducing()

    def loseWriteConnection(self) -> None:
        """Half-close: the peer reads an EOF once it has read what is buffered."""
        self.write_closed = True

    def abortConnection(self) -> None:
        self.clear()
        self.loseConnection()

    def drained(self) -> None:
        """The peer read everything: resume a producer that L{write} paused."""
        if getattr(self, "_producer_paused", False) and self.producer is not None:
            self._producer_paused = False
            self.producer.resumeProducing()


class Wire:
    """A connection between C{a} (the client) and C{b} (the server).

    @ivar ta: the client's transport (an L{End}).
    @ivar tb: the server's transport (an L{End}).
    @ivar closed: whether both sides have seen C{connectionLost}.
    """

    def __init__(self, a: Any, b: Any) -> None:
        self.a, self.b = a, b
        self.ta, self.tb = End(), End()
        self._fin = {id(self.ta): False, id(self.tb): False}
        self.closed = False
        self.ta.protocol, self.tb.protocol = a, b
        self.ta.client = True
        b.makeConnection(self.tb)
        a.makeConnection(self.ta)

    def _move(self, src: End, dst: End, proto: Any) -> bool:
        moved = False
        if dst.producerState == "producing" and not src.lost:
            data = src.value()
            if data and src.reading:
                src.clear()
                (dst.tls if dst.tls is not None else proto).dataReceived(data)
                moved = True
            if not src.value():
                src.drained()
        if src.write_closed and not src.value() and not self._fin[id(src)]:
            self._fin[id(src)] = True
            if IHalfCloseableProtocol.providedBy(proto) and dst.tls is None:
                proto.readConnectionLost()
            else:
                self._close(Failure(ConnectionDone()))
            moved = True
        return moved

    def _close(self, reason: Failure) -> None:
        if self.closed:
            return
        self.closed = True
        for t, p in ((self.ta, self.a), (self.tb, self.b)):
            t.lost = True
            (t.tls if t.tls is not None else p).connectionLost(reason)

    def pump(self) -> bool:
        """Move what is waiting once in each direction; return whether anything moved."""
        if self.closed:
            return False
        moved = self._move(self.ta, self.tb, self.b)
        moved |= self._move(self.tb, self.ta, self.a)
        for t in (self.ta, self.tb):
            if t.disconnecting and not t.value() and t.producer is None and not self.closed:
                self._close(Failure(ConnectionDone()))
                moved = True
        if self.ta.write_closed and self.tb.write_closed and not self.closed:
            if self._fin[id(self.ta)] and self._fin[id(self.tb)]:
                self._close(Failure(ConnectionDone()))
                moved = True
        return moved


class Network:
    """Wires and a clock, flushed together until nothing moves.

    @ivar clock: the clock to give the protocols (and TLS layers) on the wires.
    """

    def __init__(self) -> None:
        self.clock = Clock()
        self.wires: list[Wire] = []

    def connect(self, client: Any, server: Any) -> Wire:
        """Connect two protocols with a new L{Wire} (the server's C{makeConnection} first)."""
        wire = Wire(client, server)
        wire.ta.clock = wire.tb.clock = self.clock
        self.wires.append(wire)
        return wire

    def flush(self, rounds: int = 10_000) -> None:
        """Advance the clock by zero and pump every wire until nothing moves.

        @raise AssertionError: the wires were still busy after C{rounds} rounds.
        """
        for _ in range(rounds):
            self.clock.advance(0)
            moved = False
            for wire in list(self.wires):
                moved |= wire.pump()
            if not moved and not self.clock.getDelayedCalls():
                return
        raise AssertionError("network never went quiet")


class _Only(Factory):
    """A factory that hands out one protocol instance."""

    def __init__(self, protocol: Any) -> None:
        self.protocol_instance = protocol

    def buildProtocol(self, addr: object) -> Any:
        return self.protocol_instance


_ADDRESS = IPv4Address("TCP", "127.0.0.1", 0)


@dataclass
class TLSPair:
    """What L{tls_pair} made: the network, the wire and the CA that signed the server.

    @ivar files: the PEM files written: C{"ca"}, C{"cert"} and C{"key"}.
    """

    network: Network
    wire: Wire
    ca: Issued
    files: dict[str, Path]


def tls_pair(
    client: IProtocol,
    server: IProtocol,
    directory: Path | str,
    *,
    name: str = "localhost",
    max_version: int | None = None,
    network: Network | None = None,
) -> TLSPair:
    """Connect C{client} to C{server} over TLS on an in-memory L{Network}, and handshake.

    A fresh CA signs a server certificate for C{localhost} and C{127.0.0.1}; the
    server side uses L{zoo.tls.ServerTLS}, the client side L{zoo.tls.client_tls}
    (which verifies C{name}), both through L{zoo.tls.wrap_factory}. A failed
    verification shows as C{pair.wire.closed}.

    @param client: the protocol on the client side (it sees plaintext).
    @param server: the protocol on the server side (it sees plaintext).
    @param directory: an existing folder for the PEM files.
    @param name: the host name the client expects in the server's certificate.
    @param max_version: the highest TLS version the server offers, as an
        C{OpenSSL.SSL.TLS1_2_VERSION}-style constant, or C{None} for the default.
    @param network: the network to connect on (a new one if C{None}).
    """
    from zoo.tls import ServerTLS, client_tls, wrap_factory

    folder = Path(directory)
    ca = make_ca("zoo test CA")
    leaf = issue(ca, ["localhost", "127.0.0.1"])
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    for key, data in (("ca", ca.cert_pem), ("cert", leaf.cert_pem), ("key", leaf.key_pem)):
        files[key].write_bytes(data)
    net = network or Network()
    server_tls = ServerTLS(files["cert"], files["key"])
    if max_version is not None:
        server_tls.getContext().set_max_proto_version(max_version)
    front = wrap_factory(_Only(client), client_tls(name, files["ca"]), client=True, clock=net.clock)
    back = wrap_factory(_Only(server), server_tls, clock=net.clock)
    wire = net.connect(front.buildProtocol(_ADDRESS), back.buildProtocol(_ADDRESS))
    net.flush()
    return TLSPair(net, wire, ca, files)


__all__ = [
    "TWISTD",
    "End",
    "Network",
    "TLSPair",
    "TwistdError",
    "TwistdProcess",
    "Wire",
    "connected",
    "dev_ca",
    "issue",
    "run_twistd",
    "tls_pair",
]
