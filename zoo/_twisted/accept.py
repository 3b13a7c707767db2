"""One passive FTP data connection accepted without C{listenTCP}'s cost.

Twisted's C{listenTCP} logs two lines per listener ("starting on", "Port closed"):
two log lines per file transferred, and C{adoptStreamConnection} dups the socket.
L{PassiveListener} accepts with the socket itself and builds a C{tcp.Server} from it
(C{tcp._getrealname}, C{tcp.Server}'s constructor). Listed in L{zoo._twisted}.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import tcp
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReadDescriptor
from zope.interface import implementer

from zoo._twisted.connection import SERVER


@implementer(IReadDescriptor)
class PassiveListener:
    """A listening socket for one passive data connection, watched by the reactor directly.

    Twisted's C{listenTCP} logs two lines per listener ("starting on", "Port closed"):
    two log lines per file transferred. This accepts with the socket itself and hands
    the connection to the reactor as a C{tcp.Server} (see L{_adopt}). Used on real reactors
    only; in-memory reactors get C{listenTCP} (see L{listen_passive}).
    """

    def __init__(self, reactor: Any, factory: Any, interface: str, port: int) -> None:
        self.reactor = reactor
        self.factory = factory
        self.family = socket.AF_INET6 if ":" in interface else socket.AF_INET
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            if port:
                # A port of the configured range may still have the last transfer's
                # connection in TIME_WAIT. Not for port 0: there SO_REUSEADDR makes
                # the kernel's search for a free port walk the TIME_WAIT sockets of
                # earlier transfers, which took a third of the server's CPU with 300
                # concurrent 1 MiB downloads.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((interface, port))
            sock.listen(1)
        except OSError as e:
            sock.close()
            raise CannotListenError(interface, port, e) from None
        sock.setblocking(False)
        self.socket: socket.socket | None = sock
        reactor.addReader(self)

    def fileno(self) -> int:
        return self.socket.fileno() if self.socket is not None else -1

    def logPrefix(self) -> str:
        return "ftp-data"

    def getHost(self) -> Any:
        assert self.socket is not None
        host, port = self.socket.getsockname()[:2]
        return (IPv6Address if self.family == socket.AF_INET6 else IPv4Address)("TCP", host, port)

    def doRead(self) -> None:
        if self.socket is None:
            return
        try:
            conn, addr = self.socket.accept()
        except OSError:
            return  # EAGAIN, or the client gave up
        conn.setblocking(False)
        try:
            self._adopt(conn, addr)
        except BaseException:
            conn.close()
            raise

    def _adopt(self, conn: socket.socket, addr: Any) -> None:
        """Make C{conn} a Twisted TCP connection of C{self.factory}'s protocol.

        What C{reactor.adoptStreamConnection} does, without its C{dup} of the
        descriptor, second socket object and C{getpeername}: a fifth of zoo-ftp's
        Python time per small file. PassiveFactory checks the peer.
        """
        client = tcp._getrealname(addr)
        address_type = IPv6Address if self.family == socket.AF_INET6 else IPv4Address
        proto = self.factory.buildProtocol(address_type("TCP", *client))
        if proto is None:
            conn.close()
            return
        # No Port: the socket was accepted here (adoptStreamConnection passes None too).
        transport = SERVER(
            conn,
            proto,
            client,
            None,  # type: ignore[arg-type]
            client[1],
            self.reactor,
        )
        transport.repstr = f"<{type(proto).__name__} #{client[1]} on ftp-data>"
        proto.makeConnection(transport)

    def connectionLost(self, reason: Any) -> None:
        self.stopListening()

    def stopListening(self) -> None:
        sock, self.socket = self.socket, None
        if sock is not None:
            self.reactor.removeReader(self)
            sock.close()
