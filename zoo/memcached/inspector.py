"""What the control plane sees of the cache: its keys, one item, and a reset.

Registered as C{"memcached"}. The keys are listed least recently used first, as
the store keeps them; looking at them through the control plane changes neither
their order nor the counters. A reset of C{"memcached"} (or of the whole zoo)
empties the cache and zeroes its counters.
"""

from __future__ import annotations

import base64
from typing import Any

from zoo.events import hub
from zoo.inspect import ApiError, Call, Route, query_limit
from zoo.memcached.store import Store

#: Keys listed when the request gives no C{limit}; and the most it may ask for.
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


class MemcachedInspector:
    """The control plane's view of one L{Store}."""

    def __init__(self, store: Store, observatory: Any = None) -> None:
        self.store = store
        self.observatory = observatory if observatory is not None else hub

    def describe(self) -> dict[str, Any]:
        return {
            "items": len(self.store.items),
            "bytes": self.store.bytes,
            "limit": self.store.memory,
            "evictions": self.store.stats.evictions,
        }

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/keys",
                self.keys,
                "Keys, least recently used first, with flags, size and expiry.",
                {
                    "prefix": "only keys starting with this",
                    "limit": f"the most to list (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
                },
            ),
            Route("GET", "/keys/{key}", self.item, "One item, its value as text and base64."),
        ]

    def _live(self) -> list[tuple[bytes, Any]]:
        now = self.store.clock.seconds()
        return [(k, item) for k, item in self.store.items.items() if not self.store.gone(item, now)]

    def keys(self, call: Call) -> dict[str, Any]:
        limit = query_limit(call, DEFAULT_LIMIT, MAX_LIMIT)
        prefix = call.query.get("prefix", "").encode("utf-8", "surrogateescape")
        found = [(k, i) for k, i in self._live() if k.startswith(prefix)]
        return {
            "count": len(found),
            "keys": [
                {
                    "key": _text(k),
                    "flags": item.flags,
                    "size": len(item.value),
                    "expires": item.expires or None,
                    "cas": item.cas,
                }
                for k, item in found[:limit]
            ],
        }

    def item(self, call: Call) -> dict[str, Any]:
        key = call.params["key"].encode("utf-8", "surrogateescape")
        item = self.store.items.get(key)
        if item is None or self.store.gone(item, self.store.clock.seconds()):
            raise ApiError(404, f"no item {call.params['key'][:250]!r}")
        return {
            "key": call.params["key"],
            "flags": item.flags,
            "size": len(item.value),
            "expires": item.expires or None,
            "cas": item.cas,
            "text": _text(item.value[:65536]),
            "base64": base64.b64encode(item.value).decode(),
        }

    def reset(self) -> None:
        """Empty the cache and zero its counters."""
        self.store.clear()


def register(store: Store, observatory: Any = None) -> MemcachedInspector:
    """Register the memcached inspector on C{observatory} (the hub by default)."""
    from zoo.inspect import register as register_inspector

    inspector = MemcachedInspector(store, observatory)
    register_inspector(inspector.observatory, "memcached", inspector)
    return inspector


__all__ = ["MemcachedInspector", "register"]
