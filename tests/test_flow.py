"""The read gate (zoo.flow): pause reasons, TLS registration, drain-while-closing, lend/take."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport

from zoo.certs import issue, make_ca
from zoo.flow import REPLIES, ReadGate
from zoo.testing import BUFFER_LIMIT, Network
from zoo.tls import ServerTLS, client_tls, wrap_factory


def _gate() -> tuple[ReadGate, StringTransport]:
    t = StringTransport()
    return ReadGate(t).start(), t


def test_start_registers_as_streaming_producer() -> None:
    """start() registers the gate as the transport's push producer."""
    gate, t = _gate()
    assert t.producer is gate and t.streaming and gate.registered


def test_reads_only_while_no_reason_holds() -> None:
    """Reading stops at the first reason and resumes only when the last one is gone."""
    gate, t = _gate()
    gate.pause("held command")
    assert t.producerState == "paused" and not gate.reading
    gate.pauseProducing()  # the transport: replies backed up
    gate.resume("held command")
    assert t.producerState == "paused" and gate.reasons == {REPLIES}
    gate.resumeProducing()
    assert t.producerState == "producing" and gate.reading


def test_reasons_are_a_set() -> None:
    """Pausing twice for one reason needs one resume; resuming an absent reason is harmless."""
    gate, t = _gate()
    gate.pause("queue full")
    gate.pause("queue full")
    gate.resume("delivery")
    assert t.producerState == "paused"
    gate.resume("queue full")
    assert t.producerState == "producing"


def test_hold_pauses_or_resumes() -> None:
    """hold(reason, flag) is pause or resume as the flag says."""
    gate, t = _gate()
    gate.hold("queue full", True)
    assert t.producerState == "paused"
    gate.hold("queue full", False)
    assert t.producerState == "producing"


def test_drained_while_closing_unregisters() -> None:
    """A transport that drains with the gate paused while closing gets the slot back, so the close finishes."""
    t = StringTransport(lenient=True)  # like TCP: a closing transport ignores resumeProducing
    gate = ReadGate(t).start()
    gate.pauseProducing()
    t.loseConnection()
    gate.resumeProducing()
    assert t.producer is None and not gate.registered and gate.reading
    gate.take()
    assert t.producer is None  # never again on a closing connection


def test_drained_not_closing_resumes_reading() -> None:
    """Without a pending close, a drained transport resumes reading and keeps the gate."""
    gate, t = _gate()
    gate.pauseProducing()
    gate.resumeProducing()
    assert t.producer is gate and t.producerState == "producing"


def test_lend_and_take() -> None:
    """lend() frees the slot for a transfer and forgets backed-up replies; take() re-registers once it is free."""
    gate, t = _gate()
    gate.pauseProducing()
    gate.pause("queue full")
    gate.lend()
    assert t.producer is None and gate.reasons == {"queue full"}
    transfer = object()
    t.registerProducer(transfer, True)
    gate.take()  # the transfer still holds the slot
    assert t.producer is transfer and not gate.registered
    t.unregisterProducer()
    gate.take()
    assert t.producer is gate and gate.registered
    assert t.producerState == "paused"  # the protocol's own reason still holds


def test_release_unregisters_for_good() -> None:
    """release() unregisters, and take() does not register again."""
    gate, t = _gate()
    gate.release()
    gate.take()
    assert t.producer is None


def test_stop_producing_stops_toggling() -> None:
    """After the transport stops the producer, the gate no longer pauses or resumes it."""
    gate, t = _gate()
    gate.stopProducing()
    gate.pause("queue full")
    assert t.producerState == "producing" and not gate.registered


def test_no_toggling_on_a_closing_transport() -> None:
    """A closing transport is not told to pause or resume reading."""
    gate, t = _gate()
    t.loseConnection()
    gate.pause("held command")
    assert t.producerState == "producing"


def test_other_consumer() -> None:
    """A gate may pause one transport's reading while registered on another (a relay)."""
    reader, consumer = StringTransport(), StringTransport()
    gate = ReadGate(reader, consumer).start()
    assert consumer.producer is gate and reader.producer is None
    gate.pauseProducing()
    assert reader.producerState == "paused" and consumer.producerState == "producing"


def test_after_handshake_waits_for_ready() -> None:
    """With after_handshake the gate registers only at ready(), and only once."""
    t = StringTransport()
    gate = ReadGate(t).start(after_handshake=True)
    assert t.producer is None
    gate.ready()
    assert t.producer is gate
    gate.ready()  # harmless again


class _Replier(Protocol):
    """Greets, then answers every read with C{size} bytes; the gate starts as zoo's servers start it."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.got = 0

    def connectionMade(self) -> None:
        self.gate = ReadGate(self.transport).start()
        self.transport.write(b"hello\r\n")

    def dataReceived(self, data: bytes) -> None:
        self.gate.ready()
        self.got += len(data)
        self.transport.write(b"x" * self.size)


class _Client(Protocol):
    def __init__(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data


class _One(Factory):
    def __init__(self, proto: Protocol) -> None:
        self.proto = proto

    def buildProtocol(self, addr: Any) -> Protocol:
        return self.proto


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """A server TLS context and a client creator trusting it."""
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca("zoo flow CA")
    cert = issue(ca, ["localhost"])
    for name, data in (("ca", ca.cert_pem), ("cert", cert.cert_pem), ("key", cert.key_pem)):
        (d / name).write_bytes(data)
    return ServerTLS(d / "cert", d / "key"), client_tls("localhost", d / "ca")


def _tls_pair(tls: tuple[Any, Any]) -> tuple[Network, Any, _Replier, _Client]:
    server_tls, creator = tls
    net = Network()
    server, client = _Replier(), _Client()
    s = wrap_factory(_One(server), server_tls, clock=net.clock).buildProtocol(None)
    c = wrap_factory(_One(client), creator, client=True, clock=net.clock).buildProtocol(None)
    return net, net.connect(c, s), server, client


def test_implicit_tls_handshake_completes(tls: tuple[Any, Any]) -> None:
    """Under implicit TLS the gate waits for the handshake, so the greeting gets through, then registers."""
    net, wire, server, client = _tls_pair(tls)
    net.flush()
    assert client.received == b"hello\r\n"
    assert not server.gate.registered  # nothing arrived yet
    client.transport.write(b"go")
    net.flush()
    assert server.gate.registered and server.got == 2


def test_registering_during_handshake_would_deadlock(tls: tuple[Any, Any]) -> None:
    """The case the gate avoids: registered before the TLS handshake, the greeting never arrives."""
    net, wire, server, client = _tls_pair(tls)
    server.gate._handshaking = False  # as if start() had not waited
    server.gate.take()
    net.flush()
    assert client.received == b""


def test_backed_up_replies_stop_reading_over_the_wire(tls: tuple[Any, Any]) -> None:
    """Over TLS, a client that stops reading makes the server stop reading; reading resumes when it reads."""
    net, wire, server, client = _tls_pair(tls)
    net.flush()
    wire.tb.reading = False  # the client reads nothing the server sends
    for _ in range(200):
        client.transport.write(b"q" * 100)
        net.flush()
    assert server.gate.reasons == {REPLIES}
    assert server.got < 200 * 100  # the server stopped reading
    assert wire.tb.max_buffered < 2 * BUFFER_LIMIT + 64 * 1024
    wire.tb.reading = True
    net.flush()
    assert server.got == 200 * 100 and server.gate.reading


def test_close_while_backed_up_finishes(tls: tuple[Any, Any]) -> None:
    """A close requested while replies are backed up completes once they drain, over TLS."""
    net, wire, server, client = _tls_pair(tls)
    net.flush()
    wire.tb.reading = False
    for _ in range(40):
        client.transport.write(b"q")
        net.flush()
    assert REPLIES in server.gate.reasons
    answered = server.got
    server.transport.loseConnection()
    net.flush()
    assert not wire.closed
    wire.tb.reading = True
    net.flush()
    assert wire.closed
    assert len(client.received) == len(b"hello\r\n") + answered * 4096


def test_close_while_reading_finishes_over_tls(tls: tuple[Any, Any]) -> None:
    """A close with nothing backed up completes over TLS, though the gate holds the producer slot."""
    net, wire, server, client = _tls_pair(tls)
    client.transport.write(b"q")
    net.flush()
    assert server.gate.registered
    server.transport.loseConnection()
    net.flush()
    assert wire.closed and len(client.received) == len(b"hello\r\n") + 4096


def test_consumer_closing_lets_go_unless_backed_up() -> None:
    """Told its consumer closes, the gate unregisters at once, unless replies are still backed up."""
    gate, t = _gate()
    gate.consumer_closing()
    assert t.producer is None and not gate.registered
    gate, t = _gate()
    gate.pauseProducing()
    gate.consumer_closing()
    assert t.producer is gate  # the drain unregisters it (test_drained_while_closing_unregisters)


def test_policy_wrapper_close_tells_the_gate() -> None:
    """Closing through zoo's connection wrapper frees the slot, so a STARTTLS layer can finish the close."""
    from zoo.policies import ZooPolicyFactory

    server = _Replier()
    wrapper = ZooPolicyFactory(_One(server)).buildProtocol(None)
    t = StringTransport()
    wrapper.makeConnection(t)
    assert t.producer is server.gate
    server.transport.loseConnection()
    assert t.producer is None and t.disconnecting
