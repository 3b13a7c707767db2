"""Republish zoo-pubsub (or Redis) channels on a zoo-zmq PUB endpoint.

The bridge is a Redis subscriber (the same txredisapi connections, reconnecting
with backoff, that zoo-pubsub's own scale-out bridge uses: L{zoo.pubsub.bridge}),
subscribed with C{PSUBSCRIBE} to a pattern (C{*} by default). Each message on a
matching channel is published as the two frames C{[channel, payload]}, the shape
of the book's C{zmq_pub.py}: C{redis_pub.py} publishing a hat on the channel
C{maine coon} reaches C{zmq_sub.py}, subscribed to C{maine coon}, as
C{[b"maine coon", b"bowler"]}.

It works the same with zoo-pubsub in the same C{twistd -n zoo} process, in
another one, or with a real Redis server. While the broker is away the PUB
endpoint stays up, publishes nothing from it, and the outage is logged once.
"""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.logger import Logger

from zoo.pubsub import codec as resp
from zoo.pubsub.bridge import RedisPair, redis_factories
from zoo.zmq.sockets import Publisher

log = Logger()


class PubSubBridge(RedisPair, service.Service):
    """Publish every message of channels matching C{pattern} at C{host:port} on C{publisher}."""

    who = "zmq bridge"
    while_down = "reconnecting; nothing is republished meanwhile"

    def __init__(
        self,
        publisher: Publisher,
        host: str,
        port: int,
        pattern: bytes = b"*",
        reactor: Any = None,
    ) -> None:
        self.publisher = publisher
        self.host = host
        self.port = port
        self.pattern = pattern
        self.reactor = reactor
        self.sub = None
        self.pub = None
        self.received = 0
        self._factory: Any = None

    def startService(self) -> None:
        super().startService()
        from twisted.internet.endpoints import TCP4ClientEndpoint

        if self.reactor is None:
            from twisted.internet import reactor

            self.reactor = reactor
        self._factory = redis_factories(self)[0]  # the subscriber; nothing is published
        self._factory.startConnecting(TCP4ClientEndpoint(self.reactor, self.host, self.port, 5))

    def stopService(self) -> Any:
        super().stopService()
        factory, self._factory = self._factory, None
        return factory.disconnect() if factory is not None else None

    def connected(self, role: str, conn: Any) -> None:
        self.sub = conn
        self._down_logged = False
        conn.transport.write(resp.command(b"PSUBSCRIBE", self.pattern))
        log.info(
            "zmq bridge: republishing redis://{host}:{port} channels {pattern} on {name}",
            host=self.host,
            port=self.port,
            pattern=self.pattern.decode("utf-8", "replace"),
            name=self.publisher.name,
        )

    def received_message(self, pattern: bytes | None, channel: bytes, message: bytes) -> None:
        self.received += 1
        self.publisher.publish([channel, message])

    def after_read(self) -> None:
        """Nothing to flush: each message was written as it came."""
