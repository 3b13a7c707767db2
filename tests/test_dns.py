"""zoo-dns in memory: the zone parser, the authority, the answer section, the options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.testing import FakeDatagramTransport
from twisted.names import dns as tdns
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from zoo import dns
from zoo.tap import dns as tap


def zone(*lines: str, origin: str = "zoo.test") -> dns.Zone:
    return dns.Zone(origin).add_lines(lines)


def lookup(z: dns.Zone, name: str, qtype: int) -> Any:
    """The (answers, authority, additional) a ZoneAuthority gives, synchronously."""
    d = dns.ZoneAuthority(z).query(tdns.Query(name, qtype, tdns.IN))
    return SynchronousTestCase().successResultOf(d)


class ZoneTests(SynchronousTestCase):
    def test_every_type(self) -> None:
        """A, AAAA, CNAME, MX, NS and TXT lines become the matching Twisted records."""
        z = zone(
            "@ A 127.0.0.1",
            "@ AAAA ::1",
            "@ MX 10 mail",
            "@ NS ns.other.test.",
            '@ TXT "hello world" two',
            "www CNAME @",
        )
        apex = z.records[b"zoo.test"]
        self.assertEqual([r.TYPE for r in apex], [tdns.A, tdns.AAAA, tdns.MX, tdns.NS, tdns.TXT])
        self.assertEqual(apex[2].name.name, b"mail.zoo.test")
        self.assertEqual(apex[2].preference, 10)
        self.assertEqual(apex[3].name.name, b"ns.other.test")
        self.assertEqual(apex[4].data, [b"hello world", b"two"])
        self.assertEqual(z.records[b"www.zoo.test"][0].name.name, b"zoo.test")

    def test_directives_ttls_comments_and_owner_reuse(self) -> None:
        """$ORIGIN and $TTL apply to later lines; ; starts a comment; a blank owner repeats."""
        z = zone(
            "$ORIGIN Example.TEST.",
            "$TTL 60",
            "host 30 IN A 192.0.2.1 ; thirty seconds",
            "     A 192.0.2.2",
            "; only a comment",
            "",
        )
        records = z.records[b"host.example.test"]
        self.assertEqual(
            [(r.dottedQuad(), r.ttl) for r in records], [("192.0.2.1", 30), ("192.0.2.2", 60)]
        )
        self.assertEqual(z.origin, "example.test")

    def test_errors_name_the_line(self) -> None:
        """Bad lines raise ZoneError with the source, line number, reason and the line."""
        cases = [
            ("www A 300.1.1.1", "Octet 300 (> 255) not permitted"),
            ("www AAAA 127.0.0.1", "At least 3 parts expected"),
            ("@ MX mail", "MX takes 2 values"),
            ("@ MX 70000 mail", "out of range"),
            ("@ SRV 0 0 80 www", "unsupported record type SRV"),
            ('@ TXT "open', "no closing quotation"),
            ("$INCLUDE other.zone", "unsupported directive"),
            ("@ TXT " + "x" * 256, "at most 255 bytes"),
        ]
        for line, reason in cases:
            with self.subTest(line=line):
                e = self.assertRaises(dns.ZoneError, dns.Zone().add_lines, ["", line], "z.zone")
                self.assertIn("z.zone line 2: ", str(e))
                self.assertIn(reason, str(e))

    def test_cname_stands_alone(self) -> None:
        """A CNAME at a name that has other records is refused."""
        self.assertRaises(dns.ZoneError, zone, "www A 192.0.2.1", "www CNAME @")

    def test_made_up_soa_uses_the_ns(self) -> None:
        """Without an SOA line the SOA names the zone's first NS and hostmaster@zone."""
        soa = zone("@ NS ns1", "@ NS ns2").start_of_authority()
        self.assertEqual(
            (soa.mname.name, soa.rname.name), (b"ns1.zoo.test", b"hostmaster.zoo.test")
        )

    def test_given_soa(self) -> None:
        """An SOA line at the apex is used as given; elsewhere it is refused."""
        z = zone("@ SOA ns admin 7 3600 600 86400 60")
        self.assertEqual(z.start_of_authority().serial, 7)
        self.assertRaises(dns.ZoneError, zone, "sub SOA ns admin 7 3600 600 86400 60")

    def test_default_zone(self) -> None:
        """The built-in zone has every type dns_basic.py asks for."""
        types = {r.TYPE for rs in dns.default_zone().records.values() for r in rs}
        self.assertTrue({tdns.A, tdns.AAAA, tdns.CNAME, tdns.MX, tdns.NS, tdns.TXT} <= types)


class AuthorityTests(SynchronousTestCase):
    def test_answers_authoritatively(self) -> None:
        """An A question is answered with the record, marked authoritative."""
        answers, _, _ = lookup(zone("@ A 192.0.2.1"), "zoo.test", tdns.A)
        self.assertEqual([(a.payload.dottedQuad(), a.auth) for a in answers], [("192.0.2.1", True)])

    def test_soa_question(self) -> None:
        """An SOA question at the apex gets the SOA in the answer section."""
        answers, _, _ = lookup(zone("@ NS ns"), "zoo.test", tdns.SOA)
        self.assertEqual([a.type for a in answers], [tdns.SOA])

    def test_missing_name_in_zone(self) -> None:
        """A name inside the zone with no records fails authoritatively (NXDOMAIN)."""
        d = dns.ZoneAuthority(zone("@ A 192.0.2.1")).query(tdns.Query("no.zoo.test", tdns.A))
        self.failureResultOf(d, tdns.AuthoritativeDomainError)


class FakeProtocol:
    """Records the messages a DNS server factory writes back."""

    def __init__(self) -> None:
        self.messages: list[tdns.Message] = []
        self.transport = None

    def writeMessage(self, message: tdns.Message, address: Any = None) -> None:
        self.messages.append(message)


def ask(z: dns.Zone, name: str, qtype: int) -> tdns.Message:
    factory = dns.server_factory(z)
    message = tdns.Message(id=1, recDes=True)
    message.timeReceived = 0  # set by messageReceived on a real connection
    message.queries = [tdns.Query(name, qtype, tdns.IN)]
    proto = FakeProtocol()
    factory.handleQuery(message, proto, ("127.0.0.1", 5))
    (reply,) = proto.messages
    return reply


class AnswerSectionTests(SynchronousTestCase):
    ZONE = ("@ A 192.0.2.1", "@ AAAA 2001:db8::1", "@ MX 10 mail", "alias CNAME @")

    def test_cname_question_gets_only_the_cname(self) -> None:
        """A CNAME question answers the CNAME alone; the target's addresses are additional."""
        reply = ask(zone(*self.ZONE), "alias.zoo.test", tdns.CNAME)
        self.assertEqual([r.type for r in reply.answers], [tdns.CNAME])
        self.assertEqual({r.type for r in reply.additional}, {tdns.A, tdns.AAAA})

    def test_a_question_at_a_cname(self) -> None:
        """An A question at an alias gets the CNAME and the target's A, not its AAAA."""
        reply = ask(zone(*self.ZONE), "alias.zoo.test", tdns.A)
        self.assertEqual([r.type for r in reply.answers], [tdns.CNAME, tdns.A])

    def test_mx_question_at_a_cname_is_chased(self) -> None:
        """An MX question at an alias gets the CNAME and the target's MX."""
        reply = ask(zone(*self.ZONE), "alias.zoo.test", tdns.MX)
        self.assertEqual([r.type for r in reply.answers], [tdns.CNAME, tdns.MX])
        self.assertEqual(reply.answers[1].payload.name.name, b"mail.zoo.test")

    def test_chase_to_nothing(self) -> None:
        """A TXT question at an alias whose target has no TXT gets the CNAME alone."""
        reply = ask(zone(*self.ZONE), "alias.zoo.test", tdns.TXT)
        self.assertEqual([r.type for r in reply.answers], [tdns.CNAME])
        self.assertEqual(reply.rCode, tdns.OK)

    def test_plain_question_unchanged(self) -> None:
        """An MX question at the apex gets the MX in the answer section."""
        reply = ask(zone(*self.ZONE), "zoo.test", tdns.MX)
        self.assertEqual([r.type for r in reply.answers], [tdns.MX])
        self.assertTrue(reply.auth)


class DatagramTests(SynchronousTestCase):
    def test_error_in_handling_is_one_log_line(self) -> None:
        """A controller that raises costs a log line, not an exception out of the protocol."""

        class Broken:
            def messageReceived(self, *args: Any) -> None:
                raise RuntimeError("boom")

        proto = dns.DNSDatagram(controller=Broken())
        proto.makeConnection(FakeDatagramTransport())
        message = tdns.Message(id=3)
        message.queries = [tdns.Query("zoo.test")]
        logged: list[dict[str, Any]] = []
        from twisted.logger import globalLogPublisher

        globalLogPublisher.addObserver(logged.append)
        try:
            proto.datagramReceived(message.toStr(), ("127.0.0.1", 5))
        finally:
            globalLogPublisher.removeObserver(logged.append)
        self.assertTrue(any("boom" in str(e.get("error")) for e in logged))


class OptionsTests(SynchronousTestCase):
    def parse(self, *args: str) -> tap.Options:
        o = tap.Options()
        o.parseOptions(list(args))
        return o

    def test_defaults(self) -> None:
        """TCP and UDP on 8053, the built-in zone, no forwarder."""
        o = self.parse()
        self.assertEqual(o.endpoints, ["tcp:8053:interface=127.0.0.1"])
        self.assertEqual(o["udp"], 8053)
        self.assertEqual(o["forward"], [])
        self.assertEqual(o.zone.origin, "zoo.test")

    def test_udp_follows_port(self) -> None:
        """--port N puts UDP on N too, unless --udp says otherwise."""
        self.assertEqual(self.parse("--port", "5300")["udp"], 5300)
        self.assertEqual(self.parse("--port", "5300", "--udp", "5301")["udp"], 5301)

    def test_records_replace_the_default_zone(self) -> None:
        """--record lines make the zone; --domain names it."""
        o = self.parse("--domain", "lab.test", "--record", "@ A 192.0.2.9")
        self.assertEqual(list(o.zone.records), [b"lab.test"])

    def test_zone_file(self) -> None:
        """--zone-file is read; a bad line is a usage error naming file and line."""
        path = Path(self.mktemp())
        path.write_text("$ORIGIN f.test.\n@ A 192.0.2.1\n")
        self.assertEqual(self.parse("--zone-file", str(path)).zone.origin, "f.test")
        path.write_text("@ A 192.0.2.1\n@ A nowhere\n")
        e = self.assertRaises(usage.UsageError, self.parse, "--zone-file", str(path))
        self.assertIn(f"{path} line 2", str(e))
        e = self.assertRaises(usage.UsageError, self.parse, "--zone-file", "/no/such.zone")
        self.assertIn("No such file", str(e))

    def test_forward(self) -> None:
        """--forward takes HOST, HOST:PORT and [IPV6]:PORT; port 53 by default."""
        o = self.parse(
            "--forward", "192.0.2.53", "--forward", "127.0.0.1:5300", "--forward", "[::1]:54"
        )
        self.assertEqual(o["forward"], [("192.0.2.53", 53), ("127.0.0.1", 5300), ("::1", 54)])
        self.assertRaises(usage.UsageError, self.parse, "--forward", "host:port")

    def test_public_udp_needs_confirmation(self) -> None:
        """A non-loopback interface needs --udp-public (DNS over UDP reflects and amplifies)."""
        self.assertRaises(usage.UsageError, self.parse, "--interface", "0.0.0.0")
        self.parse("--interface", "0.0.0.0", "--udp-public")


class CommandDeadlineTests(SynchronousTestCase):
    def connect(self) -> tuple[Any, Any, Any]:
        from twisted.internet.address import IPv4Address
        from twisted.internet.task import Clock
        from twisted.internet.testing import StringTransport

        from zoo.policies import ZooPolicyFactory

        clock = Clock()
        addr = IPv4Address("TCP", "127.0.0.1", 5)
        f = ZooPolicyFactory(
            dns.server_factory(dns.default_zone()),
            idle_timeout=300,
            command_timeout=10,
            clock=clock,
        )
        f.doStart()
        p = f.buildProtocol(addr)
        t = StringTransport(peerAddress=addr, hostAddress=addr)
        p.makeConnection(t)
        self.addCleanup(f.doStop)
        return p, t, clock

    def query(self) -> bytes:
        import struct

        message = tdns.Message(id=9, recDes=True)
        message.queries = [tdns.Query("zoo.test", tdns.A)]
        wire = message.toStr()
        return struct.pack("!H", len(wire)) + wire

    def test_whole_queries_keep_the_connection(self) -> None:
        """A TCP client sending a whole query every 4 s outlives the 10 s command deadline."""
        p, t, clock = self.connect()
        for _ in range(6):
            p.dataReceived(self.query())
            for _ in range(4):
                clock.advance(1)
        self.assertFalse(t.disconnecting)
        self.assertGreater(len(t.value()), 6 * 2)

    def test_half_a_query_is_closed(self) -> None:
        """A TCP client stopping in the middle of a message is closed at the deadline."""
        p, t, clock = self.connect()
        p.dataReceived(self.query()[:7])
        for _ in range(15):
            clock.advance(1)
        self.assertTrue(t.disconnecting)
