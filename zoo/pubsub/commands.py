"""The commands a pub-sub broker answers, with Redis's replies and Redis's error messages.

L{Session} runs parsed commands (lists of C{bytes}) for one L{Client}: it changes the
broker and queues the reply bytes on the client. It never touches a socket.

Supported: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PING, ECHO,
PUBSUB CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB/HELP, QUIT, RESET, the list
commands of L{zoo.pubsub.list_commands} (DEL, EXISTS, RPUSH, LPUSH, LPOP, RPOP, BLPOP,
BRPOP, LLEN, LRANGE), and what
client libraries send when they connect: HELLO (2 or 3: redis-py 8 asks for RESP3 and
does not fall back, so RESP3's push frames, maps and nulls are spoken too), CLIENT SETINFO/SETNAME/GETNAME/ID, SELECT (pub/sub
ignores the database, as in Redis), AUTH (no password is configured), INFO.
Anything else is C{-ERR unknown command ...}, worded as Redis 7 words it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from zoo import __version__
from zoo.events import bounded_text, hub
from zoo.faults.hook import at
from zoo.faults.model import registry as fault_registry
from zoo.pubsub import codec, core
from zoo.pubsub import list_commands as lists
from zoo.pubsub.core import Broker, Client

#: What INFO and HELLO report as the server version: the Redis release whose replies
#: these are, so clients that check the version enable the same features.
REDIS_VERSION = b"7.0.15"

#: PUBLISH as clients spell it; anything else (PuBlIsH) takes the general path.
_PUBLISH_NAMES = codec.PUBLISH_NAME_SET

_PUBSUB_CONTEXT = (
    "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
    "are allowed in this context"
)

Handler = Callable[["Session", list[bytes]], None]


class _Command:
    __slots__ = ("name", "handler", "arity", "in_pubsub", "subcommands")

    def __init__(
        self,
        name: str,
        handler: Handler | None,
        arity: int,
        in_pubsub: bool = False,
        subcommands: dict[bytes, _Command] | None = None,
    ) -> None:
        self.name = name  # Redis's "fullname": "publish", "pubsub|numsub"
        self.handler = handler
        self.arity = arity
        self.in_pubsub = in_pubsub
        self.subcommands = subcommands

    def arity_ok(self, argc: int) -> bool:
        a = self.arity
        return argc == a if a > 0 else argc >= -a


def _c_string(b: bytes, limit: int = 128) -> str:
    """How Redis prints an argument with C{%.128s}: cut at NUL and at 128 bytes."""
    return b.split(b"\0", 1)[0][:limit].decode("utf-8", "surrogateescape")


#: The most bytes of a message's payload an event keeps (as text).
EVENT_PAYLOAD = 1024


def emit_published(
    observatory: Any, session: str | None, channel: bytes, payload: bytes, receivers: int
) -> None:
    """Record C{pubsub.published} (the caller checks C{observatory.enabled})."""
    published_recorder(observatory)(
        session, len(channel) + len(payload), channel, payload, receivers
    )


def published_recorder(observatory: Any) -> Any:
    """How C{pubsub.published} is recorded: C{(session, size, channel, payload, receivers)}.

    The channel and payload are kept as the bytes they are and decoded when the event
    is read: a PUBLISH costs a few hundred nanoseconds more, not microseconds. Three
    values, so the recorder is C{zoo._twisted._speedups.Pair} where zoo's speedups are
    built, which L{zoo.pubsub.core.publish_run} calls for each PUBLISH of a pipeline.
    The event keeps the two bytes objects, not the parsed command (a list): an event
    pushed out of the full store frees two objects fewer.
    """
    return observatory.recorder("pubsub", "pubsub.published", _published).record


def _published(channel: bytes, payload: bytes, receivers: int) -> dict[str, Any]:
    return {
        "channel": bounded_text(channel, 256),
        "size": len(payload),
        "receivers": receivers,
        "payload": bounded_text(payload[: EVENT_PAYLOAD * 4], EVENT_PAYLOAD),
        "truncated": len(payload) > EVENT_PAYLOAD,
    }


class Session:
    """One client's command interpreter.

    @ivar closing: set by QUIT; the caller sends what is pending and closes.
    @param observatory: where this client's publishes and subscriptions are reported.
    @param session: the connection's session id, for its events.
    """

    def __init__(
        self,
        broker: Broker,
        client: Client,
        publish: Any = None,
        observatory: Any = None,
        session: str | None = None,
    ) -> None:
        self.broker = broker
        self.client = client
        #: How PUBLISH delivers: the broker's own, or the Redis bridge's.
        self.publish = publish or broker.publish
        #: Whether PUBLISH is this broker's own (L{execute_all} may run it in a batch).
        self._local = self.publish == broker.publish
        self.closing = False
        self.observatory = observatory if observatory is not None else hub
        #: The connection's session id, for its events.
        self.session_id = session
        #: Records a PUBLISH's event (L{published_recorder}).
        self._record_published = published_recorder(self.observatory)
        #: Commands sent while the client is blocked (BLPOP), run once it is not.
        self.pending: deque[list[bytes]] = deque()
        #: Called with C{True} when too many commands wait (stop reading), C{False} after.
        self.on_hold: Callable[[bool], None] | None = None

    #: The connection's transport, for fault scopes (L{zoo.faults.hook}); C{None} in tests.
    transport: Any = None

    def execute(self, argv: list[bytes]) -> None:
        """Run one command; its reply is queued on the client."""
        client = self.client
        if client.blocked is not None:
            self.pending.append(argv)
            if len(self.pending) == lists.MAX_PENDING and self.on_hold is not None:
                self.on_hold(True)
            return
        if fault_registry.points:
            if self._faulted(argv):
                return
        # PUBLISH goes first, without the table lookup, lower() and arity checks: it is
        # nearly all a publisher sends. Same checks, same reply as the general path
        # below; a subscribed RESP2 client falls through to get its error there.
        if (
            argv[0] in _PUBLISH_NAMES
            and len(argv) == 3
            and (client.resp != 2 or not (client.channels or client.patterns))
        ):
            n = self.publish(argv[1], argv[2])
            client.reply(b":%d\r\n" % n)
            if self.observatory.enabled:
                self._record_published(
                    self.session_id, len(argv[1]) + len(argv[2]), argv[1], argv[2], n
                )
            return
        reply = client.reply
        cmd = COMMANDS.get(argv[0].lower())
        if cmd is not None and cmd.subcommands is not None and len(argv) > 1:
            sub = cmd.subcommands.get(argv[1].lower())
            if sub is None:
                reply(
                    codec.error(
                        f"unknown subcommand '{_c_string(argv[1])}'. "
                        f"Try {argv[0].decode('latin-1').upper()} HELP."
                    )
                )
                return
            cmd = sub
        if cmd is None:
            args = ""
            for a in argv[1:]:
                if len(args) >= 128:
                    break
                args += f"'{_c_string(a, 128 - len(args))}' "
            reply(
                codec.error(
                    f"unknown command '{_c_string(argv[0])}', with args beginning with: {args}"
                )
            )
            return
        if not cmd.arity_ok(len(argv)):
            reply(codec.error(f"wrong number of arguments for '{cmd.name}' command"))
            return
        if not cmd.in_pubsub and (client.channels or client.patterns) and client.resp == 2:
            reply(codec.error(_PUBSUB_CONTEXT.format(cmd.name)))
            return
        assert cmd.handler is not None
        cmd.handler(self, argv)

    def execute_all(self, cmds: list[list[bytes]]) -> None:
        """Run one read's commands in order, until done or closing (QUIT).

        Each run of PUBLISH commands that L{execute} would take through its fast path
        goes to L{zoo.pubsub.core.PUBLISH_RUN} at once; the rest go to L{execute}.
        """
        client = self.client
        broker = self.broker
        i, end = 0, len(cmds)
        while i < end:
            if (
                self._local
                and client.blocked is None
                and not fault_registry.points
                and (client.resp != 2 or not (client.channels or client.patterns))
            ):
                start = i
                i = core.PUBLISH_RUN(
                    cmds,
                    i,
                    broker.channels,
                    broker._dirty,
                    client,
                    client.out,
                    broker.pattern_delivery if broker.patterns else None,
                    self._record_published if self.observatory.enabled else None,
                    self.session_id,
                )
                broker.published += i - start
                if i == end:
                    return
            self.execute(cmds[i])
            i += 1
            if self.closing:
                return

    def resume(self) -> None:
        """Run the commands sent while blocked, until blocked again, closing, or done."""
        pending = self.pending
        held = len(pending) >= lists.MAX_PENDING
        while pending and self.client.blocked is None and not self.closing:
            self.execute(pending.popleft())
        if held and len(pending) < lists.MAX_PENDING and self.on_hold is not None:
            self.on_hold(False)

    def _faulted(self, argv: list[bytes]) -> bool:
        """Whether a fault took this command (C{resp:NAME}, or C{resp:DELIVER} for a publish)."""
        name = argv[0].decode("latin-1")
        arg = argv[1].decode("latin-1") if len(argv) > 1 else None
        if name.upper() in ("PUBLISH", "SPUBLISH") and len(argv) == 3:
            late = at(self.transport, "resp", "DELIVER", mailbox=arg, service="pubsub")
            if late is not None:  # the publisher hears the usual count either way
                self.client.reply(codec.integer(self.broker.numsub(argv[1])))
                self._deliver_late(late, argv[1], argv[2])
                return True
        hit = at(self.transport, "resp", name, mailbox=arg, service="pubsub")
        if hit is None:
            return False
        hit.perform(self.transport, self._fault_reply)
        return True

    def _deliver_late(self, hit: Any, channel: bytes, payload: bytes) -> None:
        """C{resp:DELIVER}: C{drop} loses the message; a number of seconds delays it."""
        try:
            seconds = float(hit.value or "drop")
        except ValueError:
            return  # dropped on the way
        clock = self.client.clock
        if clock is None:
            from twisted.internet import reactor as clock

        def deliver() -> None:
            self.publish(channel, payload)
            self.broker.flush()

        clock.callLater(max(seconds, 0.0), deliver)

    def _fault_reply(self, value: str | None) -> None:
        text = value or "ERR fault injected by zoo"
        if not text.startswith("-") and text.split(" ")[0].isupper():
            text = "-" + text  # a code of its own (ERR, BUSY, LOADING ...)
        self.client.reply(codec.error(text))

    # Pub/sub -------------------------------------------------------------------------

    def _emit(self, kind: str, name_field: str, name: bytes, count: int) -> None:
        self.observatory.emit(
            "pubsub",
            kind,
            self.session_id,
            **{name_field: bounded_text(name, 256), "subscriptions": count},
        )

    def gone(self) -> None:
        """The client disconnected: C{pubsub.unsubscribed} for each name it still had.

        Its subscriptions themselves are dropped by the broker (L{Broker.drop}); the
        events carry C{disconnected: true}.
        """
        if not self.observatory.enabled:
            return
        client = self.client
        left = len(client.channels) + len(client.patterns)
        for field, names in (("channel", client.channels), ("pattern", client.patterns)):
            for name in list(names):
                left -= 1
                self.observatory.emit(
                    "pubsub",
                    "pubsub.unsubscribed",
                    self.session_id,
                    **{field: bounded_text(name, 256), "subscriptions": left},
                    disconnected=True,
                )

    def subscribe(self, argv: list[bytes]) -> None:
        for channel in argv[1:]:
            n = self.broker.subscribe(self.client, channel)
            self.client.reply(codec.subscription(b"subscribe", channel, n, self.client.resp))
            if self.observatory.enabled:
                self._emit("pubsub.subscribed", "channel", channel, n)

    def unsubscribe(self, argv: list[bytes]) -> None:
        self._unsubscribe(
            b"unsubscribe", argv[1:] or list(self.client.channels), self.broker.unsubscribe
        )

    def psubscribe(self, argv: list[bytes]) -> None:
        for pattern in argv[1:]:
            n = self.broker.psubscribe(self.client, pattern)
            self.client.reply(codec.subscription(b"psubscribe", pattern, n, self.client.resp))
            if self.observatory.enabled:
                self._emit("pubsub.subscribed", "pattern", pattern, n)

    def punsubscribe(self, argv: list[bytes]) -> None:
        self._unsubscribe(
            b"punsubscribe", argv[1:] or list(self.client.patterns), self.broker.punsubscribe
        )

    def _unsubscribe(
        self, kind: bytes, names: list[bytes], remove: Callable[[Client, bytes], int]
    ) -> None:
        resp = self.client.resp
        if not names:  # nothing to leave: Redis still answers, with a null name
            self.client.reply(codec.subscription(kind, None, self.client.subscriptions, resp))
        field = "pattern" if kind == b"punsubscribe" else "channel"
        for name in names:
            n = remove(self.client, name)
            self.client.reply(codec.subscription(kind, name, n, resp))
            if self.observatory.enabled:
                self._emit("pubsub.unsubscribed", field, name, n)

    def publish_(self, argv: list[bytes]) -> None:
        n = self.publish(argv[1], argv[2])
        self.client.reply(codec.integer(n))
        if self.observatory.enabled:
            self._record_published(
                self.session_id, len(argv[1]) + len(argv[2]), argv[1], argv[2], n
            )

    def ping(self, argv: list[bytes]) -> None:
        if len(argv) > 2:
            self.client.reply(codec.error("wrong number of arguments for 'ping' command"))
        elif self.client.subscriptions and self.client.resp == 2:  # a push-shaped reply
            self.client.reply(codec.bulk_array([b"pong", argv[1] if len(argv) > 1 else b""]))
        elif len(argv) > 1:
            self.client.reply(codec.bulk(argv[1]))
        else:
            self.client.reply(codec.PONG)

    def echo(self, argv: list[bytes]) -> None:
        self.client.reply(codec.bulk(argv[1]))

    def pubsub_channels(self, argv: list[bytes]) -> None:
        if len(argv) > 3:
            self._subcommand_syntax(argv)
            return
        pattern = argv[2] if len(argv) == 3 else None
        self.client.reply(codec.bulk_array(self.broker.active_channels(pattern)))

    def pubsub_numsub(self, argv: list[bytes]) -> None:
        items = []
        for channel in argv[2:]:
            items += [codec.bulk(channel), codec.integer(self.broker.numsub(channel))]
        self.client.reply(codec.array(items))

    def pubsub_numpat(self, argv: list[bytes]) -> None:
        self.client.reply(codec.integer(len(self.broker.patterns)))

    def pubsub_shardchannels(self, argv: list[bytes]) -> None:
        if len(argv) > 3:
            self._subcommand_syntax(argv)
            return
        self.client.reply(codec.array([]))  # no sharded channels here

    def pubsub_shardnumsub(self, argv: list[bytes]) -> None:
        self.client.reply(
            codec.array([x for c in argv[2:] for x in (codec.bulk(c), codec.integer(0))])
        )

    def pubsub_help(self, argv: list[bytes]) -> None:
        lines = [
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
            "HELP",
            "    Prints this help.",
        ]
        self.client.reply(codec.array(codec.status(line) for line in lines))

    def _subcommand_syntax(self, argv: list[bytes]) -> None:
        self.client.reply(
            codec.error(
                f"unknown subcommand or wrong number of arguments for '{_c_string(argv[1])}'. "
                f"Try {argv[0].decode('latin-1').upper()} HELP."
            )
        )

    # Connection ------------------------------------------------------------------------

    def quit(self, argv: list[bytes]) -> None:
        self.client.reply(codec.OK)
        self.closing = True

    def reset(self, argv: list[bytes]) -> None:
        for channel in list(self.client.channels):
            n = self.broker.unsubscribe(self.client, channel)
            if self.observatory.enabled:
                self._emit("pubsub.unsubscribed", "channel", channel, n)
        for pattern in list(self.client.patterns):
            n = self.broker.punsubscribe(self.client, pattern)
            if self.observatory.enabled:
                self._emit("pubsub.unsubscribed", "pattern", pattern, n)
        self.client.name = None
        self.broker.set_protocol(self.client, 2)
        self.client.reply(codec.status("RESET"))

    def hello(self, argv: list[bytes]) -> None:
        if len(argv) > 1:
            version = codec._int(argv[1])
            if version is None:
                self.client.reply(codec.error("Protocol version is not an integer or out of range"))
                return
            if version not in (2, 3):
                self.client.reply(codec.error("-NOPROTO unsupported protocol version"))
                return
        else:
            version = self.client.resp
        rest = argv[2:]
        while rest:
            option = rest[0].lower()
            if option == b"setname" and len(rest) >= 2:
                self.client.name = rest[1]
                rest = rest[2:]
            elif option == b"auth" and len(rest) >= 3:
                self.client.reply(codec.error(_NO_PASSWORD))
                return
            else:
                self.client.reply(
                    codec.error(f"Syntax error in HELLO option '{_c_string(rest[0])}'")
                )
                return
        self.broker.set_protocol(self.client, version)
        info = [
            (b"server", codec.bulk(b"redis")),
            (b"version", codec.bulk(REDIS_VERSION)),
            (b"proto", codec.integer(version)),
            (b"id", codec.integer(self.client.id)),
            (b"mode", codec.bulk(b"standalone")),
            (b"role", codec.bulk(b"master")),
            (b"modules", codec.array([])),
        ]
        self.client.reply(codec.mapping(((codec.bulk(k), v) for k, v in info), version))

    def select(self, argv: list[bytes]) -> None:
        index = codec._int(argv[1])
        if index is None:
            self.client.reply(codec.error("value is not an integer or out of range"))
        elif not 0 <= index < 16:
            self.client.reply(codec.error("DB index is out of range"))
        else:
            self.client.reply(codec.OK)  # channels are global: the database does not matter

    def auth(self, argv: list[bytes]) -> None:
        self.client.reply(codec.error(_NO_PASSWORD))

    def info(self, argv: list[bytes]) -> None:
        text = (
            "# Server\r\n"
            f"redis_version:{REDIS_VERSION.decode()}\r\n"
            "redis_mode:standalone\r\n"
            f"zoo_version:{__version__}\r\n"
            "\r\n# Stats\r\n"
            f"pubsub_channels:{len(self.broker.channels)}\r\n"
            f"pubsub_patterns:{len(self.broker.patterns)}\r\n"
            f"zoo_published:{self.broker.published}\r\n"
            f"zoo_slow_clients_disconnected:{self.broker.killed}\r\n"
        )
        self.client.reply(codec.bulk(text.encode()))

    def client_setinfo(self, argv: list[bytes]) -> None:
        if argv[2].lower() not in (b"lib-name", b"lib-ver"):
            self.client.reply(codec.error(f"Unrecognized option '{_c_string(argv[2])}'"))
        else:
            self.client.reply(codec.OK)

    def client_setname(self, argv: list[bytes]) -> None:
        if any(b <= 0x20 or b > 0x7E for b in argv[2]):
            self.client.reply(
                codec.error("Client names cannot contain spaces, newlines or special characters.")
            )
            return
        self.client.name = argv[2] or None
        self.client.reply(codec.OK)

    def client_getname(self, argv: list[bytes]) -> None:
        self.client.reply(codec.bulk(self.client.name, self.client.resp))

    def client_id(self, argv: list[bytes]) -> None:
        self.client.reply(codec.integer(self.client.id))


_NO_PASSWORD = (
    "AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)


def _table() -> dict[bytes, _Command]:
    S = Session
    pubsub = {
        b"channels": _Command("pubsub|channels", S.pubsub_channels, -2),
        b"numsub": _Command("pubsub|numsub", S.pubsub_numsub, -2),
        b"numpat": _Command("pubsub|numpat", S.pubsub_numpat, 2),
        b"shardchannels": _Command("pubsub|shardchannels", S.pubsub_shardchannels, -2),
        b"shardnumsub": _Command("pubsub|shardnumsub", S.pubsub_shardnumsub, -2),
        b"help": _Command("pubsub|help", S.pubsub_help, 2),
    }
    client = {
        b"setinfo": _Command("client|setinfo", S.client_setinfo, 4),
        b"setname": _Command("client|setname", S.client_setname, 3),
        b"getname": _Command("client|getname", S.client_getname, 2),
        b"id": _Command("client|id", S.client_id, 2),
    }
    commands = [
        _Command("subscribe", S.subscribe, -2, in_pubsub=True),
        _Command("unsubscribe", S.unsubscribe, -1, in_pubsub=True),
        _Command("psubscribe", S.psubscribe, -2, in_pubsub=True),
        _Command("punsubscribe", S.punsubscribe, -1, in_pubsub=True),
        _Command("publish", S.publish_, 3),
        _Command("ping", S.ping, -1, in_pubsub=True),
        _Command("quit", S.quit, -1, in_pubsub=True),
        _Command("reset", S.reset, 1, in_pubsub=True),
        _Command("echo", S.echo, 2),
        _Command("hello", S.hello, -1),
        _Command("select", S.select, 2),
        _Command("auth", S.auth, -2),
        _Command("info", S.info, -1),
        _Command("pubsub", None, -2, subcommands=pubsub),
        _Command("client", None, -2, subcommands=client),
        _Command("del", lists.del_, -2),
        _Command("exists", lists.exists, -2),
        _Command("rpush", lists.rpush, -3),
        _Command("lpush", lists.lpush, -3),
        _Command("lpop", lists.lpop, -2),
        _Command("rpop", lists.rpop, -2),
        _Command("blpop", lists.blpop, -3),
        _Command("brpop", lists.brpop, -3),
        _Command("llen", lists.llen, 2),
        _Command("lrange", lists.lrange, 4),
    ]
    return {c.name.encode(): c for c in commands}


COMMANDS = _table()
