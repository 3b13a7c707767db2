"""Lancelot, time, echo and blocks in the observatory: one bounded event per exchange or connection."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from zoo.blocks import BlocksFactory, frame
from zoo.echo import TRANSFORMS, EchoFactory
from zoo.events import Observatory
from zoo.lancelot import LancelotFactory
from zoo.timeserver import DaytimeFactory, IsoTimeFactory, Rfc868Factory, TimeDatagram


def observatory(enabled: bool = True) -> Observatory:
    return Observatory(Clock(), enabled=enabled)


def connect(factory, session: str = "s-1"):
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    transport.session = session
    proto.makeConnection(transport)
    return proto, transport


def test_lancelot_reports_each_question_and_answer():
    """Each answered question is one lancelot.answered, however the reads split it."""
    obs = observatory()
    proto, out = connect(LancelotFactory(observatory=obs))
    proto.dataReceived(b"What is your name?What is your q")
    proto.dataReceived(b"uest?  Bogus ?")
    proto.dataReceived(b"What is your favorite color?")  # one whole question: the fast path
    assert out.value().endswith(b"Blue.")
    events = obs.events()
    assert [e.fields["question"] for e in events] == [
        "What is your name?",
        "What is your quest?",
        "Bogus?",
        "What is your favorite color?",
    ]
    assert events[0].fields["answer"].startswith("My name is")
    assert all(e.kind == "lancelot.answered" and e.session == "s-1" for e in events)


def test_time_reports_each_answer_with_its_format():
    """ISO, RFC 868 and daytime answers (TCP and UDP) each give time.told with the format."""
    obs = observatory()
    clock = Clock()
    clock.advance(1_000_000_000)
    proto, _ = connect(IsoTimeFactory(clock, observatory=obs))
    proto.dataReceived(b"time\n")
    connect(Rfc868Factory(clock, observatory=obs))
    connect(DaytimeFactory(clock, observatory=obs))
    udp = TimeDatagram("daytime", clock, observatory=obs)
    udp.makeConnection(StringTransport())
    udp.transport.write = lambda data, addr=None: None  # type: ignore[method-assign]
    udp.datagramReceived(b"", ("127.0.0.1", 1))
    told = [(e.fields["format"], e.fields["protocol"]) for e in obs.events()]
    assert told == [("iso", "tcp"), ("rfc868", "tcp"), ("daytime", "tcp"), ("daytime", "udp")]
    assert obs.events()[0].fields["reply"].startswith("2001-09-09T01:46:40")


def test_echo_reports_bytes_when_the_connection_closes():
    """An echo connection gives one echo.closed with the bytes it echoed."""
    obs = observatory()
    proto, _ = connect(EchoFactory(TRANSFORMS["upper"], observatory=obs))
    proto.dataReceived(b"abc")
    proto.dataReceived(b"de")
    assert obs.events() == []
    proto.connectionLost(Failure(ConnectionError()))
    [event] = obs.events()
    assert (event.kind, event.fields) == ("echo.closed", {"bytes": 5, "transform": "upper"})


def test_blocks_reports_each_block_and_the_close():
    """A sink connection reports blocks.block (size, preview) per block and blocks.closed."""
    obs = observatory()
    proto, _ = connect(BlocksFactory("sink", observatory=obs))
    proto.dataReceived(frame(b"hello") + frame(b"x" * 100) + b"\0\0\0\0")
    proto.connectionLost(Failure(ConnectionError()))
    kinds = [(e.kind, e.fields.get("size")) for e in obs.events()]
    assert kinds == [("blocks.block", 5), ("blocks.block", 100), ("blocks.closed", None)]
    assert obs.events()[0].fields["text"] == "'hello'"
    assert obs.events()[-1].fields == {"mode": "sink", "blocks": 2, "series": 1}


def test_blocks_echo_reports_the_close_only():
    """In echo mode (blocks skimmed, not parsed) only blocks.closed is reported, with counts."""
    obs = observatory()
    proto, out = connect(BlocksFactory("echo", observatory=obs))
    proto.dataReceived(frame(b"a") + frame(b"b"))
    proto.connectionLost(Failure(ConnectionError()))
    [event] = obs.events()
    assert event.fields == {"mode": "echo", "blocks": 2, "series": 0}


def test_small_services_emit_nothing_when_off():
    """With the observatory off none of the four reports anything."""
    obs = observatory(enabled=False)
    lancelot, _ = connect(LancelotFactory(observatory=obs))
    lancelot.dataReceived(b"What is your name?")
    iso, _ = connect(IsoTimeFactory(Clock(), observatory=obs))
    iso.dataReceived(b"time\n")
    echo, _ = connect(EchoFactory(observatory=obs))
    echo.dataReceived(b"x")
    echo.connectionLost(Failure(ConnectionError()))
    blocks, _ = connect(BlocksFactory("sink", observatory=obs))
    blocks.dataReceived(frame(b"x"))
    blocks.connectionLost(Failure(ConnectionError()))
    obs.enable()
    assert obs.events() == []
