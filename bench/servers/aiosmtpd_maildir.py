"""The reference for bench/smtp.py: aiosmtpd storing each message in a Maildir per recipient.

Same durability as zoo-smtp: write to tmp/, fsync, rename into new/, fsync new/,
then 250 (or 451 on error). The disk work runs in a thread, as zoo-smtp's does, so
one session's fsync does not stall the others. --no-fsync turns the syncing off;
--sink stores nothing (aiosmtpd's own Sink handler: the protocol's upper bound).

Usage: python bench/servers/aiosmtpd_maildir.py --root DIR [--port N] [--ready-file F]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
from itertools import count
from pathlib import Path

from aiosmtpd.smtp import SMTP

SEQ = count()


def write(root: Path, mailboxes: list[str], data: bytes, fsync: bool) -> None:
    made, done = [], []
    try:
        for box in mailboxes:
            path = root / box
            for sub in ("tmp", "new", "cur"):
                (path / sub).mkdir(parents=True, exist_ok=True)
            tmp = path / "tmp" / f"{os.getpid()}.{next(SEQ)}.ref"
            made.append(tmp)
            with open(tmp, "wb") as f:
                f.write(data)
                if fsync:
                    f.flush()
                    os.fsync(f.fileno())
        for tmp in made:
            final = tmp.parent.parent / "new" / tmp.name
            os.rename(tmp, final)
            done.append(final)
        if fsync:
            for d in {p.parent for p in done}:
                fd = os.open(d, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
    except BaseException:
        for p in made + done:
            try:
                os.unlink(p)
            except OSError:
                pass
        raise


class MaildirHandler:
    def __init__(self, root: Path, fsync: bool) -> None:
        self.root = root
        self.fsync = fsync

    async def handle_DATA(self, server, session, envelope):
        boxes = [rcpt.lower().replace("/", "%2f") for rcpt in envelope.rcpt_tos]
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                None, write, self.root, boxes, envelope.original_content, self.fsync
            )
        except OSError:
            return "451 4.3.0 Requested action aborted: local error in processing"
        return "250 2.0.0 Message accepted for delivery"


class SinkHandler:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file")
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--sink", action="store_true")
    args = parser.parse_args()
    handler = SinkHandler() if args.sink else MaildirHandler(args.root, not args.no_fsync)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        sock = socket.create_server(("127.0.0.1", args.port))
        server = await loop.create_server(
            lambda: SMTP(handler, data_size_limit=20 * 1024 * 1024, hostname="localhost"),
            sock=sock,
        )
        port = sock.getsockname()[1]
        if args.ready_file:
            tmp = args.ready_file + ".tmp"
            listener = {"service": "smtp", "type": "TCP", "host": "127.0.0.1", "port": port}
            Path(tmp).write_text(json.dumps({"pid": os.getpid(), "listeners": [listener]}))
            os.replace(tmp, args.ready_file)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
