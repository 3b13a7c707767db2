"""The books' socket exercises (zoo.exercises) and their plugin options, in memory."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from zoo import exercises as ex
from zoo.policies import ZooPolicyFactory
from zoo.tap import exercises as tap

ADDR = IPv4Address("TCP", "127.0.0.1", 5)


class HalfClosingTransport(StringTransport):
    """A StringTransport that records a shut write side."""

    write_shut = False

    def loseWriteConnection(self) -> None:
        self.write_shut = True


def connect(protocol: type, **kw: Any) -> tuple[Any, HalfClosingTransport]:
    proto = ex.ExerciseFactory(protocol, **kw).buildProtocol(ADDR)
    transport = HalfClosingTransport(peerAddress=ADDR, hostAddress=ADDR)
    proto.makeConnection(transport)
    return proto, transport


def behind_policy(protocol: type, clock: Clock) -> tuple[ZooPolicyFactory, HalfClosingTransport]:
    """One connection to C{protocol} through the policy layer (10 s command deadline)."""
    f = ZooPolicyFactory(
        ex.ExerciseFactory(protocol), idle_timeout=300, command_timeout=10, clock=clock
    )
    f.doStart()
    p = f.buildProtocol(ADDR)
    t = HalfClosingTransport(peerAddress=ADDR, hostAddress=ADDR)
    p.makeConnection(t)
    return f, t


class CoreTests(SynchronousTestCase):
    def test_length_reply(self) -> None:
        """The reply is FOPNP's 'Your data was N bytes'."""
        self.assertEqual(ex.length_reply(18), b"Your data was 18 bytes")

    def test_dropper_drops_the_first_n(self) -> None:
        """first=3 drops exactly datagrams 1 to 3, then none."""
        d = ex.Dropper(first=3)
        self.assertEqual([d.drop() for _ in range(6)], [True, True, True, False, False, False])
        self.assertEqual(d.dropped, 3)

    def test_dropper_rate_is_repeatable(self) -> None:
        """The same seed drops the same datagrams; about the rate of them drop."""
        a = [ex.Dropper(rate=0.5, seed=7).drop() for _ in range(1)]
        runs = []
        for _ in range(2):
            d = ex.Dropper(rate=0.5, seed=7)
            runs.append([d.drop() for _ in range(1000)])
        self.assertEqual(runs[0], runs[1])
        self.assertEqual(a[0], runs[0][0])
        self.assertTrue(400 < sum(runs[0]) < 600, sum(runs[0]))
        other = ex.Dropper(rate=0.5, seed=8)
        self.assertNotEqual(runs[0], [other.drop() for _ in range(1000)])

    def test_dropper_rejects_bad_values(self) -> None:
        """A negative count or a rate outside [0, 1] is refused."""
        self.assertRaises(ValueError, ex.Dropper, first=-1)
        self.assertRaises(ValueError, ex.Dropper, rate=1.5)

    def test_fixed_length_across_reads(self) -> None:
        """Sixteen bytes split over reads make one message; later bytes are ignored."""
        r = ex.FixedLength(16)
        self.assertIsNone(r.feed(b"Hi there"))
        self.assertEqual(r.received, 8)
        self.assertEqual(r.feed(b", server and more"), b"Hi there, server")
        self.assertIsNone(r.feed(b"more"))

    def test_fixed_length_short_message_words(self) -> None:
        """An early end-of-file is described as the book's EOFError describes it."""
        r = ex.FixedLength(16)
        r.feed(b"Hi th")
        self.assertEqual(r.short_message(), "socket closed 5 bytes into a 16-byte message")

    def test_sink_keeps_a_bounded_prefix(self) -> None:
        """Past max_kept the sink counts bytes without keeping them, and says so."""
        s = ex.Sink(max_kept=10)
        s.feed(b"0123456789abcdef")
        s.feed(b"ghij")
        self.assertEqual(s.kept, b"0123456789")
        self.assertEqual(s.total, 20)
        self.assertIn("[10 more bytes not kept; 20 in all]", s.report())
        self.assertTrue(s.report().startswith("Done receiving the message; it says:\n0123456789"))


class HeyTests(SynchronousTestCase):
    def test_reply_then_close(self) -> None:
        """Any first chunk gets 'Are you talking to me?' and the server closes."""
        proto, t = connect(ex.HeyServer)
        proto.dataReceived(b"Hey!")
        proto.dataReceived(b"and more")
        self.assertEqual(t.value(), b"Are you talking to me?")
        self.assertTrue(t.disconnecting)

    def test_half_close_without_request(self) -> None:
        """EOF before any byte closes without a reply."""
        proto, t = connect(ex.HeyServer)
        self.assertTrue(IHalfCloseableProtocol.providedBy(proto))
        proto.readConnectionLost()
        self.assertEqual(t.value(), b"")
        self.assertTrue(t.disconnecting)

    def test_datagram(self) -> None:
        """Each datagram, whatever it holds, gets the reply at its sender."""
        proto = ex.HeyDatagram()
        transport = FakeDatagramTransport()
        proto.makeConnection(transport)
        proto.datagramReceived(b"\x00garbage", ("127.0.0.1", 9))
        self.assertEqual(transport.written, [(b"Are you talking to me?", ("127.0.0.1", 9))])


class LengthTests(SynchronousTestCase):
    def test_counts_bytes(self) -> None:
        """A datagram of N bytes gets 'Your data was N bytes'."""
        proto = ex.LengthDatagram()
        transport = FakeDatagramTransport()
        proto.makeConnection(transport)
        proto.datagramReceived(b"This is my message", ("127.0.0.1", 9))
        proto.datagramReceived(b"", ("127.0.0.1", 9))
        self.assertEqual(
            [w[0] for w in transport.written],
            [b"Your data was 18 bytes", b"Your data was 0 bytes"],
        )

    def test_drops(self) -> None:
        """With a dropper, dropped datagrams get nothing; the next one is answered."""
        proto = ex.LengthDatagram(ex.Dropper(first=2))
        transport = FakeDatagramTransport()
        proto.makeConnection(transport)
        for _ in range(3):
            proto.datagramReceived(b"This is another message", ("127.0.0.1", 9))
        self.assertEqual(transport.written, [(b"Your data was 23 bytes", ("127.0.0.1", 9))])


class SixteenTests(SynchronousTestCase):
    def test_farewell_after_sixteen_bytes(self) -> None:
        """Sixteen bytes (in pieces) get 'Farewell, client' and a close; fewer get nothing."""
        proto, t = connect(ex.SixteenServer)
        proto.dataReceived(b"Hi there, ")
        self.assertEqual(t.value(), b"")
        proto.dataReceived(b"server")
        self.assertEqual(t.value(), b"Farewell, client")
        self.assertTrue(t.disconnecting)

    def test_short_message_then_eof(self) -> None:
        """EOF before sixteen bytes closes without a reply."""
        proto, t = connect(ex.SixteenServer)
        proto.dataReceived(b"Hi")
        proto.readConnectionLost()
        self.assertEqual(t.value(), b"")
        self.assertTrue(t.disconnecting)

    def test_command_deadline(self) -> None:
        """Behind the policy layer, a client stuck at 5 bytes is closed at the deadline."""
        clock = Clock()
        f, t = behind_policy(ex.SixteenServer, clock)
        p = next(iter(f.protocols))
        p.dataReceived(b"Hi th")
        for _ in range(8):  # 8 s of a 10 s deadline
            clock.advance(1)
        self.assertFalse(t.disconnecting)
        for _ in range(8):
            clock.advance(1)
        self.assertTrue(t.disconnecting)
        self.assertEqual(t.value(), b"")
        f.doStop()


class StreamerTests(SynchronousTestCase):
    def test_shuts_write_side_at_accept(self) -> None:
        """The write side is shut as soon as the connection is made."""
        proto, t = connect(ex.StreamerSink)
        self.assertTrue(t.write_shut)
        self.assertFalse(t.disconnecting)

    def test_reads_to_eof_then_closes(self) -> None:
        """Everything up to EOF is kept; EOF closes, writing nothing."""
        proto, t = connect(ex.StreamerSink)
        proto.dataReceived(b"Beautiful is better than ugly.\n")
        proto.dataReceived(b"Explicit is better than implicit.\n")
        self.assertFalse(t.disconnecting)
        proto.readConnectionLost()
        self.assertEqual(
            proto.sink.kept, b"Beautiful is better than ugly.\nExplicit is better than implicit.\n"
        )
        self.assertTrue(t.disconnecting)
        self.assertEqual(t.value(), b"")

    def test_over_tls(self) -> None:
        """Over TLS the write side stays open (no half-close) and a clean close ends the stream."""
        from twisted.internet.error import ConnectionDone
        from twisted.internet.interfaces import ISSLTransport
        from twisted.python.failure import Failure
        from zope.interface import alsoProvides

        proto = ex.ExerciseFactory(ex.StreamerSink).buildProtocol(ADDR)
        t = HalfClosingTransport(peerAddress=ADDR, hostAddress=ADDR)
        alsoProvides(t, ISSLTransport)
        proto.makeConnection(t)
        self.assertFalse(t.write_shut)
        proto.dataReceived(b"Simple is better than complex.\n")
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(proto.finished)

    def test_no_command_deadline(self) -> None:
        """Behind the policy layer a slow stream is not cut by the command deadline."""
        clock = Clock()
        f, t = behind_policy(ex.StreamerSink, clock)
        p = next(iter(f.protocols))
        for _ in range(10):
            p.dataReceived(b"slow ")
            clock.advance(5)
        self.assertFalse(t.disconnecting)
        f.doStop()


class OptionsTests(SynchronousTestCase):
    def parse(self, *args: str) -> tap.Options:
        o = tap.Options()
        o.parseOptions(list(args))
        return o

    def test_defaults(self) -> None:
        """Every exercise runs by default, on its own port, with no drops."""
        o = self.parse()
        self.assertEqual(o["exercise"], ["hey", "length", "sixteen", "streamer"])
        self.assertEqual([o[f"{e}-port"] for e in tap.EXERCISES], [6789, 1060, 1062, 1063])
        self.assertEqual((o["drop-first"], o["drop-rate"]), (0, 0.0))

    def test_port_zero_frees_every_port(self) -> None:
        """--port 0 gives every exercise a free port."""
        o = self.parse("--port", "0")
        self.assertEqual([o[f"{e}-port"] for e in tap.EXERCISES], [0, 0, 0, 0])

    def test_port_and_listen_refused(self) -> None:
        """--port N and --listen are usage errors that name the per-exercise options."""
        for args in (["--port", "1060"], ["--listen", "tcp:1060"]):
            e = self.assertRaises(usage.UsageError, self.parse, *args)
            self.assertIn("--sixteen-port", str(e))

    def test_unknown_exercise(self) -> None:
        """An unknown --exercise is a usage error listing the known ones."""
        e = self.assertRaises(usage.UsageError, self.parse, "--exercise", "gopher")
        self.assertIn("hey, length, sixteen, streamer", str(e))

    def test_udp_public_needs_confirmation(self) -> None:
        """UDP exercises on a public interface need --udp-public; TCP-only ones do not."""
        self.assertRaises(usage.UsageError, self.parse, "--interface", "0.0.0.0")
        self.parse("--interface", "0.0.0.0", "--udp-public")
        self.parse("--interface", "0.0.0.0", "--exercise", "sixteen")

    def test_bad_drop_rate(self) -> None:
        """A drop rate outside [0, 1] is a usage error."""
        self.assertRaises(usage.UsageError, self.parse, "--drop-rate", "2")
        self.assertRaises(usage.UsageError, self.parse, "--drop-first", "-1")

    def test_service_listeners(self) -> None:
        """--exercise picks the listeners: length alone is one UDP port of 65535-byte reads."""
        from zoo.tap._service import _groups

        root = tap.makeService(self.parse("--exercise", "length", "--port", "0"))
        groups = _groups(root)
        self.assertEqual(len(groups), 1)
        (listener,) = list(groups[0])
        self.assertEqual(listener.max_packet_size, 65535)
        self.assertIsInstance(listener.protocol, ex.LengthDatagram)
