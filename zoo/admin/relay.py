"""Scale-out: several zoo processes sharing one view of their events through Redis.

With C{--events-redis redis://HOST:PORT} each process publishes the events its own
services emit to one Redis channel (L{CHANNEL}) as JSON, and subscribes to it: an
event from another process is kept here too (L{Observatory.add}), with its node
name, so any process's control plane lists, streams and waits for the events of
all of them. A reset through any control plane is published as well, and every
process resets the same services (their stored data too).

Cursors: each process numbers the events it keeps, its own and the others', in
the order they reach it. A cursor is therefore a position in one process's merged
log: keep asking the process that gave it. Session ids get the node name as a
suffix (C{smtp-3@host:1234}) so they never collide between processes.

The connections come from L{zoo.pubsub.bridge.redis_factories} (made and re-made
with backoff by txredisapi); while Redis is away, events are kept locally only.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.application import service
from twisted.logger import Logger

from zoo.events import Event, Observatory
from zoo.pubsub.bridge import RedisPair

log = Logger()

#: The Redis channel the zoo processes share their events on.
CHANNEL = b"zoo:events"


class EventRelay(RedisPair, service.Service):
    """Publish this process's events to Redis and keep the other processes' events."""

    who = "admin"
    while_down = "events stay local meanwhile"

    def __init__(
        self,
        hub: Observatory,
        host: str,
        port: int,
        *,
        channel: bytes = CHANNEL,
        reactor: Any = None,
    ) -> None:
        self.hub = hub
        self.host = host
        self.port = port
        self.channel = channel
        self.reactor = reactor
        self.sub: Any = None
        self.pub: Any = None
        self._factories: list[Any] = []
        self._down_logged = False
        self._unsubscribe: Any = None
        self.sent = 0
        self.received = 0

    def startService(self) -> None:
        super().startService()
        from twisted.internet.endpoints import TCP4ClientEndpoint

        from zoo.pubsub.bridge import redis_factories

        if self.reactor is None:
            from twisted.internet import reactor

            self.reactor = reactor
        self.hub.session_suffix = f"@{self.hub.node}"
        self._unsubscribe = self.hub.subscribe(self.local_event)
        endpoint = TCP4ClientEndpoint(self.reactor, self.host, self.port, timeout=5)
        for factory in redis_factories(self):
            self._factories.append(factory)
            factory.startConnecting(endpoint)
        log.info(
            "admin: sharing events through redis://{host}:{port} as node {node}",
            host=self.host,
            port=self.port,
            node=self.hub.node,
        )

    def stopService(self) -> Any:
        super().stopService()
        from twisted.internet.defer import gatherResults

        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        factories, self._factories = self._factories, []
        return gatherResults([f.disconnect() for f in factories], consumeErrors=True)

    # -- connections (called by the txredisapi factories) -----------------------------------

    def sub_connected(self, conn: Any) -> None:
        from zoo.pubsub import codec

        conn.transport.write(codec.command(b"SUBSCRIBE", self.channel))

    def after_read(self) -> None:
        pass

    # -- events both ways ---------------------------------------------------------------------

    def _publish(self, message: dict[str, Any]) -> None:
        pub = self.pub
        if pub is None:
            self._log_down("not connected")
            return
        data = json.dumps(message, default=str).encode("utf-8")
        self.sent += 1
        pub.execute_command(b"PUBLISH", self.channel, data).addErrback(
            lambda f: self._log_down(f.getErrorMessage())
        )

    def local_event(self, event: Event) -> None:
        """Publish an event this process's services emitted (not one relayed here)."""
        if event.node == self.hub.node:
            self._publish(event.to_json())

    def reset(self, name: str | None) -> None:
        """Tell the other processes to reset C{name} (or everything)."""
        self._publish({"node": self.hub.node, "reset": True, "service": name})

    def received_message(self, pattern: bytes | None, channel: bytes, message: bytes) -> None:
        """An event or a reset from another process; ours and malformed ones are dropped."""
        try:
            data = json.loads(message)
            node = str(data["node"])
        except (ValueError, KeyError, TypeError):
            return
        if node == self.hub.node:
            return
        self.received += 1
        if data.get("reset"):
            service_name = data.get("service")
            self.hub.reset(str(service_name) if service_name is not None else None)
            return
        try:
            event = Event(
                0,
                float(data["time"]),
                str(data["service"]),
                str(data["kind"]),
                data.get("session"),
                dict(data.get("fields") or {}),
                node,
            )
        except (KeyError, TypeError, ValueError):
            return
        self.hub.add(event)
