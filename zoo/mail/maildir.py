"""Maildirs on disk: one per mailbox address, written so that nothing accepted is lost.

A message is delivered the Maildir way: written to C{tmp/}, flushed with C{fsync},
renamed into C{new/}, and the C{new/} directory fsynced, before the SMTP server says
250. A delivery to several mailboxes is all or nothing: if any write fails, every file
it made is removed, so a client that retries after the 4xx reply never finds a
duplicate or a partial message.

Mailbox names are addresses, lower-cased, with anything outside C{[a-z0-9.+=_@-]}
percent-escaped and a leading dot escaped, so no recipient can name a path outside
the mail root (C{../../etc@x} becomes C{%2e.%2f..%2fetc@x}).
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, Protocol

from twisted.internet.defer import Deferred, fail, succeed

_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789.+=_@-")
SUBDIRS = ("tmp", "new", "cur")


def mailbox_name(address: str | bytes, default_domain: str = "localhost") -> str:
    """The directory name of the mailbox for C{address} (a recipient or a login name).

    A name without C{@} gets C{@default_domain}, as SMTP does for a bare recipient.
    @raise ValueError: for an empty address.
    """
    if isinstance(address, str):
        address = address.encode("utf-8", "surrogateescape")
    address = address.strip().strip(b"<>").strip().lower()
    if not address:
        raise ValueError("empty mailbox address")
    if b"@" not in address:
        address += b"@" + default_domain.lower().encode("idna")
    out = []
    for i, c in enumerate(address):
        if c in _SAFE and not (i == 0 and c == ord(".")):
            out.append(chr(c))
        else:
            out.append(f"%{c:02x}")
    return "".join(out)


class Writer(Protocol):
    """What the SMTP server stores accepted messages with."""

    def deliver(self, mailboxes: Sequence[str], data: bytes) -> Deferred[list[Path]]:
        """Store C{data} once in each mailbox; fire only when it is safely on disk."""


@dataclass
class MaildirStore:
    """The Maildirs under C{root}, one per mailbox name.

    @ivar fsync: flush files and directories to disk before a delivery counts as done.
    @ivar clock: seconds since the epoch, for unique file names.
    """

    root: Path
    fsync: bool = True
    clock: Callable[[], float] = time.time
    host: str = field(default_factory=lambda: socket.gethostname().replace("/", "_"))
    _seq: Any = field(default_factory=count)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def path(self, mailbox: str) -> Path:
        """The Maildir of C{mailbox} (a name from L{mailbox_name})."""
        if not mailbox or "/" in mailbox or mailbox.startswith("."):
            raise ValueError(f"not a mailbox name: {mailbox!r}")
        return self.root / mailbox

    def ensure(self, mailbox: str) -> Path:
        """Create the Maildir of C{mailbox} if needed; return its path."""
        path = self.path(mailbox)
        if not (path / "cur").is_dir():
            for sub in SUBDIRS:
                (path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    def mailboxes(self) -> list[str]:
        """The names of the existing mailboxes."""
        try:
            return sorted(p.name for p in self.root.iterdir() if (p / "cur").is_dir())
        except FileNotFoundError:
            return []

    def clean_tmp(self, max_age: float = 36 * 3600) -> int:
        """Remove files left in any C{tmp/} for over C{max_age} seconds (the Maildir rule).

        They are deliveries interrupted before the rename: never acknowledged, so
        the client resent them. @return: how many were removed.
        """
        cutoff = self.clock() - max_age
        removed = 0
        for tmp in self.root.glob("*/tmp/*"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except OSError:
                pass
        return removed

    def unique(self) -> str:
        """A file name no other delivery uses (the Maildir C{time.MusecPpidQn.host} form)."""
        now = self.clock()
        sec = int(now)
        usec = int((now - sec) * 1_000_000)
        return f"{sec}.M{usec:06d}P{os.getpid()}Q{next(self._seq)}.{self.host}"

    def write_file(self, fd: int, data: bytes) -> None:
        """Write all of C{data} to the open file C{fd}."""
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def publish(self, tmp: Path, final: Path) -> None:
        """Move a written, synced file from C{tmp/} into C{new/}."""
        os.rename(tmp, final)

    def write(self, mailboxes: Iterable[str], data: bytes) -> list[Path]:
        """Deliver C{data} to every mailbox, all or nothing; return the files in C{new/}.

        C{data} is the message as it travels (CRLF line ends); on disk it has the
        Maildir convention's LF, and the file name records both sizes (C{,S=} on
        disk, C{,W=} on the wire) so POP3 and IMAP can report them without reading.

        @raise OSError: if anything failed; then no file of this delivery is left behind.
        """
        wire = len(data)
        data = data.replace(b"\r\n", b"\n")
        sizes = f",S={len(data)},W={wire}"
        made: list[Path] = []
        delivered: list[Path] = []
        try:
            for mailbox in mailboxes:
                path = self.ensure(mailbox)
                name = self.unique() + sizes
                tmp = path / "tmp" / name
                made.append(tmp)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    self.write_file(fd, data)
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            for tmp in made:
                final = tmp.parent.parent / "new" / tmp.name
                self.publish(tmp, final)
                delivered.append(final)
            if self.fsync:
                for d in {p.parent for p in delivered}:
                    _fsync_dir(d)
        except BaseException:
            for p in made + delivered:
                try:
                    os.unlink(p)
                except OSError:
                    pass
            raise
        return delivered


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SyncWriter:
    """Deliver in the calling thread (tests, and anything that wants no threads)."""

    def __init__(self, store: MaildirStore) -> None:
        self.store = store

    def deliver(self, mailboxes: Sequence[str], data: bytes) -> Deferred[list[Path]]:
        try:
            return succeed(self.store.write(mailboxes, data))
        except Exception:
            return fail()


class ThreadWriter:
    """Deliver in a thread pool so one session's fsync never stalls the others."""

    def __init__(self, store: MaildirStore, reactor: Any = None, threadpool: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.store = store
        self.reactor = reactor
        self.threadpool = threadpool

    def deliver(self, mailboxes: Sequence[str], data: bytes) -> Deferred[list[Path]]:
        from twisted.internet.threads import deferToThreadPool

        pool = self.threadpool or self.reactor.getThreadPool()
        return deferToThreadPool(self.reactor, pool, self.store.write, list(mailboxes), data)


_ORDER = re.compile(r"(\d+)\.M(\d+)P\d+Q(\d+)\.")


def arrival_order(path: Path) -> tuple[int, int, int, str]:
    """Sort key putting messages in delivery order (names from other writers last-ish)."""
    found = _ORDER.match(path.name)
    if found:
        sec, usec, seq = (int(x) for x in found.groups())
        return sec, usec, seq, path.name
    return 0, 0, 0, path.name


_WIRE = re.compile(r",W=(\d+)")


def wire_size(path: Path) -> int:
    """The size of the message at C{path} with CRLF line ends (as POP3 and IMAP send it)."""
    found = _WIRE.search(path.name)
    if found:
        return int(found.group(1))
    data = path.read_bytes()
    return len(data) + data.count(b"\n") - data.count(b"\r\n")
