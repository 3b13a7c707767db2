"""The broker without any I/O: channels, patterns, fan-out and the slow-consumer policy.

The lists, a separate concern, are in L{zoo.pubsub.lists}; the broker holds them.

A L{Client} is one connection's pub-sub state: the channels and patterns it subscribed
to, the bytes waiting to be sent to it, and its output limits. The L{Broker} maps
channel names and patterns to clients and fans a published message out to them.

Fan-out is batched the way Redis batches it: L{Broker.publish} only appends the
encoded frame (built once per publish, shared by every receiver) to each receiver's
pending output and remembers the receiver; L{Broker.flush}, called once the caller has
handled everything it read, hands each receiver all its pending bytes in one write.

Slow consumers (Redis's C{client-output-buffer-limit pubsub}): while the transport
says it is full (L{Client.pause}), output is queued here. A client whose queue passes
the hard limit, or stays over the soft limit for the soft time, is disconnected and
its queue freed, so one reader that stopped reading cannot grow the broker without
bound; everybody else keeps receiving.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from zoo._twisted.speedups import speedups as _speedups
from zoo.pubsub import codec
from zoo.pubsub.glob import compile_glob
from zoo.pubsub.lists import Block, Keyspace

#: Bytes handed to the transport at once when a paused client resumes.
RESUME_CHUNK = 256 * 1024
#: Channels whose matching patterns are remembered between publishes.
PATTERN_CACHE = 4096


@dataclass(frozen=True)
class Limits:
    """Output limits of one client (Redis: C{client-output-buffer-limit pubsub 32mb 8mb 60})."""

    hard: int = 32 * 1024 * 1024
    soft: int = 8 * 1024 * 1024
    soft_seconds: float = 60.0


class InterestListener(Protocol):
    """Told when the broker starts or stops needing a channel or pattern (the Redis bridge)."""

    def interest(self, kind: bytes, name: bytes, wanted: bool) -> None: ...


class _PushOut(list):  # type: ignore[type-arg]
    """The pending output of a RESP3 client: frames pushed into it get RESP3's C{>} type.

    The broker appends the same RESP2-encoded frame to every receiver's list; replies
    are added with C{list.append} and are left alone.
    """

    __slots__ = ()

    def append(self, frame: bytes) -> None:
        list.append(self, codec.as_push(frame))


class Client:
    """One connection's subscriptions and pending output.

    @param sink: sends bytes to the connection now (the transport's C{write}).
    @param on_kill: called with the reason once the client breaks a limit; the caller
        drops the connection without sending what is pending.
    @param clock: an C{IReactorTime} for the soft-limit timer (a C{task.Clock} in tests).
    """

    __slots__ = (
        "broker",
        "sink",
        "on_kill",
        "clock",
        "limits",
        "out",
        "channels",
        "patterns",
        "queue",
        "queued",
        "paused",
        "killed",
        "name",
        "id",
        "resp",
        "blocked",
        "on_resume",
        "_soft_timer",
        "__weakref__",
    )

    def __init__(
        self,
        broker: Broker,
        sink: Callable[[bytes], None],
        on_kill: Callable[[str], None] = lambda reason: None,
        clock: Any = None,
        limits: Limits | None = None,
    ) -> None:
        self.broker = broker
        self.sink = sink
        self.on_kill = on_kill
        self.clock = clock
        self.limits = limits or broker.limits
        #: Encoded replies and frames produced since the last flush.
        self.out: list[bytes] = []
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        #: Output held back while the transport is paused.
        self.queue: deque[bytes] = deque()
        self.queued = 0
        self.paused = False
        self.killed = False
        self.name: bytes | None = None
        self.id = broker.next_id()
        #: The protocol version chosen with HELLO: 2 (the default) or 3.
        self.resp = 2
        #: What the client waits for in BLPOP/BRPOP, or C{None}.
        self.blocked: Block | None = None
        #: Called once the client is no longer blocked, to run what it sent meanwhile.
        self.on_resume: Callable[[], None] | None = None
        self._soft_timer: Any = None

    @property
    def subscriptions(self) -> int:
        """Channels plus patterns (the count in Redis's (un)subscribe replies)."""
        return len(self.channels) + len(self.patterns)

    def reply(self, data: bytes) -> None:
        """Queue a reply behind everything already pending for this client."""
        if not self.out:
            self.broker._dirty[self] = self.out
        list.append(self.out, data)

    def send_now(self, last: list[Any] | None = None) -> None:
        """Send what is pending (the broker calls this from L{Broker.flush}).

        @param last: C{[frames, data]}: the frames the client flushed before this one
            had pending and what they were joined into, or C{[None, None]}. Subscribers
            of the same channels hold the same frame objects, so after the first one
            the rest send the same bytes without joining them again (and a transcript
            keeps one copy of them). Updated here.
        """
        out = self.out
        if not out:
            return
        if len(out) == 1:
            data = out[0]
        elif last is None:
            data = b"".join(out)
        elif last[0] == out:  # frames compared by identity first: a pointer each
            data = last[1]
        else:
            data = b"".join(out)
            last[0], last[1] = out.copy(), data
        out.clear()
        if self.paused or self.queue:
            self.queue.append(data)
            self.queued += len(data)
            self._check_limits()
        else:
            self.sink(data)

    def drain(self) -> bytes:
        """Everything pending, removed from the client (to send before closing)."""
        data = b"".join([*self.queue, *self.out])
        self.queue.clear()
        self.out.clear()
        self.queued = 0
        self._cancel_soft()
        return data

    def pause(self) -> None:
        """The transport is full: queue output here from now on."""
        self.paused = True

    def resume(self) -> None:
        """The transport drained: send queued output, a chunk at a time, until it fills again."""
        self.paused = False
        queue = self.queue
        while queue and not self.paused and not self.killed:
            parts, size = [], 0
            while queue and size < RESUME_CHUNK:
                part = queue.popleft()
                parts.append(part)
                size += len(part)
            self.queued -= size
            if self.queued <= self.limits.soft:
                self._cancel_soft()
            self.sink(b"".join(parts))

    def _check_limits(self) -> None:
        limits = self.limits
        if self.queued > limits.hard:
            self.kill(f"output buffer over the hard limit ({self.queued} > {limits.hard} bytes)")
        elif self.queued > limits.soft and self._soft_timer is None:
            if limits.soft_seconds <= 0:
                self.kill(f"output buffer over the soft limit ({limits.soft} bytes)")
            elif self.clock is not None:
                self._soft_timer = self.clock.callLater(limits.soft_seconds, self._soft_expired)

    def _soft_expired(self) -> None:
        self._soft_timer = None
        if self.queued > self.limits.soft:
            self.kill(
                f"output buffer over the soft limit ({self.limits.soft} bytes) "
                f"for {self.limits.soft_seconds:g}s"
            )

    def _cancel_soft(self) -> None:
        if self._soft_timer is not None:
            if self._soft_timer.active():
                self._soft_timer.cancel()
            self._soft_timer = None

    def kill(self, reason: str) -> None:
        """Drop this client: free its output, forget its subscriptions, tell the owner."""
        if self.killed:
            return
        self.killed = True
        self.queue.clear()
        self.queued = 0
        self.out.clear()
        self._cancel_soft()
        self.broker.drop(self)
        self.on_kill(reason)


class Broker:
    """Channels and patterns to clients; publish, fan out, flush.

    @ivar channels: channel name -> {client: client.out} (insertion-ordered).
    @ivar patterns: pattern -> {client: client.out}.
    @ivar listener: told when a channel or pattern gains its first or loses its last
        local subscriber (the Redis bridge subscribes in Redis accordingly).
    """

    def __init__(self, limits: Limits | None = None, keyspace: Keyspace | None = None) -> None:
        self.limits = limits or Limits()
        #: The lists (RPUSH, BLPOP ...) and the clients blocked on them.
        self.keyspace = keyspace if keyspace is not None else Keyspace()
        self.channels: dict[bytes, dict[Client, list[bytes]]] = {}
        self.patterns: dict[bytes, dict[Client, list[bytes]]] = {}
        self.listener: InterestListener | None = None
        self.published = 0
        self.killed = 0
        self._matchers: dict[bytes, Callable[[bytes], bool]] = {}
        self._pattern_cache: dict[bytes, list[tuple[bytes, dict[Client, list[bytes]]]]] = {}
        self._dirty: dict[Client, list[bytes]] = {}
        self._ids = 0
        #: What L{deliver_patterns} needs of this broker (for L{publish_run}).
        self.pattern_delivery = (self._pattern_cache, self._matching)

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # Subscriptions ----------------------------------------------------------------

    def subscribe(self, client: Client, channel: bytes) -> int:
        """Subscribe C{client} to C{channel}; return its subscription count."""
        if channel not in client.channels:
            client.channels[channel] = None
            subs = self.channels.get(channel)
            if subs is None:
                subs = self.channels[channel] = {}
                self._tell(b"channel", channel, True)
            subs[client] = client.out
        return client.subscriptions

    def unsubscribe(self, client: Client, channel: bytes) -> int:
        """Unsubscribe C{client} from C{channel} (subscribed or not); return its count."""
        if client.channels.pop(channel, 0) is None:
            subs = self.channels[channel]
            del subs[client]
            if not subs:
                del self.channels[channel]
                self._tell(b"channel", channel, False)
        return client.subscriptions

    def psubscribe(self, client: Client, pattern: bytes) -> int:
        if pattern not in client.patterns:
            client.patterns[pattern] = None
            subs = self.patterns.get(pattern)
            if subs is None:
                subs = self.patterns[pattern] = {}
                self._matchers[pattern] = compile_glob(pattern)
                self._pattern_cache.clear()
                self._tell(b"pattern", pattern, True)
            subs[client] = client.out
        return client.subscriptions

    def punsubscribe(self, client: Client, pattern: bytes) -> int:
        if client.patterns.pop(pattern, 0) is None:
            subs = self.patterns[pattern]
            del subs[client]
            if not subs:
                del self.patterns[pattern]
                del self._matchers[pattern]
                self._pattern_cache.clear()
                self._tell(b"pattern", pattern, False)
        return client.subscriptions

    def set_protocol(self, client: Client, resp: int) -> None:
        """Switch C{client} to RESP C{resp} (2 or 3): pushes to it change shape."""
        if resp == client.resp:
            return
        client.resp = resp
        out = client.out = (_PushOut if resp == 3 else list)(client.out)
        for channel in client.channels:
            self.channels[channel][client] = out
        for pattern in client.patterns:
            self.patterns[pattern][client] = out
        if client in self._dirty:
            self._dirty[client] = out

    def drop(self, client: Client) -> None:
        """Forget every subscription of C{client} and its pending output (it is gone)."""
        for channel in list(client.channels):
            self.unsubscribe(client, channel)
        for pattern in list(client.patterns):
            self.punsubscribe(client, pattern)
        self.keyspace.unblock(client)
        self._dirty.pop(client, None)

    def _tell(self, kind: bytes, name: bytes, wanted: bool) -> None:
        if self.listener is not None:
            self.listener.interest(kind, name, wanted)

    # Introspection (PUBSUB) ------------------------------------------------------

    def active_channels(self, pattern: bytes | None = None) -> list[bytes]:
        if pattern is None:
            return list(self.channels)
        match = compile_glob(pattern)
        return [c for c in self.channels if match(c)]

    def numsub(self, channel: bytes) -> int:
        return len(self.channels.get(channel, ()))

    # Fan-out ---------------------------------------------------------------------

    def publish(self, channel: bytes, payload: bytes) -> int:
        """Deliver to channel and pattern subscribers; return the number of deliveries."""
        # (A publisher's pipeline takes publish_run instead, where this is done in C.)
        self.published += 1
        n = 0
        subs = self.channels.get(channel)
        if subs:
            n = push(subs, codec.message(channel, payload), self._dirty)
        if self.patterns:
            n += deliver_patterns(*self.pattern_delivery, self._dirty, channel, payload)
        return n

    def deliver_channel(self, channel: bytes, payload: bytes) -> int:
        """Deliver to the subscribers of C{channel} only (a Redis C{message})."""
        subs = self.channels.get(channel)
        if not subs:
            return 0
        return push(subs, codec.message(channel, payload), self._dirty)

    def deliver_pattern(self, pattern: bytes, channel: bytes, payload: bytes) -> int:
        """Deliver to the subscribers of C{pattern} only (a Redis C{pmessage})."""
        subs = self.patterns.get(pattern)
        if not subs:
            return 0
        return push(subs, codec.pmessage(pattern, channel, payload), self._dirty)

    def _matching(self, channel: bytes) -> list[tuple[bytes, dict[Client, list[bytes]]]]:
        found = self._pattern_cache.get(channel)
        if found is None:
            matchers = self._matchers
            found = [(p, subs) for p, subs in self.patterns.items() if matchers[p](channel)]
            if len(self._pattern_cache) >= PATTERN_CACHE:
                self._pattern_cache.clear()
            self._pattern_cache[channel] = found
        return found

    def flush(self) -> None:
        """Send every client its pending output, one write each."""
        while self._dirty:
            dirty, self._dirty = self._dirty, {}
            last: list[Any] = [None, None]
            for client in dirty:
                client.send_now(last)


def push(subs: dict[Client, list[bytes]], frame: bytes, dirty: dict[Client, list[bytes]]) -> int:
    """Add C{frame} to each receiver's pending output; they join C{dirty}. Return how many."""
    for out in subs.values():
        out.append(frame)
    dirty.update(subs)
    return len(subs)


def deliver_patterns(
    cache: dict[bytes, list[tuple[bytes, dict[Client, list[bytes]]]]],
    matching: Callable[[bytes], list[tuple[bytes, dict[Client, list[bytes]]]]],
    dirty: dict[Client, list[bytes]],
    channel: bytes,
    payload: bytes,
) -> int:
    """Push a C{pmessage} to the subscribers of each pattern C{channel} matches; return how many.

    @param cache: channel -> the (pattern, subscribers) pairs it matches (L{Broker}'s).
    @param matching: finds and caches those pairs for a channel not in C{cache}.
    @param dirty: the broker's clients with pending output (the receivers join it).
    """
    found = cache.get(channel)
    if found is None:
        found = matching(channel)
    n = 0
    for pattern, subs in found:
        n += push(subs, codec.pmessage(pattern, channel, payload), dirty)
    return n


def publish_run(
    cmds: list[list[bytes]],
    i: int,
    channels: dict[bytes, dict[Client, list[bytes]]],
    dirty: dict[Client, list[bytes]],
    client: Client,
    out: list[bytes],
    patterns: tuple[Any, Any] | None,
    record: Callable[[str | None, int, bytes, bytes, int], object] | None,
    session: str | None,
) -> int:
    """Run the PUBLISH commands of C{cmds} from C{i} on; return the index of the first other one.

    What L{Broker.publish} and L{Client.reply} do for each, without a call each: a
    publisher's pipeline is nearly all PUBLISH, and the calls were a third of its cost.
    The caller (L{zoo.pubsub.commands.Session.execute_all}) has checked that a PUBLISH
    would take the fast path of C{Session.execute} (not blocked, no faults, no bridge,
    allowed in this client's context) and adds the count to C{Broker.published}.

    @param channels: L{Broker.channels}; C{dirty}: the broker's clients with output.
    @param client: the publisher, and C{out} its pending output (the reply goes there).
    @param patterns: the broker's pattern cache and C{_matching} for L{deliver_patterns},
        or C{None} when nobody subscribed to a pattern.
    @param record: records each PUBLISH's event as C{record(session, size, channel,
        payload, receivers)} (L{zoo.pubsub.commands.published_recorder}), or C{None} when
        nobody observes.

    C{zoo._twisted._speedups.publish_run} is its C twin, used where it is built. It
    adds a channel's subscribers (and those of the patterns the channel matches) to
    C{dirty} once per run rather than once per message, which leaves C{dirty} the
    same: only C runs between two of its PUBLISHes, and it adds them again after
    anything that may run Python code (a live event's delivery, a pattern lookup).
    """
    end = len(cmds)
    while i < end:
        argv = cmds[i]
        if len(argv) != 3 or argv[0] not in codec.PUBLISH_NAME_SET:
            break
        channel, payload = argv[1], argv[2]
        if not (isinstance(channel, bytes) and isinstance(payload, bytes)):
            break  # the parser makes bytes; anything else goes the general way
        n = 0
        subs = channels.get(channel)
        if subs:
            n = push(subs, codec.message(channel, payload), dirty)
        if patterns is not None:
            n += deliver_patterns(patterns[0], patterns[1], dirty, channel, payload)
        if not out:
            dirty[client] = out
        list.append(out, b":%d\r\n" % n)
        if record is not None:
            record(session, len(channel) + len(payload), channel, payload, n)
        i += 1
    return i


#: The PUBLISH run in use: the C twin where zoo's speedups are built and on.
PUBLISH_RUN: Callable[..., int] = _speedups.publish_run if _speedups is not None else publish_run
