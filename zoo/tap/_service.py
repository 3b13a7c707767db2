"""Turning parsed options and a protocol factory into running listeners.

- L{ListenerGroup}: one protocol's listeners (stream endpoints and UDP ports) sharing
  one factory wrapped in the shared policies (connection cap, idle timeout, TLS).
- L{ZooRoot}: the top of a process's services. Once everything is listening it logs
  what is bound where and writes the C{--ready-file}.
- L{build}: the one call a tap module's C{makeService} makes; it returns the root.
- L{listener_group}: the group alone, for a tap module that adds UDP listeners or
  several groups to one root.

The public face of this module, for C{.tac} files and other programs, is
L{zoo.service}.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from twisted.application import service
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from zoo._twisted.connection import adopt
from zoo.events import hub
from zoo.policies import ZooPolicyFactory
from zoo.state import ensure_private_dir, write_public
from zoo.tap import _workers
from zoo.tap._options import ServerOptions
from zoo.tap._tls import tls_context

log = Logger()


class ListenError(Exception):
    """A listener could not bind; the message says which and why."""


@dataclass
class Bound:
    """One listening address, as written to the ready file."""

    service: str
    type: str
    host: str
    port: int | None
    endpoint: str
    tls: bool = False
    path: str | None = None

    def where(self) -> str:
        if self.path is not None:
            return self.path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _bound_from(name: str, endpoint: str, addr: Any, tls: bool) -> Bound:
    kind = type(addr).__name__
    if hasattr(addr, "port"):
        return Bound(name, getattr(addr, "type", kind), addr.host, addr.port, endpoint, tls)
    path = getattr(addr, "name", None)
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    return Bound(name, "UNIX", "", None, endpoint, tls, path=str(path))


#: Listen backlog for TCP endpoints that set none. Twisted's default of 50 drops
#: connections from a burst of clients (300 simultaneous curl transfers lost 40).
DEFAULT_BACKLOG = 1024


def with_backlog(desc: str, backlog: int = DEFAULT_BACKLOG) -> str:
    """Add C{backlog=N} to a C{tcp:}, C{tcp6:} or C{ssl:} endpoint string that has none."""
    if desc.startswith(("tcp:", "tcp6:", "ssl:")) and "backlog=" not in desc:
        return f"{desc}:backlog={backlog}"
    return desc


class _Listener(service.Service):
    """One bound port: bound in privilegedStartService (before twistd drops privileges)."""

    port: Any = None
    bound: Bound | None = None
    #: Left to worker 0 (under C{--workers}, a listener that cannot be shared).
    skipped = False

    def startService(self) -> None:
        if self.port is None and not self.skipped:
            self.privilegedStartService()
        service.Service.startService(self)

    def stopService(self) -> Any:
        service.Service.stopService(self)
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()
        return None


class _StreamListener(_Listener):
    """Listen on one endpoint string with one factory; bind in privilegedStartService."""

    def __init__(self, group: ListenerGroup, desc: str) -> None:
        self.group = group
        self.desc = desc
        self.port: Any = None
        self.bound: Bound | None = None

    def privilegedStartService(self) -> None:
        from twisted.internet.endpoints import serverFromString

        service.Service.privilegedStartService(self)
        tls = self.desc.startswith(("ssl:", "tls:"))
        factory = self.group.factory
        if self.group.tls is not None and self.desc.startswith(("tcp:", "tcp6:")):
            factory = self.group.tls_factory()
            tls = True
        if _workers.sharing and self._listen_shared(factory, tls):
            return
        endpoint = serverFromString(self.group.reactor, with_backlog(self.desc))
        d = endpoint.listen(factory)
        result: list[Any] = []
        d.addBoth(result.append)
        if not result:  # pragma: no cover - every built-in stream endpoint is synchronous
            raise ListenError(f"{self.group.name}: {self.desc} did not listen synchronously")
        outcome = result[0]
        if hasattr(outcome, "getErrorMessage"):
            raise ListenError(
                f"{self.group.name}: cannot listen on {self.desc}: {outcome.getErrorMessage()}"
            )
        self.port = adopt(outcome)  # its connections: zoo's tcp.Server (C fields)
        self.bound = _bound_from(str(self.group.name), self.desc, outcome.getHost(), tls)
        log.info(
            "{name} listening on {type} {where}{tls}",
            name=self.group.name,
            type=self.bound.type,
            where=self.bound.where(),
            tls=" (TLS)" if tls else "",
        )

    def _listen_shared(self, factory: Any, tls: bool) -> bool:
        """Under C{--workers}: bind with SO_REUSEPORT; C{False} to listen as usual.

        In a worker other than worker 0, a listener that cannot be shared is left
        to worker 0 (and C{True} returned: nothing more to do).
        """
        if _workers.tcp_address(self.desc) is None:
            if _workers.worker() is None:
                return False
            self.skipped = True
            return True
        port = _workers.shared_ports.get(_workers.key(str(self.group.name), self.desc))
        try:
            self.port = _workers.listen_shared(
                self.group.reactor, with_backlog(self.desc), factory, port
            )
        except OSError as e:
            raise ListenError(
                f"{self.group.name}: cannot listen on {self.desc}: {e.strerror or e}"
            ) from None
        self.bound = _bound_from(str(self.group.name), self.desc, self.port.getHost(), tls)
        return True


class _UDPListener(_Listener):
    """Listen for datagrams on one UDP port (endpoint strings cannot express UDP)."""

    def __init__(
        self,
        group: ListenerGroup,
        port: int,
        interface: str,
        protocol: Any,
        max_packet_size: int = 8192,
    ) -> None:
        self.group = group
        self.udp_port = port
        self.interface = interface
        self.protocol = protocol
        self.max_packet_size = max_packet_size
        self.port: Any = None
        self.bound: Bound | None = None

    def privilegedStartService(self) -> None:
        from twisted.internet.error import CannotListenError

        service.Service.privilegedStartService(self)
        if _workers.worker() is not None:
            self.skipped = True  # datagrams are worker 0's alone
            return
        from zoo.sessions import DatagramSessions

        served = DatagramSessions(
            self.protocol, str(self.group.name), self.group.factory.observatory
        )
        try:
            self.port = self.group.reactor.listenUDP(
                self.udp_port,
                served,
                interface=self.interface,
                maxPacketSize=self.max_packet_size,
            )
        except CannotListenError as e:
            raise ListenError(
                f"{self.group.name}: cannot listen on udp {self.interface}:{self.udp_port}: "
                f"{e.socketError}"
            ) from None
        addr = self.port.getHost()
        desc = f"udp:{self.udp_port}:interface={self.interface}"
        self.bound = Bound(str(self.group.name), "UDP", addr.host, addr.port, desc)
        log.info("{name} listening on UDP {where}", name=self.group.name, where=self.bound.where())


class ListenerGroup(service.MultiService):
    """All listeners of one protocol instance, sharing one policy-wrapped factory."""

    def __init__(
        self,
        name: str,
        factory: Any,
        *,
        max_connections: int | None = None,
        idle_timeout: float | None = None,
        tls: Any = None,
        reactor: Any = None,
        command_timeout: float | None = None,
    ) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.name = name  # type: ignore[assignment]
        self.reactor = reactor
        self.tls = tls
        self.protocol_factory = factory
        self.factory = ZooPolicyFactory(
            factory,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
            clock=reactor if IReactorTime.providedBy(reactor) else None,
            name=name,
            command_timeout=command_timeout,
        )
        self._tls_factory: Any = None

    def tls_factory(self) -> Any:
        """The policy factory around a TLS wrapper around the protocol factory."""
        if self._tls_factory is None:
            from zoo.tls import wrap_factory

            self._tls_factory = ZooPolicyFactory(
                wrap_factory(self.protocol_factory, self.tls),
                max_connections=self.factory.max_connections,
                idle_timeout=self.factory.idle_timeout,
                clock=self.factory._clock,
                name=str(self.name),
                command_timeout=self.factory.command_timeout,
            )
        return self._tls_factory

    def listen(self, desc: str) -> None:
        """Add a stream listener for the endpoint string C{desc}."""
        _StreamListener(self, desc).setServiceParent(self)

    def listen_udp(
        self,
        port: int,
        protocol: Any,
        interface: str = "127.0.0.1",
        *,
        max_packet_size: int = 8192,
    ) -> None:
        """Add a UDP listener delivering datagrams to C{protocol} (a DatagramProtocol).

        @param max_packet_size: bytes read per datagram; a longer one is cut short
            (Twisted's default, 8192, unless the protocol needs whole datagrams).
        """
        _UDPListener(self, port, interface, protocol, max_packet_size).setServiceParent(self)

    def bound(self) -> list[Bound]:
        """Addresses actually bound (empty until started)."""
        return [s.bound for s in self if getattr(s, "bound", None) is not None]


def _groups(svc: Any) -> list[ListenerGroup]:
    if isinstance(svc, ListenerGroup):
        return [svc]
    out: list[ListenerGroup] = []
    if isinstance(svc, service.MultiService):
        for child in svc:
            out.extend(_groups(child))
    return out


class ZooRoot(service.MultiService):
    """The top of a zoo process: announces what is listening and writes the ready file.

    Roots nest (the runner holds one per plugin); only the outermost one announces,
    writes the ready file and, if asked, tunes the reactor.

    @ivar ready_file: where to write the bound addresses as JSON, or C{None}.
    @ivar table: whether to log the table of listeners at start.
    @ivar lean_poll: whether to give the reactor zoo's lean poll loop at start
        (see L{zoo._twisted.poll}); a user's own C{.tac} leaves it off.
    """

    def __init__(
        self,
        ready_file: str | None = None,
        table: bool = False,
        lean_poll: bool = False,
        workers: int = 1,
    ) -> None:
        super().__init__()
        self.ready_file = ready_file
        self.table = table
        self.lean_poll = lean_poll
        #: Processes serving the TCP listeners (C{--workers}; see L{zoo.tap._workers}).
        self.workers = workers

    @property
    def outermost(self) -> bool:
        """Whether no L{ZooRoot} holds this one, at any depth."""
        parent = self.parent
        while parent is not None:
            if isinstance(parent, ZooRoot):
                return False
            parent = getattr(parent, "parent", None)
        return True

    def bound(self) -> list[Bound]:
        """Addresses actually bound by every group under this root (empty until started)."""
        return [b for g in _groups(self) for b in g.bound()]

    def pending(self) -> list[str]:
        """The listeners under this root not bound yet, as C{"service endpoint"} (C{/readyz})."""
        return [
            f"{g.name} {getattr(s, 'desc', None) or getattr(s, 'udp_port', '')}"
            for g in _groups(self)
            for s in g
            if isinstance(s, _Listener) and s.bound is None and not s.skipped
        ]

    def privilegedStartService(self) -> None:
        outermost = self.outermost
        if outermost:
            from zoo._twisted.poll import mend

            for reactor in {id(g.reactor): g.reactor for g in _groups(self)}.values():
                mend(reactor)  # a reset is never read as a clean end (zoo._twisted.poll)
        if outermost and self.lean_poll:
            from zoo._twisted.poll import TURN, tune
            from zoo._twisted.speedups import describe

            for reactor in {id(g.reactor): g.reactor for g in _groups(self)}.values():
                if tune(reactor):
                    log.info(
                        "zoo: lean epoll poll loop, {speedups} (set ZOO_TWISTED_POLL=1 for"
                        " Twisted's own loop, ZOO_NO_SPEEDUPS=1 for the Python one)",
                        speedups=describe(),
                    )
                    if hub.clock is reactor:  # its turns are the observatory's
                        hub.share_turns(TURN)
        worker = _workers.worker() if outermost else None
        if worker is not None:
            _workers.sharing = True
            _workers.shared_ports = _workers.read_shared_ports()
            _workers.die_with_parent()
        elif outermost and self.workers > 1:
            _workers.sharing = True
        try:
            super().privilegedStartService()
        except ListenError as e:
            if not outermost:
                raise
            # Under twistd: one clear line and exit status 1, not a traceback.
            import sys

            sys.stderr.write(f"zoo: error: {e}\n")
            for listener in (s for g in _groups(self) for s in g):
                if getattr(listener, "port", None) is not None:
                    listener.port.stopListening()
            raise SystemExit(1) from None
        if outermost and worker is None and self.workers > 1:
            ports = {
                _workers.key(str(g.name), s.desc): s.bound.port
                for g in _groups(self)
                for s in g
                if isinstance(s, _StreamListener) and s.bound is not None and s.bound.port
            }
            _workers.Workers(self.workers, ports).setServiceParent(self)

    def startService(self) -> None:
        super().startService()
        if not self.outermost:
            return  # the outermost root announces for everybody
        worker = _workers.worker()
        if worker is not None:
            log.info(
                "zoo: worker {i} of {n} serving {count} shared listeners",
                i=worker[0],
                n=worker[1],
                count=len(self.bound()),
            )
            return
        bound = self.bound()
        if self.table:
            log.info("{table}", table=format_table(bound))
        if self.ready_file:
            write_ready_file(self.ready_file, bound)


def format_table(bound: list[Bound]) -> str:
    """The listening table the runner prints at start."""
    rows = [("service", "transport", "address")]
    rows += [(b.service, b.type + ("+TLS" if b.tls else ""), b.where()) for b in bound]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"zoo: {len(bound)} listeners"]
    lines += [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    return "\n".join(lines)


def write_ready_file(path: str | Path, bound: list[Bound]) -> None:
    """Write C{{"pid": ..., "listeners": [...]}} atomically."""
    data = {"pid": os.getpid(), "listeners": [asdict(b) for b in bound]}
    write_public(Path(path), json.dumps(data, indent=2).encode() + b"\n")


def state_dir(options: ServerOptions) -> Path:
    """Create (0700) and return the state directory the options name."""
    return ensure_private_dir(options.state_dir())


def listener_group(
    options: ServerOptions,
    factory: Any,
    *,
    reactor: Any = None,
    endpoints: list[str] | None = None,
) -> ListenerGroup:
    """The listener group for C{factory}, listening where C{options} say, with their policies.

    @param options: a plugin's parsed options (its C{--port}, C{--listen},
        C{--max-connections}, C{--idle-timeout} and C{--tls} options are used).
    @param factory: the protocol factory to serve.
    @param reactor: the reactor to listen with (the global one if C{None}).
    @param endpoints: endpoint strings to listen on instead of the options'
        C{--port} and C{--listen} (a plugin serving several protocols, each on its
        own port).
    """
    group = ListenerGroup(
        options.name,
        factory,
        max_connections=options["max-connections"],
        idle_timeout=options["idle-timeout"],
        command_timeout=options["command-timeout"],
        tls=tls_context(options, "implicit"),
        reactor=reactor,
    )
    for desc in options.endpoints if endpoints is None else endpoints:
        group.listen(desc)
    return group


def plugin_root(options: ServerOptions, *groups: ListenerGroup) -> ZooRoot:
    """The root a plugin's C{makeService} returns, holding C{groups}.

    Run alone under C{twistd} (C{twistd zoo-NAME}) it gives the reactor the lean
    poll loop; inside another root (the runner's, or a C{.tac}'s from
    L{zoo.service.root}) the outermost root decides.
    """
    root = ZooRoot(ready_file=options["ready-file"], lean_poll=True, workers=options.workers())
    for group in groups:
        group.setServiceParent(root)
    if getattr(options, "faults", None):
        FaultsInForce(options.faults).setServiceParent(root)
    serve_admin(root, options)
    return root


class FaultsInForce(service.Service):
    """A plugin's C{--fault}s: in the process's fault registry while the plugin runs.

    @param faults: parsed L{zoo.faults.Fault}s; added at start with fresh counters,
        removed at stop.
    """

    def __init__(self, faults: list[Any], registry: Any = None) -> None:
        self.faults = faults
        self.registry = registry
        self.added: list[Any] = []

    def startService(self) -> None:
        from zoo.faults.model import parse
        from zoo.faults.model import registry as default

        service.Service.startService(self)
        reg = self.registry if self.registry is not None else default
        for f in self.faults:
            fresh = parse(f.spec, f.scope.get("service"))
            fresh.id = f.id
            self.added.append(reg.add(fresh))
            log.info(
                "{service}: fault {id} in force: {spec}",
                service=f.scope.get("service"),
                id=fresh.id,
                spec=f.spec,
            )

    def stopService(self) -> Any:
        from zoo.faults.model import registry as default

        service.Service.stopService(self)
        reg = self.registry if self.registry is not None else default
        for f in self.added:
            reg.remove(f.id)
        self.added = []
        return None


def serve_admin(root: service.MultiService, options: Any) -> None:
    """Add the control plane to C{root} if the options' C{--admin} names an endpoint.

    @param options: parsed options with the L{zoo.tap._options.AdminOptions} options.
    """
    if not options["admin"]:
        return
    from zoo.admin.service import add_admin

    endpoint = options["admin"]
    if _workers.worker() is not None:
        if not options["events-redis"]:
            return
        # A worker's control plane only relays its events: a private loopback port.
        endpoint = "tcp:0:interface=127.0.0.1"
    add_admin(
        root,
        endpoint,
        options.state_dir(),
        max_events=options["events-max"],
        max_bytes=options["events-max-bytes"],
        transcripts=options["transcripts"],
        redis=options["events-redis"],
    )


def build(options: ServerOptions, factory: Any, *, reactor: Any = None) -> ZooRoot:
    """Serve C{factory} as C{options} say: a L{plugin_root} holding its L{listener_group}.

    @param options: a plugin's parsed options.
    @param factory: the protocol factory to serve.
    @param reactor: the reactor to listen with (the global one if C{None}).
    """
    return plugin_root(options, listener_group(options, factory, reactor=reactor))
