"""Fault injection: one model for byte, datagram and protocol faults on every service.

A L{Fault} says I{where} (a byte stream, a datagram, or a protocol point such as
C{smtp:RCPT}), I{what} (a latency, a reset, a reply in the protocol's words...),
I{when} (the first N times, every Kth time, with a probability drawn from a seed)
and I{for whom} (a service, a listener, a client address, a user or mailbox, a
session). The process's L{registry} holds the faults in force; the three ways to set
them (C{--fault SPEC} on every plugin, the same key in the TOML config, and
C{/api/faults} on the control plane) all end in L{Registry.add}.

- L{zoo.faults.model}: the model, the spec grammar and the registry;
- L{zoo.faults.wire}: the byte layer the connection layer inserts when byte faults
  exist (and only then);
- L{zoo.faults.datagram}: the same for UDP services;
- L{zoo.faults.hook}: the one call a protocol makes at its command dispatch.

See C{docs/faults.rst}.
"""

from zoo.faults.model import Fault, FaultError, Registry, parse, registry

__all__ = ["Fault", "FaultError", "Registry", "parse", "registry"]
