"""Service plumbing: listeners, the ready file, connection policies and the state directory."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from zoo._twisted.fastwrite import tcp_connection
from zoo.policies import ZooPolicyFactory, fast_writer
from zoo.state import ensure_private_dir, write_private
from zoo.tap import lancelot as lancelot_tap
from zoo.tap._service import Bound, ListenerGroup, ZooRoot, format_table, write_ready_file

ADDR = IPv4Address("TCP", "127.0.0.1", 5555)


class ListenerTests(SynchronousTestCase):
    def test_makeService_listens_on_every_endpoint(self) -> None:
        """makeService listens once per endpoint, on loopback, with one shared factory."""
        o = lancelot_tap.Options()
        o.parseOptions(["--port", "1060", "--listen", "tcp:1061"])
        reactor = MemoryReactorClock()
        from zoo.tap._service import build

        root = build(o, lancelot_tap.lancelot.LancelotFactory(), reactor=reactor)
        self.assertIsInstance(root, ZooRoot)
        root.privilegedStartService()
        root.startService()
        ports = [(p, iface) for p, _, _, iface in reactor.tcpServers]
        self.assertEqual(ports, [(1060, "127.0.0.1"), (1061, "127.0.0.1")])
        self.assertIs(reactor.tcpServers[0][1], reactor.tcpServers[1][1])
        self.assertEqual([b.port for b in root.bound()], [1060, 1061])

    def test_ready_file(self) -> None:
        """The ready file lists every bound address as JSON with the process id."""
        path = Path(self.mktemp())
        write_ready_file(path, [Bound("lancelot", "TCP", "127.0.0.1", 4242, "tcp:0")])
        data = json.loads(path.read_text())
        self.assertEqual(data["pid"], os.getpid())
        self.assertEqual(data["listeners"][0]["port"], 4242)
        self.assertEqual(data["listeners"][0]["service"], "lancelot")

    def test_root_writes_ready_file_after_listening(self) -> None:
        """ZooRoot writes the ready file once its groups are listening."""
        path = Path(self.mktemp())
        reactor = MemoryReactorClock()
        root = ZooRoot(ready_file=str(path))
        group = ListenerGroup("demo", Factory.forProtocol(Protocol), reactor=reactor)
        group.listen("tcp:7:interface=127.0.0.1")
        group.setServiceParent(root)
        self.assertFalse(path.exists())
        root.privilegedStartService()
        root.startService()
        self.assertEqual(json.loads(path.read_text())["listeners"][0]["port"], 7)

    def test_table(self) -> None:
        """The runner's table names each service, transport and address."""
        text = format_table(
            [
                Bound("lancelot", "TCP", "127.0.0.1", 1060, "x"),
                Bound("echo", "TCP", "::1", 7, "y", tls=True),
            ]
        )
        self.assertIn("lancelot  TCP", text)
        self.assertIn("127.0.0.1:1060", text)
        self.assertIn("TCP+TLS", text)
        self.assertIn("[::1]:7", text)


class _Recorder(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.lost = False

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: object = None) -> None:
        self.lost = True


@implementer(IHalfCloseableProtocol)
class _HalfCloser(_Recorder):
    read_lost = False

    def readConnectionLost(self) -> None:
        self.read_lost = True

    def writeConnectionLost(self) -> None:
        pass


class PolicyTests(SynchronousTestCase):
    def _connect(self, factory: ZooPolicyFactory) -> tuple[object, StringTransport]:
        p = factory.buildProtocol(ADDR)
        t = StringTransport()
        if p is not None:
            p.makeConnection(t)
        return p, t

    def test_connection_cap(self) -> None:
        """Past max_connections new connections are refused; closing one frees a slot."""
        f = ZooPolicyFactory(Factory.forProtocol(_Recorder), max_connections=2)
        a, _ = self._connect(f)
        self._connect(f)
        refused, _ = self._connect(f)
        self.assertIsNone(refused)
        self.assertEqual(f.refused, 1)
        a.connectionLost(None)
        again, _ = self._connect(f)
        self.assertIsNotNone(again)

    def test_idle_timeout(self) -> None:
        """A silent connection is closed after about idle_timeout; a chatty one is kept."""
        clock = Clock()
        f = ZooPolicyFactory(Factory.forProtocol(_Recorder), idle_timeout=10, clock=clock)
        f.doStart()
        quiet, qt = self._connect(f)
        busy, bt = self._connect(f)
        for _ in range(20):
            clock.advance(1)
            busy.dataReceived(b"x")
        self.assertTrue(qt.disconnecting)
        self.assertFalse(bt.disconnecting)
        f.doStop()

    def test_idle_timeout_not_early(self) -> None:
        """A connection silent for less than the timeout is left open."""
        clock = Clock()
        f = ZooPolicyFactory(Factory.forProtocol(_Recorder), idle_timeout=10, clock=clock)
        f.doStart()
        _, t = self._connect(f)
        clock.advance(7)
        self.assertFalse(t.disconnecting)
        f.doStop()

    def test_half_close_forwarded(self) -> None:
        """The wrapper provides and forwards IHalfCloseableProtocol when the protocol does."""
        f = ZooPolicyFactory(Factory.forProtocol(_HalfCloser))
        p, _ = self._connect(f)
        self.assertTrue(IHalfCloseableProtocol.providedBy(p))
        p.readConnectionLost()
        self.assertTrue(p.wrappedProtocol.read_lost)
        plain, _ = self._connect(ZooPolicyFactory(Factory.forProtocol(_Recorder)))
        self.assertFalse(IHalfCloseableProtocol.providedBy(plain))

    def test_fast_writer_never_bypasses_tls(self) -> None:
        """Under a TLS wrapper the fast writer finds no raw socket, so bytes stay encrypted."""
        from twisted.internet import protocol, tcp
        from twisted.protocols.tls import TLSMemoryBIOProtocol

        from zoo.policies import ZooProtocolWrapper

        conn = object.__new__(tcp.Server)  # stands for the accepted TCP socket
        policy_factory = ZooPolicyFactory(protocol.Factory())
        tls = object.__new__(TLSMemoryBIOProtocol)  # the TLS layer, not yet connected
        policy = ZooProtocolWrapper(policy_factory, tls)
        policy.transport = conn
        tls.transport = policy
        self.assertIs(tcp_connection(policy), conn)
        self.assertIsNone(tcp_connection(tls))

    def test_fast_writer_checks_tls_on_every_write(self) -> None:
        """A writer made before STARTTLS sends through the TLS layer once the connection switches."""
        import socket

        from twisted.internet import protocol, tcp
        from twisted.protocols.policies import ProtocolWrapper

        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        theirs.setblocking(False)
        conn = object.__new__(tcp.Server)  # the accepted socket, buffers empty
        conn.socket = ours
        conn.connected, conn.disconnecting, conn.TLS = True, False, False
        conn._tempDataBuffer, conn.dataBuffer, conn.offset = [], b"", 0
        conn._writeDisconnected = False
        through_twisted: list[bytes] = []

        class Recording(ProtocolWrapper):
            def write(self, data: bytes) -> None:
                through_twisted.append(data)

        wrapper = Recording(ZooPolicyFactory(protocol.Factory()), protocol.Protocol())
        wrapper.transport = conn
        write = fast_writer(wrapper)
        write(b"plain")
        self.assertEqual(theirs.recv(100), b"plain")  # straight to the socket
        conn.TLS = True  # what tcp.Connection.startTLS does
        write(b"secret")
        self.assertEqual(through_twisted, [b"secret"])
        self.assertRaises(BlockingIOError, theirs.recv, 100)  # nothing raw on the wire

    def test_fast_writer_falls_back(self) -> None:
        """On a non-TCP transport the fast writer is the transport's own write."""
        t = StringTransport()
        write = fast_writer(t)
        write(b"hello")
        self.assertEqual(t.value(), b"hello")


class StateDirTests(SynchronousTestCase):
    def test_private_dir(self) -> None:
        """The state directory is created 0700, and an existing looser one is tightened."""
        path = Path(self.mktemp()) / "a" / "b"
        ensure_private_dir(path)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o700)
        path.chmod(0o755)
        ensure_private_dir(path)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o700)

    def test_private_file(self) -> None:
        """Secrets are written 0600, atomically, leaving no temporary file behind."""
        d = ensure_private_dir(Path(self.mktemp()))
        write_private(d / "key", b"secret")
        self.assertEqual(stat.S_IMODE((d / "key").stat().st_mode), 0o600)
        self.assertEqual(os.listdir(d), ["key"])


class BacklogTests(SynchronousTestCase):
    def test_default_backlog(self) -> None:
        """TCP listeners get a 1024 backlog unless the endpoint sets one (Twisted's is 50)."""
        from zoo.tap._service import with_backlog

        self.assertEqual(
            with_backlog("tcp:1:interface=127.0.0.1"), "tcp:1:interface=127.0.0.1:backlog=1024"
        )
        self.assertEqual(with_backlog("tcp:1:backlog=5"), "tcp:1:backlog=5")
        self.assertEqual(with_backlog("unix:/tmp/x"), "unix:/tmp/x")

    def test_listener_uses_backlog(self) -> None:
        """The backlog reaches listenTCP."""
        reactor = MemoryReactorClock()
        group = ListenerGroup("demo", Factory.forProtocol(Protocol), reactor=reactor)
        group.listen("tcp:7:interface=127.0.0.1")
        group.privilegedStartService()
        self.assertEqual(reactor.tcpServers[0][2], 1024)
