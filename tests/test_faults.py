"""The fault model, its spec grammar, the byte and datagram layers and the hook, in memory."""

from __future__ import annotations

import json
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols.policies import ProtocolWrapper
from twisted.python import usage

from zoo.admin.faults import FaultRoutes
from zoo.admin.sessions import transcript_text
from zoo.events import Event, Observatory
from zoo.faults import FaultError, Registry, parse
from zoo.faults.datagram import REORDER_WAIT, DatagramFaults
from zoo.faults.hook import at, reply_code
from zoo.faults.wire import FaultLayer
from zoo.inspect import ApiError, Call
from zoo.policies import ZooPolicyFactory
from zoo.sessions import DatagramSessions
from zoo.tap import smtp as smtp_tap
from zoo.tls import wrap_factory

ADDR = IPv4Address("TCP", "127.0.0.1", 40000)


def fires(fault: Any, n: int) -> list[bool]:
    return [fault.decide() for _ in range(n)]


# -- the model -------------------------------------------------------------------------------


def test_parse_protocol_fault() -> None:
    """A protocol spec gives the point, the reply, the when and the scope."""
    f = parse("smtp:rcpt='451 4.7.1 greylisted' first=2 mailbox=bob@", "smtp")
    assert f.point == "smtp.RCPT"
    assert f.value == "451 4.7.1 greylisted"
    assert f.first == 2
    assert f.scope == {"mailbox": "bob@", "service": "smtp"}


def test_parse_byte_and_datagram_faults() -> None:
    """Byte and datagram kinds take typed values and their defaults."""
    f = parse("tcp:latency=0.25 jitter=0.05 dir=in")
    assert (f.point, f.value, f.jitter, f.direction) == ("tcp", 0.25, 0.05, "in")
    assert parse("tcp:reset").value == 0
    assert parse("udp:duplicate").value == 1
    assert parse("udp:loss p=0.5 seed=7").p == 0.5


@pytest.mark.parametrize(
    "spec, words",
    [
        ("", "empty"),
        ("smtp", "tcp:KIND"),
        ("tcp:warp=3", "unknown"),
        ("tcp:latency", "needs a value"),
        ("tcp:refuse=3", "takes no value"),
        ("tcp:latency=-1", "not a number"),
        ("smtp:RCPT=451 p=2", "between 0 and 1"),
        ("smtp:RCPT=451 first=0", "whole number"),
        ("smtp:RCPT=451 colour=red", "unknown"),
        ("smtp:RCPT=451 first", "KEY=VALUE"),
        ("gopher:GET=x", "unknown"),
        ("smtp:RCPT='451", "quotation"),
    ],
)
def test_parse_errors(spec: str, words: str) -> None:
    """A bad spec is a FaultError that says what is wrong."""
    with pytest.raises(FaultError, match=words):
        parse(spec)


def test_first_n() -> None:
    """first=N fires on the first N occurrences only."""
    f = parse("smtp:RCPT=451 first=2")
    assert fires(f, 5) == [True, True, False, False, False]
    assert (f.seen, f.fired) == (5, 2)


def test_every_kth() -> None:
    """every=K fires on occurrences K, 2K, ..."""
    assert fires(parse("ftp:STOR=452 every=3"), 7) == [False, False, True] * 2 + [False]


def test_same_seed_same_sequence() -> None:
    """A probability with a seed fires on the same occurrences every time."""
    a = fires(parse("udp:loss p=0.5 seed=42"), 200)
    b = fires(parse("udp:loss p=0.5 seed=42"), 200)
    c = fires(parse("udp:loss p=0.5 seed=43"), 200)
    assert a == b
    assert a != c
    assert 60 < sum(a) < 140


def test_seed_chosen_and_shown() -> None:
    """With no seed one is chosen, listed, and replays the same sequence."""
    f = parse("udp:loss p=0.3")
    assert isinstance(f.seed, int)
    again = parse(f"udp:loss p=0.3 seed={f.seed}")
    assert fires(f, 100) == fires(again, 100)
    assert f.to_json()["seed"] == f.seed


def test_scopes() -> None:
    """Each scope narrows where a fault applies; an unknown fact is out of scope."""
    f = parse("smtp:RCPT=451 listener=2525 client=10.0.0.1 user=ann mailbox=Bob session=s-1")
    ok = dict(
        service="smtp",
        listener="127.0.0.1:2525",
        client="10.0.0.1",
        user="ann",
        mailbox="<bob@example.com>",
        session="s-1",
    )
    assert f.in_scope(**ok)
    for name, other in [
        ("listener", "127.0.0.1:2526"),
        ("client", "10.0.0.2"),
        ("user", "bob"),
        ("mailbox", "<carol@example.com>"),
        ("session", "s-2"),
        ("user", None),
    ]:
        assert not f.in_scope(**{**ok, name: other}), name
    assert parse("tcp:hang", "ftp").in_scope(service="ftp")
    assert not parse("tcp:hang", "ftp").in_scope(service="smtp")


def test_registry_add_remove() -> None:
    """The registry indexes faults by point and forgets an empty point."""
    reg = Registry(Observatory(Clock()))
    f = reg.add("smtp:RCPT=451")
    g = reg.add("tcp:latency=1", "ftp")
    assert (f.id, g.id) == ("f1", "f2")
    assert set(reg.points) == {"smtp.RCPT", "tcp"}
    assert reg.byte_faults("ftp") == [g] and reg.byte_faults("smtp") == []
    assert reg.remove("f1") is f
    assert set(reg.points) == {"tcp"}
    assert reg.remove("f1") is None
    with pytest.raises(FaultError, match="exists"):
        reg.add(parse("tcp:hang id=f2"))


def test_add_all_is_all_or_none() -> None:
    """A bad spec among several adds none of them."""
    reg = Registry(Observatory(Clock()))
    with pytest.raises(FaultError):
        reg.add_all(["smtp:RCPT=451", "smtp:RCPT=451 first=x"])
    assert len(reg) == 0


def test_decide_counts_until_one_fires() -> None:
    """At one point the first fault in scope that fires wins; later ones are not counted."""
    reg = Registry(Observatory(Clock()))
    a = reg.add("smtp:RCPT=451 every=2")
    b = reg.add("smtp:RCPT=550")
    got = [reg.decide("smtp.RCPT", service="smtp") for _ in range(4)]
    assert got == [b, a, b, a]
    assert (a.seen, b.seen) == (4, 2)


# -- the byte layer ---------------------------------------------------------------------------


class Keeper(Protocol):
    """A server protocol that keeps what it receives and can say things."""

    def __init__(self, greeting: bytes = b"") -> None:
        self.received = b""
        self.greeting = greeting
        self.lost = False

    def connectionMade(self) -> None:
        if self.greeting:
            self.transport.write(self.greeting)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Any = None) -> None:
        self.lost = True


class Made(Factory):
    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.built: list[Keeper] = []

    def buildProtocol(self, addr: Any) -> Keeper:
        p = Keeper(self.greeting)
        self.built.append(p)
        return p


def connect(
    reg: Registry, greeting: bytes = b"", clock: Clock | None = None, obs: Any = None
) -> tuple[Any, Keeper, StringTransport]:
    factory = ZooPolicyFactory(
        Made(greeting),
        clock=clock or Clock(),
        name="svc",
        observatory=obs or Observatory(Clock()),
        faults=reg,
    )
    p = factory.buildProtocol(ADDR)
    t = StringTransport(peerAddress=ADDR)
    p.makeConnection(t)
    return p, factory.wrappedFactory.built[-1], t


def chain(p: Any) -> list[type]:
    out = []
    while isinstance(p, ProtocolWrapper):
        out.append(type(p))
        p = p.wrappedProtocol
    return [*out, type(p)]


def test_no_faults_no_layer() -> None:
    """With no byte fault in force a connection has no fault layer, observed or not."""
    reg = Registry(Observatory(Clock()))
    p, app, _ = connect(reg)
    assert p.wrappedProtocol is app
    obs = Observatory(Clock(), enabled=True)
    p, app, _ = connect(reg, obs=obs)
    assert p.wrappedProtocol is app
    reg.add("smtp:RCPT=451")  # protocol faults need no byte layer either
    p, app, _ = connect(reg)
    assert p.wrappedProtocol is app
    reg.add("tcp:latency=1", "other")  # nor byte faults of another service
    p, app, _ = connect(reg)
    assert p.wrappedProtocol is app


def test_layer_right_above_the_protocol() -> None:
    """A byte fault puts one layer right above the protocol, observed or not."""
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:latency=1")
    p, app, _ = connect(reg)
    assert isinstance(p.wrappedProtocol, FaultLayer) and p.wrappedProtocol.wrappedProtocol is app
    p, app, _ = connect(reg, obs=Observatory(Clock(), enabled=True))
    assert isinstance(p.wrappedProtocol, FaultLayer) and p.wrappedProtocol.wrappedProtocol is app


def test_layer_under_tls_is_on_the_plaintext(tmp_path: Any) -> None:
    """Under implicit TLS the fault layer sits between the TLS layer and the protocol."""
    from zoo.testing import dev_ca, issue
    from zoo.tls import ServerTLS

    leaf = issue(dev_ca(), ["localhost"])
    (tmp_path / "c.pem").write_bytes(leaf.cert_pem)
    (tmp_path / "k.pem").write_bytes(leaf.key_pem)
    tls = ServerTLS(tmp_path / "c.pem", tmp_path / "k.pem")
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:latency=1")
    for obs in (Observatory(Clock()), Observatory(Clock(), enabled=True)):
        factory = ZooPolicyFactory(
            wrap_factory(Made(), tls), clock=Clock(), name="svc", observatory=obs, faults=reg
        )
        types = chain(factory.buildProtocol(ADDR))
        assert types[-1] is Keeper and issubclass(types[-2], FaultLayer), types
        assert any("TLS" in t.__name__ for t in types[:-2]), types


def test_latency_delays_output_in_order() -> None:
    """latency holds each write for that long, keeping the order."""
    clock = Clock()
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:latency=0.5")
    p, app, t = connect(reg, b"hello ", clock)
    app.transport.write(b"world")  # type: ignore[union-attr]
    assert t.value() == b""
    clock.advance(0.49)
    assert t.value() == b""
    clock.advance(0.01)
    assert t.value() == b"hello world"


def test_latency_in_delays_input() -> None:
    """dir=in delays what the protocol receives."""
    clock = Clock()
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:latency=1 dir=in")
    p, app, t = connect(reg, clock=clock)
    p.dataReceived(b"abc")
    assert app.received == b""
    clock.advance(1)
    assert app.received == b"abc"


def test_slice_and_bandwidth_pace_output() -> None:
    """slice cuts writes into pieces spaced by delay; bandwidth paces bytes per second."""
    clock = Clock()
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:slice=2 delay=0.1")
    p, app, t = connect(reg, b"abcdef", clock)
    assert t.value() == b"ab"
    clock.advance(0.1)
    assert t.value() == b"abcd"
    clock.advance(0.1)
    assert t.value() == b"abcdef"
    reg.clear()
    reg.add("tcp:bandwidth=100")  # 5 bytes every 50 ms
    p, app, t = connect(reg, b"x" * 20, clock)
    assert len(t.value()) == 5
    clock.advance(0.1)
    assert len(t.value()) == 15
    clock.advance(0.1)
    assert len(t.value()) == 20


def test_close_after_n_bytes() -> None:
    """close=N lets N bytes out, then closes."""
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:close=4")
    p, app, t = connect(reg, b"220 hello\r\n")
    assert t.value() == b"220 "
    assert t.disconnecting
    app.transport.write(b"more")  # type: ignore[union-attr]
    assert t.value() == b"220 "


def test_close_after_n_bytes_in() -> None:
    """close=N dir=in passes the client's first N bytes, then closes."""
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:close=3 dir=in")
    p, app, t = connect(reg)
    p.dataReceived(b"ab")
    p.dataReceived(b"cdef")
    assert app.received == b"abc"
    assert t.disconnecting


class Aborting(StringTransport):
    aborted = False

    def abortConnection(self) -> None:
        self.aborted = True


def test_reset_and_refuse() -> None:
    """reset aborts (after N bytes if asked); refuse closes before the greeting."""
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:reset=2")
    factory = ZooPolicyFactory(Made(b"hello"), clock=Clock(), name="svc", faults=reg)
    p = factory.buildProtocol(ADDR)
    t = Aborting()
    p.makeConnection(t)
    assert t.aborted and t.value() == b"he"
    reg.clear()
    reg.add("tcp:refuse")
    p, app, t = connect(reg, b"hello")
    assert t.value() == b"" and t.disconnecting


def test_hang_stops_both_ways() -> None:
    """hang=N passes N bytes, then nothing either way, and the connection stays open."""
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:hang=3")
    p, app, t = connect(reg, b"hello")
    assert t.value() == b"hel"
    p.dataReceived(b"ping")
    assert app.received == b""
    assert not t.disconnecting


def test_slow_close() -> None:
    """slow-close holds the server's close for that long."""
    clock = Clock()
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:slow-close=2")
    p, app, t = connect(reg, clock=clock)
    app.transport.loseConnection()  # type: ignore[union-attr]
    assert not t.disconnecting
    clock.advance(2)
    assert t.disconnecting


def test_first_connection_only_and_removal() -> None:
    """first=1 applies to the first connection only; a deleted fault stops at once."""
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:close=1 first=1")
    _, _, t1 = connect(reg, b"hello")
    _, _, t2 = connect(reg, b"hello")
    assert (t1.value(), t2.value()) == (b"h", b"hello")
    f = reg.add("tcp:hang")
    p, app, t = connect(reg, b"hello")
    assert t.value() == b""
    reg.remove(f.id)
    p, app, t = connect(reg, b"hello")
    assert t.value() == b"hello"


def test_fired_is_an_event_of_the_session() -> None:
    """A byte fault that takes effect is a fault.fired event in the connection's session."""
    obs = Observatory(Clock(), enabled=True)
    reg = Registry(obs)
    reg.add("tcp:close=2")
    p, app, t = connect(reg, b"hello", obs=obs)
    fired = [e for e in obs.events() if e.kind == "fault.fired"]
    assert len(fired) == 1
    assert fired[0].session == p.session and fired[0].service == "svc"
    assert fired[0].fields["spec"] == "tcp:close=2" and fired[0].fields["bytes_out"] == 2


# -- datagrams --------------------------------------------------------------------------------


class Echo:
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def __call__(self, data: bytes, addr: Any) -> None:
        self.got.append(data)


def test_datagram_loss_with_seed_is_repeatable() -> None:
    """loss with a seed drops the same datagrams every run."""
    runs = []
    for _ in range(2):
        reg = Registry(Observatory(Clock()))
        reg.add("udp:loss p=0.5 seed=1", "echo")
        faults, out = DatagramFaults(reg, "echo", Clock()), Echo()
        for i in range(40):
            faults.receive(b"%d" % i, ("127.0.0.1", 9), None, out)
        runs.append(out.got)
    assert runs[0] == runs[1] and 5 < len(runs[0]) < 35


def test_datagram_delay_duplicate_reorder() -> None:
    """delay holds a datagram, duplicate repeats it, reorder swaps it with the next."""
    clock = Clock()
    reg = Registry(Observatory(Clock()))
    f = reg.add("udp:delay=1")
    faults, out = DatagramFaults(reg, "echo", clock), Echo()
    faults.receive(b"a", ("127.0.0.1", 9), None, out)
    assert out.got == []
    clock.advance(1)
    assert out.got == [b"a"]
    reg.remove(f.id)
    f = reg.add("udp:duplicate=2")
    faults.receive(b"b", ("127.0.0.1", 9), None, out)
    assert out.got == [b"a", b"b", b"b", b"b"]
    reg.remove(f.id)
    reg.add("udp:reorder first=1")
    out.got = []
    faults.receive(b"1", ("127.0.0.1", 9), None, out)
    faults.receive(b"2", ("127.0.0.1", 9), None, out)
    assert out.got == [b"2", b"1"]
    faults.receive(b"3", ("127.0.0.1", 9), None, out)  # no successor needed after a while
    reg.clear()
    reg.add("udp:reorder")
    faults.receive(b"4", ("127.0.0.1", 9), None, out)
    clock.advance(REORDER_WAIT)
    assert out.got == [b"2", b"1", b"3", b"4"]


def test_datagram_sessions_apply_udp_faults() -> None:
    """The UDP service runner drops a datagram the faults lose, and only while they exist."""
    got = []

    class P:
        transport = None

        def makeConnection(self, t: Any) -> None:
            pass

        def datagramReceived(self, data: bytes, addr: Any) -> None:
            got.append(data)

    reg = Registry(Observatory(Clock()))
    runner = DatagramSessions(P(), "echo", Observatory(Clock()), reg)
    runner.transport = StringTransport()
    f = reg.add("udp:loss first=1")
    runner.datagramReceived(b"a", ("127.0.0.1", 9))
    runner.datagramReceived(b"b", ("127.0.0.1", 9))
    reg.remove(f.id)
    runner.datagramReceived(b"c", ("127.0.0.1", 9))
    assert got == [b"b", b"c"]


# -- the protocol hook ------------------------------------------------------------------------


def test_hook_nothing_in_force() -> None:
    """With no fault at the point the hook returns None and counts nothing."""
    reg = Registry(Observatory(Clock()))
    assert at(None, "smtp", "RCPT", faults=reg) is None
    f = reg.add("smtp:DATA=552")
    assert at(None, "smtp", "rcpt", service="smtp", faults=reg) is None
    assert f.seen == 0


def test_hook_hit_and_perform() -> None:
    """A hit replies in the protocol's words, drops, or hangs."""
    reg = Registry(Observatory(Clock()))
    reg.add("smtp:RCPT=451 first=1", "smtp")
    hit = at(None, "smtp", "rcpt", service="smtp", faults=reg)
    assert hit is not None and hit.action == "reply"
    said: list[Any] = []
    t = StringTransport()
    hit.perform(t, said.append)
    assert said == ["451"] and not t.disconnecting
    assert at(None, "smtp", "RCPT", service="smtp", faults=reg) is None
    reg.add("ftp:RETR=drop", "ftp")
    hit = at(None, "ftp", "RETR", service="ftp", faults=reg)
    assert hit is not None
    hit.perform(t, said.append)
    assert t.disconnecting and said == ["451"]


def test_reply_code() -> None:
    """A reply value is a code, a code and text, or text with the default code."""
    assert reply_code(None, 451, "x") == (451, "x")
    assert reply_code("452", 451, "x") == (452, "x")
    assert reply_code("552 too big", 451, "x") == (552, "too big")
    assert reply_code("busy", 451, "x") == (451, "busy")


# -- setting them ------------------------------------------------------------------------------


def test_fault_option() -> None:
    """--fault is repeatable, parsed at once and scoped to the plugin's service."""
    o = smtp_tap.Options()
    o.parseOptions(["--fault", "smtp:RCPT=451 first=1", "--fault", "tcp:latency=0.1"])
    assert [f.point for f in o.faults] == ["smtp.RCPT", "tcp"]
    assert all(f.scope["service"] == "smtp" for f in o.faults)
    with pytest.raises(usage.UsageError, match="--fault: .*unknown"):
        smtp_tap.Options().parseOptions(["--fault", "tcp:warp=9"])
    with pytest.raises(usage.UsageError, match="zoo-ftp"):
        smtp_tap.Options().parseOptions(["--fault", "ftp:STOR=452"])


def test_fault_in_toml_config() -> None:
    """The runner's TOML takes fault = [...] as repeated --fault."""
    from zoo.tap.all import parse_config

    got = parse_config('[smtp]\nfault = ["smtp:RCPT=451 first=1", "tcp:hang"]\n')
    assert got == [("smtp", ["--fault", "smtp:RCPT=451 first=1", "--fault", "tcp:hang"])]


def test_plugin_puts_its_faults_in_force_while_running(tmp_path: Any) -> None:
    """A plugin's --fault faults are in the registry from start to stop, with fresh counters."""
    from zoo.faults import registry
    from zoo.tap._service import FaultsInForce

    o = smtp_tap.Options()
    o.parseOptions(["--fault", "smtp:RCPT=451 first=1"])
    svc = FaultsInForce(o.faults)
    svc.startService()
    try:
        (f,) = [f for f in registry if f.spec == "smtp:RCPT=451 first=1"]
        assert f.scope == {"service": "smtp"} and f.seen == 0
    finally:
        svc.stopService()
    assert not [f for f in registry if f.spec == "smtp:RCPT=451 first=1"]


def test_api_create_list_delete() -> None:
    """/api/faults creates from JSON or text, lists counters, deletes one or all."""
    reg = Registry(Observatory(Clock()))
    api = FaultRoutes(reg)
    made = api.create(Call(body=json.dumps({"spec": "smtp:RCPT=451", "service": "smtp"}).encode()))
    fid = made["fault"]["id"]
    assert made["fault"]["scope"] == {"service": "smtp"}
    api.create(Call(body=b"tcp:latency=0.2"))
    reg.decide("smtp.RCPT", service="smtp")
    listed = api.list(Call())["faults"]
    assert [(f["id"], f["fired"]) for f in listed] == [(fid, 1), ("f2", 0)]
    assert api.one(Call(params={"id": fid}))["fault"]["seen"] == 1
    assert api.delete(Call(params={"id": fid}))["deleted"]["id"] == fid
    assert "smtp.RCPT" not in reg.points
    with pytest.raises(ApiError) as e:
        api.delete(Call(params={"id": fid}))
    assert e.value.status == 404
    with pytest.raises(ApiError) as e:
        api.create(Call(body=b"tcp:warp=1"))
    assert e.value.status == 400
    assert len(api.clear(Call())["deleted"]) == 1 and len(reg) == 0


def test_control_plane_serves_fault_routes() -> None:
    """The control plane lists /api/faults among its routes (and so in its OpenAPI)."""
    from zoo.admin.api import ControlPlane
    from zoo.admin.openapi import document

    plane = ControlPlane(Observatory(Clock()), faults=Registry(Observatory(Clock())))
    paths = document(plane.routes())["paths"]
    assert set(paths["/api/faults"]) == {"get", "post", "delete"}
    assert set(paths["/api/faults/{id}"]) == {"get", "delete"}


def test_transcript_shows_where_a_fault_fired() -> None:
    """A session's text transcript has a line where each fault fired."""
    events = [
        Event(1, 0.0, "smtp", "wire.in", "s", {"data": "RCPT TO:<a@b>\r\n"}),
        Event(2, 0.0, "smtp", "fault.fired", "s", {"fault": "f1", "spec": "smtp:RCPT=451"}),
        Event(3, 0.0, "smtp", "wire.out", "s", {"data": "451 no\r\n"}),
    ]
    text = transcript_text({"id": "s", "service": "smtp"}, events)
    assert "C: RCPT TO:<a@b>\n-- fault f1 fired: smtp:RCPT=451 --\nS: 451 no" in text


def test_deleted_fault_stops_on_open_connections() -> None:
    """Deleting a byte fault stops it on connections already open, keeping the order."""
    clock = Clock()
    reg = Registry(Observatory(Clock()))
    slow = reg.add("tcp:latency=5")
    limit = reg.add("tcp:close=100")
    p, app, t = connect(reg, b"a", clock)
    reg.remove(slow.id)
    reg.remove(limit.id)
    app.transport.write(b"b" * 200)  # type: ignore[union-attr]
    assert t.value() == b""  # behind the byte still queued
    clock.advance(5)
    assert t.value() == b"a" + b"b" * 200 and not t.disconnecting
    app.transport.write(b"c")  # type: ignore[union-attr]
    assert t.value().endswith(b"c")


class Gate:
    """A stand-in read gate: records its holds."""

    def __init__(self) -> None:
        self.holds: list[tuple[str, bool]] = []

    def hold(self, reason: str, holds: bool) -> None:
        self.holds.append((reason, holds))

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def test_paced_output_stops_the_protocol_while_queued() -> None:
    """A paced connection holds the protocol's read gate past 64 KiB queued, until drained."""
    from zoo.faults.wire import FAULT_QUEUE

    clock = Clock()
    reg = Registry(Observatory(Clock()))
    reg.add("tcp:bandwidth=100000")
    p, app, t = connect(reg, clock=clock)
    gate = Gate()
    app.transport.registerProducer(gate, True)  # type: ignore[union-attr]
    app.transport.write(b"x" * 60_000)  # type: ignore[union-attr]
    assert gate.holds == []
    app.transport.write(b"x" * 60_000)  # type: ignore[union-attr]
    assert gate.holds == [(FAULT_QUEUE, True)]
    clock.pump([0.05] * 40)
    assert gate.holds == [(FAULT_QUEUE, True), (FAULT_QUEUE, False)]
    assert len(t.value()) == 120_000
