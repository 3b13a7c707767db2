"""The reference echo server: a plain asyncio Protocol.

It writes back every byte it reads.  A length-prefixed frame (``!I`` length +
payload) echoed byte for byte is the same frame, so this server is also the
reference for the ``blocks`` benchmark.

    python bench/servers/asyncio_echo.py --port 7 [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

from _ready import announce, serve


class Echo(asyncio.Protocol):
    """Write back whatever arrives."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, args.host, args.port, backlog=1024)
    host, port = server.sockets[0].getsockname()[:2]
    announce(args.ready_file, "echo", host, port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    serve(__doc__.splitlines()[0], main)
