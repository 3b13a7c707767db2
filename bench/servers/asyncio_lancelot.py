"""The reference Lancelot server: a plain asyncio Protocol.

Questions end with ``?``; each gets one answer ending with ``.``.  A question
may arrive split over several reads, and several questions may arrive in one
read (pipelining); both are handled by buffering up to the next ``?``.

    python bench/servers/asyncio_lancelot.py --port 1060 [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

from _ready import announce, serve

ANSWERS = {
    b"What is your name?": b"My name is Sir Lancelot of Camelot.",
    b"What is your quest?": b"To seek the Holy Grail.",
    b"What is your favorite color?": b"Blue.",
}
UNKNOWN = b"I do not know the answer to that question."
MAX_QUESTION = 1024  # a buffer longer than this without "?" is not a question


class Lancelot(asyncio.Protocol):
    """Answer each ``?``-terminated question on the connection, in order."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        *questions, self.buffer = self.buffer.split(b"?")
        if questions:
            self.transport.write(b"".join(ANSWERS.get(q + b"?", UNKNOWN) for q in questions))
        if len(self.buffer) > MAX_QUESTION:
            self.transport.close()


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Lancelot, args.host, args.port, backlog=1024)
    host, port = server.sockets[0].getsockname()[:2]
    announce(args.ready_file, "lancelot", host, port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    serve(__doc__.splitlines()[0], main)
