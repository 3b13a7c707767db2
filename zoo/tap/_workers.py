"""C{--workers N}: N processes serving the same listeners, one per core.

The process twistd starts (worker 0) binds each TCP listener with C{SO_REUSEPORT},
then starts N-1 copies of its own command line. Each copy binds the same
addresses (the ports worker 0 got, so C{--port 0} works) with C{SO_REUSEPORT} too,
and the kernel spreads new connections over the N listening sockets. State that
lives on disk is shared as it is (Maildirs, FTP and SFTP roots, the state
directory's keys, passwords and token, which worker 0 creates before it starts
the others); pub-sub spans the workers through its Redis bridge (C{--redis}),
and the observatory through its Redis relay (C{--events-redis}).

What stays in worker 0 alone: UDP listeners, UNIX sockets and C{ssl:} endpoint
strings (C{--tls} on a TCP port is shared), the C{--ready-file} and the
start-up table, and the control plane's announced listener (a worker's own
control plane, when there is a relay, listens on a free loopback port).

Worker 0 restarts a worker that exits (at most once a second) and stops them all
when it stops; a worker stops when worker 0 dies (Linux C{PR_SET_PDEATHSIG}).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from typing import Any

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.logger import Logger

from zoo._twisted.connection import adopt

log = Logger()

#: Set in a worker's environment: C{"i/N"}.
WORKER_ENV = "ZOO_WORKER"
#: Set in a worker's environment: the ports worker 0 bound, by listener.
PORTS_ENV = "ZOO_WORKER_PORTS"

#: Whether this process's TCP listeners bind with SO_REUSEPORT (set by the root).
sharing = False
#: The ports worker 0 bound, by L{key} (read from L{PORTS_ENV} in a worker).
shared_ports: dict[str, int] = {}


def worker() -> tuple[int, int] | None:
    """C{(i, N)} in a worker started by worker 0; C{None} in worker 0 itself."""
    value = os.environ.get(WORKER_ENV)
    if not value:
        return None
    i, _, n = value.partition("/")
    return int(i), int(n)


def key(group: str, desc: str) -> str:
    """How a listener is named between worker 0 and the others."""
    return f"{group} {desc}"


def _split(desc: str) -> list[str]:
    """An endpoint string's fields, with C{\\:} kept as a colon inside a field."""
    fields, current, i = [], "", 0
    while i < len(desc):
        c = desc[i]
        if c == "\\" and i + 1 < len(desc):
            current += desc[i + 1]
            i += 2
            continue
        if c == ":":
            fields.append(current)
            current = ""
        else:
            current += c
        i += 1
    fields.append(current)
    return fields


def tcp_address(desc: str) -> tuple[socket.AddressFamily, str, int, int] | None:
    """C{(family, interface, port, backlog)} of a C{tcp:} or C{tcp6:} endpoint string.

    @return: C{None} for any other endpoint (those are not shared between workers).
    """
    fields = _split(desc)
    if fields[0] not in ("tcp", "tcp6") or len(fields) < 2:
        return None
    family = socket.AF_INET6 if fields[0] == "tcp6" else socket.AF_INET
    interface = "::" if family == socket.AF_INET6 else ""
    port, backlog = None, 50
    for field in fields[1:]:
        name, eq, value = field.partition("=")
        if not eq:
            port = int(name) if port is None else port
        elif name == "port":
            port = int(value)
        elif name == "interface":
            interface = value
        elif name == "backlog":
            backlog = int(value)
    if port is None:
        return None
    return family, interface, port, backlog


def listen_shared(reactor: Any, desc: str, factory: Any, port: int | None = None) -> Any:
    """Listen on the TCP endpoint C{desc} with C{SO_REUSEPORT}, serving C{factory}.

    @param port: the port to bind instead of C{desc}'s (the one worker 0 got).
    @return: the listening port (C{IListeningPort}), or C{None} if C{desc} is not
        a C{tcp:}/C{tcp6:} endpoint.
    @raise OSError: the address cannot be bound.
    """
    address = tcp_address(desc)
    if address is None:
        return None
    family, interface, own_port, backlog = address
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((interface, own_port if port is None else port))
        sock.listen(backlog)
        sock.setblocking(False)
        return adopt(reactor.adoptStreamPort(sock.fileno(), family, factory))
    finally:
        sock.close()  # the reactor holds its own duplicate of the descriptor


def die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent (worker 0) dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: worker 0 still stops its workers when it stops cleanly


def worker_argv(argv: list[str], subcommands: tuple[str, ...] = ("zoo",)) -> list[str]:
    """The command line a worker runs: worker 0's, in the foreground, without a pid file.

    @param argv: worker 0's C{sys.argv}.
    """
    args = argv[1:]
    at = next(
        (i for i, a in enumerate(args) if a in subcommands or a.startswith("zoo-")), len(args)
    )
    return [
        sys.executable,
        "-c",
        "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
        *args[:at],
        "--nodaemon",
        "--pidfile=",
        *args[at:],
    ]


class _Worker(protocol.ProcessProtocol):
    def __init__(self, pool: Workers, index: int) -> None:
        self.pool = pool
        self.index = index
        self.ended: defer.Deferred[None] = defer.Deferred()

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(None)
        self.pool.ended(self, reason)


class Workers(service.Service):
    """In worker 0: starts the other N-1 workers, restarts them, stops them.

    @param count: N, the number of processes serving (worker 0 included).
    @param ports: the ports worker 0 bound, by L{key}, for the others to bind too.
    """

    def __init__(self, count: int, ports: dict[str, int], reactor: Any = None) -> None:
        self.count = count
        self.ports = ports
        self._reactor = reactor
        self.running_workers: dict[int, Any] = {}
        self._protocols: dict[int, _Worker] = {}
        self.restarts = 0

    @property
    def reactor(self) -> Any:
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = reactor
        return self._reactor

    def startService(self) -> None:
        super().startService()
        for i in range(1, self.count):
            self._spawn(i)
        log.info("zoo: {n} workers share the TCP listeners (SO_REUSEPORT)", n=self.count)

    def _spawn(self, index: int) -> None:
        env = dict(os.environ)
        env[WORKER_ENV] = f"{index}/{self.count}"
        env[PORTS_ENV] = json.dumps(self.ports)
        argv = worker_argv(sys.argv)
        proto = _Worker(self, index)
        self._protocols[index] = proto
        self.running_workers[index] = self.reactor.spawnProcess(
            proto, argv[0], argv, env=env, childFDs={0: "w", 1: 1, 2: 2}
        )

    def ended(self, proto: _Worker, reason: Any) -> None:
        if self._protocols.get(proto.index) is not proto:
            return
        del self._protocols[proto.index]
        self.running_workers.pop(proto.index, None)
        if not self.running:
            return
        self.restarts += 1
        log.warn(
            "zoo: worker {i} ended ({why}); starting it again in 1 s",
            i=proto.index,
            why=reason.getErrorMessage(),
        )
        self.reactor.callLater(1.0, self._respawn, proto.index)

    def _respawn(self, index: int) -> None:
        if self.running and index not in self._protocols:
            self._spawn(index)

    def stopService(self) -> Any:
        super().stopService()
        waits = []
        for index, process in list(self.running_workers.items()):
            proto = self._protocols.get(index)
            try:
                process.signalProcess("TERM")
            except Exception:  # already gone
                continue
            if proto is not None:
                waits.append(proto.ended)
        if not waits:
            return None
        done = defer.DeferredList(waits)
        timer = self.reactor.callLater(10.0, self._kill)
        done.addBoth(lambda _: timer.cancel() if timer.active() else None)
        return done

    def _kill(self) -> None:
        for process in self.running_workers.values():
            try:
                process.signalProcess("KILL")
            except Exception:
                pass


def read_shared_ports() -> dict[str, int]:
    """The ports worker 0 passed down (empty in worker 0)."""
    try:
        value = json.loads(os.environ.get(PORTS_ENV, "{}"))
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in value.items()} if isinstance(value, dict) else {}


__all__ = [
    "PORTS_ENV",
    "WORKER_ENV",
    "Workers",
    "die_with_parent",
    "key",
    "listen_shared",
    "read_shared_ports",
    "tcp_address",
    "worker",
    "worker_argv",
]
