"""What fault injection costs when it is off, and when it is on, in memory (no sockets).

    python bench/faults.py                 # default rounds
    python bench/faults.py --number 20000  # a quick run

Measures, per operation, in one process:

- building a connection through zoo's connection layer with no fault in force,
  with only a protocol fault in force (the layer asks, and adds nothing), and with
  a byte fault in force (the fault layer is added);
- the protocol hook (L{zoo.faults.hook.at}) with no fault, with a fault at another
  point, and with a fault at the point that never fires (out of scope).

For the whole-server figure (no fault in force, before and after this change),
run C{bench/ab.py --before <the commit before zoo/faults>}.
"""

from __future__ import annotations

import argparse
import timeit
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from zoo.events import Observatory
from zoo.faults import Registry
from zoo.faults.hook import at
from zoo.policies import ZooPolicyFactory

ADDR = IPv4Address("TCP", "127.0.0.1", 40000)


def connection_cost(reg: Registry, number: int) -> float:
    factory = ZooPolicyFactory(
        Factory.forProtocol(Protocol), clock=Clock(), name="svc", faults=reg,
        observatory=Observatory(Clock()),
    )  # fmt: skip

    def one() -> None:
        p = factory.buildProtocol(ADDR)
        p.makeConnection(StringTransport(peerAddress=ADDR))
        p.connectionLost(None)

    return min(timeit.repeat(one, number=number, repeat=5)) / number


def hook_cost(reg: Registry, number: int) -> float:
    def one() -> Any:
        return at(None, "smtp", "RCPT", service="smtp", faults=reg)

    return min(timeit.repeat(one, number=number, repeat=5)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000, help="operations per round")
    args = parser.parse_args()
    n = args.number
    none = Registry(Observatory(Clock()))
    protocol_only = Registry(Observatory(Clock()))
    protocol_only.add("smtp:DATA=552", "smtp")
    byte = Registry(Observatory(Clock()))
    byte.add("tcp:latency=0")
    elsewhere = protocol_only
    out_of_scope = Registry(Observatory(Clock()))
    out_of_scope.add("smtp:RCPT=451 client=10.9.9.9")
    rows = [
        ("connection, no fault", connection_cost(none, n // 10)),
        ("connection, a protocol fault in force", connection_cost(protocol_only, n // 10)),
        ("connection, a byte fault (layer added)", connection_cost(byte, n // 10)),
        ("hook, no fault", hook_cost(none, n)),
        ("hook, a fault at another point", hook_cost(elsewhere, n)),
        ("hook, a fault at the point, out of scope", hook_cost(out_of_scope, n)),
    ]
    for name, seconds in rows:
        print(f"{name:45} {seconds * 1e9:10.0f} ns")


if __name__ == "__main__":
    main()
