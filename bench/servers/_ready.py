"""Shared command line and ready-file handling for the reference servers.

Every asyncio reference server runs on asyncio's own event loop, or with ``--uvloop``
on uvloop's (the same server code, the fastest event loop Python has).

The ready file has the same shape as the one ``twistd zoo-...`` writes, so the
harness reads both the same way::

    {"pid": 123, "listeners": [{"service": "lancelot", "type": "TCP",
                                "host": "127.0.0.1", "port": 40123}]}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Callable, Coroutine
from typing import Any


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the options every reference server takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument("--ready-file", help="once listening, write the bound port here as JSON")
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="run the same server on uvloop's event loop instead of asyncio's own",
    )
    return parser.parse_args(argv)


def serve(
    description: str,
    main: Callable[[argparse.Namespace], Coroutine[Any, Any, None]],
    argv: list[str] | None = None,
) -> None:
    """Parse the options and run C{main(args)} on asyncio's loop, or uvloop's with --uvloop.

    The server code is the same either way: only the event loop changes.
    """
    args = parse_args(description, argv)
    if args.uvloop:
        import uvloop  # the bench extra: pip install -e '.[bench]'

        uvloop.run(main(args))
    else:
        asyncio.run(main(args))


def announce(ready_file: str | None, service: str, host: str, port: int) -> None:
    """Write the ready file atomically (write a temporary file, then rename)."""
    if not ready_file:
        return
    listener = {"service": service, "type": "TCP", "host": host, "port": port}
    temporary = f"{ready_file}.tmp"
    with open(temporary, "w") as f:
        json.dump({"pid": os.getpid(), "listeners": [listener]}, f)
    os.replace(temporary, ready_file)
