"""twistd zoo-memcached: memcached's text protocol (default port 11211)."""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.python import usage

from zoo import memcached
from zoo.tap._options import ServerOptions, named, nonnegative_float, positive_int
from zoo.tap._service import build

MIB = 1024 * 1024


class Options(ServerOptions):
    name = "memcached"
    default_port = memcached.PORT
    synopsis = "[--port 11211] [--memory-limit 64] [--max-item-size 1024]"
    longdesc = (
        "A cache speaking memcached's text protocol, as FOPNP's squares.py and "
        "python-memcached expect: get/gets, set/add/replace/append/prepend/cas, delete, "
        "incr/decr, touch, gat/gats, flush_all, stats, version, verbosity, quit; "
        "least recently used items are evicted past --memory-limit."
    )
    optParameters: ClassVar[list[list[Any]]] = [
        # python-memcached marks a server dead for 30 s when a kept connection was
        # closed under it: no idle timeout unless asked for, as in memcached.
        [
            "idle-timeout",
            None,
            0.0,
            "Close connections idle this many seconds (0: never, as in memcached).",
            named("--idle-timeout", nonnegative_float),
        ],
        [
            "memory-limit",
            "m",
            64,
            "Memory for items, in megabytes (memcached's -m).",
            named("--memory-limit", positive_int),
        ],
        [
            "max-item-size",
            None,
            1024,
            "Largest item, in kilobytes (memcached's -I; at most the memory limit).",
            named("--max-item-size", positive_int),
        ],
    ]

    def check(self) -> None:
        if self["max-item-size"] * 1024 > self["memory-limit"] * MIB:
            raise usage.UsageError("--max-item-size must not be above --memory-limit")


def makeService(options: Options) -> IService:
    from zoo.memcached.inspector import register
    from zoo.memcached.protocol import MemcachedFactory

    factory = MemcachedFactory(
        memory=options["memory-limit"] * MIB, item_max=options["max-item-size"] * 1024
    )
    register(factory.store)
    return build(options, factory)
