"""Shared command line and ready-file handling for the reference servers.

The ready file has the same shape as the one ``twistd zoo-...`` writes, so the
harness reads both the same way::

    {"pid": 123, "listeners": [{"service": "lancelot", "type": "TCP",
                                "host": "127.0.0.1", "port": 40123}]}
"""

from __future__ import annotations

import argparse
import json
import os


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the options every reference server takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument("--ready-file", help="once listening, write the bound port here as JSON")
    return parser.parse_args(argv)


def announce(ready_file: str | None, service: str, host: str, port: int) -> None:
    """Write the ready file atomically (write a temporary file, then rename)."""
    if not ready_file:
        return
    listener = {"service": service, "type": "TCP", "host": host, "port": port}
    temporary = f"{ready_file}.tmp"
    with open(temporary, "w") as f:
        json.dump({"pid": os.getpid(), "listeners": [listener]}, f)
    os.replace(temporary, ready_file)
