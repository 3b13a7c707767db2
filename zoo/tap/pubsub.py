"""twistd zoo-pubsub: a Redis-protocol pub/sub broker (default port 6380)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.python import usage

from zoo import pubsub
from zoo.tap._options import ServerOptions, named, nonnegative_float, positive_int
from zoo.tap._service import build

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}


def memory_size(value: str) -> int:
    """A size in bytes, with Redis's units: 1k = 1000, 1kb = 1024, m/mb, g/gb."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]?b?)\s*", value.lower())
    if m is None:
        raise ValueError(f"{value!r} is not a size (like 32mb, 64kb or 1000000)")
    return int(m.group(1)) * _UNITS[m.group(2)]


def redis_url(value: str) -> str:
    from zoo.pubsub.bridge import parse_redis_url

    parse_redis_url(value)
    return value


class Options(ServerOptions):
    name = "pubsub"
    default_port = pubsub.PORT
    synopsis = "[--port 6380] [--redis redis://HOST:PORT] [--output-hard-limit 32mb] ..."
    longdesc = (
        "A publish/subscribe broker speaking Redis's protocol: redis-cli, redis-py and nc "
        "work unchanged. With --redis, several brokers share channels through a Redis server. "
        "Lists too (RPUSH, BLPOP ...), kept in this process."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        # Subscribers to quiet channels are idle by nature: no idle timeout unless asked
        # for, as in Redis (timeout 0). --max-connections still bounds connections.
        [
            "idle-timeout",
            None,
            0.0,
            "Close connections idle this many seconds (0: never, as in Redis).",
            named("--idle-timeout", nonnegative_float),
        ],
        [
            "redis",
            None,
            None,
            "Share channels with other nodes through this Redis (redis://host:port).",
            named("--redis", redis_url),
        ],
        [
            "output-hard-limit",
            None,
            "32mb",
            "Disconnect a client with more output than this pending.",
            named("--output-hard-limit", memory_size),
        ],
        [
            "output-soft-limit",
            None,
            "8mb",
            "... or with more than this pending for --output-soft-seconds.",
            named("--output-soft-limit", memory_size),
        ],
        [
            "output-soft-seconds",
            None,
            60.0,
            "How long a client may stay over the soft limit.",
            named("--output-soft-seconds", nonnegative_float),
        ],
        [
            "max-bulk",
            None,
            "8mb",
            "Longest argument (channel name or message).",
            named("--max-bulk", memory_size),
        ],
        [
            "max-args",
            None,
            65536,
            "Most arguments in one command.",
            named("--max-args", positive_int),
        ],
        [
            "max-keys",
            None,
            100_000,
            "Most lists at once (RPUSH past it: Redis's OOM error).",
            named("--max-keys", positive_int),
        ],
        [
            "max-list-memory",
            None,
            "64mb",
            "Most bytes held in lists (RPUSH past it: Redis's OOM error).",
            named("--max-list-memory", memory_size),
        ],
    ]

    def check(self) -> None:
        for flag in ("output-hard-limit", "output-soft-limit", "max-bulk", "max-list-memory"):
            if isinstance(self[flag], str):  # a default, not yet converted
                self[flag] = memory_size(self[flag])
        if self["max-bulk"] < 1:
            raise usage.UsageError("--max-bulk: must be at least 1 byte")
        if self["output-soft-limit"] > self["output-hard-limit"]:
            raise usage.UsageError("--output-soft-limit must not be above --output-hard-limit")
        if self.workers() > 1 and not self["redis"]:
            raise usage.UsageError(
                "--workers needs --redis redis://HOST:PORT: the workers share channels "
                "through it, so every subscriber gets each message once"
            )


def makeService(options: Options) -> IService:
    from zoo.pubsub.core import Broker, Limits
    from zoo.pubsub.lists import Keyspace
    from zoo.pubsub.protocol import PubSubFactory

    limits = Limits(
        options["output-hard-limit"], options["output-soft-limit"], options["output-soft-seconds"]
    )
    broker = Broker(limits, Keyspace(options["max-keys"], options["max-list-memory"]))
    bridge = None
    if options["redis"]:
        from zoo.pubsub.bridge import RedisBridge, parse_redis_url

        host, port = parse_redis_url(options["redis"])
        bridge = RedisBridge(broker, host, port)
    factory = PubSubFactory(
        broker,
        max_bulk=options["max-bulk"],
        max_args=options["max-args"],
        max_request=max(4 * options["max-bulk"], 1024 * 1024),
        bridge=bridge,
    )
    from zoo.pubsub.inspector import register

    register(broker, factory.publish)
    root = build(options, factory)
    if bridge is not None:
        bridge.setServiceParent(root)
    return root
