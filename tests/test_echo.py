"""Echo: the stream and datagram protocols, backpressure and half-close, in memory."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from zoo import echo
from zoo.echo import EchoDatagram, EchoFactory, EchoServer
from zoo.policies import ZooPolicyFactory
from zoo.tap import echo as tap
from zoo.testing import connected


def server(**kw: object) -> tuple[EchoServer, StringTransport]:
    proto = EchoFactory(**kw).buildProtocol(None)  # type: ignore[arg-type]
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


class EchoTests(SynchronousTestCase):
    def test_echoes_bytes(self) -> None:
        """Every byte received is written back unchanged, in order."""
        proto, transport = server()
        proto.dataReceived(b"hello ")
        proto.dataReceived(bytes(range(256)))
        self.assertEqual(transport.value(), b"hello " + bytes(range(256)))
        self.assertFalse(transport.disconnecting)

    def test_upper(self) -> None:
        """The tcp_deadlock.py mode sends back the upper-cased bytes."""
        proto, transport = server(transform=bytes.upper)
        proto.dataReceived(b"capitalize this!capitalize this!")
        self.assertEqual(transport.value(), b"CAPITALIZE THIS!CAPITALIZE THIS!")

    def test_registers_as_streaming_producer(self) -> None:
        """The protocol's read gate is its transport's streaming producer."""
        proto, transport = server()
        self.assertIs(transport.producer, proto.gate)
        self.assertTrue(transport.streaming)

    def test_pause_stops_reading(self) -> None:
        """When the transport's buffer is full, reading pauses; when it drains, it resumes."""
        proto, transport = server()
        proto.gate.pauseProducing()
        self.assertEqual(transport.producerState, "paused")
        proto.gate.resumeProducing()
        self.assertEqual(transport.producerState, "producing")

    def test_half_close_flushes_then_closes(self) -> None:
        """After the client's FIN the server unregisters and closes after sending what it has."""
        proto, transport = server()
        self.assertTrue(IHalfCloseableProtocol.providedBy(proto))
        proto.dataReceived(b"last words")
        proto.readConnectionLost()
        self.assertEqual(transport.value(), b"last words")
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)

    def test_half_close_through_policy_wrapper(self) -> None:
        """The zoo policy wrapper still offers half-close for echo, so the FIN is not fatal."""
        factory = ZooPolicyFactory(EchoFactory())
        wrapper = factory.buildProtocol(None)
        wrapper.makeConnection(StringTransport())
        self.assertTrue(IHalfCloseableProtocol.providedBy(wrapper))

    def test_peer_stopped_reading_aborts(self) -> None:
        """If the peer can no longer receive (write side lost), the connection is aborted."""
        proto, transport = server()
        proto.writeConnectionLost()
        self.assertTrue(transport.disconnected)

    def test_in_memory_pair(self) -> None:
        """A client on an in-memory connection gets its bytes back."""
        from twisted.internet.protocol import Protocol

        class Client(Protocol):
            got = b""

            def dataReceived(self, data: bytes) -> None:
                self.got += data

        client, srv, pump = connected(EchoFactory(), Client())
        client.transport.write(b"x" * 100_000)
        pump.flush()
        self.assertEqual(client.got, b"x" * 100_000)


class DatagramTests(SynchronousTestCase):
    def test_datagram_echo(self) -> None:
        """A datagram goes back to its sender with the same bytes."""
        proto = EchoDatagram()
        transport = FakeDatagramTransport()
        proto.makeConnection(transport)
        proto.datagramReceived(b"Hey!", ("127.0.0.1", 5555))
        self.assertEqual(transport.written, [(b"Hey!", ("127.0.0.1", 5555))])

    def test_datagram_upper(self) -> None:
        """The upper-casing mode applies to datagrams too."""
        proto = EchoDatagram(bytes.upper)
        transport = FakeDatagramTransport()
        proto.makeConnection(transport)
        proto.datagramReceived(b"hey!", ("127.0.0.1", 5555))
        self.assertEqual(transport.written, [(b"HEY!", ("127.0.0.1", 5555))])


class OptionsTests(SynchronousTestCase):
    def parse(self, *args: str) -> tap.Options:
        options = tap.Options()
        options.parseOptions(list(args))
        return options

    def test_defaults(self) -> None:
        """No options: TCP 7007 on loopback, no UDP, identity echo."""
        options = self.parse()
        self.assertEqual(options.endpoints, ["tcp:7007:interface=127.0.0.1"])
        self.assertIsNone(options["udp"])
        self.assertFalse(options["upper"])

    def test_udp_loopback_allowed(self) -> None:
        """--udp on loopback needs no confirmation."""
        self.assertEqual(self.parse("--udp", "7007")["udp"], 7007)
        self.assertEqual(self.parse("--udp", "7", "--interface", "::1")["udp"], 7)

    def test_udp_public_needs_confirmation(self) -> None:
        """--udp on a public interface is refused without --udp-public, accepted with it."""
        with self.assertRaises(usage.UsageError) as e:
            self.parse("--udp", "7007", "--interface", "0.0.0.0")
        self.assertIn("--udp-public", str(e.exception))
        self.assertTrue(self.parse("--udp", "7007", "--interface", "0.0.0.0", "--udp-public"))

    def test_bad_udp_port(self) -> None:
        """A bad --udp value names the flag."""
        with self.assertRaises(usage.UsageError) as e:
            self.parse("--udp", "seven")
        self.assertIn("--udp", str(e.exception))


def _steps() -> list[Any]:
    from zoo._twisted.speedups import built

    return [echo.EchoStep] + ([built.EchoStep] if built is not None else [])


@pytest.mark.parametrize("kind", _steps(), ids=lambda k: k.__module__)
def test_echo_step_twins(kind: Any) -> None:
    """Each twin: no writer, nothing done; a read under grow_at counted and sent back
    as it came; a read as long as grow_at declined, uncounted and unsent."""
    step = kind()
    assert (step.received, step.grow_at, step.write) == (0, sys.maxsize, None)
    assert step.echo(b"early") is False and step.received == 0
    sent: list[bytes] = []
    step.write, step.grow_at = sent.append, 8
    assert step.echo(b"hello") is True
    assert step.echo(bytearray(b"there!!")) is True
    assert step.echo(b"12345678") is False  # as long as grow_at: the server grows first
    assert sent == [b"hello", bytearray(b"there!!")] and step.received == 12


@pytest.mark.parametrize("kind", _steps(), ids=lambda k: k.__module__)
def test_echo_server_with_either_step(kind: Any) -> None:
    """The server with either step: reads echoed and counted; a read that fills the
    read size is declined by the step, grows the read size, and is echoed, and the
    step then takes reads of any length; upper-casing bypasses the step."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(echo, "ECHO_STEP", kind)
        proto, transport = server()
        assert isinstance(proto.counted, kind) and proto._step is proto.counted
        proto.dataReceived(b"abc")
        proto.dataReceived(b"de")
        assert transport.value() == b"abcde" and proto.received == 5

        class Conn:
            bufferSize = 16

        proto._conn, proto._grow_at, proto.counted.grow_at = Conn(), 16, 16  # type: ignore[assignment]
        proto.dataReceived(b"f" * 16)  # filled the read: declined, then grown and echoed
        assert Conn.bufferSize == 16 and proto._conn.bufferSize == proto.stream_read_size
        assert proto.counted.grow_at == sys.maxsize
        assert transport.value() == b"abcde" + b"f" * 16 and proto.received == 21
        upper, out = server(transform=bytes.upper)
        assert upper._step is None
        upper.dataReceived(b"abc")
        assert out.value() == b"ABC" and upper.received == 3
