"""zoo-pubsub: a publish/subscribe broker that speaks Redis's pub/sub protocol (RESP2 and RESP3).

The book's C{redis_pub.py} and C{redis_sub.py} ("Introducing Python", chapter 17),
C{redis-cli}, every Redis client library and C{nc} (inline commands) work against it
unchanged, only the port differs (6380 instead of Redis's 6379). With C{--redis}
several nodes share their channels through a real Redis server. Lists (RPUSH,
BLPOP ...) serve exercise 17.4, Lucy's chocolate factory.

The parts, each readable on its own:

- L{zoo.pubsub.glob}: Redis's glob patterns;
- L{zoo.pubsub.core}: the broker (channels, patterns, fan-out, slow-consumer policy), no I/O;
- L{zoo.pubsub.codec}: RESP requests (multibulk and inline) and replies;
- L{zoo.pubsub.commands}: the commands and Redis's replies and errors;
- L{zoo.pubsub.lists}: the lists and the clients blocked on them, no I/O;
- L{zoo.pubsub.list_commands}: the list commands, with Redis's replies and errors;
- L{zoo.pubsub.protocol}: the thin Twisted Protocol and Factory;
- L{zoo.pubsub.bridge}: scale-out through Redis with txredisapi.
"""

from __future__ import annotations

#: Redis's port plus one, so a zoo broker and a real Redis can run side by side.
PORT = 6380

__all__ = ["PORT"]
