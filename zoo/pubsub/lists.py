"""Redis lists without any I/O: the keyspace, the blocking pops, and their caps.

Exercise 17.4 of *Introducing Python* (Lucy's chocolate factory) pushes onto a list
and pops with BLPOP. L{Keyspace} holds the lists (a key with an empty list does
not exist, as in Redis) and the clients blocked on them: a client blocked on
several keys waits in each key's queue, and a push serves the clients of that key
in the order they blocked (FIFO), one element each, from the side each asked for.

Memory is bounded twice: at most L{Keyspace.max_keys} lists, and at most
L{Keyspace.max_memory} bytes charged for them (each element's length plus
L{ELEMENT_COST}, each key's plus L{KEY_COST}). A push past either gets Redis's
out-of-memory error and changes nothing.

zoo-pubsub keeps no other type of value, so Redis's C{WRONGTYPE} cannot happen here.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.pubsub.core import Client

#: Bytes charged per element and per key on top of their lengths.
ELEMENT_COST = 16
KEY_COST = 64
#: Default caps (C{--max-keys}, C{--max-list-memory}).
DEFAULT_MAX_KEYS = 100_000
DEFAULT_MAX_MEMORY = 64 * 1024 * 1024

#: Redis's reply when C{maxmemory} is reached, used for both caps.
OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"


class Block:
    """Why a client waits: the keys, the side it pops from, its timeout's call."""

    __slots__ = ("keys", "left", "timer")

    def __init__(self, keys: list[bytes], left: bool) -> None:
        self.keys = keys
        self.left = left
        self.timer: Any = None


class Keyspace:
    """Keys to lists, and the clients blocked on them."""

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS, max_memory: int = DEFAULT_MAX_MEMORY):
        self.max_keys = max_keys
        self.max_memory = max_memory
        self.lists: dict[bytes, deque[bytes]] = {}
        self.used = 0
        self.waiting: dict[bytes, deque[Client]] = {}

    # -- reading ---------------------------------------------------------------------

    def length(self, key: bytes) -> int:
        items = self.lists.get(key)
        return len(items) if items is not None else 0

    def range(self, key: bytes, start: int, stop: int) -> list[bytes]:
        """LRANGE: inclusive, negative indexes from the end, out of range clamped."""
        items = self.lists.get(key)
        if items is None:
            return []
        n = len(items)
        if start < 0:
            start = max(n + start, 0)
        if stop < 0:
            stop += n
        stop = min(stop, n - 1)
        if start > stop:
            return []
        if start == 0 and stop == n - 1:
            return list(items)
        return [items[i] for i in range(start, stop + 1)]

    # -- writing ---------------------------------------------------------------------

    def push(self, key: bytes, values: list[bytes], left: bool) -> int | None:
        """RPUSH/LPUSH: the new length, or C{None} past a cap (nothing pushed)."""
        items = self.lists.get(key)
        cost = sum(len(v) for v in values) + ELEMENT_COST * len(values)
        if items is None:
            if len(self.lists) >= self.max_keys:
                return None
            cost += len(key) + KEY_COST
        if self.used + cost > self.max_memory:
            return None
        if items is None:
            items = self.lists[key] = deque()
        self.used += cost
        if left:
            items.extendleft(values)
        else:
            items.extend(values)
        return len(items)

    def pop(self, key: bytes, count: int, left: bool) -> list[bytes]:
        """Up to C{count} elements from one end (none if there is no such list)."""
        items = self.lists.get(key)
        if items is None:
            return []
        take = items.popleft if left else items.pop
        out = [take() for _ in range(min(count, len(items)))]
        self.used -= sum(len(v) for v in out) + ELEMENT_COST * len(out)
        if not items:
            self._forget(key)
        return out

    def delete(self, key: bytes) -> bool:
        items = self.lists.get(key)
        if items is None:
            return False
        self.used -= sum(len(v) for v in items) + ELEMENT_COST * len(items)
        self._forget(key)
        return True

    def _forget(self, key: bytes) -> None:
        del self.lists[key]
        self.used -= len(key) + KEY_COST

    def clear(self) -> None:
        """Forget every list (the control plane's reset); blocked clients keep waiting."""
        self.lists.clear()
        self.used = 0

    # -- blocking --------------------------------------------------------------------

    def block(self, client: Client, keys: list[bytes], left: bool) -> Block:
        """Make C{client} wait on C{keys} (none of which has elements now)."""
        block = client.blocked = Block(list(dict.fromkeys(keys)), left)
        for key in block.keys:
            self.waiting.setdefault(key, deque()).append(client)
        return block

    def unblock(self, client: Client) -> None:
        """C{client} waits no more (served, timed out or gone)."""
        block = client.blocked
        if block is None:
            return
        client.blocked = None
        if block.timer is not None and block.timer.active():
            block.timer.cancel()
        for key in block.keys:
            queue = self.waiting.get(key)
            if queue is not None:
                try:
                    queue.remove(client)
                except ValueError:
                    pass
                if not queue:
                    del self.waiting[key]

    def serve(self, key: bytes) -> list[tuple[Client, bytes]]:
        """Hand elements of C{key} to the clients blocked on it, first come first served.

        @return: each client served, with the element it gets (now unblocked).
        """
        served = []
        queue = self.waiting.get(key)
        while queue and key in self.lists:
            client = queue[0]
            block = client.blocked
            assert block is not None
            (value,) = self.pop(key, 1, block.left)
            self.unblock(client)
            served.append((client, value))
            queue = self.waiting.get(key)
        return served

    @property
    def blocked(self) -> int:
        """Clients blocked now."""
        return len({id(c) for q in self.waiting.values() for c in q})
