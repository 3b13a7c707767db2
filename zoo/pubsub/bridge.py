"""Scale-out: several zoo-pubsub nodes sharing their channels through a real Redis server.

Each node keeps two connections to Redis, made and re-made (with exponential backoff)
by txredisapi 1.6's C{factory.startConnecting(endpoint)}:

- a subscriber connection, subscribed to exactly the channels and patterns this
  node's own clients subscribed to (the broker tells the bridge when a name gains its
  first or loses its last local subscriber);
- a publishing connection.

A PUBLISH on a node is delivered to that node's subscribers at once and published to
Redis inside an envelope naming the node (C{MAGIC + node id + payload}); every other
node unwraps it and delivers it to its matching subscribers; the publishing node drops
its own echo. So each subscriber on each node gets each message exactly once, and a
message published straight into Redis by another program (no envelope) is delivered
as it is. Redis sends a node one C{message} for its channel subscription and one
C{pmessage} per matching pattern; each goes only to the local subscribers of that
channel or that pattern, as it would on a single Redis.

If Redis goes away, local delivery goes on, the outage is logged once, and when the
connections come back the subscriber connection subscribes again to everything the
node needs. Messages published during the outage reach only the publishing node.

txredisapi imports the reactor when it is imported, so it is imported here only when
the bridge starts, never when the plugin is discovered or the options parsed.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from twisted.application import service
from twisted.logger import Logger

from zoo.pubsub import codec
from zoo.pubsub.core import Broker

log = Logger()

#: Marks a payload wrapped by a zoo node: C{MAGIC + 8-byte node id + payload}.
MAGIC = b"\xffzoo1"
_HEADER = len(MAGIC) + 8
#: Most names per SUBSCRIBE/PSUBSCRIBE sent to Redis when resubscribing.
BATCH = 512


def parse_redis_url(url: str) -> tuple[str, int]:
    """C{redis://host[:port]} -> (host, port); raise L{ValueError} for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or not parts.hostname:
        raise ValueError(f"{url!r} is not a redis://host[:port] URL")
    if parts.username or parts.password or parts.path not in ("", "/", "/0") or parts.query:
        raise ValueError(f"{url!r}: only redis://host[:port] is supported (no auth, db or options)")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError(f"{url!r}: bad port") from None
    return parts.hostname, port


class RedisPair:
    """Two Redis connections, one subscribing and one publishing, coming and going.

    What L{redis_factories}' connections call back: C{connected(role, conn)},
    C{disconnected(role, conn)}, C{_log_down(why)}. Used by the pub-sub bridge and by
    the control plane's event relay (L{zoo.admin.relay}); each names itself in the log
    (L{who}), says what happens while Redis is away (L{while_down}) and does what a new
    subscriber connection needs (L{sub_connected}).
    """

    who = "redis"
    while_down = "working locally meanwhile"
    host: str
    port: int
    sub: Any = None  # the live subscriber connection (a txredisapi protocol)
    pub: Any = None  # the live publishing connection
    _down_logged = False

    def sub_connected(self, conn: Any) -> None:
        """A subscriber connection is up (again): subscribe what this side listens to."""

    def connected(self, role: str, conn: Any) -> None:
        if role == "sub":
            self.sub = conn
            self.sub_connected(conn)
        else:
            self.pub = conn
        if self.sub is not None and self.pub is not None:
            self._down_logged = False
            log.info(
                "{who}: connected to redis://{host}:{port}",
                who=self.who,
                host=self.host,
                port=self.port,
            )

    def disconnected(self, role: str, conn: Any) -> None:
        if role == "sub" and self.sub is conn:
            self.sub = None
        elif role == "pub" and self.pub is conn:
            self.pub = None
        else:
            return
        self._log_down("connection lost")

    def _log_down(self, why: str) -> None:
        if not self._down_logged:
            self._down_logged = True
            log.warn(
                "{who}: redis://{host}:{port} unavailable ({why}); {meanwhile}",
                who=self.who,
                host=self.host,
                port=self.port,
                why=why,
                meanwhile=self.while_down,
            )


class RedisBridge(RedisPair, service.Service):
    """Share a L{Broker}'s channels with other nodes through Redis at C{host:port}."""

    who = "pubsub"
    while_down = "delivering locally only and reconnecting"

    def __init__(
        self,
        broker: Broker,
        host: str,
        port: int,
        *,
        reactor: Any = None,
        node_id: bytes | None = None,
    ) -> None:
        self.broker = broker
        self.host = host
        self.port = port
        self.reactor = reactor
        self.node_id = node_id or os.urandom(8)
        assert len(self.node_id) == 8
        self._prefix = MAGIC + self.node_id
        self.sub: Any = None  # the live subscriber connection (a txredisapi protocol)
        self.pub: Any = None  # the live publishing connection
        self._factories: list[Any] = []
        self._down_logged = False
        self.sent = 0
        self.received = 0
        broker.listener = self

    # Service -------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        from twisted.internet.endpoints import TCP4ClientEndpoint

        if self.reactor is None:
            from twisted.internet import reactor

            self.reactor = reactor
        endpoint = TCP4ClientEndpoint(self.reactor, self.host, self.port, timeout=5)
        for factory in redis_factories(self):
            self._factories.append(factory)
            factory.startConnecting(endpoint)
        log.info(
            "pubsub: sharing channels through redis://{host}:{port}", host=self.host, port=self.port
        )

    def stopService(self) -> Any:
        super().stopService()
        from twisted.internet.defer import gatherResults

        factories, self._factories = self._factories, []
        return gatherResults([f.disconnect() for f in factories], consumeErrors=True)

    # Connections come and go (see L{RedisPair}) ---------------------------------------

    def sub_connected(self, conn: Any) -> None:
        self._resubscribe()

    def _resubscribe(self) -> None:
        for kind, names in (
            (b"SUBSCRIBE", list(self.broker.channels)),
            (b"PSUBSCRIBE", list(self.broker.patterns)),
        ):
            for i in range(0, len(names), BATCH):
                self._send(kind, *names[i : i + BATCH])

    def _send(self, *args: bytes) -> None:
        if self.sub is not None:
            self.sub.transport.write(codec.command(*args))

    # The broker's side ---------------------------------------------------------------

    def interest(self, kind: bytes, name: bytes, wanted: bool) -> None:
        """The broker gained or lost all local subscribers of a channel or pattern."""
        verb = {
            (b"channel", True): b"SUBSCRIBE",
            (b"channel", False): b"UNSUBSCRIBE",
            (b"pattern", True): b"PSUBSCRIBE",
            (b"pattern", False): b"PUNSUBSCRIBE",
        }[kind, wanted]
        self._send(verb, name)

    def publish(self, channel: bytes, payload: bytes) -> int:
        """PUBLISH from a local client: deliver here now, and to the other nodes via Redis.

        Returns the number of local receivers (like PUBLISH on a Redis Cluster node).
        """
        n = self.broker.publish(channel, payload)
        pub = self.pub
        if pub is None:
            self._log_down("not connected")
            return n
        self.sent += 1
        pub.execute_command(b"PUBLISH", channel, self._prefix + payload).addErrback(
            self._publish_failed
        )
        return n

    def _publish_failed(self, failure: Any) -> None:
        self._log_down(failure.getErrorMessage())

    def after_read(self) -> None:
        """One read from Redis is handled: one write per local subscriber."""
        self.broker.flush()

    def received_message(self, pattern: bytes | None, channel: bytes, message: bytes) -> None:
        """A message from Redis for this node's subscription to C{pattern} (or C{channel})."""
        if message.startswith(MAGIC) and len(message) >= _HEADER:
            if message[len(MAGIC) : _HEADER] == self.node_id:
                return  # our own publish, delivered locally already
            message = message[_HEADER:]
        self.received += 1
        if pattern is None:
            self.broker.deliver_channel(channel, message)
        else:
            self.broker.deliver_pattern(pattern, channel, message)


def redis_factories(bridge: Any) -> list[Any]:
    """The subscriber and publisher txredisapi factories (imports txredisapi).

    C{bridge} has C{host} and C{port}, and is told what happens: C{connected(role,
    conn)} and C{disconnected(role, conn)} with role C{"sub"} or C{"pub"},
    C{_log_down(why)}, C{received_message(pattern, channel, message)} for each message
    pushed to the subscriber connection, and C{after_read()} after each read from it.
    The event relay of the control plane (L{zoo.admin.relay}) uses them too.
    """
    import txredisapi

    class Subscriber(txredisapi.SubscriberProtocol):
        def replyReceived(self, reply: Any) -> None:
            # Only pushed messages matter; (un)subscribe confirmations are dropped
            # instead of queued for commands that nobody is waiting on.
            if isinstance(reply, list):
                if len(reply) == 3 and reply[0] == b"message":
                    bridge.received_message(None, reply[1], reply[2])
                elif len(reply) == 4 and reply[0] == b"pmessage":
                    bridge.received_message(reply[1], reply[2], reply[3])

        def dataReceived(self, data: bytes, unpause: bool = False) -> None:
            super().dataReceived(data, unpause)
            bridge.after_read()  # the broker: one write per local subscriber per read

    class Factory(txredisapi.RedisFactory):
        initialDelay = 0.5  # seconds before the first reconnection attempt
        maxDelay = 5  # most seconds between attempts while Redis stays away

        def __init__(self, role: str, protocol: Any) -> None:
            super().__init__(f"{bridge.host}:{bridge.port}", None, 1, isLazy=True, charset=None)
            self.role = role
            self.protocol = protocol

        def addConnection(self, conn: Any) -> None:
            super().addConnection(conn)
            if conn in self.pool:
                bridge.connected(self.role, conn)

        def delConnection(self, conn: Any) -> None:
            super().delConnection(conn)
            bridge.disconnected(self.role, conn)

        def connectionError(self, why: str) -> None:
            bridge._log_down(why)

    return [Factory("sub", Subscriber), Factory("pub", txredisapi.RedisProtocol)]
