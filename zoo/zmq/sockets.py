"""The socket types a zoo-zmq endpoint can be, on top of L{zoo.zmq.core.Connection}s.

Each socket holds the L{Pipe}s (connections) of one endpoint:

- L{Replier} (REP): strips the request's envelope (everything up to the empty
  delimiter frame a REQ puts first), asks its handler for the reply and sends it
  back with the same envelope, on the connection the request came from, in
  request order;
- L{Publisher} (PUB): keeps each subscriber's topics (ZMTP 3.0 subscription
  messages or 3.1 commands alike, counted, so two subscriptions to a topic need
  two cancels) and sends a message to every subscriber with a topic that is a
  prefix of its first frame;
- L{Pusher} (PUSH): sends each message to one ready peer, round robin;
- L{Router} (ROUTER): gives its handler each message with the routing id of the
  connection it came from, and sends replies to the connection a routing id names.

B{Slow peers.} A pipe whose transport's write buffer is full is I{paused}. A
publisher queues at most C{hwm} messages for a paused subscriber and drops the
rest (counting them), as libzmq's PUB does at its high-water mark; everyone else
keeps receiving. A pusher skips paused peers; when every peer is paused it
drops the message. Replies (REP, ROUTER) are always sent: a peer that does not
read them stops being read (L{zoo.flow.ReadGate}), so it cannot queue more.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.logger import Logger

from zoo.zmq.core import Connection

log = Logger()

#: Messages queued for a paused subscriber before the rest are dropped (libzmq's SNDHWM).
DEFAULT_HWM = 1000
#: Replies a REQ/DEALER peer may have pending before its requests are not read.
MAX_PENDING = 64


class Pipe:
    """One connection as a socket sees it: send, pause, the peer's identity.

    The Twisted protocol (L{zoo.zmq.protocol}) is the real one; tests use this
    base with a list for output.
    """

    def __init__(self, conn: Connection | None = None, session: str | None = None) -> None:
        self.conn: Connection = conn  # type: ignore[assignment]
        self.session = session
        self.paused = False
        self.queue: deque[list[bytes] | tuple[bytes, ...]] = deque()
        self.dropped = 0
        self.topics: dict[bytes, int] = {}
        self.routing_id = b""
        #: Replies owed, in request order: a slot holds the reply once it is known.
        self.owed: deque[list[Any]] = deque()

    def send(self, parts: list[bytes] | tuple[bytes, ...]) -> None:
        """Send now (replies) whatever the pause state."""
        self.conn.send(parts)

    def hold_reading(self, holds: bool) -> None:
        """Stop (or restart) reading this peer's requests (too many replies owed)."""

    def offer(self, parts: list[bytes] | tuple[bytes, ...], hwm: int) -> bool:
        """Send, or queue while paused (at most C{hwm} queued); C{False} if dropped."""
        if not self.paused:
            self.conn.send(parts)
            return True
        if len(self.queue) < hwm:
            self.queue.append(parts)
            return True
        self.dropped += 1
        return False

    def set_paused(self, paused: bool) -> None:
        """The transport's buffer filled (C{True}) or drained (C{False}): send what waited."""
        self.paused = paused
        while not self.paused and self.queue:
            self.conn.send(self.queue.popleft())


class Socket:
    """What every socket type shares: its pipes, its name, its observatory."""

    kind = b""

    def __init__(self, name: str = "", observatory: Any = None) -> None:
        from zoo.events import hub

        self.name = name
        self.observatory = observatory if observatory is not None else hub
        self.pipes: list[Pipe] = []

    def attach(self, pipe: Pipe) -> None:
        """A connection finished its handshake."""
        self.pipes.append(pipe)

    def detach(self, pipe: Pipe) -> None:
        """A connection went away."""
        if pipe in self.pipes:
            self.pipes.remove(pipe)

    def message(self, conn: Connection, parts: list[bytes]) -> None:
        """A message from a peer (REP and ROUTER override)."""

    def subscribe(self, conn: Connection, topic: bytes, on: bool) -> None:
        """A subscription from a peer (PUB overrides)."""

    def _record(self, pipe: Pipe | None, direction: str, parts: Any, receivers: int = 1) -> None:
        observatory = self.observatory
        if observatory.enabled:
            observatory.record(
                "zmq",
                "zmq.message",
                pipe.session if pipe is not None else None,
                _message_fields,
                self.name,
                self.kind,
                direction,
                parts,
                receivers,
            )


def _message_fields(
    endpoint: str, kind: bytes, direction: str, parts: Any, receivers: int
) -> dict[str, Any]:
    from zoo.events import bounded_text

    return {
        "endpoint": endpoint,
        "socket": kind.decode(),
        "direction": direction,
        "parts": [bounded_text(p, 256) for p in list(parts)[:8]],
        "count": len(parts),
        "size": sum(len(p) for p in parts),
        "receivers": receivers,
    }


def _as_parts(reply: Any) -> list[bytes]:
    if isinstance(reply, bytes):
        return [reply]
    if isinstance(reply, str):
        return [reply.encode("utf-8")]
    parts = list(reply)
    if not parts or not all(isinstance(p, bytes) for p in parts):
        raise TypeError(f"a reply is bytes, str or a non-empty list of bytes, not {reply!r}")
    return parts


class Replier(Socket):
    """REP: each request's body to C{handler}, its reply back with the request's envelope.

    @param handler: called with the request's frames (the envelope removed); returns
        the reply as bytes, str or a list of frames, or a L{Deferred} of one.
    """

    kind = b"REP"

    def __init__(
        self,
        handler: Callable[[list[bytes]], Any],
        name: str = "",
        observatory: Any = None,
    ) -> None:
        super().__init__(name, observatory)
        self.handler = handler

    def message(self, conn: Connection, parts: list[bytes]) -> None:
        pipe: Pipe = conn.pipe  # type: ignore[attr-defined]
        try:
            split = parts.index(b"") + 1
        except ValueError:
            return  # no envelope delimiter: libzmq's REP drops such messages too
        envelope, body = parts[:split], parts[split:]
        if self.observatory.enabled:
            self._record(pipe, "in", body)
        if not pipe.owed:
            # The common case: nothing owed before, and a handler that answers at
            # once. No Deferred, no slot: the reply goes out now.
            try:
                reply = self.handler(body)
            except Exception:
                reply = fail()  # the exception being handled
            if not isinstance(reply, Deferred):
                try:
                    reply = _as_parts(reply)
                except TypeError:
                    reply = fail()  # the exception being handled
                else:
                    if self.observatory.enabled:
                        self._record(pipe, "out", reply)
                    pipe.send(envelope + reply)
                    return
        else:
            reply = maybeDeferred(self.handler, body)
        slot: list[Any] = [envelope, None]
        pipe.owed.append(slot)
        if len(pipe.owed) >= MAX_PENDING:
            pipe.hold_reading(True)
        reply.addCallback(_as_parts)
        reply.addErrback(self._failed, body)
        reply.addCallback(self._answered, pipe, slot)

    def _failed(self, failure: Any, body: list[bytes]) -> list[bytes]:
        log.failure(
            "zmq {name}: the handler failed on {body!r}", failure, name=self.name, body=body[:2]
        )
        return [b"error: the server could not answer this request"]

    def _answered(self, reply: list[bytes], pipe: Pipe, slot: list[Any]) -> None:
        slot[1] = reply
        owed = pipe.owed
        while owed and owed[0][1] is not None:
            envelope, reply = owed.popleft()
            if pipe.conn.ready:
                self._record(pipe, "out", reply)
                pipe.send(envelope + reply)
        if len(owed) < MAX_PENDING:
            pipe.hold_reading(False)


class Publisher(Socket):
    """PUB: messages to every subscriber whose topic prefixes the first frame.

    @param hwm: messages queued per paused subscriber before dropping.
    @param on_subscribe: told C{(pipe, topic, on)} for each (un)subscription.
    """

    kind = b"PUB"

    def __init__(self, name: str = "", observatory: Any = None, hwm: int = DEFAULT_HWM) -> None:
        super().__init__(name, observatory)
        self.hwm = hwm
        self.published = 0
        self.dropped = 0

    def subscribe(self, conn: Connection, topic: bytes, on: bool) -> None:
        pipe: Pipe = conn.pipe  # type: ignore[attr-defined]
        topics = pipe.topics
        if on:
            topics[topic] = topics.get(topic, 0) + 1
        elif topic in topics:
            topics[topic] -= 1
            if not topics[topic]:
                del topics[topic]
        else:
            return
        observatory = self.observatory
        if observatory.enabled:
            from zoo.events import bounded_text

            observatory.emit(
                "zmq",
                "zmq.subscribed" if on else "zmq.unsubscribed",
                pipe.session,
                endpoint=self.name,
                topic=bounded_text(topic, 256),
                version=f"3.{conn.minor}",
                subscriptions=len(topics),
            )

    def publish(self, parts: list[bytes] | tuple[bytes, ...]) -> int:
        """Send C{parts} to every matching subscriber; return how many got (or queued) it."""
        self.published += 1
        first = parts[0] if parts else b""
        n = 0
        hwm = self.hwm
        for pipe in self.pipes:
            topics = pipe.topics
            if not topics:
                continue
            if b"" in topics or any(first.startswith(t) for t in topics):
                if pipe.offer(parts, hwm):
                    n += 1
                else:
                    self.dropped += 1
        if n:
            self._record(None, "out", parts, n)
        return n


class Pusher(Socket):
    """PUSH: each message to the next peer that is not paused (round robin)."""

    kind = b"PUSH"

    def __init__(self, name: str = "", observatory: Any = None) -> None:
        super().__init__(name, observatory)
        self._next = 0
        self.dropped = 0

    def push(self, parts: list[bytes] | tuple[bytes, ...]) -> Pipe | None:
        """Send C{parts} to one peer; return it, or C{None} (dropped) if none can take it."""
        pipes = self.pipes
        count = len(pipes)
        for step in range(count):
            i = (self._next + step) % count
            pipe = pipes[i]
            if not pipe.paused:
                self._next = (i + 1) % count
                pipe.send(parts)
                self._record(pipe, "out", parts)
                return pipe
        self.dropped += 1
        return None


class Router(Socket):
    """ROUTER: messages with the routing id of their connection; replies by routing id.

    A peer's routing id is its C{Identity} property when it gave one and no other
    connection uses it, else five bytes the router makes up (a zero, then a counter),
    as libzmq does.

    @param handler: called with C{(routing_id, frames)} for each message.
    """

    kind = b"ROUTER"

    def __init__(
        self,
        handler: Callable[[bytes, list[bytes]], Any] | None = None,
        name: str = "",
        observatory: Any = None,
    ) -> None:
        super().__init__(name, observatory)
        self.handler = handler
        self.routes: dict[bytes, Pipe] = {}
        self._ids = 0x6B8B4567  # libzmq starts its counter at a random value too

    def attach(self, pipe: Pipe) -> None:
        super().attach(pipe)
        wanted = pipe.conn.identity
        if wanted and not wanted.startswith(b"\x00") and wanted not in self.routes:
            pipe.routing_id = wanted
        else:
            self._ids = (self._ids + 1) & 0xFFFFFFFF
            pipe.routing_id = b"\x00" + struct.pack("!I", self._ids)
        self.routes[pipe.routing_id] = pipe

    def detach(self, pipe: Pipe) -> None:
        super().detach(pipe)
        if self.routes.get(pipe.routing_id) is pipe:
            del self.routes[pipe.routing_id]

    def message(self, conn: Connection, parts: list[bytes]) -> None:
        pipe: Pipe = conn.pipe  # type: ignore[attr-defined]
        self._record(pipe, "in", parts)
        if self.handler is not None:
            self.handler(pipe.routing_id, parts)

    def send(self, routing_id: bytes, parts: list[bytes] | tuple[bytes, ...]) -> bool:
        """Send C{parts} to the peer C{routing_id} names; C{False} (dropped) if it is gone."""
        pipe = self.routes.get(routing_id)
        if pipe is None or not pipe.conn.ready:
            return False
        self._record(pipe, "out", parts)
        pipe.send(parts)
        return True

    def session_of(self, routing_id: bytes) -> str | None:
        pipe = self.routes.get(routing_id)
        return pipe.session if pipe is not None else None


SOCKETS = {b"REP": Replier, b"PUB": Publisher, b"PUSH": Pusher, b"ROUTER": Router}

__all__ = ["DEFAULT_HWM", "Pipe", "Publisher", "Pusher", "Replier", "Router", "Socket"]
