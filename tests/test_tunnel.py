"""zoo-tls in memory: relaying, half-close, backpressure, failures, certificate checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import capturedLogs
from twisted.python import usage
from zope.interface import implementer

from zoo import tunnel
from zoo.certs import Issued, issue, make_ca
from zoo.tap import tls as tap
from zoo.testing import Network
from zoo.tls import ServerTLS, client_tls, wrap_factory


@implementer(IHalfCloseableProtocol)
class Peer(Protocol):
    """A client or backend that records what it reads and when its input ended."""

    def __init__(self, reply_on_eof: bytes | None = None) -> None:
        self.received = b""
        self.eof = False
        self.lost: Any = None
        self.connected_once = False
        self.reply_on_eof = reply_on_eof

    def connectionMade(self) -> None:
        self.connected_once = True

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def readConnectionLost(self) -> None:
        self.eof = True
        if self.reply_on_eof is not None:
            self.transport.write(self.reply_on_eof)
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Any = None) -> None:
        self.lost = reason


class _One(Factory):
    def __init__(self, proto: Protocol) -> None:
        self.proto = proto

    def buildProtocol(self, addr: Any) -> Protocol:
        return self.proto


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a localhost server certificate, and a second, unrelated CA, as files."""
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca("zoo test CA")
    other = make_ca("someone else's CA")
    server = issue(ca, ["localhost", "127.0.0.1"])
    files = {"ca": ca.cert_pem, "other": other.cert_pem, "cert": server.cert_pem}
    files["key"] = server.key_pem
    out = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        out[name] = d / name
    out["ca_issued"] = d / "ca"  # for issuing client certs below
    (d / "ca.key").write_bytes(ca.key_pem)
    return out


def _ca(pki: dict[str, Path]) -> Issued:
    return Issued(pki["ca"].read_bytes(), (pki["ca"].parent / "ca.key").read_bytes())


class Rig:
    """zoo-tls in either mode, with a client and a backend, all in memory."""

    def __init__(
        self,
        pki: dict[str, Path],
        mode: str = "server",
        *,
        client_ca: Path | None = None,
        trust: str = "ca",
        servername: str = "localhost",
        backend: Peer | None = None,
        refuse: bool = False,
    ) -> None:
        self.net = Network()
        self.backend = backend or Peer()
        self.client = Peer()
        self.dialled = 0
        server_tls = ServerTLS(pki["cert"], pki["key"], client_ca=client_ca)

        def connect(proto: Protocol) -> Deferred[Any]:
            self.dialled += 1
            if refuse:
                return fail(ConnectionRefusedError("127.0.0.1:9"))
            if mode == "client":  # upstream is a TLS server
                up = wrap_factory(
                    _One(proto), self.upstream_creator, client=True, clock=self.net.clock
                )
                back = wrap_factory(_One(self.backend), server_tls, clock=self.net.clock)
                self.net.connect(up.buildProtocol(None), back.buildProtocol(None))
            else:
                self.net.connect(proto, self.backend)
            return succeed(proto)

        if mode == "client":
            self.upstream_creator = client_tls(servername, pki[trust])
        factory = tunnel.TunnelFactory(
            connect, "backend:1", upstream_tls=mode == "client", after_handshake=mode == "server"
        )
        if mode == "server":
            listener = wrap_factory(factory, server_tls, clock=self.net.clock)
            self.client_creator = client_tls("localhost", pki[trust])
            front = wrap_factory(
                _One(self.client), self.client_creator, client=True, clock=self.net.clock
            )
            self.wire = self.net.connect(front.buildProtocol(None), listener.buildProtocol(None))
        else:
            self.wire = self.net.connect(self.client, factory.buildProtocol(None))
        self.net.flush()


def test_server_mode_relays_both_ways(pki: dict[str, Path]) -> None:
    """Server mode: bytes from the TLS client reach the plain backend, and the reply comes back."""
    rig = Rig(pki)
    rig.client.transport.write(b"What is your name?")
    rig.net.flush()
    assert rig.backend.received == b"What is your name?"
    rig.backend.transport.write(b"My name is Sir Lancelot of Camelot.")
    rig.net.flush()
    assert rig.client.received == b"My name is Sir Lancelot of Camelot."


def test_server_mode_client_half_close(pki: dict[str, Path]) -> None:
    """A TLS client's close_notify becomes the backend's EOF; the backend's reply still arrives."""
    rig = Rig(pki, backend=Peer(reply_on_eof=b"bye"))
    rig.client.transport.write(b"request")
    rig.client.transport.loseWriteConnection()
    rig.net.flush()
    assert rig.backend.received == b"request" and rig.backend.eof
    assert rig.client.received == b"bye"
    assert rig.client.lost is not None and rig.client.lost.check(ConnectionDone)
    assert all(w.closed for w in rig.net.wires), "both connections are closed at the end"


def test_server_mode_backend_half_close(pki: dict[str, Path]) -> None:
    """A backend's FIN becomes a close_notify to the client, which can go on sending."""
    rig = Rig(pki)
    rig.backend.transport.write(b"banner")
    rig.backend.transport.loseWriteConnection()
    rig.net.flush()
    assert rig.client.received == b"banner" and rig.client.eof
    rig.client.transport.write(b"late data")
    rig.net.flush()
    assert rig.backend.received == b"late data"
    assert not rig.wire.closed


def test_backend_dialled_only_after_handshake(pki: dict[str, Path]) -> None:
    """A client that fails the TLS handshake never causes a backend connection."""
    rig = Rig(pki, trust="other")
    assert rig.dialled == 0
    assert rig.wire.closed


def test_mutual_tls_needs_client_certificate(pki: dict[str, Path]) -> None:
    """With a client CA, a client without a certificate is refused before the backend is dialled."""
    rig = Rig(pki, client_ca=pki["ca"])
    assert rig.dialled == 0
    assert rig.wire.closed


def test_upstream_refused_closes_client_and_logs(pki: dict[str, Path]) -> None:
    """An unreachable backend: the client's connection is closed and the reason logged."""
    with capturedLogs() as logs:
        rig = Rig(pki, refuse=True)
    assert rig.dialled == 1
    assert rig.wire.closed
    text = [e["log_format"].format(**e) for e in logs if "why" in e]
    assert any("backend:1" in t and "refused" in t.lower() for t in text), text


def test_client_mode_verifies_and_relays(pki: dict[str, Path]) -> None:
    """Client mode: plain bytes go out over verified TLS, and half-close works both ways."""
    rig = Rig(pki, "client", backend=Peer(reply_on_eof=b"done"))
    rig.client.transport.write(b"hello")
    rig.client.transport.loseWriteConnection()
    rig.net.flush()
    assert rig.backend.received == b"hello" and rig.backend.eof
    assert rig.client.received == b"done"
    assert rig.client.lost is not None and rig.client.lost.check(ConnectionDone)


@pytest.mark.parametrize(
    "servername, trust", [("wrong.example", "ca"), ("localhost", "other")], ids=["name", "chain"]
)
def test_client_mode_refuses_bad_certificate(
    pki: dict[str, Path], servername: str, trust: str
) -> None:
    """Client mode: a hostname mismatch or an untrusted chain closes the client; no byte leaks."""
    with capturedLogs() as logs:
        rig = Rig(pki, "client", servername=servername, trust=trust)
        rig.client.transport.write(b"secret")
        rig.net.flush()
    assert rig.backend.received == b""
    assert rig.wire.closed
    assert any(e.get("log_level").name == "warn" for e in logs)


def test_early_bytes_held_until_upstream_ready(pki: dict[str, Path]) -> None:
    """Bytes a plain client sends before the upstream TLS is up are delivered, in order."""
    net = Network()
    backend = Peer()
    pending: list[Protocol] = []

    def connect(proto: Protocol) -> Deferred[Any]:
        pending.append(proto)
        return Deferred()  # not connected yet

    factory = tunnel.TunnelFactory(connect, "later:1")
    client = Peer()
    net.connect(client, factory.buildProtocol(None))
    client.transport.write(b"one ")
    client.transport.write(b"two")
    net.flush()
    net.connect(pending[0], backend)
    net.flush()
    assert backend.received == b"one two"


def test_backpressure_bounds_buffers(pki: dict[str, Path]) -> None:
    """A backend that stops reading pauses the client side; the relay's buffers stay bounded."""
    rig = Rig(pki)
    up = next(w for w in rig.net.wires if w.b is rig.backend)
    up.ta.reading = False  # the backend stops reading
    chunk = b"x" * 16384
    for _ in range(400):  # 6.5 MB
        rig.client.transport.write(chunk)
        rig.net.flush()
    assert up.ta.max_buffered < 512 * 1024, up.ta.max_buffered
    sent_before = len(rig.backend.received)
    up.ta.reading = True
    rig.net.flush()
    assert len(rig.backend.received) == 400 * 16384 > sent_before


def test_options_defaults_and_errors(tmp_path: Path) -> None:
    """Defaults are server mode on 4433 to 127.0.0.1:1060; bad values are usage errors."""
    o = tap.Options()
    o.parseOptions([])
    assert o["mode"] == "server" and o["connect"] == ("127.0.0.1", 1060)
    assert o.endpoints == ["tcp:4433:interface=127.0.0.1"] and o["tls"]
    c = tap.Options()
    c.parseOptions(["--mode", "client", "--connect", "[::1]:443"])
    assert c["connect"] == ("::1", 443) and not c["tls"] and c.servername() == "::1"
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    for args, fragment in [
        (["--mode", "sideways"], "--mode"),
        (["--connect-timeout", "0"], "--connect-timeout"),
        (["--connect", "nohost"], "--connect"),
        (["--connect", "::1:80"], "[ADDRESS]:PORT"),
        (["--mode", "client", "--ca", str(garbage)], str(garbage)),
        (["--mode", "client", "--ca", "/no/such/ca.pem"], "/no/such/ca.pem"),
        (["--mode", "client", "--tls-client-ca", str(garbage)], str(garbage)),
        (["--ca", str(garbage)], "--mode client"),
    ]:
        with pytest.raises(usage.UsageError, match=".*") as e:
            tap.Options().parseOptions(args)
        assert fragment in str(e.value), (args, str(e.value))


def test_pending_bytes_bounded_until_upstream_ready() -> None:
    """Before the upstream is ready, a client sending fast is paused after PENDING_LIMIT bytes."""
    net = Network()
    factory = tunnel.TunnelFactory(lambda proto: Deferred(), "slow:1")
    client = Peer()
    wire = net.connect(client, factory.buildProtocol(None))
    for _ in range(10):
        client.transport.write(b"y" * 16384)
        net.flush()
    assert wire.tb.producerState == "paused"
    assert wire.b._pending_size <= tunnel.PENDING_LIMIT + 2 * 16384
