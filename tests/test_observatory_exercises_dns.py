"""zoo-exercises and zoo-dns in the observatory: one event per exchange or reply."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.names import dns as tdns

from zoo import dns, exercises
from zoo.events import Observatory

ADDR = IPv4Address("TCP", "127.0.0.1", 5)


class HalfClosing(StringTransport):
    """A StringTransport with a session id that accepts a write-side shutdown."""

    session = "s-1"

    def loseWriteConnection(self) -> None:
        pass


def observatory(enabled: bool = True) -> Observatory:
    return Observatory(Clock(), enabled=enabled)


def connect(obs: Observatory, protocol: type, **kw: Any) -> tuple[Any, HalfClosing]:
    proto = exercises.ExerciseFactory(protocol, observatory=obs, **kw).buildProtocol(ADDR)
    transport = HalfClosing(peerAddress=ADDR, hostAddress=ADDR)
    proto.makeConnection(transport)
    return proto, transport


def fields(obs: Observatory) -> list[dict[str, Any]]:
    return [dict(e.fields) for e in obs.events()]


def test_tcp_exchanges_report_mode_and_bytes():
    """hey, sixteen and streamer over TCP each give one exercise.exchange with the byte counts."""
    obs = observatory()
    hey, _ = connect(obs, exercises.HeyServer)
    hey.dataReceived(b"Hey!")
    hey.dataReceived(b"ignored")
    sixteen, _ = connect(obs, exercises.SixteenServer)
    sixteen.dataReceived(b"Hi there, ")
    sixteen.dataReceived(b"server")
    sink, _ = connect(obs, exercises.StreamerSink)
    sink.dataReceived(b"x" * 100)
    sink.dataReceived(b"y" * 50)
    sink.readConnectionLost()
    assert fields(obs) == [
        {"mode": "hey", "transport": "tcp", "bytes_in": 4, "bytes_out": 22},
        {"mode": "sixteen", "transport": "tcp", "bytes_in": 16, "bytes_out": 16},
        {"mode": "streamer", "transport": "tcp", "bytes_in": 150, "bytes_out": 0},
    ]
    assert {e.kind for e in obs.events()} == {"exercise.exchange"}
    assert {e.session for e in obs.events()} == {"s-1"}
    assert {e.service for e in obs.events()} == {"exercises"}


def test_short_sixteen_reports_nothing():
    """A sixteen-byte message cut short is no exchange: no event."""
    obs = observatory()
    sixteen, _ = connect(obs, exercises.SixteenServer)
    sixteen.dataReceived(b"Hi")
    sixteen.readConnectionLost()
    assert obs.events() == []


def test_datagrams_report_sender_and_drops():
    """UDP hey and length give one event per datagram, with the sender; drops say so."""
    obs = observatory()
    hey = exercises.HeyDatagram(observatory=obs)
    hey.makeConnection(FakeDatagramTransport())
    hey.datagramReceived(b"Hey!", ("127.0.0.1", 40000))
    length = exercises.LengthDatagram(exercises.Dropper(first=1), observatory=obs)
    length.makeConnection(FakeDatagramTransport())
    length.datagramReceived(b"abc", ("127.0.0.1", 40001))
    length.datagramReceived(b"abcd", ("127.0.0.1", 40001))
    got = fields(obs)
    assert got[0] == {
        "mode": "hey",
        "transport": "udp",
        "bytes_in": 4,
        "bytes_out": 22,
        "peer": "127.0.0.1:40000",
    }
    assert got[1]["dropped"] is True and got[1]["bytes_out"] == 0
    assert got[2] == {
        "mode": "length",
        "transport": "udp",
        "bytes_in": 4,
        "bytes_out": len(b"Your data was 4 bytes"),
        "peer": "127.0.0.1:40001",
        "dropped": False,
    }
    assert all(e.session is None for e in obs.events())


def test_exercises_off_observatory_records_nothing():
    """With the observatory off, exchanges record nothing."""
    obs = observatory(enabled=False)
    hey, _ = connect(obs, exercises.HeyServer)
    hey.dataReceived(b"Hey!")
    assert obs.events() == []


class FakeDNSProtocol:
    """Records the messages a DNS server factory writes back (TCP-like when C{session})."""

    def __init__(self, session: str | None = None) -> None:
        self.messages: list[tdns.Message] = []
        self.transport = StringTransport()
        self.transport.session = session  # type: ignore[attr-defined]

    def writeMessage(self, message: tdns.Message, address: Any = None) -> None:
        self.messages.append(message)


def ask(
    factory: dns.ZoneServerFactory, name: str, qtype: int, address: Any, proto: Any
) -> tdns.Message:
    message = tdns.Message(id=1, recDes=True)
    message.timeReceived = 0
    message.queries = [tdns.Query(name, qtype, tdns.IN)]
    factory.handleQuery(message, proto, address)
    return proto.messages[-1]


def test_dns_reports_each_reply():
    """Each reply is one dns.query: name, type, rcode, answers as text, transport, peer."""
    obs = observatory()
    zone = dns.Zone("zoo.test").add_lines(
        ["@ A 192.0.2.1", "@ AAAA 2001:db8::1", "@ MX 10 mail", '@ TXT "hi there"', "www CNAME @"]
    )
    factory = dns.server_factory(zone, observatory=obs)
    udp = FakeDNSProtocol()
    ask(factory, "zoo.test", tdns.MX, ("127.0.0.1", 5353), udp)
    ask(factory, "zoo.test", tdns.AAAA, ("127.0.0.1", 5353), udp)
    ask(factory, "zoo.test", tdns.TXT, ("127.0.0.1", 5353), udp)
    ask(factory, "nope.zoo.test", tdns.A, ("127.0.0.1", 5353), udp)
    tcp = FakeDNSProtocol(session="s-9")
    ask(factory, "www.zoo.test", tdns.A, None, tcp)
    got = fields(obs)
    assert got[0] == {
        "name": "zoo.test",
        "type": "MX",
        "rcode": "NOERROR",
        "answers": ["zoo.test MX 10 mail.zoo.test"],
        "answer_count": 1,
        "transport": "udp",
        "peer": "127.0.0.1:5353",
    }
    assert got[1]["answers"] == ["zoo.test AAAA 2001:db8::1"]
    assert got[2]["answers"] == ['zoo.test TXT "hi there"']
    assert (got[3]["rcode"], got[3]["answers"]) == ("NXDOMAIN", [])
    assert got[4]["transport"] == "tcp" and "peer" not in got[4]
    assert got[4]["answers"] == ["www.zoo.test CNAME zoo.test", "zoo.test A 192.0.2.1"]
    events = obs.events()
    assert {e.kind for e in events} == {"dns.query"}
    assert [e.session for e in events] == [None, None, None, None, "s-9"]


def test_dns_event_answers_are_bounded():
    """At most MAX_EVENT_ANSWERS answers are listed; answer_count stays whole."""
    obs = observatory()
    lines = [f"many A 192.0.2.{i}" for i in range(1, dns.MAX_EVENT_ANSWERS + 6)]
    factory = dns.server_factory(dns.Zone("zoo.test").add_lines(lines), observatory=obs)
    ask(factory, "many.zoo.test", tdns.A, ("127.0.0.1", 1), FakeDNSProtocol())
    (got,) = fields(obs)
    assert len(got["answers"]) == dns.MAX_EVENT_ANSWERS
    assert got["answer_count"] == dns.MAX_EVENT_ANSWERS + 5
