"""twistd zoo-zmq: ZeroMQ (ZMTP 3.0/3.1) endpoints for the books' programs, one port each.

reply 6780, time 6781, cats 6782, poem 6783, bridge 6784 (PUB/REP), fountain 6700,
upper 6701, lower 6702 (queuecrazy.py), zerorpc 4242; see L{zoo.zmq}.
"""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService, MultiService
from twisted.python import usage

from zoo.tap._options import (
    ServerOptions,
    named,
    nonnegative_float,
    normalize_endpoint,
    positive_int,
)
from zoo.tap._service import ListenerGroup, listener_group, plugin_root
from zoo.zmq import ENDPOINTS


def _interval(value: str) -> float:
    x = nonnegative_float(value)
    if x < 0.001:
        raise ValueError(f"{value!r} is shorter than a millisecond")
    return x


def _port_or_off(value: str) -> int | None:
    from zoo.tap._options import parse_port

    if value.strip().lower() in ("off", "none", "no"):
        return None
    return parse_port(value)


class Options(ServerOptions):
    name = "zmq"
    default_port = None  # type: ignore[assignment]  # one port per endpoint
    default_command_timeout = 60.0  # to finish a frame once it has started
    synopsis = (
        "[--endpoint NAME ...] [--NAME-port PORT|off ...] [--port 0] "
        "[--bridge-redis redis://127.0.0.1:6380|off] [--bridge-pattern '*'] "
        "[--max-message BYTES] [--max-parts N] [--hwm N]"
    )
    longdesc = (
        "ZeroMQ endpoints, spoken natively (ZMTP 3.0 and 3.1, NULL security): "
        + "; ".join(f"{n} ({t} {p}): {d}" for n, (t, p, d) in ENDPOINTS.items())
        + ". --port 0 gives every endpoint a free port."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        [
            f"{name}-port",
            None,
            port,
            f"Port of the {name} endpoint ({kind}), or 'off'.",
            named(f"--{name}-port", _port_or_off),
        ]
        for name, (kind, port, _) in ENDPOINTS.items()
    ] + [
        [
            "idle-timeout",
            None,
            0.0,
            "Close connections idle this many seconds (0: never; subscribers are idle by nature).",
            named("--idle-timeout", nonnegative_float),
        ],
        [
            "bridge-redis",
            None,
            "redis://127.0.0.1:6380",
            "The zoo-pubsub (or Redis) whose channels the bridge endpoint republishes, or 'off'.",
        ],
        ["bridge-pattern", None, "*", "Which channels the bridge republishes (a Redis glob)."],
        [
            "max-message",
            None,
            1024 * 1024,
            "Most bytes in one message from a peer.",
            named("--max-message", positive_int),
        ],
        [
            "max-parts",
            None,
            64,
            "Most frames in one message from a peer.",
            named("--max-parts", positive_int),
        ],
        [
            "hwm",
            None,
            1000,
            "Messages queued for a slow subscriber before dropping.",
            named("--hwm", positive_int),
        ],
        ["cats-interval", None, 0.5, "Seconds between cats.", named("--cats-interval", _interval)],
        [
            "poem-interval",
            None,
            0.2,
            "Seconds between words of the poem.",
            named("--poem-interval", _interval),
        ],
        [
            "fountain-interval",
            None,
            0.4,
            "Seconds between words of the fountain (the book's 0.4).",
            named("--fountain-interval", _interval),
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["endpoint"] = []

    def opt_endpoint(self, name: str) -> None:
        """Serve this endpoint (repeatable) [default: all]."""
        if name not in ENDPOINTS:
            raise usage.UsageError(
                f"--endpoint: unknown endpoint {name!r}; choose from {', '.join(ENDPOINTS)}"
            )
        self["endpoint"].append(name)

    def check(self) -> None:
        if self["listen"] or self["port"] not in (None, 0):
            raise usage.UsageError(
                "--port/--listen: zoo-zmq listens on one port per endpoint; use "
                "--reply-port, --time-port, ... (or --port 0 for a free port each)"
            )
        if self["port"] == 0:
            for name in ENDPOINTS:
                if self[f"{name}-port"] is not None:
                    self[f"{name}-port"] = 0
        chosen = self["endpoint"] or list(ENDPOINTS)
        self["endpoint"] = [n for n in chosen if self[f"{n}-port"] is not None]
        bridge = self["bridge-redis"]
        if bridge is None or str(bridge).strip().lower() in ("off", "none", "no", ""):
            self["bridge-redis"] = None
        else:
            from zoo.pubsub.bridge import parse_redis_url

            try:
                parse_redis_url(bridge)
            except ValueError as e:
                raise usage.UsageError(f"--bridge-redis: {e}") from None

    def endpoint(self, name: str) -> list[str]:
        return [normalize_endpoint(str(self[f"{name}-port"]), self["interface"])]


def makeService(options: Options) -> IService:
    from twisted.application.internet import TimerService
    from twisted.internet import reactor

    from zoo.xmlrpc import book_methods
    from zoo.zmq import books
    from zoo.zmq.protocol import ZMTPFactory
    from zoo.zmq.sockets import Publisher, Pusher, Replier, Router

    limits = {"max_message": options["max-message"], "max_parts": options["max-parts"]}
    root = plugin_root(options)
    clock: Any = reactor

    def serve(name: str, socket: Any, *extra: Any) -> None:
        group: ListenerGroup = listener_group(
            options, ZMTPFactory(socket, **limits), endpoints=options.endpoint(name)
        )
        # Every group is named "zmq" (the ready file's service); a parent allows one
        # child per name, so each sits in an unnamed holder.
        holder = MultiService()
        group.setServiceParent(holder)
        for svc in extra:
            svc.setServiceParent(holder)
        holder.setServiceParent(root)

    def timer(interval: float, call: Any) -> TimerService:
        svc = TimerService(interval, call)
        svc.clock = clock
        return svc

    chosen = options["endpoint"]
    hwm = options["hwm"]
    for name in chosen:
        if name == "reply":
            serve(name, Replier(books.stop_saying, name))
        elif name == "time":
            serve(name, Replier(books.time_reply(clock.seconds), name))
        elif name in ("upper", "lower"):
            serve(name, Replier(getattr(books, name), name))
        elif name == "cats":
            pub = Publisher(name, hwm=hwm)
            serve(name, pub, timer(options["cats-interval"], books.Cats(pub)))
        elif name == "poem":
            pub = Publisher(name, hwm=hwm)
            serve(name, pub, timer(options["poem-interval"], books.Poem(pub)))
        elif name == "fountain":
            push = Pusher(name)
            serve(name, push, timer(options["fountain-interval"], books.Fountain(push)))
        elif name == "bridge":
            pub = Publisher(name, hwm=hwm)
            extra = []
            if options["bridge-redis"]:
                from zoo.pubsub.bridge import parse_redis_url
                from zoo.zmq.bridge import PubSubBridge

                host, port = parse_redis_url(options["bridge-redis"])
                pattern = options["bridge-pattern"].encode("utf-8")
                extra.append(PubSubBridge(pub, host, port, pattern))
            serve(name, pub, *extra)
        elif name == "zerorpc":
            from zoo.zmq.zerorpc import ZeroRPC

            router = Router(name=name)
            ZeroRPC(router, book_methods(), clock)
            serve(name, router)
    return root
