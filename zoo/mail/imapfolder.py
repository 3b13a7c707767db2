"""The IMAP view of one Maildir: flags in file names, UIDs in C{zoo-uids} (for zoo-imap).

L{MaildirFolder} implements twisted.mail's C{IMailbox} over a Maildir; L{Message} and
L{Part} serve messages (with CRLF line ends) to Twisted's FETCH machinery. Flags
are the Maildir info letters (C{:2,FRST}), so other Maildir readers see them;
UIDVALIDITY, UIDNEXT and each message's UID are kept in C{<maildir>/zoo-uids}.
"""

from __future__ import annotations

import email.utils
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import Any, overload

from twisted.mail import imap4
from zope.interface import implementer

from zoo.mail.maildir import MaildirStore, arrival_order
from zoo.state import write_private

UID_FILE = "zoo-uids"

#: IMAP system flags and their Maildir info letters.
LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T"}
FLAGS = {letter: flag for flag, letter in LETTERS.items()}


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _ascii(value: str) -> str:
    return value.encode("ascii", "replace").decode("ascii")


@implementer(imap4.IMessagePart)
class Part:
    """One MIME part (or a whole message) held as CRLF bytes."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        cut = raw.find(b"\r\n\r\n")
        self._header, self._body = (raw, b"") if cut < 0 else (raw[: cut + 2], raw[cut + 4 :])
        self._parsed: Any = None

    def _message(self) -> Any:
        if self._parsed is None:
            self._parsed = BytesParser(policy=compat32).parsebytes(self.raw)
        return self._parsed

    def getHeaders(self, negate: bool, *names: Any) -> dict[str, str]:
        wanted = {(n.decode() if isinstance(n, bytes) else n).lower() for n in names}
        headers = BytesParser(policy=compat32).parsebytes(self._header, headersonly=True)
        out: dict[str, str] = {}
        for key, value in headers.items():
            key = key.lower()
            if not names or (key in wanted) != negate:
                out.setdefault(key, _ascii(str(value)))
        return out

    def getBodyFile(self) -> io.BytesIO:
        return io.BytesIO(self._body)

    def getSize(self) -> int:
        return len(self.raw)

    def isMultipart(self) -> bool:
        return bool(self._message().is_multipart())

    def getSubPart(self, part: int) -> Part:
        if not self.isMultipart():
            raise TypeError("not a multipart message")
        return Part(_crlf(self._message().get_payload()[part].as_bytes()))


@dataclass
class Entry:
    """One message of a folder: its UID, file and flags."""

    uid: int
    path: Path
    flags: set[str] = field(default_factory=set)
    recent: bool = False

    @property
    def base(self) -> str:
        return self.path.name.split(":", 1)[0]


@implementer(imap4.IMessage, imap4.IMessageFile)
class Message(Part):
    """A message of a L{MaildirFolder}, read from disk when fetched."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry

    def __getattr__(self, name: str) -> Any:
        # The file is read at the first use of its bytes, not when the message is
        # made: a FETCH of many messages then holds one at a time (see L{_Fetched}).
        if name not in ("raw", "_header", "_body", "_parsed"):
            raise AttributeError(name)
        try:
            data = self.entry.path.read_bytes()
        except FileNotFoundError:  # expunged by another session meanwhile
            data = b""
        Part.__init__(self, _crlf(data))
        return self.__dict__[name]

    def getUID(self) -> int:
        return self.entry.uid

    def getFlags(self) -> list[str]:
        return sorted(self.entry.flags) + (["\\Recent"] if self.entry.recent else [])

    def getInternalDate(self) -> str:
        try:
            when = float(self.entry.base.split(".", 1)[0])
        except ValueError:
            when = self.entry.path.stat().st_mtime
        return email.utils.formatdate(when)

    def open(self) -> io.BytesIO:
        return io.BytesIO(self.raw)


class _Fetched(Sequence[tuple[int, Message]]):
    """The messages a FETCH, SEARCH or COPY selected, each made (and read) only when used.

    Twisted's IMAP server walks this one message at a time and sends each body
    with a producer as the client reads. A list of messages read up front held the
    whole selection in memory for as long as the command ran: C{FETCH 1:*
    BODY.PEEK[]} from 10 clients that read nothing grew the server by the size of
    the mailbox per client (+194 MiB for 10 MiB).
    """

    def __init__(self, selected: list[tuple[int, Entry]]) -> None:
        self._selected = selected

    def __len__(self) -> int:
        return len(self._selected)

    @overload
    def __getitem__(self, index: int) -> tuple[int, Message]: ...
    @overload
    def __getitem__(self, index: slice) -> _Fetched: ...
    def __getitem__(self, index: int | slice) -> tuple[int, Message] | _Fetched:
        if isinstance(index, slice):
            return _Fetched(self._selected[index])
        seq, entry = self._selected[index]
        return seq, Message(entry)


def _flags_of(path: Path) -> set[str]:
    _, sep, info = path.name.partition(":2,")
    return {FLAGS[c] for c in info if c in FLAGS} if sep else set()


@implementer(imap4.IMailbox, imap4.ICloseableMailbox)
class MaildirFolder:
    """The IMAP view of one Maildir, for one session."""

    def __init__(
        self,
        path: Path,
        clock: Any,
        rw: bool = True,
        on_deleted: Callable[[list[Path]], None] | None = None,
    ) -> None:
        self.on_deleted = on_deleted
        self.path = path
        self.clock = clock
        self.rw = rw
        self.listeners: list[Any] = []
        self.entries: list[Entry] = []
        self.uidvalidity = 0
        self.uidnext = 1
        self.rescan()

    # -- disk ----------------------------------------------------------------------

    def _load_uids(self) -> dict[str, int]:
        try:
            lines = (self.path / UID_FILE).read_text().splitlines()
        except FileNotFoundError:
            lines = []
        if lines:
            self.uidvalidity, self.uidnext = (int(x) for x in lines[0].split())
            return {base: int(uid) for uid, base in (ln.split(" ", 1) for ln in lines[1:])}
        self.uidvalidity, self.uidnext = max(1, int(self.clock.seconds())), 1
        return {}

    def _save_uids(self) -> None:
        lines = [f"{self.uidvalidity} {self.uidnext}"]
        lines += [f"{e.uid} {e.base}" for e in self.entries]
        write_private(self.path / UID_FILE, ("\n".join(lines) + "\n").encode())

    def rescan(self) -> int:
        """Take in new mail (moving it to cur/); return how many messages arrived."""
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        uids = self._load_uids()
        recent = {e.base for e in self.entries if e.recent}
        arrived = 0
        if self.rw:
            for p in sorted((self.path / "new").iterdir(), key=arrival_order):
                if not p.name.startswith("."):
                    try:
                        os.rename(p, self.path / "cur" / (p.name + ":2,"))
                    except FileNotFoundError:
                        continue
                    recent.add(p.name)
        files = sorted(
            (p for sub in ("cur", "new") for p in (self.path / sub).iterdir()),
            key=arrival_order,
        )
        entries = []
        for p in files:
            if p.name.startswith("."):
                continue
            base = p.name.split(":", 1)[0]
            uid = uids.get(base)
            if uid is None:
                uid = self.uidnext
                self.uidnext += 1
                arrived += 1
            entries.append(Entry(uid, p, _flags_of(p), base in recent))
        entries.sort(key=lambda e: e.uid)
        changed = arrived or len(entries) != len(uids)
        self.entries = entries
        if changed:
            self._save_uids()
        return arrived

    # -- IMailboxInfo / IMailbox ---------------------------------------------------

    def getFlags(self) -> list[str]:
        return list(LETTERS)

    def getHierarchicalDelimiter(self) -> str:
        return "/"

    def getUIDValidity(self) -> int:
        return self.uidvalidity

    def getUIDNext(self) -> int:
        return self.uidnext

    def getUID(self, message: int) -> int:
        return self.entries[message - 1].uid

    def getMessageCount(self) -> int:
        return len(self.entries)

    def getRecentCount(self) -> int:
        return sum(e.recent for e in self.entries)

    def getUnseenCount(self) -> int:
        return sum("\\Seen" not in e.flags for e in self.entries)

    def first_unseen(self) -> int:
        """The sequence number of the first message without \\Seen (0: none)."""
        for seq, e in enumerate(self.entries, 1):
            if "\\Seen" not in e.flags:
                return seq
        return 0

    def isWriteable(self) -> bool:
        return self.rw

    def destroy(self) -> None:
        raise imap4.MailboxException("INBOX cannot be deleted")

    def requestStatus(self, names: Any) -> dict[str, int]:
        return imap4.statusRequestHelper(self, names)

    def addListener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def removeListener(self, listener: Any) -> None:
        self.listeners.remove(listener)

    def close(self) -> None:
        self.listeners.clear()

    def notify(self) -> None:
        """Tell listeners about mail that arrived since the last look."""
        if self.rescan():
            for listener in self.listeners:
                listener.newMessages(self.getMessageCount(), self.getRecentCount())

    def addMessage(self, message: Any, flags: Any = (), date: Any = None) -> Any:
        if not self.rw:
            raise imap4.ReadOnlyMailbox()
        store = MaildirStore(self.path.parent, clock=self.clock.seconds)
        [path] = store.write([self.path.name], _crlf(message.read()))
        letters = "".join(sorted(LETTERS[f] for f in _names(flags) if f in LETTERS))
        os.rename(path, self.path / "cur" / f"{path.name}:2,{letters}")
        self.rescan()
        return self.entries[-1].uid

    def _select(self, messages: imap4.MessageSet, uid: bool) -> list[tuple[int, Entry]]:
        last = (self.entries[-1].uid if uid else len(self.entries)) if self.entries else 0
        try:
            messages.last = last
        except ValueError:
            pass  # already set by an earlier call with the same set
        return [
            (seq, e) for seq, e in enumerate(self.entries, 1) if (e.uid if uid else seq) in messages
        ]

    def fetch(self, messages: imap4.MessageSet, uid: bool) -> _Fetched:
        return _Fetched(self._select(messages, uid))

    def store(self, messages: imap4.MessageSet, flags: Any, mode: int, uid: bool) -> dict:
        if not self.rw:
            raise imap4.ReadOnlyMailbox()
        wanted = {f for f in _names(flags) if f in LETTERS}
        result = {}
        for seq, e in self._select(messages, uid):
            if mode == 1:
                new = e.flags | wanted
            elif mode == -1:
                new = e.flags - wanted
            else:
                new = set(wanted)
            if new != e.flags:
                letters = "".join(sorted(LETTERS[f] for f in new))
                target = self.path / "cur" / f"{e.base}:2,{letters}"
                try:
                    os.rename(e.path, target)
                except FileNotFoundError:
                    continue
                e.path, e.flags = target, new
            result[seq] = Message(e).getFlags()
        return result

    def expunge(self) -> list[int]:
        if not self.rw:
            raise imap4.ReadOnlyMailbox()
        gone = []
        removed = []
        for seq in range(len(self.entries), 0, -1):
            e = self.entries[seq - 1]
            if "\\Deleted" in e.flags:
                try:
                    e.path.unlink()
                    removed.append(e.path)
                except FileNotFoundError:
                    pass
                del self.entries[seq - 1]
                gone.append(seq)
        if gone:
            self._save_uids()
        if removed and self.on_deleted is not None:
            self.on_deleted(removed)
        return gone


def _names(flags: Any) -> list[str]:
    return [f.decode() if isinstance(f, bytes) else f for f in flags]
