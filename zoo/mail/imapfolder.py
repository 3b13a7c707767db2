"""One login's IMAP folders over Maildir++ (no protocol here; used by L{zoo.mail.imapcore}).

The login's Maildir (where zoo-smtp delivers, and what zoo-pop3 reads) is INBOX;
every other folder is a Maildir++ subfolder beside it, C{<maildir>/.Name} (C{.Work.2026}
for C{Work.2026}: the hierarchy delimiter is C{.}, as in Maildir++ and Dovecot's default),
named on disk by its modified UTF-7 IMAP name. Flags are the Maildir info letters
(C{:2,FRST}, keywords C{a}-C{z} listed in C{zoo-keywords}); UIDVALIDITY, UIDNEXT and
each message's UID are kept in C{<folder>/zoo-uids}, so they survive restarts. That
file is replaced atomically but not fsynced, and messages stored by APPEND, COPY and
MOVE are not fsynced either: IMAP's own writes are the user's copies, drafts and
moves in a development server. zoo-smtp's deliveries into INBOX are fsynced.
Subscriptions are C{<maildir>/subscriptions}, one name a line (the Courier/Dovecot file).

L{FolderState} is a folder's messages, one per folder per process (shared by every
session that has it selected); L{View} is one session's numbering of them, and tells
the session what changed (EXPUNGE, EXISTS, FLAGS) at the points where IMAP allows it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.mail.maildir import arrival_order, to_lf, wire_size
from zoo.state import write_private

UID_FILE = "zoo-uids"
KEYWORD_FILE = "zoo-keywords"
SUBSCRIPTIONS = "subscriptions"
#: Marks a Maildir whose special-use folders were made (they are made once: a user may delete them).
SPECIAL_MADE = "zoo-special-use"
DELIMITER = "."

#: IMAP system flags and their Maildir info letters.
LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T"}
FLAGS = {letter: flag for flag, letter in LETTERS.items()}
SYSTEM = {f.lower(): f for f in LETTERS}
#: The special-use folders made at the first login (RFC 6154).
SPECIAL_USE = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk"}
MAX_KEYWORDS = 26


class FolderError(Exception):
    """A folder operation refused: the text goes into the tagged NO."""

    def __init__(self, text: str, code: str = "") -> None:
        super().__init__(text)
        self.code = code


def crlf(data: bytes) -> bytes:
    """C{data} with CRLF line ends (Maildir files have LF)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def normal_flag(word: str) -> str | None:
    """A flag as stored: system flags in their canonical case, keywords as given.

    C{None} for what cannot be set (C{\\Recent}, unknown backslash flags).
    """
    if word.startswith("\\"):
        return SYSTEM.get(word.lower())
    if not word or any(c in word for c in '(){%*"\\]') or not word.isascii():
        return None
    return word


@dataclass
class Entry:
    """One message of a folder: its UID, file and flags."""

    uid: int
    path: Path
    flags: frozenset[str]

    @property
    def base(self) -> str:
        return self.path.name.split(":", 1)[0]

    def size(self) -> int:
        """RFC822.SIZE: the size with CRLF line ends."""
        try:
            return wire_size(self.path)
        except FileNotFoundError:
            return 0

    def internal_date(self) -> float:
        try:
            return float(self.base.split(".", 1)[0])
        except ValueError:
            try:
                return self.path.stat().st_mtime
            except FileNotFoundError:
                return 0.0

    def read(self) -> bytes:
        """The message with CRLF line ends (empty if another session removed it)."""
        try:
            return crlf(self.path.read_bytes())
        except FileNotFoundError:
            return b""


#: The folders this process has opened, most recently used last. Kept while no session
#: has them selected, so \\Recent is not forgotten between sessions; bounded.
_states: OrderedDict[str, FolderState] = OrderedDict()
MAX_STATES = 1000


def folder_state(path: Path, clock: Any, validity: Callable[[], int]) -> FolderState:
    """The one L{FolderState} of the folder at C{path} in this process."""
    key = str(path)
    state = _states.get(key)
    if state is None or not (path / "cur").is_dir():
        state = FolderState(path, clock, validity)
        _states[key] = state
        while len(_states) > MAX_STATES:
            _states.popitem(last=False)
    else:
        _states.move_to_end(key)
    return state


class FolderState:
    """A folder's messages, UIDs and flags, shared by the sessions that use it."""

    def __init__(self, path: Path, clock: Any, validity: Callable[[], int]) -> None:
        self.path = path
        self.clock = clock
        self.entries: dict[int, Entry] = {}
        self.uidvalidity = 0
        self.uidnext = 1
        self.keywords: list[str] = []
        self.unclaimed_recent: set[int] = set()
        self._stamp: tuple[int, int] = (-1, -1)
        self._validity = validity
        self._seq = 0
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._load()
        self.refresh(force=True)

    # -- disk ------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            lines = (self.path / UID_FILE).read_text().splitlines()
        except FileNotFoundError:
            lines = []
        self._uids: dict[str, int] = {}
        if lines:
            self.uidvalidity, self.uidnext = (int(x) for x in lines[0].split())
            for line in lines[1:]:
                uid, _, base = line.partition(" ")
                self._uids[base] = int(uid)
        else:
            self.uidvalidity, self.uidnext = self._validity(), 1
            self._save()
        try:
            self.keywords = (self.path / KEYWORD_FILE).read_text().split()
        except FileNotFoundError:
            self.keywords = []

    def _save(self) -> None:
        lines = [f"{self.uidvalidity} {self.uidnext}"]
        lines += [f"{e.uid} {e.base}" for e in self.entries.values()]
        # Not fsynced (see the module docstring): every APPEND, EXPUNGE and new
        # delivery seen rewrites it, and would otherwise cost an fsync each.
        write_private(self.path / UID_FILE, ("\n".join(lines) + "\n").encode(), sync=False)

    def _flags_of(self, path: Path) -> frozenset[str]:
        _, sep, info = path.name.partition(":2,")
        if not sep:
            return frozenset()
        out = set()
        for c in info:
            if c in FLAGS:
                out.add(FLAGS[c])
            elif "a" <= c <= "z" and ord(c) - 97 < len(self.keywords):
                out.add(self.keywords[ord(c) - 97])
        return frozenset(out)

    def _name(self, base: str, flags: frozenset[str]) -> str:
        letters = sorted(LETTERS[f] for f in flags if f in LETTERS)
        letters += sorted(chr(97 + self.keywords.index(f)) for f in flags if f in self.keywords)
        return f"{base}:2,{''.join(letters)}"

    def _stamp_now(self) -> tuple[int, int]:
        try:
            return (
                os.stat(self.path / "new").st_mtime_ns,
                os.stat(self.path / "cur").st_mtime_ns,
            )
        except FileNotFoundError:
            return (-2, -2)

    def refresh(self, force: bool = False) -> None:
        """Take in what changed on disk: new mail (moved to cur/), removed files, flags."""
        stamp = self._stamp_now()
        if stamp == self._stamp and not force:
            return
        if stamp == (-2, -2):  # the folder was deleted under us
            self.entries = {}
            self._stamp = stamp
            return
        for p in sorted((self.path / "new").iterdir(), key=arrival_order):
            if p.name.startswith("."):
                continue
            try:
                os.rename(p, self.path / "cur" / (p.name + ":2,"))
            except FileNotFoundError:
                continue
        found = [p for p in (self.path / "cur").iterdir() if not p.name.startswith(".")]
        found.sort(key=arrival_order)
        entries: dict[int, Entry] = {}
        changed = False
        for p in found:
            base = p.name.split(":", 1)[0]
            uid = self._uids.get(base)
            if uid is None:
                uid = self._uids[base] = self.uidnext
                self.uidnext += 1
                self.unclaimed_recent.add(uid)
                changed = True
            entries[uid] = Entry(uid, p, self._flags_of(p))
        if len(entries) != len(self.entries) or changed:
            changed = True
        self.entries = dict(sorted(entries.items()))
        gone = set(self._uids.values()) - set(self.entries)
        if gone:
            self._uids = {e.base: e.uid for e in self.entries.values()}
            changed = True
        if changed:
            self._save()
        self._stamp = self._stamp_now()

    def add_keywords(self, flags: frozenset[str]) -> None:
        """Make sure every keyword in C{flags} has a letter (L{FolderError} C{LIMIT} if none is left)."""
        for f in flags:
            self._keyword(f)

    def _keyword(self, flag: str) -> None:
        if flag in LETTERS or flag in self.keywords:
            return
        if len(self.keywords) >= MAX_KEYWORDS:
            raise FolderError("Too many keywords in this folder", "LIMIT")
        self.keywords.append(flag)
        write_private(self.path / KEYWORD_FILE, ("\n".join(self.keywords) + "\n").encode())

    def can_add_keywords(self) -> bool:
        return len(self.keywords) < MAX_KEYWORDS

    # -- changes ---------------------------------------------------------------------

    def set_flags(self, uid: int, flags: frozenset[str]) -> frozenset[str]:
        """Give message C{uid} exactly C{flags}; return what it has now."""
        e = self.entries.get(uid)
        if e is None:
            return flags
        for f in flags:
            self._keyword(f)
        if flags == e.flags:
            return flags
        target = self.path / "cur" / self._name(e.base, flags)
        try:
            os.rename(e.path, target)
        except FileNotFoundError:
            return e.flags
        e.path, e.flags = target, flags
        self._stamp = self._stamp_now()  # our own rename is no news
        return flags

    def add(self, data: bytes, flags: frozenset[str], when: float | None = None) -> int:
        """Store a message (CRLF C{data}) with C{flags}; return its UID."""
        for f in flags:
            self._keyword(f)
        self.refresh()
        now = self.clock.seconds() if when is None else when
        self._seq += 1
        lf = to_lf(data)
        base = f"{int(now)}.M{int((now % 1) * 1e6):06d}P{os.getpid()}Q{self._seq}z.zoo"
        base += f",S={len(lf)},W={len(data)}"
        tmp = self.path / "tmp" / base
        tmp.write_bytes(lf)
        os.chmod(tmp, 0o600)
        if when is not None:
            os.utime(tmp, (when, when))
        final = self.path / "cur" / self._name(base, flags)
        os.rename(tmp, final)
        uid = self.uidnext
        self.uidnext += 1
        self._uids[base] = uid
        self.entries[uid] = Entry(uid, final, flags)
        self.unclaimed_recent.add(uid)
        self._save()
        self._stamp = self._stamp_now()
        return uid

    def remove(self, uids: list[int]) -> list[Path]:
        """Delete messages; return the files removed."""
        removed = []
        for uid in uids:
            e = self.entries.pop(uid, None)
            if e is None:
                continue
            self._uids.pop(e.base, None)
            try:
                e.path.unlink()
                removed.append(e.path)
            except FileNotFoundError:
                pass
        if removed or uids:
            self._save()
            self._stamp = self._stamp_now()
        return removed

    def status(self) -> dict[str, int]:
        self.refresh()
        return {
            "MESSAGES": len(self.entries),
            "RECENT": len(self.unclaimed_recent & set(self.entries)),
            "UIDNEXT": self.uidnext,
            "UIDVALIDITY": self.uidvalidity,
            "UNSEEN": sum("\\Seen" not in e.flags for e in self.entries.values()),
        }


class View:
    """One session's selected folder: its sequence numbers, and what it has been told."""

    def __init__(self, state: FolderState, readonly: bool) -> None:
        self.state = state
        self.readonly = readonly
        state.refresh()
        self.uids: list[int] = list(state.entries)
        self.told: dict[int, frozenset[str]] = {u: e.flags for u, e in state.entries.items()}
        self.keywords: list[str] = list(state.keywords)
        self.recent: set[int] = set(state.unclaimed_recent) & set(self.uids)
        if not readonly:
            state.unclaimed_recent -= self.recent

    def seq_of(self, uid: int) -> int:
        import bisect

        i = bisect.bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else 0

    def flags(self, uid: int) -> list[str]:
        e = self.state.entries.get(uid)
        flags = sorted(e.flags if e else self.told.get(uid, frozenset()))
        return flags + (["\\Recent"] if uid in self.recent else [])

    def flag_lines(self) -> list[bytes]:
        """C{FLAGS} and C{PERMANENTFLAGS} as SELECT sends them (and again when keywords are added)."""
        self.keywords = list(self.state.keywords)
        listed = b"\\Answered \\Flagged \\Deleted \\Seen \\Draft"
        if self.keywords:
            listed += b" " + " ".join(self.keywords).encode()
        lines = [b"* FLAGS (" + listed + b")"]
        if self.readonly:
            lines.append(b"* OK [PERMANENTFLAGS ()] Read-only mailbox")
        else:
            more = b" \\*" if self.state.can_add_keywords() else b""
            lines.append(b"* OK [PERMANENTFLAGS (" + listed + more + b")] Flags permitted")
        return lines

    def keyword_news(self) -> list[bytes]:
        """C{FLAGS}/C{PERMANENTFLAGS} again if the folder has keywords this session was not told of."""
        return self.flag_lines() if self.keywords != self.state.keywords else []

    def sync(self, expunge: bool = True) -> Iterator[bytes]:
        """The untagged responses that bring the client up to date (without EXPUNGE if not allowed)."""
        state = self.state
        state.refresh()
        yield from self.keyword_news()
        if expunge:
            gone = [u for u in self.uids if u not in state.entries]
            for uid in reversed(gone):
                seq = self.seq_of(uid)
                del self.uids[seq - 1]
                self.told.pop(uid, None)
                self.recent.discard(uid)
                yield b"* %d EXPUNGE" % seq
        for i, uid in enumerate(self.uids, 1):
            e = state.entries.get(uid)
            if e is not None and e.flags != self.told.get(uid):
                self.told[uid] = e.flags
                yield b"* %d FETCH (FLAGS (%s))" % (i, " ".join(self.flags(uid)).encode())
        last = self.uids[-1] if self.uids else 0
        new = [u for u in state.entries if u > last]
        if new:
            self.uids.extend(new)
            for u in new:
                self.told[u] = state.entries[u].flags
            mine = set(new) & state.unclaimed_recent
            self.recent |= mine
            if not self.readonly:
                state.unclaimed_recent -= mine
            yield b"* %d EXISTS" % len(self.uids)
            yield b"* %d RECENT" % len(self.recent)


class Account:
    """One login's folders (Maildir++ under its Maildir)."""

    def __init__(
        self,
        root: Path,
        clock: Any,
        on_deleted: Callable[[list[Path]], None] | None = None,
    ) -> None:
        self.root = root
        self.clock = clock
        self.on_deleted = on_deleted
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- names ------------------------------------------------------------------------

    def canonical(self, name: str) -> str:
        """INBOX in any case is INBOX (and so is its prefix in C{INBOX.x})."""
        if name.upper() == "INBOX":
            return "INBOX"
        if name.upper().startswith("INBOX" + DELIMITER):
            return "INBOX" + name[5:]
        return name

    def path(self, name: str) -> Path:
        name = self.canonical(name)
        if name == "INBOX":
            return self.root
        check_name(name)
        return self.root / ("." + name)

    def exists(self, name: str) -> bool:
        try:
            return (self.path(name) / "cur").is_dir()
        except FolderError:
            return False

    def names(self) -> list[str]:
        """Every folder, INBOX first."""
        out = ["INBOX"]
        try:
            listing = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return out
        for d in listing:
            if d.startswith(".") and d not in (".", "..") and (self.root / d / "cur").is_dir():
                out.append(d[1:])
        return out

    def validity(self) -> int:
        """A new UIDVALIDITY: never one this login's folders had before."""
        path = self.root / "zoo-uidvalidity"
        try:
            last = int(path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            last = 0
        value = max(int(self.clock.seconds()), last + 1)
        write_private(path, b"%d\n" % value)
        return value

    def folder(self, name: str) -> FolderState:
        if not self.exists(name):
            raise FolderError("Mailbox does not exist", "NONEXISTENT")
        return folder_state(self.path(name), self.clock, self.validity)

    # -- tree operations ---------------------------------------------------------------

    def create(self, name: str) -> None:
        name = self.canonical(name.rstrip(DELIMITER))
        if name == "INBOX" or self.exists(name):
            raise FolderError("Mailbox already exists", "ALREADYEXISTS")
        parts = name.split(DELIMITER)
        for i in range(1, len(parts) + 1):
            sub = DELIMITER.join(parts[:i])
            if sub.upper() == "INBOX":
                continue
            path = self.path(sub)
            if not (path / "cur").is_dir():
                path.mkdir(mode=0o700, exist_ok=True)
                for d in ("tmp", "new", "cur"):
                    (path / d).mkdir(mode=0o700, exist_ok=True)
                (path / "maildirfolder").touch(mode=0o600)
                folder_state(path, self.clock, self.validity)

    def children(self, name: str) -> list[str]:
        prefix = self.canonical(name) + DELIMITER
        return [n for n in self.names() if n.startswith(prefix)]

    def delete(self, name: str) -> None:
        name = self.canonical(name)
        if name == "INBOX":
            raise FolderError("INBOX cannot be deleted")
        if not self.exists(name):
            raise FolderError("Mailbox does not exist", "NONEXISTENT")
        if self.children(name):
            raise FolderError("Mailbox has children: delete them first", "INUSE")
        path = self.path(name)
        shutil.rmtree(path)
        _states.pop(str(path), None)

    def rename(self, old: str, new: str) -> None:
        old, new = self.canonical(old), self.canonical(new.rstrip(DELIMITER))
        if not self.exists(old):
            raise FolderError("Mailbox does not exist", "NONEXISTENT")
        if self.exists(new):
            raise FolderError("Mailbox already exists", "ALREADYEXISTS")
        if new.startswith(old + DELIMITER) or new == "INBOX":
            raise FolderError("Cannot rename a mailbox into itself")
        if old == "INBOX":  # RFC 3501 6.3.5: INBOX's messages move, INBOX stays, empty
            self.create(new)
            source = self.folder("INBOX")
            target = self.path(new)
            for e in list(source.entries.values()):
                os.rename(e.path, target / "cur" / e.path.name)
            source.refresh(force=True)
            return
        moves = [(old, new)] + [(c, new + c[len(old) :]) for c in self.children(old)]
        parents = new.split(DELIMITER)[:-1]
        if parents:
            try:
                self.create(DELIMITER.join(parents))
            except FolderError:
                pass
        for a, b in moves:
            check_name(b)
            pa, pb = self.path(a), self.path(b)
            os.rename(pa, pb)
            _states.pop(str(pa), None)
        subs = self.subscriptions()
        renamed = [
            new + s[len(old) :] if s == old or s.startswith(old + DELIMITER) else s for s in subs
        ]
        if renamed != subs:
            self._write_subscriptions(renamed)

    # -- subscriptions -----------------------------------------------------------------

    def subscriptions(self) -> list[str]:
        try:
            return [s for s in (self.root / SUBSCRIPTIONS).read_text().splitlines() if s]
        except FileNotFoundError:
            return []

    def _write_subscriptions(self, names: list[str]) -> None:
        write_private(self.root / SUBSCRIPTIONS, "".join(n + "\n" for n in names).encode())

    def subscribe(self, name: str, on: bool) -> None:
        name = self.canonical(name)
        subs = self.subscriptions()
        if on and name not in subs:
            self._write_subscriptions(subs + [name])
        elif not on and name in subs:
            self._write_subscriptions([s for s in subs if s != name])

    def special_use(self, name: str) -> str | None:
        return SPECIAL_USE.get(name)

    def make_special_folders(self) -> None:
        """Create Sent, Drafts, Trash and Junk (subscribed), once per Maildir."""
        marker = self.root / SPECIAL_MADE
        if marker.exists():
            return
        for name in SPECIAL_USE:
            if not self.exists(name):
                self.create(name)
            self.subscribe(name, True)
        self.subscribe("INBOX", True)
        write_private(marker, b"")


_BAD_NAME = re.compile(r"(^|\.)\.|\.$|^\.|[/\x00-\x1f\x7f]|^\.\.?$")


def check_name(name: str) -> None:
    """Refuse names that are not a safe Maildir++ folder (C{..}, C{/}, empty levels)."""
    if not name or _BAD_NAME.search(name) or name.startswith("~") or len(name) > 200:
        raise FolderError("Invalid mailbox name", "CANNOT")
    if any(part == "" for part in name.split(DELIMITER)):
        raise FolderError("Invalid mailbox name", "CANNOT")


def pattern_matches(pattern: str, name: str) -> bool:
    """LIST pattern matching: C{*} matches anything, C{%} anything but the delimiter."""
    rx = "".join(
        ".*" if c == "*" else "[^" + re.escape(DELIMITER) + "]*" if c == "%" else re.escape(c)
        for c in pattern
    )
    return re.fullmatch(rx, name, re.DOTALL) is not None
