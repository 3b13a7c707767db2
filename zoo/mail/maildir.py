"""Maildirs on disk: one per mailbox address, written so that nothing accepted is lost.

A message is delivered the Maildir way: written to C{tmp/}, flushed with C{fsync},
renamed into C{new/}, and the C{new/} directory fsynced, before the SMTP server says
250. A delivery to several mailboxes is all or nothing: if any write fails, every file
it made is removed, so a client that retries after the 4xx reply never finds a
duplicate or a partial message.

The C{tmp/} file a delivery writes into is usually made beforehand: after a delivery
the writer thread creates a spare empty file in the C{tmp/} of each mailbox it has
recently delivered to, so creating a file (an inode allocation, 35-360 µs on ext4
here) is not between the end of the message and its 250. A spare is an empty file
in C{tmp/}, which Maildir readers ignore; one left by a crash is removed by
L{MaildirStore.clean_tmp} like any interrupted delivery.

Mailbox names are addresses, lower-cased, with anything outside C{[a-z0-9.+=_@-]}
percent-escaped and a leading dot escaped, so no recipient can name a path outside
the mail root (C{../../etc@x} becomes C{%2e.%2f..%2fetc@x}).
"""

from __future__ import annotations

import collections
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, Protocol

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789.+=_@-")
SUBDIRS = ("tmp", "new", "cur")
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL


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

    def deliver(self, mailboxes: Sequence[str], data: bytes) -> Deferred[list[str]]:
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
    _dir_syncs: dict[str, _DirSync] = field(default_factory=dict, repr=False)
    _boxes: dict[str, str] = field(default_factory=dict, repr=False)  # mailbox: its folder
    #: Spare files kept ready in C{tmp/}, per recently used mailbox (L{refill}).
    spares_per_box: int = 2
    #: How many mailboxes keep spares (the most recently delivered to).
    max_spare_boxes: int = 32
    _spares: dict[str, list[tuple[str, int]]] = field(default_factory=dict, repr=False)
    _spare_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.mkdir(mode=0o700, exist_ok=True)  # private, like everything below it
            for sub in SUBDIRS:
                (path / sub).mkdir(mode=0o700, exist_ok=True)
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

    def publish(self, tmp: str, final: str) -> None:
        """Move a written, synced file from C{tmp/} into C{new/}."""
        os.rename(tmp, final)

    def write(self, mailboxes: Iterable[str], data: bytes) -> list[str]:
        """Deliver C{data} to every mailbox, all or nothing; return the files in C{new/}
        (their paths as text: a delivery makes no C{Path}, and an event keeping them
        keeps one string each).

        C{data} is the message as it travels (CRLF line ends); on disk it has the
        Maildir convention's LF, and the file name records both sizes (C{,S=} on
        disk, C{,W=} on the wire) so POP3 and IMAP can report them without reading.

        @raise OSError: if anything failed; then no file of this delivery is left behind.
        """
        wire = len(data)
        data = to_lf(data)
        sizes = f",S={len(data)},W={wire}"
        made: list[tuple[str, str]] = []  # (file in tmp/, its name in new/)
        delivered: list[str] = []
        try:
            for mailbox in mailboxes:
                name = self.unique() + sizes
                box, tmp, fd = self._take_spare(mailbox) or self._create(mailbox, name)
                made.append((tmp, f"{box}/new/{name}"))
                try:
                    self.write_file(fd, data)
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            for tmp, final in made:
                self.publish(tmp, final)
                delivered.append(final)
            if self.fsync:
                for d in {final.rpartition("/")[0] for final in delivered}:
                    self.sync_dir(d)
        except BaseException:
            for p in [tmp for tmp, _ in made] + delivered:
                try:
                    os.unlink(p)
                except OSError:
                    pass
            raise
        return delivered

    def _create(self, mailbox: str, name: str) -> tuple[str, str, int]:
        """Create C{tmp/name} in the Maildir of C{mailbox}: its folder, the file, the fd.

        A Maildir once made is remembered, so a delivery costs no C{stat}; if it has
        been removed since, it is made again.
        """
        box = self._boxes.get(mailbox)
        if box is not None:
            try:
                tmp = f"{box}/tmp/{name}"
                return box, tmp, os.open(tmp, _CREATE, 0o600)
            except FileNotFoundError:
                self._boxes.pop(mailbox, None)
        box = str(self.ensure(mailbox))
        tmp = f"{box}/tmp/{name}"
        fd = os.open(tmp, _CREATE, 0o600)
        self._boxes[mailbox] = box
        return box, tmp, fd

    def _take_spare(self, mailbox: str) -> tuple[str, str, int] | None:
        """A spare file made by L{refill} for C{mailbox}, or C{None} if there is none.

        The mailbox is marked as recently used either way, so L{refill} makes it
        spares. A spare that was deleted meanwhile (its Maildir removed) is dropped.
        """
        with self._spare_lock:
            spares = self._spares.pop(mailbox, None)
            if spares is None:
                spares = []
                if len(self._spares) >= self.max_spare_boxes:  # forget the oldest box
                    oldest = next(iter(self._spares))
                    _discard(self._spares.pop(oldest))
            self._spares[mailbox] = spares  # now the most recent
            while spares:
                tmp, fd = spares.pop()
                if os.fstat(fd).st_nlink:
                    return tmp.rpartition("/tmp/")[0], tmp, fd
                os.close(fd)
        return None

    def refill(self) -> int:
        """Make spare C{tmp/} files for the recently used mailboxes; return how many.

        Called by the writer thread when it has nothing else to do, so the file a
        delivery writes into already exists when the message arrives.
        """
        made = 0
        with self._spare_lock:
            wanted = [(m, self.spares_per_box - len(s)) for m, s in self._spares.items()]
        for mailbox, missing in wanted:
            for _ in range(missing):
                try:
                    _, tmp, fd = self._create(mailbox, self.unique() + ",spare")
                except (OSError, ValueError):
                    break
                if self.fsync:
                    try:
                        # On ext4 without a journal the first fsync of a new file also
                        # syncs its directory; done here, it is not done on delivery.
                        os.fsync(fd)
                    except OSError:
                        _discard([(tmp, fd)])
                        break
                with self._spare_lock:
                    spares = self._spares.get(mailbox)
                    if spares is None:  # forgotten meanwhile
                        _discard([(tmp, fd)])
                        break
                    spares.append((tmp, fd))
                made += 1
        return made

    def close_spares(self) -> None:
        """Remove every spare file (at shutdown)."""
        with self._spare_lock:
            spares, self._spares = self._spares, {}
        for files in spares.values():
            _discard(files)

    def sync_dir(self, path: str) -> None:
        """Make every rename into C{path} that finished before this call durable.

        Group commit: deliveries finishing together in several threads share one
        directory C{fsync}. Each caller takes a ticket after its rename; an fsync
        that starts after a ticket was taken covers that rename, so a caller whose
        ticket an fsync (started while it waited) has already covered returns at
        once, and the others do one more fsync for all of them. An fsync that fails
        covers nobody: its caller raises and the next one syncs again.
        """
        state = self._dir_syncs.get(path)
        if state is None:
            state = self._dir_syncs.setdefault(path, _DirSync())
        with state.tickets:
            state.renamed += 1
            ticket = state.renamed
        with state.syncing:
            if state.synced >= ticket:
                return
            with state.tickets:
                covered = state.renamed  # renames done before the fsync below starts
            _fsync_dir(path)
            state.synced = covered


def _discard(spares: list[tuple[str, int]]) -> None:
    for tmp, fd in spares:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass


class _DirSync:
    """The group-commit state of one directory (L{MaildirStore.sync_dir})."""

    __slots__ = ("tickets", "syncing", "renamed", "synced")

    def __init__(self) -> None:
        self.tickets = threading.Lock()
        self.syncing = threading.Lock()
        self.renamed = 0  # tickets handed out: renames that finished
        self.synced = 0  # every ticket up to this one is covered by a finished fsync


def to_lf(data: bytes) -> bytes:
    """C{data} with every CRLF turned into LF (a bare CR or LF stays as it is)."""
    # Deleting every CR is several times quicker than replacing CRLF; it is the
    # same thing when every CR starts a CRLF, as in nearly all mail.
    lf = data.translate(None, b"\r")
    if len(data) - len(lf) == data.count(b"\r\n"):
        return lf
    return data.replace(b"\r\n", b"\n")


def _fsync_dir(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SyncWriter:
    """Deliver in the calling thread (tests, and anything that wants no threads)."""

    def __init__(self, store: MaildirStore) -> None:
        self.store = store

    def deliver(self, mailboxes: Sequence[str], data: bytes) -> Deferred[list[str]]:
        try:
            return succeed(self.store.write(mailboxes, data))
        except Exception:
            return fail()


_REFILL = object()  # a job for the writer threads: make spare files (MaildirStore.refill)


class ThreadWriter:
    """Deliver in threads of its own so one session's fsync never stalls the others.

    Leaner than Twisted's thread pool (whose per-call context and worker
    bookkeeping cost more CPU than writing a small message): a plain queue,
    up to C{max_threads} daemon threads started as deliveries overlap, and one
    C{callFromThread} per batch of deliveries that finished together to fire
    their Deferreds in the reactor thread.
    Deliveries finishing together share the directory fsync
    (L{MaildirStore.sync_dir}). At reactor shutdown the threads finish the
    deliveries already queued before the process exits.

    @param threadpool: a Twisted thread pool to use instead (the old way).
    """

    max_threads = 10

    def __init__(self, store: MaildirStore, reactor: Any = None, threadpool: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.store = store
        self.reactor = reactor
        self.threadpool = threadpool
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._in_flight = 0  # touched only in the reactor thread
        self._stopping = False
        # Finished deliveries, handed to the reactor thread in batches: one
        # callFromThread (a write to the reactor's waker, a wake-up) per batch.
        self._finished: collections.deque[tuple[Deferred[list[str]], Any]] = collections.deque()
        self._finish_lock = threading.Lock()
        self._drain_pending = False

    def deliver(self, mailboxes: Sequence[str], data: bytes) -> Deferred[list[str]]:
        if self.threadpool is not None:
            from twisted.internet.threads import deferToThreadPool

            return deferToThreadPool(
                self.reactor, self.threadpool, self.store.write, list(mailboxes), data
            )
        if self._stopping:
            return fail(OSError("the server is shutting down"))
        d: Deferred[list[str]] = Deferred()
        self._in_flight += 1
        if self._in_flight > len(self._threads) and len(self._threads) < self.max_threads:
            self._start_thread()
        self._queue.put((list(mailboxes), data, d))
        return d

    def _start_thread(self) -> None:
        if not self._threads:
            self.reactor.addSystemEventTrigger("during", "shutdown", self.stop)
        thread = threading.Thread(target=self._work, name="zoo-maildir-writer", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        get = self._queue.get
        write = self.store.write
        call = self.reactor.callFromThread
        finished = self._finished
        lock = self._finish_lock
        while True:
            job = get()
            if job is None:
                return
            if job is _REFILL:
                try:
                    self.store.refill()
                except Exception:  # a spare is an optimisation; delivery makes its own
                    pass
                continue
            mailboxes, data, d = job
            try:
                result: Any = write(mailboxes, data)
            except BaseException:
                result = Failure()
            finished.append((d, result))
            with lock:
                if self._drain_pending:
                    continue  # the reactor thread has yet to drain: it will see this one
                self._drain_pending = True
            call(self._drain)

    def _drain(self) -> None:
        """In the reactor thread: fire every finished delivery's Deferred."""
        with self._finish_lock:
            self._drain_pending = False
        finished = self._finished
        while finished:
            self._done(*finished.popleft())

    def _done(self, d: Deferred[list[str]], result: Any) -> None:
        self._in_flight -= 1
        if isinstance(result, Failure):
            d.errback(result)
        else:
            d.callback(result)
        if not self._in_flight and not self._stopping:
            # Idle, and this delivery's reply is already written: now get the next
            # delivery's file ready. (Done in the writer right after the write, the
            # file creation kept the CPU from the reactor thread sending the reply.)
            self._queue.put(_REFILL)

    def stop(self) -> None:
        """Let the threads finish what is queued, then end them (reactor shutdown)."""
        self._stopping = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []
        self.store.close_spares()


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
