"""zoo-memcached: memcached's text protocol, for FOPNP's C{squares.py} and its session.

L{zoo.memcached.store} is the cache (expiry, CAS, LRU under a memory cap),
L{zoo.memcached.session} the text protocol without I/O, L{zoo.memcached.protocol}
the Twisted adapter, and L{zoo.memcached.inspector} the control plane's view.
"""

from __future__ import annotations

#: memcached's port.
PORT = 11211

__all__ = ["PORT"]
