"""Time services: exact bytes for a fixed clock, in memory."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from zoo import timeserver
from zoo.tap import time as tap
from zoo.timeserver import (
    DaytimeFactory,
    IsoSession,
    IsoTimeFactory,
    Rfc868Factory,
    TimeDatagram,
    daytime,
    from_rfc868,
    iso,
    rfc868,
)

#: 2001-09-09T01:46:40.25Z, a Sunday.
T = 1_000_000_000.25


def clock(t: float = T) -> Clock:
    c = Clock()
    c.advance(t)
    return c


class FormatTests(SynchronousTestCase):
    def test_rfc868_epoch_1900(self) -> None:
        """RFC 868 sends seconds since 1900, unsigned: Unix 0 is 2208988800 (0x83AA7E80)."""
        self.assertEqual(rfc868(0), b"\x83\xaa\x7e\x80")
        self.assertEqual(rfc868(T), (1_000_000_000 + 2_208_988_800).to_bytes(4, "big"))

    def test_rfc868_not_twisted(self) -> None:
        """Unlike Twisted's wire.Time (signed, 1970), today's value does not fit a signed int."""
        value = int.from_bytes(rfc868(1_700_000_000), "big")
        self.assertGreater(value, 2**31)
        self.assertEqual(value, 1_700_000_000 + timeserver.EPOCH_1900)

    def test_rfc868_wraps_in_2036(self) -> None:
        """On 2036-02-07T06:28:16Z the 32-bit count wraps to 0 (era 1) and decodes back."""
        wrap = datetime.fromisoformat("2036-02-07T06:28:16+00:00").timestamp()
        self.assertEqual(rfc868(wrap - 1), b"\xff\xff\xff\xff")
        self.assertEqual(rfc868(wrap), b"\x00\x00\x00\x00")
        self.assertEqual(from_rfc868(rfc868(wrap + 5), now=wrap), wrap + 5)
        self.assertEqual(from_rfc868(rfc868(T), now=T), 1_000_000_000)

    def test_iso_utc(self) -> None:
        """ISO time is UTC with an explicit +00:00 offset and microseconds."""
        self.assertEqual(iso(T), b"2001-09-09T01:46:40.250000+00:00")
        parsed = datetime.fromisoformat(iso(T).decode())
        self.assertEqual(parsed.timestamp(), T)

    def test_iso_local_has_offset(self) -> None:
        """Local ISO time carries the server's offset and names the same instant."""
        self.assertEqual(datetime.fromisoformat(iso(T, local=True).decode()).timestamp(), T)

    def test_daytime(self) -> None:
        """Daytime is the RFC 867 suggested format in UTC, with CRLF."""
        self.assertEqual(daytime(T), b"Sunday, September 9, 2001 01:46:40-UTC\r\n")


class IsoSessionTests(SynchronousTestCase):
    def test_bare_request(self) -> None:
        """The book's bare b'time' gets the bare ISO string, nothing else."""
        self.assertEqual(IsoSession().feed(b"time", T), iso(T))

    def test_line_endings_mirrored(self) -> None:
        """A request ending in LF or CRLF gets a reply ending the same way."""
        s = IsoSession()
        self.assertEqual(s.feed(b"time\n", T), iso(T) + b"\n")
        self.assertEqual(s.feed(b"time\r\n", T), iso(T) + b"\r\n")

    def test_split_and_pipelined(self) -> None:
        """A request split across reads, and two in one read, are answered once each."""
        s = IsoSession()
        self.assertEqual(s.feed(b"ti", T), b"")
        self.assertEqual(s.feed(b"me\r", T), b"")  # a CR: wait for its LF
        self.assertEqual(s.feed(b"\ntime\ntime\n", T), iso(T) + b"\r\n" + (iso(T) + b"\n") * 2)

    def test_bare_then_line_ending(self) -> None:
        """A line ending arriving after a bare 'time' was answered completes that reply's line."""
        s = IsoSession()
        self.assertEqual(s.feed(b"time", T), iso(T))
        self.assertEqual(s.feed(b"\r", T), b"")
        self.assertEqual(s.feed(b"\ntime", T), b"\r\n" + iso(T))
        self.assertEqual(s.feed(b"time", T), iso(T))  # no ending: the next bare request

    def test_unknown_line_keeps_connection(self) -> None:
        """An unknown request on a line gets a clear error and the session goes on."""
        s = IsoSession()
        self.assertEqual(s.feed(b"date\n", T), b"error: unknown request 'date'; send 'time'\n")
        self.assertFalse(s.closing)
        self.assertEqual(s.feed(b"TIME\n", T), iso(T) + b"\n")

    def test_unknown_bare_closes(self) -> None:
        """Bare input that cannot become 'time' gets the error and closes."""
        s = IsoSession()
        self.assertEqual(s.feed(b"what", T), b"error: unknown request 'what'; send 'time'\r\n")
        self.assertTrue(s.closing)
        self.assertEqual(s.feed(b"time", T), b"")

    def test_overlong_closes(self) -> None:
        """Unterminated input beyond the limit gets the error and closes: memory stays bounded."""
        s = IsoSession()
        self.assertEqual(s.feed(b" " * 200, T), b"")
        self.assertTrue(s.feed(b" " * 100, T).startswith(b"error:"))
        self.assertTrue(s.closing)

    def test_blank_lines_ignored(self) -> None:
        """Empty lines (telnet users pressing Enter) get no reply."""
        self.assertEqual(IsoSession().feed(b"\r\n\n", T), b"")


class ProtocolTests(SynchronousTestCase):
    def test_iso_tcp(self) -> None:
        """The TCP protocol answers from the injected clock and stays open."""
        proto = IsoTimeFactory(clock(), local=False).buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(b"time\r\n")
        self.assertEqual(transport.value(), b"2001-09-09T01:46:40.250000+00:00\r\n")
        self.assertFalse(transport.disconnecting)

    def test_iso_half_close(self) -> None:
        """The ISO server is half-closeable: a request with its FIN is answered, then closed."""
        proto = IsoTimeFactory(clock()).buildProtocol(None)
        self.assertTrue(IHalfCloseableProtocol.providedBy(proto))
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(b"time\n")
        proto.readConnectionLost()
        self.assertEqual(transport.value(), iso(T) + b"\n")
        self.assertTrue(transport.disconnecting)

    def test_rfc868_tcp(self) -> None:
        """RFC 868 over TCP: 4 bytes on connect, then close."""
        factory = Rfc868Factory(clock())
        proto = factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        self.assertEqual(transport.value(), rfc868(T))
        self.assertTrue(transport.disconnecting)

    def test_say_and_close_survives_early_fin(self) -> None:
        """RFC 868/daytime servers are half-closeable: a client's early FIN does not lose the reply."""
        proto = Rfc868Factory(clock()).buildProtocol(None)
        self.assertTrue(IHalfCloseableProtocol.providedBy(proto))
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.readConnectionLost()
        self.assertEqual(transport.value(), rfc868(T))
        self.assertFalse(transport.disconnected)

    def test_daytime_tcp(self) -> None:
        """Daytime over TCP: one line on connect, then close."""
        proto = DaytimeFactory(clock()).buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        self.assertEqual(transport.value(), b"Sunday, September 9, 2001 01:46:40-UTC\r\n")
        self.assertTrue(transport.disconnecting)

    def test_clock_moves(self) -> None:
        """Each connection reads the clock when it is made, not when the factory was."""
        c = clock()
        factory = Rfc868Factory(c)
        c.advance(60)
        proto = factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        self.assertEqual(transport.value(), rfc868(T + 60))

    def test_udp(self) -> None:
        """Over UDP each service answers one datagram per datagram, to the sender."""
        addr = ("127.0.0.1", 40000)
        for kind, request, reply in (
            ("iso", b"time", iso(T)),
            ("iso", b"time\n", iso(T) + b"\n"),
            ("iso", b"date", b"error: unknown request 'date'; send 'time'\r\n"),
            ("rfc868", b"", rfc868(T)),
            ("daytime", b"anything", daytime(T)),
        ):
            proto = TimeDatagram(kind, clock())
            transport = FakeDatagramTransport()
            proto.makeConnection(transport)
            proto.datagramReceived(request, addr)
            self.assertEqual(transport.written, [(reply, addr)], kind)

    def test_unknown_kind(self) -> None:
        """An unknown UDP service kind is a ValueError naming the choices."""
        with self.assertRaises(ValueError):
            TimeDatagram("sundial", clock())


class OptionsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """Defaults: ISO on 1013, RFC 868 on 1037, daytime on 1867, no UDP."""
        o = tap.Options()
        o.parseOptions([])
        self.assertEqual(o.endpoints, ["tcp:1013:interface=127.0.0.1"])
        self.assertEqual((o["rfc868-port"], o["daytime-port"]), (1037, 1867))
        self.assertEqual((o["udp"], o["rfc868-udp"], o["daytime-udp"]), (None, None, None))

    def test_off(self) -> None:
        """'off' disables the RFC 868 or daytime TCP listener."""
        o = tap.Options()
        o.parseOptions(["--rfc868-port", "off", "--daytime-port", "OFF"])
        self.assertEqual((o["rfc868-port"], o["daytime-port"]), (None, None))

    def test_udp_public_needs_confirmation(self) -> None:
        """Any time UDP listener on a public interface needs --udp-public."""
        with self.assertRaises(usage.UsageError) as e:
            tap.Options().parseOptions(["--rfc868-udp", "37", "--interface", "192.0.2.1"])
        self.assertIn("--rfc868-udp", str(e.exception))
        self.assertIn("--udp-public", str(e.exception))


class SplitTests(SynchronousTestCase):
    @given(
        st.lists(st.sampled_from([b"time\n", b"time\r\n", b"TIME \r\n", b"\r\n"]), max_size=6),
        st.data(),
    )
    def test_any_split_same_replies(self, lines: list[bytes], data: st.DataObject) -> None:
        """However a stream of 'time' lines is cut into reads, the reply bytes are the same."""
        stream = b"".join(lines)
        expected = IsoSession().feed(stream, T)
        if len(stream) > 1:
            cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=12)))
        else:
            cuts = []
        s = IsoSession()
        got = b"".join(
            s.feed(stream[a:b], T) for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)
        )
        self.assertEqual(got, expected)
        self.assertEqual(expected.count(iso(T)), sum(1 for line in lines if line.strip()))

    def test_blanks_after_bare_bounded(self) -> None:
        """Endless blanks after a bare 'time' are not buffered without limit."""
        s = IsoSession()
        s.feed(b"time", T)
        s.feed(b" " * 200, T)
        self.assertTrue(s.feed(b" " * 200, T).startswith(b"error:"))
        self.assertTrue(s.closing)
