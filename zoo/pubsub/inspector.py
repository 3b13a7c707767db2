"""What the control plane sees of the pub-sub broker: channels, patterns, recent messages.

Registered as C{"pubsub"}. Channels and patterns, with their subscriber counts, come
from the L{Broker} itself (this node's subscribers); recent messages come from the
observatory's C{pubsub.published} events (so they are there only while observing, and
within its retention). Publishing here goes through the same path as a client's
PUBLISH (the Redis bridge's when there is one) and is reported the same way.

The lists (RPUSH, BLPOP ...) are listed with their lengths and the clients blocked
on them, and one list's elements can be read. The broker keeps no message history
of its own, so a reset of C{"pubsub"} forgets the events (the observatory does that)
and empties the lists; subscribers stay connected and blocked clients keep waiting.
"""

from __future__ import annotations

import json
from typing import Any

from zoo.events import Filter, hub
from zoo.inspect import ApiError, Call, Route, query_limit
from zoo.pubsub.commands import emit_published
from zoo.pubsub.core import Broker

#: Recent messages listed when the request gives no C{limit}; and the most it may ask for.
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
#: The largest message the control plane may publish.
MAX_MESSAGE = 512 * 1024 * 1024


def _name(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


class PubSubInspector:
    """The control plane's view of one broker.

    @param broker: the broker the zoo-pubsub listener serves.
    @param publish: how a message is published (the factory's: the broker's or the bridge's).
    @param observatory: where its events are, and where a publish is reported.
    """

    def __init__(self, broker: Broker, publish: Any = None, observatory: Any = None) -> None:
        self.broker = broker
        self.publish_to = publish or broker.publish
        self.observatory = observatory if observatory is not None else hub

    def describe(self) -> dict[str, Any]:
        return {
            "channels": len(self.broker.channels),
            "patterns": len(self.broker.patterns),
            "published": self.broker.published,
            "lists": len(self.broker.keyspace.lists),
        }

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET", "/channels", self.channels, "Channels and patterns, with subscriber counts."
            ),
            Route(
                "GET",
                "/messages",
                self.messages,
                "Recently published messages, newest first (from the events).",
                {
                    "channel": "only this channel",
                    "limit": f"the most to list (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
                },
            ),
            Route(
                "GET",
                "/lists",
                self.lists,
                "Lists, with their lengths and the clients blocked on each key.",
            ),
            Route(
                "GET",
                "/lists/{key}",
                self.list_items,
                "One list's elements, first to last.",
                {"limit": f"the most to list (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})"},
            ),
            Route(
                "POST",
                "/publish",
                self.publish,
                'Publish a message: JSON {"channel": ..., "message": ...}.',
            ),
        ]

    def channels(self, call: Call) -> dict[str, Any]:
        return {
            "channels": [
                {"channel": _name(c), "subscribers": len(subs)}
                for c, subs in sorted(self.broker.channels.items())
            ],
            "patterns": [
                {"pattern": _name(p), "subscribers": len(subs)}
                for p, subs in sorted(self.broker.patterns.items())
            ],
        }

    def lists(self, call: Call) -> dict[str, Any]:
        keyspace = self.broker.keyspace
        keys = sorted(set(keyspace.lists) | set(keyspace.waiting))
        return {
            "lists": [
                {
                    "key": _name(k),
                    "length": keyspace.length(k),
                    "blocked": len(keyspace.waiting.get(k, ())),
                }
                for k in keys
            ],
            "bytes": keyspace.used,
        }

    def list_items(self, call: Call) -> dict[str, Any]:
        key = call.params["key"].encode("utf-8", "surrogateescape")
        if key not in self.broker.keyspace.lists:
            raise ApiError(404, f"no list {call.params['key'][:256]!r}")
        limit = query_limit(call, DEFAULT_LIMIT, MAX_LIMIT)
        items = self.broker.keyspace.range(key, 0, limit - 1) if limit else []
        return {
            "key": call.params["key"],
            "length": self.broker.keyspace.length(key),
            "items": [_name(v) for v in items],
        }

    def reset(self) -> None:
        """Empty the lists (the events are the observatory's to forget)."""
        self.broker.keyspace.clear()

    def messages(self, call: Call) -> list[dict[str, Any]]:
        limit = query_limit(call, DEFAULT_LIMIT, MAX_LIMIT)
        channel = call.query.get("channel")
        match = {"channel": channel} if channel is not None else None
        events = self.observatory.events(Filter.of("pubsub", "pubsub.published", match=match))
        newest = events[::-1][:limit]
        return [{"seq": e.seq, "time": e.time, "session": e.session, **e.fields} for e in newest]

    def publish(self, call: Call) -> dict[str, Any]:
        if len(call.body) > MAX_MESSAGE:
            raise ApiError(413, f"a message may be at most {MAX_MESSAGE} bytes")
        try:
            spec = json.loads(call.body or b"null")
        except ValueError as e:
            raise ApiError(400, f"the body is not JSON: {e}") from None
        if not isinstance(spec, dict) or set(spec) != {"channel", "message"}:
            raise ApiError(400, 'the body must be {"channel": "...", "message": "..."}')
        channel, message = spec["channel"], spec["message"]
        if not isinstance(channel, str) or not channel:
            raise ApiError(400, "channel must be a non-empty string")
        if not isinstance(message, str):
            raise ApiError(400, "message must be a string (send JSON as text)")
        raw_channel, payload = channel.encode(), message.encode()
        receivers = self.publish_to(raw_channel, payload)
        self.broker.flush()  # a client's PUBLISH is flushed after its read; this one now
        if self.observatory.enabled:
            emit_published(self.observatory, None, raw_channel, payload, receivers)
        return {"channel": channel, "receivers": receivers}


def register(broker: Broker, publish: Any = None, observatory: Any = None) -> PubSubInspector:
    """Register the pub-sub inspector on C{observatory} (the hub by default)."""
    from zoo.inspect import register as register_inspector

    inspector = PubSubInspector(broker, publish, observatory)
    register_inspector(inspector.observatory, "pubsub", inspector)
    return inspector


__all__ = ["PubSubInspector", "register"]
