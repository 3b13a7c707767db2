"""Compose zoo services in your own program or C{.tac} file.

A C{.tac} file defines C{application}; C{twistd -ny FILE} runs it. Three calls
cover what the examples in C{docs/examples/} do:

- L{compose}: attach services given like the runner's C{--with} specs,
  C{compose(application, ["lancelot --port 1060", "echo --port 7007"])}.
- L{root}: a L{ZooRoot} attached to the application, to hold services built by
  hand (a plugin's C{makeService(options)}, or L{serve} for a factory of your own).
- L{serve}: your own protocol factory with a plugin's listening options and the
  zoo's connection policies (cap, idle timeout, TLS).

Every root reports what it bound with L{ZooRoot.bound} (a list of L{Bound}) and,
given a C{ready_file}, writes it as JSON once listening. None of these calls
changes your reactor's loop unless you pass C{lean_poll=True}; only the C{twistd zoo}
runner and the single C{twistd zoo-NAME} plugins switch on the lean poll loop. Every
root, when it starts, does correct one defect of Twisted's epoll and poll reactors:
a connection reset seen at an unlucky moment was read as a clean end of input
(L{zoo._twisted.poll.mend}), which let a killed FTP upload be published.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from twisted.application.service import IServiceCollection
from twisted.internet.interfaces import IProtocolFactory

from zoo.tap._options import ServerOptions
from zoo.tap._service import Bound, ZooRoot, listener_group

__all__ = ["Bound", "ZooRoot", "compose", "root", "serve"]


def root(
    application: Any = None,
    *,
    ready_file: str | None = None,
    table: bool = True,
    lean_poll: bool = False,
) -> ZooRoot:
    """A new L{ZooRoot}, attached to C{application} if one is given.

    @param application: a C{twisted.application.service.Application} (or any
        service collection) to attach the root to, or C{None}.
    @param ready_file: where to write the bound addresses as JSON once listening;
        defaults to C{$ZOO_READY_FILE} if that is set.
    @param table: whether to log the table of listeners at start.
    @param lean_poll: give Twisted's epoll reactor the zoo's lean poll loop
        (see the benchmarks page); off, so your reactor stays as you chose it.
    """
    made = ZooRoot(
        ready_file=ready_file or os.environ.get("ZOO_READY_FILE") or None,
        table=table,
        lean_poll=lean_poll,
    )
    if application is not None:
        made.setServiceParent(IServiceCollection(application))
    return made


def compose(
    application: Any,
    specs: Sequence[str],
    *,
    ready_file: str | None = None,
    state_dir: str | None = None,
    lean_poll: bool = False,
) -> ZooRoot:
    """Attach zoo services to C{application}, each parsed like a runner C{--with} spec.

    Each spec is C{"NAME OPTIONS"}, parsed by plugin NAME's own options, so it
    accepts exactly what C{twistd zoo-NAME OPTIONS} does::

        application = service.Application("classics")
        compose(application, ["lancelot --port 1060", "echo --port 7007"])

    @param application: the application (or service collection) to attach to.
    @param specs: one C{"NAME OPTIONS"} string per service.
    @param ready_file: where to write the bound addresses as JSON; defaults to
        C{$ZOO_READY_FILE}.
    @param state_dir: the state directory for services that set none.
    @param lean_poll: see L{root}.
    @raise twisted.python.usage.UsageError: a spec names an unknown service or
        has options its plugin rejects.
    @return: the root holding the services.
    """
    from zoo.tap.all import Options, services

    args: list[str] = []
    for spec in specs:
        args += ["--with", spec]
    if state_dir:
        args += ["--state-dir", state_dir]
    options = Options()
    options.parseOptions(args)
    made = root(application, ready_file=ready_file, lean_poll=lean_poll)
    for svc in services(options):
        svc.setServiceParent(made)
    return made


def serve(
    parent: ZooRoot, options: ServerOptions, factory: IProtocolFactory, *, reactor: Any = None
) -> None:
    """Serve C{factory} under C{parent}, listening where C{options} say.

    Call it as often as you like with the same options class: each call gets its
    own listeners, named after the plugin in the listening table.

    C{options} are any plugin's parsed options (for example
    C{zoo.tap.xmlrpc.Options}); their C{--port}, C{--listen}, C{--max-connections},
    C{--idle-timeout} and C{--tls} options apply to C{factory}.

    @param parent: the root to add the listeners to (from L{root}).
    @param options: parsed plugin options.
    @param factory: your protocol factory.
    @param reactor: the reactor to listen with (the global one if C{None}).
    """
    # A root of its own, so that several groups of one plugin name can share a parent.
    holder = ZooRoot()
    listener_group(options, factory, reactor=reactor).setServiceParent(holder)
    holder.setServiceParent(parent)
