"""Sessions and transcripts of every zoo service, in memory, through zoo's connection layer."""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from mailfakes import mail_users
from twisted.conch.ssh import keys
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from zoo.events import Observatory, session_of
from zoo.policies import ZooPolicyFactory, ZooProtocolWrapper, fast_writer
from zoo.sessions import DatagramSessions
from zoo.testing import Network, dev_ca, issue
from zoo.tls import ServerTLS, client_tls, wrap_factory

ADDR = IPv4Address("TCP", "127.0.0.1", 40000)


class Peer(Protocol):
    """A client that keeps what it receives."""

    def __init__(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def take(self) -> bytes:
        out, self.received = self.received, b""
        return out


class _Only(Factory):
    def __init__(self, proto: Any) -> None:
        self.proto = proto

    def buildProtocol(self, addr: Any) -> Any:
        return self.proto


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    ca = dev_ca()
    leaf = issue(ca, ["localhost", "127.0.0.1"])
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    for key, data in (("ca", ca.cert_pem), ("cert", leaf.cert_pem), ("key", leaf.key_pem)):
        files[key].write_bytes(data)
    return files


class Rig:
    """A service factory behind ZooPolicyFactory, observed, with a client on an in-memory wire."""

    def __init__(
        self,
        factory: Any,
        name: str,
        *,
        transcripts: bool = True,
        enabled: bool = True,
        pki: dict[str, Path] | None = None,
        net: Network | None = None,
    ) -> None:
        self.net = net or Network()
        self.obs = Observatory(clock=self.net.clock, enabled=enabled, node="test")
        self.obs.transcripts = transcripts
        self.peer = Peer()
        client: Any = self.peer
        inner = factory
        if pki is not None:  # implicit TLS, as --tls builds it
            inner = wrap_factory(factory, ServerTLS(pki["cert"], pki["key"]), clock=self.net.clock)
            creator = client_tls("localhost", pki["ca"])
            client = wrap_factory(
                _Only(self.peer), creator, client=True, clock=self.net.clock
            ).buildProtocol(ADDR)
        self.policy = ZooPolicyFactory(inner, name=name, observatory=self.obs)
        self.server = self.policy.buildProtocol(ADDR)
        self.wire = self.net.connect(client, self.server)
        self.net.flush()

    def send(self, data: bytes) -> bytes:
        self.peer.transport.write(data)
        self.net.flush()
        return self.peer.take()

    def close(self) -> None:
        self.peer.transport.loseConnection()
        self.net.flush()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.obs.events()]

    def one(self, kind: str) -> dict[str, Any]:
        found = [e.fields for e in self.obs.events() if e.kind == kind]
        assert len(found) == 1, (kind, self.kinds())
        return found[0]

    def chunks(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            dict(e.fields, kind=e.kind)
            for e in self.obs.events()
            if e.kind.startswith("wire.") and (kind is None or e.kind == kind)
        ]

    def text(self, kind: str) -> str:
        return "".join(c["data"] for c in self.chunks(kind))


# -- the connection layer ---------------------------------------------------------------


def test_nothing_when_off() -> None:
    """Observation off: no events, the plain wrapper, the plain fast writer, no session id."""
    from zoo.lancelot import LancelotFactory

    rig = Rig(LancelotFactory(), "lancelot", enabled=False)
    assert rig.send(b"What is your name?") == b"My name is Sir Lancelot of Camelot."
    rig.close()
    assert rig.obs.events() == []
    assert type(rig.server) is ZooProtocolWrapper
    assert session_of(rig.server.wrappedProtocol) is None


def test_lancelot_session_and_transcript_in_order() -> None:
    """Lancelot: opened, the question in, the answer out, closed with byte counts, in order."""
    from zoo.lancelot import LancelotFactory

    rig = Rig(LancelotFactory(), "lancelot")
    rig.send(b"What is your name?")
    sid = session_of(rig.server.wrappedProtocol)
    rig.close()
    assert rig.kinds() == ["session.opened", "wire.in", "wire.out", "session.closed"]
    opened = rig.one("session.opened")
    assert opened["tls"] is None and opened["peer"] and opened["listener"]
    assert [(c["kind"], c["data"]) for c in rig.chunks()] == [
        ("wire.in", "What is your name?"),
        ("wire.out", "My name is Sir Lancelot of Camelot."),
    ]
    closed = rig.one("session.closed")
    assert (closed["bytes_in"], closed["bytes_out"]) == (18, 35)
    assert closed["reason"] == "client closed"
    sessions = {e.session for e in rig.obs.events()}
    assert sessions == {sid} and sid is not None and sid.startswith("lancelot-")


def test_echo_events_only_counts_without_transcript() -> None:
    """Events without transcripts: session events and byte counts, no wire events."""
    from zoo.echo import EchoFactory

    rig = Rig(EchoFactory(), "echo", transcripts=False)
    assert rig.send(b"hello") == b"hello"
    rig.close()
    assert rig.kinds() == ["session.opened", "session.closed"]
    assert rig.one("session.closed")["bytes_out"] == 5


def test_echo_big_write_is_bounded() -> None:
    """A 100 KB chunk keeps its first 4 KiB and its real size."""
    from zoo.echo import EchoFactory
    from zoo.transcript import LIMIT

    rig = Rig(EchoFactory(), "echo")
    rig.send(b"x" * 100_000)
    first = rig.chunks("wire.in")[0]
    assert len(first["data"]) == LIMIT and first["size"] == sum(
        c["size"] for c in rig.chunks("wire.in")
    ) - sum(c["size"] for c in rig.chunks("wire.in")[1:])
    assert sum(c["size"] for c in rig.chunks("wire.in")) == 100_000
    assert sum(c["size"] for c in rig.chunks("wire.out")) == 100_000


def test_blocks_frames_recorded_losslessly() -> None:
    """Blocks: binary frames survive as latin-1 text, both ways."""
    from zoo.blocks import BlocksFactory

    rig = Rig(BlocksFactory("echo"), "blocks")
    frame = struct.pack("!I", 3) + b"\xff\x00a"
    assert rig.send(frame) == frame
    assert rig.text("wire.in").encode("latin-1") == frame
    assert rig.text("wire.out").encode("latin-1") == frame


def test_time_iso_answer_recorded() -> None:
    """Time: the request and the ISO answer."""
    from zoo.timeserver import IsoTimeFactory

    rig = Rig(IsoTimeFactory(Clock()), "time")
    answer = rig.send(b"time\n")
    assert rig.text("wire.in") == "time\n"
    assert rig.text("wire.out").encode() == answer


def test_idle_timeout_is_the_reason() -> None:
    """A connection closed by the idle sweep says so in session.closed."""
    net = Network()
    obs = Observatory(clock=net.clock, enabled=True, node="t")
    policy = ZooPolicyFactory(
        Factory.forProtocol(Protocol), name="quiet", observatory=obs, clock=net.clock
    )
    policy.idle_timeout = 1.0
    policy.startFactory()
    wire = net.connect(Peer(), policy.buildProtocol(ADDR))
    for _ in range(10):
        net.clock.advance(0.5)
        wire.pump()
    policy.stopFactory()
    closed = [e.fields for e in obs.events() if e.kind == "session.closed"]
    assert closed and closed[0]["reason"] == "idle timeout"


# -- RPC, pub-sub, SSH --------------------------------------------------------------------


def test_xmlrpc_authorization_hidden_method_and_status_named() -> None:
    """XML-RPC over HTTP: POST and 200 recognised, the Authorization value hidden even split."""
    from zoo.xmlrpc.book import book_methods
    from zoo.xmlrpc.web import make_site

    site = make_site(book_methods(), access_log=False, reactor=MemoryReactorClock())
    rig = Rig(site, "xmlrpc")
    body = b"<?xml version='1.0'?><methodCall><methodName>double</methodName><params><param><value><int>2</int></value></param></params></methodCall>"
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nAuthoriz"
    rig.peer.transport.write(head)
    rig.net.flush()
    rig.send(b"ation: Basic c2VjcmV0Cg==\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    text = rig.text("wire.in")
    assert "c2VjcmV0Cg" not in text and "Authorization: ***" in text
    assert rig.chunks("wire.in")[0]["command"] == "POST"
    assert rig.chunks("wire.in")[1]["redacted"] is True
    assert rig.chunks("wire.out")[0]["reply"] == 200


def test_pubsub_auth_hidden_commands_named() -> None:
    """Pub-sub (RESP): AUTH's password hidden, commands named, PUBLISH shown."""
    from zoo.pubsub.protocol import PubSubFactory

    rig = Rig(PubSubFactory(clock=Clock()), "pubsub")
    rig.send(b"*2\r\n$4\r\nAUTH\r\n$7\r\nhunter2\r\n")
    rig.send(b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$2\r\nhi\r\n")
    chunks = rig.chunks("wire.in")
    assert "hunter2" not in rig.text("wire.in")
    assert [c.get("command") for c in chunks] == ["AUTH", "PUBLISH"]
    assert chunks[0]["redacted"] and not chunks[1]["redacted"]
    assert "PUBLISH" in chunks[1]["data"]


def test_pubsub_transcript_follows_the_parser_and_hides_a_split_secret() -> None:
    """Pub-sub's transcript takes whole reads on the server parser's word (no second
    parse), and a HELLO cut inside its AUTH still has its password hidden."""
    from zoo.pubsub.protocol import PubSubFactory

    rig = Rig(PubSubFactory(clock=Clock()), "pubsub")
    assert rig.server.watch.transcript._following  # the protocol attached it
    stepped: list[bytes] = []
    catch_up = rig.server.watch.transcript._catch_up
    rig.server.watch.transcript._catch_up = lambda data: (stepped.append(data), catch_up(data))
    pub = b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$2\r\nhi\r\n"
    rig.send(pub * 3)
    hello = b"*5\r\n$5\r\nHELLO\r\n$1\r\n2\r\n$4\r\nAUTH\r\n$3\r\nbob\r\n$7\r\nhunter2\r\n"
    cut = hello.index(b"UTH")
    rig.send(pub + hello[:cut])
    assert stepped == []  # the first read ended between commands: never stepped through
    rig.send(hello[cut:])
    assert stepped == [pub + hello[:cut]]
    chunks = rig.chunks("wire.in")
    assert [c.get("command") for c in chunks] == ["PUBLISH", "PUBLISH", None]
    assert "hunter2" not in rig.text("wire.in") and chunks[2]["redacted"]


def test_ssh_only_version_lines_and_sizes(tmp_path: Path) -> None:
    """SSH: the version lines in clear; every later chunk only as its size."""
    from zoo.ssh import Features, Users, make_factory

    users = Users()
    users.add_password("alice", "pw")
    host_key = {"ed25519": keys.Key(ed25519.Ed25519PrivateKey.generate())}
    factory = make_factory(host_key, users, tmp_path, Features(), clock=Clock())
    rig = Rig(factory, "ssh")
    rig.send(b"SSH-2.0-test\r\n" + b"\x00\x00\x00\x0c\x0a\x14" + b"secretish")
    out = rig.chunks("wire.out")
    assert out[0]["data"].startswith("SSH-2.0-zoo")
    first_in = rig.chunks("wire.in")[0]
    assert first_in["data"] == "SSH-2.0-test\r\n" and first_in["redacted"]
    assert "secretish" not in rig.text("wire.in")
    assert all(c["data"] == "" for c in out[1:])


def test_udp_datagram_is_a_session() -> None:
    """UDP: a datagram and its answer are one session: opened, in, out, closed."""
    from zoo.echo import EchoDatagram

    class Port:
        def __init__(self) -> None:
            self.sent: list[tuple[bytes, Any]] = []

        def write(self, data: bytes, addr: Any) -> None:
            self.sent.append((data, addr))

        def getHost(self) -> IPv4Address:
            return IPv4Address("UDP", "127.0.0.1", 7)

    obs = Observatory(clock=Clock(), enabled=True, node="t")
    obs.transcripts = True
    served = DatagramSessions(EchoDatagram(), "echo", obs)
    port = Port()
    served.makeConnection(port)  # type: ignore[arg-type]
    served.datagramReceived(b"ping", ("127.0.0.1", 5000))
    assert port.sent == [(b"ping", ("127.0.0.1", 5000))]
    assert [e.kind for e in obs.events()] == [
        "session.opened",
        "wire.in",
        "wire.out",
        "session.closed",
    ]
    obs.enabled = False
    served.datagramReceived(b"pong", ("127.0.0.1", 5000))
    assert len(obs.events()) == 4 and port.sent[-1][0] == b"pong"
    assert isinstance(served, DatagramProtocol)


# -- implicit TLS and the zoo-tls relay -----------------------------------------------------


def test_implicit_tls_opened_with_tls_and_plaintext_recorded(pki: dict[str, Path]) -> None:
    """Implicit TLS: session.opened waits for the handshake and carries it; the plaintext is recorded."""
    from zoo.lancelot import LancelotFactory

    rig = Rig(LancelotFactory(), "lancelot", pki=pki)
    assert rig.send(b"What is your name?") == b"My name is Sir Lancelot of Camelot."
    opened = rig.one("session.opened")
    assert opened["tls"]["version"].startswith("TLSv1.")
    assert opened["tls"]["cipher"] and opened["tls"]["client_cert"] is None
    assert rig.text("wire.in") == "What is your name?"
    assert rig.text("wire.out") == "My name is Sir Lancelot of Camelot."
    assert rig.kinds()[0] == "session.opened"
    rig.close()
    assert rig.one("session.closed")["reason"] == "client closed"


def test_implicit_tls_server_close_is_the_reason(pki: dict[str, Path]) -> None:
    """Implicit TLS: a close by the protocol is 'server closed', not the client's."""
    from zoo.timeserver import Rfc868Factory

    rig = Rig(Rfc868Factory(Clock()), "time", pki=pki)
    assert len(rig.peer.take()) == 4
    assert rig.one("session.closed")["reason"] == "server closed"
    assert rig.chunks("wire.out")[0]["size"] == 4


def test_tls_relay_records_the_plaintext_inside(pki: dict[str, Path]) -> None:
    """zoo-tls (server mode): the client's plaintext and the backend's answer, under TLS."""
    from twisted.internet.defer import succeed

    from zoo import tunnel

    net = Network()
    backend = Peer()

    def connect(proto: Protocol) -> Any:
        net.connect(proto, backend)
        return succeed(proto)

    factory = tunnel.TunnelFactory(connect, "backend:1", upstream_tls=False, after_handshake=True)
    rig = Rig(factory, "tls", pki=pki, net=net)
    rig.peer.transport.write(b"hello upstream")
    net.flush()
    assert backend.take() == b"hello upstream"
    backend.transport.write(b"hello client")
    net.flush()
    assert rig.peer.take() == b"hello client"
    assert rig.text("wire.in") == "hello upstream"
    assert rig.text("wire.out") == "hello client"
    assert rig.one("session.opened")["tls"] is not None


# -- logins: FTP, SMTP (STARTTLS), POP3, IMAP -------------------------------------------------


def test_ftp_pass_split_across_reads_is_hidden(tmp_path: Path) -> None:
    """FTP: a PASS line split in two reads is still hidden; replies named; the login reported."""
    from zoo.ftp.server import FTPConfig, FTPFactory, User

    home = tmp_path / "home"
    home.mkdir()
    config = FTPConfig(root=tmp_path, users={"alice": User("hunter2", home)})
    rig = Rig(FTPFactory(config, MemoryReactorClock()), "ftp")  # type: ignore[arg-type]
    rig.send(b"USER alice\r\n")
    rig.send(b"PASS hun")
    reply = rig.send(b"ter2\r\n")
    assert reply.startswith(b"230")
    assert "hun" not in rig.text("wire.in") and "ter2" not in rig.text("wire.in")
    assert [c.get("command") for c in rig.chunks("wire.in")] == ["USER", None, "PASS"]
    assert rig.chunks("wire.out")[0]["reply"] == 220
    assert rig.one("session.user") == {"user": "alice"}


def _smtp(tmp_path: Path, starttls: Any, plaintext: bool = False) -> Any:
    from zoo.mail.maildir import MaildirStore, SyncWriter
    from zoo.mail.smtp import Policy, SMTPFactory

    store = MaildirStore(tmp_path / "mail", host="t")
    return SMTPFactory(
        SyncWriter(store),
        mail_users({"alice@example.com": "secret"}),
        Policy(allow_plaintext_auth=plaintext),
        starttls=starttls,
        clock=Clock(),
    )


def test_smtp_starttls_then_auth_plaintext_recorded_secret_hidden(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    """SMTP: STARTTLS emits session.tls; the plaintext inside TLS is recorded; AUTH PLAIN hidden."""
    from zoo.mail.smtp import encode_plain

    rig = Rig(_smtp(tmp_path, ServerTLS(pki["cert"], pki["key"])), "smtp")
    rig.send(b"EHLO client\r\n")
    assert rig.send(b"STARTTLS\r\n").startswith(b"220")
    rig.wire.ta.startTLS(client_tls("localhost", pki["ca"]))
    rig.net.flush()
    assert b"250" in rig.send(b"EHLO client\r\n")
    secret = encode_plain("alice@example.com", "secret")
    assert rig.send(b"AUTH PLAIN " + secret + b"\r\n").startswith(b"235")
    tls = rig.one("session.tls")
    assert tls["version"].startswith("TLSv1.")
    commands = [c.get("command") for c in rig.chunks("wire.in")]
    assert commands == ["EHLO", "STARTTLS", "EHLO", "AUTH"]
    assert secret.decode() not in rig.text("wire.in")
    assert "AUTH PLAIN ***" in rig.text("wire.in")
    assert rig.one("session.user") == {"user": "alice@example.com"}
    kinds = rig.kinds()
    assert kinds.index("session.tls") < kinds.index("session.user")


def test_smtp_auth_login_lines_and_body(tmp_path: Path) -> None:
    """SMTP: AUTH LOGIN's base64 lines hidden; a body line looking like a command is not one."""
    rig = Rig(_smtp(tmp_path, None, plaintext=True), "smtp")
    rig.send(b"EHLO c\r\n")
    rig.send(b"AUTH LOGIN\r\n")
    rig.send(base64.b64encode(b"alice@example.com") + b"\r\n")
    rig.send(base64.b64encode(b"secret") + b"\r\n")
    rig.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n")
    rig.send(b"Subject: x\r\n\r\nQUIT now\r\n.\r\n")
    hidden = [c for c in rig.chunks("wire.in") if c["redacted"]]
    assert base64.b64encode(b"secret").decode() not in rig.text("wire.in")
    assert len(hidden) >= 1
    body = [c for c in rig.chunks("wire.in") if "QUIT now" in c["data"]]
    assert body and "command" not in body[0]


def test_pop3_pass_and_user(tmp_path: Path) -> None:
    """POP3: PASS hidden even split, the login reported."""
    from zoo.mail.maildir import MaildirStore
    from zoo.mail.pop3 import POP3Factory

    factory = POP3Factory(
        MaildirStore(tmp_path / "mail", host="t"),
        mail_users({"a@x": "pw"}),
        starttls=None,
        allow_plaintext_auth=True,
        clock=Clock(),
    )
    rig = Rig(factory, "pop3")
    rig.send(b"USER a@x\r\nPA")
    assert rig.send(b"SS pw\r\n").startswith(b"+OK")
    assert " pw" not in rig.text("wire.in")
    assert rig.chunks("wire.out")[-1]["reply"] == "+OK"
    assert rig.one("session.user") == {"user": "a@x"}


def test_imap_login_password_hidden(tmp_path: Path) -> None:
    """IMAP: the LOGIN password hidden, the user name kept, tagged replies named."""
    from zoo.mail.imap import IMAPFactory
    from zoo.mail.maildir import MaildirStore

    factory = IMAPFactory(
        MaildirStore(tmp_path / "mail", host="t"),
        mail_users({"a@x": "pw"}),
        starttls=None,
        allow_plaintext_auth=True,
        clock=Clock(),
    )
    rig = Rig(factory, "imap")
    assert b"a1 OK" in rig.send(b'a1 LOGIN a@x "pw"\r\n')
    assert rig.text("wire.in") == "a1 LOGIN a@x ***\r\n"
    assert rig.chunks("wire.in")[0]["command"] == "LOGIN"
    assert rig.chunks("wire.out")[-1]["reply"] == "OK"
    assert rig.one("session.user") == {"user": "a@x"}


def test_fast_writer_writes_recorded_once() -> None:
    """A protocol's fast writer is recorded once per write, whichever path it takes."""
    from zoo.echo import EchoFactory

    rig = Rig(EchoFactory(), "echo")
    write = fast_writer(rig.server)
    write(b"direct")
    rig.net.flush()
    assert [c["data"] for c in rig.chunks("wire.out")] == ["direct"]
    rig.server.connectionLost(Failure(Exception("gone")))
    assert rig.one("session.closed")["reason"].startswith("connection lost")


def test_ftp_data_connection_summarised(tmp_path: Path) -> None:
    """An FTP data connection is one wire.data summary on its control session, not a transcript."""
    from twisted.internet.error import ConnectionDone
    from twisted.internet.testing import StringTransport

    from zoo.ftp.data import DataChannel
    from zoo.ftp.server import FTPConfig, FTPFactory

    rig = Rig(FTPFactory(FTPConfig(root=tmp_path), MemoryReactorClock()), "ftp")  # type: ignore[arg-type]
    channel = DataChannel(rig.server.wrappedProtocol)
    channel.transport = StringTransport()
    channel.dataReceived(b"x" * 1000)
    channel.dataReceived(b"y" * 24)
    channel.connectionLost(Failure(ConnectionDone()))
    summary = rig.one("wire.data")
    assert (summary["bytes_in"], summary["bytes_out"], summary["size"]) == (1024, 0, 1024)
    assert summary["tls"] is False and summary["data"] == ""
    assert all("xxx" not in c["data"] for c in rig.chunks())


def test_ssl_endpoint_tls_under_the_wrapper(pki: dict[str, Path]) -> None:
    """TLS under the wrapper (ssl: endpoints): opened after the handshake, with it; plaintext recorded."""
    from zoo.lancelot import LancelotFactory

    net = Network()
    obs = Observatory(clock=net.clock, enabled=True, node="t")
    obs.transcripts = True
    policy = ZooPolicyFactory(LancelotFactory(), name="lancelot", observatory=obs)
    server = wrap_factory(policy, ServerTLS(pki["cert"], pki["key"]), clock=net.clock)
    peer = Peer()
    creator = client_tls("localhost", pki["ca"])
    client = wrap_factory(_Only(peer), creator, client=True, clock=net.clock)
    net.connect(client.buildProtocol(ADDR), server.buildProtocol(ADDR))
    net.flush()
    peer.transport.write(b"What is your name?")
    net.flush()
    assert peer.take() == b"My name is Sir Lancelot of Camelot."
    kinds = [e.kind for e in obs.events()]
    assert kinds == ["session.opened", "wire.in", "wire.out"]
    assert obs.events()[0].fields["tls"]["version"].startswith("TLSv1.")
    assert obs.events()[1].fields["data"] == "What is your name?"


def test_unobserved_listener_is_never_a_session() -> None:
    """A listener built with observed=False (the control plane's) reports nothing, observing or not."""
    from zoo.lancelot import LancelotFactory

    net = Network()
    obs = Observatory(clock=net.clock, enabled=True, node="t")
    policy = ZooPolicyFactory(LancelotFactory(), name="admin", observatory=obs, observed=False)
    server = policy.buildProtocol(ADDR)
    assert type(server) is ZooProtocolWrapper
    net.connect(Peer(), server)
    net.flush()
    assert obs.events() == []


def test_control_plane_listener_is_not_observed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--admin turns observation on for the services, never for the control plane's own listener."""
    from zoo.admin.service import AdminGroup
    from zoo.events import hub
    from zoo.tap import echo

    for name in ("enabled", "max_events", "max_bytes", "transcripts"):
        monkeypatch.setattr(hub, name, getattr(hub, name))
    options = echo.Options()
    options.parseOptions(["--port", "0", "--admin", "0", "--state-dir", str(tmp_path)])
    root = echo.makeService(options)
    admin = next(s for s in root if isinstance(s, AdminGroup))
    echo_group = next(s for s in root if not isinstance(s, AdminGroup))
    assert hub.enabled
    assert admin.factory.observed is False and echo_group.factory.observed is True


def test_telnet_password_hidden_user_reported(tmp_path: Path) -> None:
    """Telnet: a wrong and a right password (split across reads) are hidden; the login reported."""
    from twisted.cred.portal import Portal

    from zoo import telnet
    from zoo.cred import LoginThrottle, PasswordChecker

    class Shell:
        """A shell process that takes everything and says nothing."""

        def __getattr__(self, name: str) -> Any:
            return lambda *args: None

    class Factory(telnet.TelnetFactory):
        def start_shell(self, proto: Any, *args: Any) -> Any:
            return Shell()

    net, throttled = Network(), Clock()  # the throttle's delays on a clock of their own
    portal = Portal(telnet.HomeRealm(tmp_path), [PasswordChecker({"eve": "s3cr3t"})])
    factory = Factory(portal, reactor=net.clock, throttle=LoginThrottle(throttled))
    rig = Rig(factory, "telnet", net=net)
    rig.send(b"eve\r\nwrong-one\r\n")
    throttled.advance(1)
    net.flush()
    assert b"Login incorrect" in rig.peer.take()
    rig.send(b"eve\r\ns3c")
    rig.send(b"r3t\r\n")
    seen = rig.text("wire.in")
    assert "wrong-one" not in seen and "s3c" not in seen and "r3t" not in seen
    assert seen.count("eve") == 2
    assert "logged in as eve" in rig.text("wire.out")
    assert rig.one("session.user") == {"user": "eve"}
