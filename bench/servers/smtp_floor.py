"""The floor for bench/smtp.py: the least a Python server can do and keep the durability rule.

Not an SMTP server: canned replies to every command (no parsing, no checks, no
limits, no trace headers, no logging), and after the final dot the message goes
into the recipient's Maildir exactly as the other servers store it: written to
tmp/, fsynced, renamed into new/, new/ fsynced, then 250; the disk work in
asyncio's default thread pool. What is left of a session is the kernel's and
the client's part (TCP, the file system, smtp-source itself), which no server
in Python can skip. A real server can only be this fast or slower (unless it
takes work off the path between the dot and the 250, as zoo-smtp's spare files
do), so the ratio of this floor to aiosmtpd bounds the ratio any server can
reach with this client and this disk.

Usage: python bench/servers/smtp_floor.py --root DIR [--port N] [--ready-file F] [--no-fsync]
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _ready import announce

SEQ = count()


def store(root: str, boxes: list[bytes], data: bytes, fsync: bool) -> None:
    """The same Maildir rule as zoo-smtp and aiosmtpd_maildir.py (all or nothing)."""
    made, done = [], []
    try:
        for box in boxes:
            path = f"{root}/{box.decode('ascii', 'replace').lower().replace('/', '%2f')}"
            for sub in ("tmp", "new", "cur"):
                os.makedirs(f"{path}/{sub}", exist_ok=True)
            name = f"{os.getpid()}.{next(SEQ)}.floor"
            made.append((f"{path}/tmp/{name}", f"{path}/new/{name}"))
            fd = os.open(made[-1][0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        for tmp, final in made:
            os.rename(tmp, final)
            done.append(final)
        if fsync:
            for d in {final.rpartition("/")[0] for final in done}:
                fd = os.open(d, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
    except BaseException:
        for p in [tmp for tmp, _ in made] + done:
            try:
                os.unlink(p)
            except OSError:
                pass
        raise


class Floor(asyncio.Protocol):
    root = ""
    fsync = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.t = transport
        self.buf = b""
        self.in_data = False
        self.rcpts: list[bytes] = []
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(b"220 floor ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    return
                message, self.buf = self.buf[2:end + 2], self.buf[end + 5:]  # fmt: skip
                self.in_data = False
                boxes, self.rcpts = self.rcpts, []
                loop = asyncio.get_running_loop()
                done = loop.run_in_executor(None, store, self.root, boxes, message, self.fsync)
                done.add_done_callback(self._stored)
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                return
            line, self.buf = self.buf[:end], self.buf[end + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.t.write(b"250-floor\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"RCPT":
                self.rcpts.append(line.partition(b"<")[2].partition(b">")[0])
                self.t.write(b"250 ok\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.buf = b"\r\n" + self.buf  # so a message's first line can end it
                self.t.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                self.t.write(b"221 bye\r\n")
                self.t.close()
                return
            else:
                self.t.write(b"250 ok\r\n")

    def _stored(self, done: asyncio.Future[None]) -> None:
        self.t.write(b"451 failed\r\n" if done.exception() else b"250 ok\r\n")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file")
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args()
    Floor.root = str(args.root)
    Floor.fsync = not args.no_fsync

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        sock = socket.create_server(("127.0.0.1", args.port), backlog=1024)
        server = await loop.create_server(Floor, sock=sock)
        announce(args.ready_file, "smtp", "127.0.0.1", sock.getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
