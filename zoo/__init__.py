"""zoo: every classic protocol from the network-programming books, as a twistd plugin.

The composition API (L{zoo.service}) is importable from here: L{compose},
L{root}, L{serve}, L{ZooRoot} and L{Bound}; so is L{run} (L{zoo.launch}), a zoo
in a subprocess for a test suite or a script. They are loaded on first use, so
that importing one protocol module (C{zoo.echo}) or the plugin file stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from zoo.launch import run
    from zoo.service import Bound, ZooRoot, compose, root, serve

__all__ = ["Bound", "ZooRoot", "__version__", "compose", "root", "run", "serve"]

_FROM_SERVICE = frozenset(["Bound", "ZooRoot", "compose", "root", "serve"])


def __getattr__(name: str) -> Any:
    if name in _FROM_SERVICE:
        import zoo.service

        return getattr(zoo.service, name)
    if name == "run":
        from zoo.launch import run

        return run
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
