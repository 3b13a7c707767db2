"""The cache without any I/O: items, expiry, CAS, and LRU eviction under a memory cap.

A L{Store} maps keys (C{bytes}) to L{Item}s in least-recently-used order. Every
item is charged what memcached charges it (L{item_size}: a 48-byte header, the CAS
value, the key with its NUL, the data with its CRLF), and storing past the memory
cap evicts from the least recently used end until the new item fits.

Time comes from an injected clock (an C{IReactorTime}: the reactor, or a
C{task.Clock} in tests). Expiry times are memcached's: C{0} never expires; up to 30
days is seconds from now; more is an absolute Unix time; a negative one has
already expired. An expired item is forgotten when it is next touched, and its
memory taken first when room is needed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Expiry times above this many seconds are absolute Unix times.
RELATIVE_MAX = 30 * 24 * 60 * 60
#: What memcached adds to key and data: item header (48), CAS (8), NUL, CRLF.
ITEM_OVERHEAD = 48 + 8 + 1 + 2
#: The largest item (memcached's C{-I 1m}), overhead included.
DEFAULT_ITEM_MAX = 1024 * 1024
#: memcached's C{-m 64}.
DEFAULT_MEMORY = 64 * 1024 * 1024
#: incr/decr arithmetic wraps at 2**64 (incr) and stops at 0 (decr), as in memcached.
U64 = 1 << 64
#: The longest value incr/decr reads as a number (memcached's C{INCR_MAX_STORAGE_LEN}).
NUMBER_MAX = 24

# Store results, as the text protocol names them.
STORED = "STORED"
NOT_STORED = "NOT_STORED"
EXISTS = "EXISTS"
NOT_FOUND = "NOT_FOUND"
TOO_LARGE = "TOO_LARGE"
NON_NUMERIC = "NON_NUMERIC"


def item_size(key: bytes, value: bytes) -> int:
    """Bytes an item is charged against the memory cap (and the item limit)."""
    return ITEM_OVERHEAD + len(key) + len(value)


@dataclass(slots=True)
class Item:
    """One cached value.

    @ivar expires: when it expires, on the store's clock (C{0}: never).
    @ivar stored: when it was last stored (flush_all with a delay compares this).
    """

    value: bytes
    flags: int
    expires: float
    cas: int
    stored: float


@dataclass
class Counters:
    """The numbers C{stats} reports, named as memcached names them."""

    cmd_get: int = 0
    cmd_set: int = 0
    cmd_flush: int = 0
    cmd_touch: int = 0
    get_hits: int = 0
    get_misses: int = 0
    get_expired: int = 0
    get_flushed: int = 0
    delete_hits: int = 0
    delete_misses: int = 0
    incr_hits: int = 0
    incr_misses: int = 0
    decr_hits: int = 0
    decr_misses: int = 0
    cas_hits: int = 0
    cas_misses: int = 0
    cas_badval: int = 0
    touch_hits: int = 0
    touch_misses: int = 0
    total_items: int = 0
    evictions: int = 0
    expired_unfetched: int = 0
    reclaimed: int = 0


class Store:
    """Keys to items, least recently used first, within C{memory} bytes.

    @param clock: an C{IReactorTime}; only its C{seconds()} is read.
    @param memory: the memory cap in bytes (what L{item_size} charges).
    @param item_max: the largest item, in the same bytes.
    @ivar on_evict: called with the key of each item evicted for room (an event).
    """

    def __init__(
        self, clock: Any, memory: int = DEFAULT_MEMORY, item_max: int = DEFAULT_ITEM_MAX
    ) -> None:
        self.clock = clock
        self.memory = memory
        self.item_max = item_max
        self.items: OrderedDict[bytes, Item] = OrderedDict()
        self.bytes = 0
        self.stats = Counters()
        self.started = clock.seconds()
        self.on_evict: Callable[[bytes], None] | None = None
        self._cas = 0
        #: flush_all: items stored at or before this time are gone once it has passed.
        self._flush_at: float | None = None

    # -- time ------------------------------------------------------------------------

    def expiry(self, exptime: int) -> float:
        """The clock time an item given C{exptime} expires (C{0}: never)."""
        if exptime == 0:
            return 0.0
        now = self.clock.seconds()
        if exptime < 0:
            return now - 1  # already expired, as memcached treats it
        if exptime > RELATIVE_MAX:
            # An absolute Unix time; one before the server started has passed.
            return float(exptime) if exptime > self.started else now - 1
        return now + exptime

    def gone(self, item: Item, now: float) -> bool:
        """Whether C{item} has expired or been flushed by C{now} (it is left where it is)."""
        if item.expires and item.expires <= now:
            return True
        flush_at = self._flush_at
        return flush_at is not None and flush_at <= now and item.stored <= flush_at

    def _live(self, key: bytes, item: Item, now: float) -> bool:
        """Whether C{item} still counts; an expired or flushed one is removed."""
        if self.gone(item, now):
            self._remove(key, item)
            return False
        return True

    def lookup(self, key: bytes) -> Item | None:
        """The live item under C{key} (now the most recently used), or C{None}."""
        item = self.items.get(key)
        if item is None:
            return None
        if (item.expires or self._flush_at is not None) and not self._live(
            key, item, self.clock.seconds()
        ):
            return None
        self.items.move_to_end(key)
        return item

    # -- reading ---------------------------------------------------------------------

    def get(self, key: bytes) -> Item | None:
        """C{get}: the item, counting a hit or a miss."""
        stats = self.stats
        stats.cmd_get += 1
        item = self.lookup(key)
        if item is None:
            stats.get_misses += 1
        else:
            stats.get_hits += 1
        return item

    def touch(self, key: bytes, exptime: int, get: bool = False) -> Item | None:
        """C{touch} (or C{gat} with C{get}): a new expiry time for a live item."""
        stats = self.stats
        stats.cmd_touch += 1
        if get:
            stats.cmd_get += 1
        item = self.lookup(key)
        if item is None:
            stats.touch_misses += 1
            if get:
                stats.get_misses += 1
            return None
        stats.touch_hits += 1
        if get:
            stats.get_hits += 1
        item.expires = self.expiry(exptime)
        return item

    # -- writing ---------------------------------------------------------------------

    def store(
        self, mode: str, key: bytes, flags: int, exptime: int, value: bytes, cas: int = 0
    ) -> str:
        """C{set}, C{add}, C{replace}, C{append}, C{prepend} or C{cas}: a result name."""
        self.stats.cmd_set += 1
        if item_size(key, value) > self.item_max:
            if mode == "set":  # memcached drops the stale value rather than keep it
                self.delete(key, count=False)
            return TOO_LARGE
        old = self.lookup(key)
        if mode == "add":
            if old is not None:
                return NOT_STORED
        elif mode == "replace" or mode == "append" or mode == "prepend":
            if old is None:
                return NOT_STORED
            if mode == "append":
                value, flags, exptime_at = old.value + value, old.flags, old.expires
            elif mode == "prepend":
                value, flags, exptime_at = value + old.value, old.flags, old.expires
            if mode != "replace":
                if item_size(key, value) > self.item_max:
                    return TOO_LARGE
                self._put(key, value, flags, exptime_at)
                return STORED
        elif mode == "cas":
            if old is None:
                self.stats.cas_misses += 1
                return NOT_FOUND
            if old.cas != cas:
                self.stats.cas_badval += 1
                return EXISTS
            self.stats.cas_hits += 1
        self._put(key, value, flags, self.expiry(exptime))
        return STORED

    def _put(self, key: bytes, value: bytes, flags: int, expires: float) -> Item:
        old = self.items.pop(key, None)
        if old is not None:
            self.bytes -= item_size(key, old.value)
        size = item_size(key, value)
        self._make_room(size)
        self._cas += 1
        item = Item(value, flags, expires, self._cas, self.clock.seconds())
        self.items[key] = item
        self.bytes += size
        self.stats.total_items += 1
        return item

    def _make_room(self, size: int) -> None:
        """Evict least recently used items until C{size} more bytes fit."""
        items = self.items
        now = self.clock.seconds()
        while items and self.bytes + size > self.memory:
            key, item = next(iter(items.items()))
            if self._live(key, item, now):
                self._remove(key, item)
                self.stats.evictions += 1
                if self.on_evict is not None:
                    self.on_evict(key)
            else:
                self.stats.reclaimed += 1

    def _remove(self, key: bytes, item: Item) -> None:
        del self.items[key]
        self.bytes -= item_size(key, item.value)

    def delete(self, key: bytes, count: bool = True) -> bool:
        """C{delete}: whether a live item was there."""
        item = self.lookup(key)
        if item is not None:
            self._remove(key, item)
        if count:
            if item is None:
                self.stats.delete_misses += 1
            else:
                self.stats.delete_hits += 1
        return item is not None

    def incr(self, key: bytes, delta: int, decr: bool = False) -> int | str:
        """C{incr}/C{decr}: the new value, or L{NOT_FOUND} or L{NON_NUMERIC}.

        incr wraps at 2**64 and decr stops at 0. As in memcached, a result shorter
        than the stored number is padded with spaces to the old length (the item is
        changed in place), and a longer one makes a new item.
        """
        stats = self.stats
        item = self.lookup(key)
        if item is None:
            if decr:
                stats.decr_misses += 1
            else:
                stats.incr_misses += 1
            return NOT_FOUND
        number = parse_u64(item.value) if len(item.value) < NUMBER_MAX else None
        if number is None:
            return NON_NUMERIC
        if decr:
            stats.decr_hits += 1
            number = max(number - delta, 0)
        else:
            stats.incr_hits += 1
            number = (number + delta) % U64
        text = b"%d" % number
        if len(text) <= len(item.value):
            item.value = text.ljust(len(item.value))
            self._cas += 1
            item.cas = self._cas
        else:
            self._put(key, text, item.flags, item.expires)
        return number

    def flush(self, delay: int = 0) -> None:
        """C{flush_all}: every item stored until C{delay} seconds from now is gone then."""
        self.stats.cmd_flush += 1
        if delay > 0:
            self._flush_at = self.expiry(delay) - 1e-9
        else:
            self.items.clear()
            self.bytes = 0
            self._flush_at = None

    def clear(self) -> None:
        """Forget every item and every counter (the control plane's reset)."""
        self.items.clear()
        self.bytes = 0
        self.stats = Counters()
        self._flush_at = None


def parse_u64(text: bytes) -> int | None:
    """A number as memcached's C{safe_strtoull} reads it, or C{None}.

    Leading and trailing spaces are allowed (a decremented value is space-padded);
    a sign, other characters, or a value of 2**64 or more are not.
    """
    digits = text.strip(b" ")
    if not digits or not digits.isdigit():
        return None
    number = int(digits)
    return number if number < U64 else None
