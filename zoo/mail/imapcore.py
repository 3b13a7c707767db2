"""zoo-imap's IMAP4rev1 server without I/O: the session state machine and every command.

L{IMAPSession.handle} takes one framed command (L{zoo.mail.imapwire.Command}) and
returns a generator. It yields the reply as bytes (CRLF included), one response or
one message of a FETCH at a time, so the caller writes as fast as the client reads;
and it yields an I{effect} where it needs the world: L{Login} (the caller checks the
password and sends the result back), L{StartTLS}, L{ReadLine} (an AUTHENTICATE
answer; the caller sends the line), L{Idle} (the caller sends C{None} to poll the
mailbox, or the client's next line). The Twisted protocol around it is
L{zoo.mail.imap.ZooIMAP}.
"""

from __future__ import annotations

import base64
import calendar
import email.utils
import functools
import re
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from zoo.mail import imapmime
from zoo.mail.imapfolder import (
    DELIMITER,
    Account,
    FolderError,
    FolderState,
    View,
    normal_flag,
    pattern_matches,
)
from zoo.mail.imapwire import (
    Command,
    SeqSet,
    Syntax,
    Tokens,
    decode_mutf7,
    format_uid_set,
    is_seqset,
    literal,
    quote,
)

Reply = Generator[Any, Any, None]


@dataclass
class Login:
    """Effect: check C{user}/C{password}; send back the L{Account} or an exception."""

    user: bytes
    password: bytes


@dataclass
class StartTLS:
    """Effect: the OK is written; start TLS now and forget pipelined input."""


@dataclass
class ReadLine:
    """Effect: send back the client's next line (an AUTHENTICATE answer)."""


@dataclass
class Idle:
    """Effect: IDLE; send back C{None} to look for news, or the client's next line."""


@dataclass
class Logout:
    """Effect: the BYE and OK are written; close the connection."""


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _line(text: bytes) -> bytes:
    return text + b"\r\n"


class Bad(Exception):
    """A tagged BAD with this text."""


class No(Exception):
    """A tagged NO with this text."""


class IMAPSession:
    """One connection's IMAP state: not authenticated, authenticated, selected, logout.

    @param tls: can STARTTLS be offered (a TLS context exists and TLS is not on yet)?
    @param secure: is the connection already encrypted?
    @param allow_plaintext: accept passwords without TLS.
    """

    def __init__(self, tls: bool = False, secure: bool = False, allow_plaintext: bool = False):
        self.tls = tls
        self.secure = secure
        self.allow_plaintext = allow_plaintext
        self.state = "unauth"
        self.account: Account | None = None
        self.view: View | None = None
        self.selected = ""
        self.user = ""

    # -- capabilities -------------------------------------------------------------------

    def auth_allowed(self) -> bool:
        return self.secure or self.allow_plaintext

    def capabilities(self) -> bytes:
        caps = [b"IMAP4rev1", b"LITERAL+", b"ID", b"ENABLE", b"IDLE", b"NAMESPACE"]
        caps += [b"UIDPLUS", b"MOVE", b"UNSELECT", b"CHILDREN", b"SPECIAL-USE", b"ESEARCH"]
        caps += [b"SORT", b"LIST-EXTENDED"]
        if self.state == "unauth":
            if self.tls and not self.secure:
                caps.append(b"STARTTLS")
            if self.auth_allowed():
                caps += [b"AUTH=PLAIN", b"AUTH=LOGIN"]
            else:
                caps.append(b"LOGINDISABLED")
        return b" ".join(caps)

    def greeting(self) -> bytes:
        return _line(b"* OK [CAPABILITY " + self.capabilities() + b"] zoo-imap ready")

    # -- dispatch ---------------------------------------------------------------------

    def handle(self, command: Command) -> Reply:
        """The reply to C{command} (a generator; see the module docstring)."""
        tokens = Tokens(command)
        try:
            tag = tokens.atom(extra=b"]")
        except Syntax:
            yield _line(b"* BAD Missing command tag")
            return
        if not tag.isascii():
            yield _line(b"* BAD Command tag is not 7-bit ASCII")
            return
        if b"+" in tag:
            yield _line(b"* BAD Command tag is not valid")
            return
        if command.too_big:
            yield _line(tag + b" NO [TOOBIG] Literal too large")
            return
        try:
            name = tokens.atom().upper()
        except Syntax:
            yield _line(tag + b" BAD Missing command")
            return
        uid = False
        if name == b"UID":
            try:
                name = tokens.atom().upper()
            except Syntax:
                yield _line(tag + b" BAD UID needs a command")
                return
            if name not in (b"FETCH", b"STORE", b"COPY", b"MOVE", b"SEARCH", b"EXPUNGE", b"SORT"):
                yield _line(tag + b" BAD Unknown UID command")
                return
            uid = True
        entry = COMMANDS.get(name) if name.isascii() else None
        if entry is None:
            yield _line(tag + b" BAD Unknown command")
            return
        method, states = entry
        if self.state not in states:
            yield _line(tag + b" BAD " + name + b" not allowed now")
            return
        try:
            if uid:
                yield from method(self, tag, tokens, uid=True)
            else:
                yield from method(self, tag, tokens)
        except Syntax as e:
            yield _line(tag + b" BAD " + str(e).encode("ascii", "replace"))
        except Bad as e:
            yield _line(tag + b" BAD " + str(e).encode("ascii", "replace"))
        except No as e:
            yield from self.updates(expunge=name not in _NO_EXPUNGE or uid)
            yield _line(tag + b" NO " + str(e).encode("ascii", "replace"))
        except FolderError as e:
            code = b"[" + e.code.encode() + b"] " if e.code else b""
            yield _line(tag + b" NO " + code + str(e).encode("ascii", "replace"))
        except OSError as e:  # the disk: full, read-only, permissions
            reason = (e.strerror or type(e).__name__).encode("ascii", "replace")
            yield _line(tag + b" NO [UNAVAILABLE] " + name + b" failed: " + reason)

    def updates(self, expunge: bool = True) -> Iterator[bytes]:
        """Untagged news of the selected folder (before a tagged reply)."""
        if self.view is not None:
            for response in self.view.sync(expunge):
                yield _line(response)

    def done(self, tag: bytes, text: bytes, expunge: bool = True) -> Iterator[bytes]:
        yield from self.updates(expunge)
        yield _line(tag + b" OK " + text)

    # -- any state ---------------------------------------------------------------------

    def do_capability(self, tag: bytes, t: Tokens) -> Reply:
        t.end()
        yield _line(b"* CAPABILITY " + self.capabilities())
        yield from self.done(tag, b"CAPABILITY completed")

    def do_noop(self, tag: bytes, t: Tokens) -> Reply:
        t.end()
        yield from self.done(tag, b"NOOP completed")

    def do_check(self, tag: bytes, t: Tokens) -> Reply:
        t.end()
        yield from self.done(tag, b"CHECK completed")

    def do_logout(self, tag: bytes, t: Tokens) -> Reply:
        t.end()
        self.state = "logout"
        self.view = None
        yield _line(b"* BYE zoo-imap logging out")
        yield _line(tag + b" OK LOGOUT completed")
        yield Logout()

    def do_id(self, tag: bytes, t: Tokens) -> Reply:
        if not t.take(b"("):
            if t.atom().upper() != b"NIL":
                raise Syntax("ID takes NIL or a list")
        else:
            count = 0
            while not t.take(b")"):
                t.string()
                t.nstring()
                count += 1
                if count > 30:
                    raise Syntax("too many ID fields")
        t.end()
        yield _line(b'* ID ("name" "zoo-imap" "vendor" "zoo")')
        yield from self.done(tag, b"ID completed")

    # -- not authenticated ----------------------------------------------------------------

    def do_starttls(self, tag: bytes, t: Tokens) -> Reply:
        t.end()
        if not self.tls or self.secure:
            raise No("TLS not available now")
        yield _line(tag + b" OK Begin TLS negotiation now")
        self.secure = True
        yield StartTLS()

    def do_login(self, tag: bytes, t: Tokens) -> Reply:
        user = t.astring()
        password = t.astring()
        t.end()
        if not self.auth_allowed():
            raise Bad("[PRIVACYREQUIRED] LOGIN is disabled before STARTTLS")
        yield from self._login(tag, user, password, b"LOGIN succeeded", b"LOGIN failed")

    def do_authenticate(self, tag: bytes, t: Tokens) -> Reply:
        mechanism = t.atom().upper()
        initial = None if t.at_end() else t.atom(extra=b"=")
        t.end()
        if not self.auth_allowed():
            raise Bad("[PRIVACYREQUIRED] AUTHENTICATE is disabled before STARTTLS")
        if mechanism == b"PLAIN":
            if initial is None:
                yield _line(b"+ ")
                initial = yield ReadLine()
            if initial == b"*":
                raise Bad("AUTHENTICATE cancelled")
            try:
                plain = base64.b64decode(b"" if initial == b"=" else initial, validate=True)
                _, user, password = plain.split(b"\0")
            except Exception:
                raise Bad("Invalid PLAIN response") from None
        elif mechanism == b"LOGIN":
            answers = []
            for prompt in (b"Username:", b"Password:"):
                yield _line(b"+ " + base64.b64encode(prompt))
                answer = yield ReadLine()
                if answer == b"*":
                    raise Bad("AUTHENTICATE cancelled")
                try:
                    answers.append(base64.b64decode(answer, validate=True))
                except Exception:
                    raise Bad("Invalid LOGIN response") from None
            user, password = answers
        else:
            raise No("Unsupported authentication mechanism")
        yield from self._login(
            tag, user, password, b"Authentication succeeded", b"Authentication failed"
        )

    def _login(self, tag: bytes, user: bytes, password: bytes, ok: bytes, no: bytes) -> Reply:
        """Have the password checked (the L{Login} effect), then answer and enter "auth"."""
        result = yield Login(user, password)
        if not isinstance(result, Account):
            yield _line(tag + b" NO " + no)
            return
        self.account = result
        self.user = user.decode("utf-8", "replace")
        self.state = "auth"
        result.make_special_folders()
        yield _line(tag + b" OK " + ok)

    # -- authenticated ------------------------------------------------------------------

    def _mailbox(self, t: Tokens, new: bool = False) -> str:
        """A mailbox argument, kept in its modified UTF-7 form.

        8-bit bytes are a syntax error; a name being made (C{new}) must also be valid
        modified UTF-7. Any other 7-bit name is looked up as it is (and not found).
        """
        raw = _checked(t.astring())
        if new:
            try:
                decode_mutf7(raw.encode("ascii"))
            except Syntax:
                raise FolderError("Mailbox name is not valid modified UTF-7", "CANNOT") from None
        assert self.account is not None
        return self.account.canonical(raw)

    def do_enable(self, tag: bytes, t: Tokens) -> Reply:
        t.atom()
        while not t.at_end():
            t.atom()
        yield _line(b"* ENABLED")
        yield from self.done(tag, b"ENABLE completed")

    def do_namespace(self, tag: bytes, t: Tokens) -> Reply:
        t.end()
        yield _line(b'* NAMESPACE (("" "' + DELIMITER.encode() + b'")) NIL NIL')
        yield from self.done(tag, b"NAMESPACE completed")

    def do_select(self, tag: bytes, t: Tokens, readonly: bool = False) -> Reply:
        name = self._mailbox(t)
        if not t.at_end():  # (CONDSTORE) and other parameters are not supported
            raise Bad("SELECT parameters are not supported")
        assert self.account is not None
        self.view = None
        self.state = "auth"
        if self.selected:
            yield _line(b"* OK [CLOSED] Previous mailbox closed")
            self.selected = ""
        state = self.account.folder(name)
        view = View(state, readonly)
        first, permanent = view.flag_lines()
        yield _line(first)
        yield _line(b"* %d EXISTS" % len(view.uids))
        yield _line(b"* %d RECENT" % len(view.recent))
        for seq, u in enumerate(view.uids, 1):
            if "\\Seen" not in state.entries[u].flags:
                yield _line(b"* OK [UNSEEN %d] First unseen" % seq)
                break
        yield _line(permanent)
        yield _line(b"* OK [UIDVALIDITY %d] UIDs valid" % state.uidvalidity)
        yield _line(b"* OK [UIDNEXT %d] predicted next UID" % state.uidnext)
        self.view = view
        self.selected = name
        self.state = "select"
        mode = b"[READ-ONLY]" if readonly else b"[READ-WRITE]"
        verb = b"EXAMINE" if readonly else b"SELECT"
        yield _line(tag + b" OK " + mode + b" " + verb + b" completed")

    def do_examine(self, tag: bytes, t: Tokens) -> Reply:
        yield from self.do_select(tag, t, readonly=True)

    def do_create(self, tag: bytes, t: Tokens) -> Reply:
        name = self._mailbox(t, new=True)
        t.end()
        assert self.account is not None
        self.account.create(name)
        yield from self.done(tag, b"CREATE completed")

    def do_delete(self, tag: bytes, t: Tokens) -> Reply:
        name = self._mailbox(t)
        t.end()
        assert self.account is not None
        self.account.delete(name)
        if name == self.selected:
            self.view, self.selected, self.state = None, "", "auth"
        yield from self.done(tag, b"DELETE completed")

    def do_rename(self, tag: bytes, t: Tokens) -> Reply:
        old = self._mailbox(t)
        new = self._mailbox(t, new=True)
        t.end()
        assert self.account is not None
        self.account.rename(old, new)
        yield from self.done(tag, b"RENAME completed")

    def do_subscribe(self, tag: bytes, t: Tokens, on: bool = True) -> Reply:
        name = self._mailbox(t)
        t.end()
        assert self.account is not None
        if on and not self.account.exists(name):
            raise No("[NONEXISTENT] Mailbox does not exist")
        self.account.subscribe(name, on)
        yield from self.done(tag, b"SUBSCRIBE completed" if on else b"UNSUBSCRIBE completed")

    def do_unsubscribe(self, tag: bytes, t: Tokens) -> Reply:
        yield from self.do_subscribe(tag, t, on=False)

    def do_list(self, tag: bytes, t: Tokens, lsub: bool = False) -> Reply:
        assert self.account is not None
        select_opts: list[bytes] = []
        if not lsub and t.peek() == b"(":
            select_opts = [o.upper() for o in t.paren_list()]
        reference = _checked(t.astring())
        patterns = []
        if t.peek() == b"(" and not lsub:
            t.expect(b"(")
            while not t.take(b")"):
                patterns.append(_checked(t.list_mailbox()))
        else:
            patterns.append(_checked(t.list_mailbox()))
        return_opts: list[bytes] = []
        if not t.at_end() and not lsub:
            if t.atom().upper() != b"RETURN":
                raise Syntax("RETURN expected")
            return_opts = [o.upper() for o in t.paren_list()]
        t.end()
        selection = set(select_opts)
        if selection - {b"SPECIAL-USE", b"SUBSCRIBED", b"REMOTE", b"RECURSIVEMATCH"}:
            raise Bad("Unsupported LIST selection option")
        if b"RECURSIVEMATCH" in selection and not selection - {b"RECURSIVEMATCH", b"REMOTE"}:
            raise Bad("RECURSIVEMATCH needs another selection option")
        if set(return_opts) - {b"SUBSCRIBED", b"CHILDREN", b"SPECIAL-USE"}:
            raise Bad("Unsupported LIST return option")
        verb = b"LSUB" if lsub else b"LIST"
        if patterns == [""]:
            yield _line(b"* " + verb + b' (\\Noselect) "' + DELIMITER.encode() + b'" ""')
            yield from self.done(tag, verb + b" completed")
            return
        names = self.account.names()
        existing = set(names)
        subscribed = self.account.subscriptions()
        by_subscription = lsub or b"SUBSCRIBED" in selection
        recursive = b"RECURSIVEMATCH" in selection
        candidates = list(names)
        if by_subscription:
            candidates = [n for n in names if n in subscribed]
            candidates += [n for n in subscribed if n not in existing]
        if recursive or lsub:  # parents of subscribed folders may be listed (below)
            parents = {
                DELIMITER.join(n.split(DELIMITER)[:i])
                for n in subscribed
                for i in range(1, n.count(DELIMITER) + 1)
            }
            candidates += sorted(p for p in parents if p not in candidates)
        fulls = [_join(reference, p) for p in patterns]
        seen = set()
        for name in candidates:
            if name in seen or not any(_list_match(f, name) for f in fulls):
                continue
            seen.add(name)
            extra = b""
            if by_subscription and name not in subscribed:
                # only with RECURSIVEMATCH: a parent whose subscribed descendant the
                # patterns do not match themselves (RFC 5258 CHILDINFO)
                below = [
                    n
                    for n in subscribed
                    if n.startswith(name + DELIMITER) and not any(_list_match(f, n) for f in fulls)
                ]
                if not below:
                    continue
                if lsub:
                    # RFC 3501 6.3.9: LSUB % shows an unsubscribed parent of a
                    # subscribed folder as \Noselect, in place of the folder.
                    yield _line(
                        b'* LSUB (\\Noselect) "'
                        + DELIMITER.encode()
                        + b'" '
                        + quote(_wire_name(name))
                    )
                    continue
                extra = b' ("CHILDINFO" ("SUBSCRIBED"))'
            special = self.account.special_use(name)
            if b"SPECIAL-USE" in selection and special is None:
                continue
            attrs = []
            exists = name in existing
            if not exists:
                attrs.append("\\Noselect" if lsub else "\\NonExistent")
            kids = any(n.startswith(name + DELIMITER) for n in names)
            if not lsub:
                attrs.append("\\HasChildren" if kids else "\\HasNoChildren")
                if special:
                    attrs.append(special)
                if by_subscription or b"SUBSCRIBED" in return_opts:
                    if name in subscribed:
                        attrs.append("\\Subscribed")
            yield _line(
                b"* "
                + verb
                + b" ("
                + " ".join(attrs).encode()
                + b') "'
                + DELIMITER.encode()
                + b'" '
                + quote(_wire_name(name))
                + extra
            )
        yield from self.done(tag, verb + b" completed")

    def do_lsub(self, tag: bytes, t: Tokens) -> Reply:
        yield from self.do_list(tag, t, lsub=True)

    def do_status(self, tag: bytes, t: Tokens) -> Reply:
        name = self._mailbox(t)
        items = [i.upper() for i in t.paren_list()]
        t.end()
        assert self.account is not None
        known = {b"MESSAGES", b"RECENT", b"UIDNEXT", b"UIDVALIDITY", b"UNSEEN"}
        if not items or any(i not in known for i in items):
            raise Bad("Unknown STATUS item")
        status = self.account.folder(name).status()
        if name == self.selected and self.view is not None:
            status["RECENT"] += len(self.view.recent)
        values = b" ".join(i + b" %d" % status[i.decode()] for i in items)
        yield _line(b"* STATUS " + quote(_wire_name(name)) + b" (" + values + b")")
        yield from self.done(tag, b"STATUS completed")

    def do_append(self, tag: bytes, t: Tokens) -> Reply:
        name = self._mailbox(t)
        flags: list[bytes] = []
        if t.peek() == b"(":
            flags = t.flag_list()
        when = None
        if t.peek() == b'"':
            when = _parse_datetime(t.quoted())
        message = t.string()
        t.end()
        assert self.account is not None
        if not self.account.exists(name):
            raise No("[TRYCREATE] Mailbox does not exist")
        wanted = frozenset(_flags(flags))
        state = self.account.folder(name)
        uid = state.add(message, wanted, when)
        yield from self.done(tag, b"[APPENDUID %d %d] APPEND completed" % (state.uidvalidity, uid))

    def do_idle(self, tag: bytes, t: Tokens) -> Reply:
        t.end()
        yield _line(b"+ idling")
        while True:
            yield from self.updates()
            line = yield Idle()
            if line is None:
                continue
            if line.strip().upper() == b"DONE":
                break
            yield _line(tag + b" BAD Expected DONE")
            return
        yield from self.done(tag, b"IDLE terminated")

    # -- selected -----------------------------------------------------------------------

    @property
    def _view(self) -> View:
        assert self.view is not None
        return self.view

    def do_close(self, tag: bytes, t: Tokens, expunge: bool = True) -> Reply:
        t.end()
        view = self._view
        if expunge and not view.readonly:
            deleted = [u for u in view.uids if "\\Deleted" in view.state.entries.get(u, _NO).flags]
            self._remove(view.state, deleted)
        self.view, self.selected, self.state = None, "", "auth"
        yield _line(tag + b" OK " + (b"CLOSE" if expunge else b"UNSELECT") + b" completed")

    def do_unselect(self, tag: bytes, t: Tokens) -> Reply:
        yield from self.do_close(tag, t, expunge=False)

    def _remove(self, state: FolderState, uids: list[int]) -> None:
        """Remove messages; those leaving INBOX (where zoo-smtp delivered them) are reported."""
        assert self.account is not None
        removed = state.remove(uids)
        if removed and state.path == self.account.root and self.account.on_deleted is not None:
            self.account.on_deleted(removed)

    def do_expunge(self, tag: bytes, t: Tokens, uid: bool = False) -> Reply:
        view = self._view
        only = SeqSet(t.atom(extra=b"*")) if uid else None
        t.end()
        if view.readonly:
            raise No("Mailbox is read-only")
        largest = view.uids[-1] if view.uids else 0
        deleted = [
            u
            for u in view.uids
            if "\\Deleted" in view.state.entries.get(u, _NO).flags
            and (only is None or only.contains(u, largest))
        ]
        self._remove(view.state, deleted)
        yield from self.done(tag, b"EXPUNGE completed")

    def _messages(self, word: bytes, uid: bool) -> list[tuple[int, int]]:
        """C{(seq, uid)} of the messages a sequence set names."""
        view = self._view
        seqset = SeqSet(word)
        if uid:
            largest = view.uids[-1] if view.uids else 0
            out = []
            for seq, u in enumerate(view.uids, 1):
                if seqset.contains(u, largest):
                    out.append((seq, u))
            if not view.uids and not seqset.has_star():
                return []
            return out
        n = len(view.uids)
        if n == 0 and seqset.has_star():
            return []  # "1:*" in an empty folder: nothing, not an error
        numbers = list(seqset.numbers(n))
        for a, b in seqset.ranges:
            if (a or 0) > n or (b or 0) > n:
                raise Bad("Invalid message sequence number")
        return [(seq, view.uids[seq - 1]) for seq in numbers]

    def do_fetch(self, tag: bytes, t: Tokens, uid: bool = False) -> Reply:
        messages = self._messages(t.atom(extra=b"*"), uid)
        items = _fetch_items(t)
        t.end()
        if uid and "UID" not in [i[0] for i in items]:
            items.insert(0, ("UID", "", None, None, ""))
        view = self._view
        sets_seen = not view.readonly and any(
            i[0] in ("RFC822", "RFC822.TEXT") or (i[0] == "BODY[" and not i[4]) for i in items
        )
        gone = 0
        for seq, u in messages:
            entry = view.state.entries.get(u)
            if entry is None:
                gone += 1  # expunged by another session; the EXPUNGE comes later
                continue
            flags_changed = False
            if sets_seen and "\\Seen" not in entry.flags:
                view.state.set_flags(u, entry.flags | {"\\Seen"})
                flags_changed = True
            # Keywords another session made since this one was told: FLAGS first.
            for line in view.keyword_news():
                yield _line(line)
            out = fetch_message(view, seq, u, items, flags_changed)
            yield b"* %d FETCH (" % seq + out + b")\r\n"
        if gone:
            raise No("[EXPUNGEISSUED] Some of the requested messages no longer exist")
        yield from self.done(tag, b"FETCH completed", expunge=uid)

    def do_store(self, tag: bytes, t: Tokens, uid: bool = False) -> Reply:
        messages = self._messages(t.atom(extra=b"*"), uid)
        what = t.atom().upper()
        m = re.fullmatch(rb"([+-]?)FLAGS(\.SILENT)?", what)
        if m is None:
            raise Bad("STORE takes FLAGS, +FLAGS or -FLAGS")
        flags: list[bytes] = []
        if t.peek() == b"(":
            flags = t.flag_list()
        else:
            while not t.at_end():
                flags.append(t.atom(extra=b"\\"))
        t.end()
        view = self._view
        if view.readonly:
            raise No("Mailbox is read-only")
        wanted = frozenset(_flags(flags))
        if m.group(1) != b"-":
            view.state.add_keywords(wanted)
            for line in view.keyword_news():
                yield _line(line)
        for seq, u in messages:
            entry = view.state.entries.get(u)
            old = entry.flags if entry is not None else view.told.get(u, frozenset())
            if m.group(1) == b"+":
                new = old | wanted
            elif m.group(1) == b"-":
                new = old - wanted
            else:
                new = wanted
            if entry is not None:  # else expunged by another session: answered all the same
                new = view.state.set_flags(u, frozenset(new))
            view.told[u] = frozenset(new)
            if not m.group(2):
                shown = " ".join(view.flags(u)).encode()
                uid_item = b"UID %d " % u if uid else b""
                yield b"* %d FETCH (%sFLAGS (%s))\r\n" % (seq, uid_item, shown)
        yield from self.done(tag, b"STORE completed", expunge=uid)

    def do_copy(self, tag: bytes, t: Tokens, uid: bool = False, move: bool = False) -> Reply:
        messages = self._messages(t.atom(extra=b"*"), uid)
        name = self._mailbox(t)
        t.end()
        assert self.account is not None
        if not self.account.exists(name):
            raise No("[TRYCREATE] Mailbox does not exist")
        view = self._view
        if move and view.readonly:
            raise No("Mailbox is read-only")
        target = self.account.folder(name)
        view.state.refresh()
        if any(u not in view.state.entries for _, u in messages):
            raise No("[EXPUNGEISSUED] Some of the requested messages no longer exist")
        source_uids, new_uids = [], []
        for _, u in messages:
            entry = view.state.entries[u]
            data = entry.read()
            source_uids.append(u)
            new_uids.append(target.add(data, entry.flags, entry.internal_date()))
        code = b""
        if source_uids:
            code = b"[COPYUID %d %s %s] " % (
                target.uidvalidity,
                format_uid_set(source_uids),
                format_uid_set(new_uids),
            )
        verb = b"MOVE" if move else b"COPY"
        if move:
            if code:
                yield _line(b"* OK " + code + b"Moved")
            self._remove(view.state, source_uids)
            yield from self.done(tag, verb + b" completed")
            return
        yield from self.done(tag, code + verb + b" completed")

    def do_move(self, tag: bytes, t: Tokens, uid: bool = False) -> Reply:
        yield from self.do_copy(tag, t, uid=uid, move=True)

    def do_search(self, tag: bytes, t: Tokens, uid: bool = False) -> Reply:
        view = self._view
        returns: list[bytes] | None = None  # ESEARCH (RFC 4731) when given
        try:
            if t.text[t.pos :].lstrip()[:7].upper() == b"RETURN ":
                t.atom()
                returns = [o.upper() for o in t.paren_list()] if t.peek() == b"(" else None
                if returns is None:
                    raise Syntax("RETURN needs a list")
                if any(o not in (b"MIN", b"MAX", b"ALL", b"COUNT") for o in returns):
                    raise Syntax("unknown RETURN option")
                returns = returns or [b"ALL"]
            if t.text[t.pos :].lstrip()[:8].upper() == b"CHARSET ":
                t.atom()
                _charset(t)
            test = _search_all(t, view)
            t.end()
        except Syntax:
            raise Bad("SEARCH key not supported or malformed") from None
        found: list[int] = []
        largest_uid = view.uids[-1] if view.uids else 0
        for seq, u in enumerate(view.uids, 1):
            entry = view.state.entries.get(u)
            if entry is None:
                continue
            if test(_Candidate(view, seq, u, entry, len(view.uids), largest_uid)):
                found.append(u if uid else seq)
        if returns is None:
            yield _line(b"* SEARCH" + b"".join(b" %d" % n for n in found))
        else:
            out = b'* ESEARCH (TAG "' + tag + b'")' + (b" UID" if uid else b"")
            if found and b"MIN" in returns:
                out += b" MIN %d" % found[0]
            if found and b"MAX" in returns:
                out += b" MAX %d" % found[-1]
            if b"COUNT" in returns:
                out += b" COUNT %d" % len(found)
            if found and b"ALL" in returns:
                out += b" ALL " + format_uid_set(found)
            yield _line(out)
        yield from self.done(tag, b"SEARCH completed", expunge=uid)

    def do_sort(self, tag: bytes, t: Tokens, uid: bool = False) -> Reply:
        """SORT (RFC 5256): criteria, charset, search keys; ties in sequence order."""
        view = self._view
        try:
            words = [w.upper() for w in t.paren_list()] if t.peek() == b"(" else None
            if not words:
                raise Syntax("SORT needs a list of criteria")
            keys: list[tuple[bytes, bool]] = []
            reverse = False
            for w in words:
                if w == b"REVERSE":
                    reverse = True
                    continue
                if w not in _SORT_KEYS:
                    raise Syntax("unknown SORT criterion")
                keys.append((w, reverse))
                reverse = False
            if reverse or not keys:
                raise Syntax("REVERSE needs a criterion")
            _charset(t)
            test = _search_all(t, view)
            t.end()
        except Syntax:
            raise Bad("SORT criteria or search keys not supported or malformed") from None
        rows = []
        largest_uid = view.uids[-1] if view.uids else 0
        for seq, u in enumerate(view.uids, 1):
            entry = view.state.entries.get(u)
            if entry is None:
                continue
            c = _Candidate(view, seq, u, entry, len(view.uids), largest_uid)
            if test(c):
                rows.append(([_sort_value(c, k) for k, _ in keys], seq, u))

        def order(a: Any, b: Any) -> int:
            for (_key, rev), x, y in zip(keys, a[0], b[0], strict=True):
                if x != y:
                    return (1 if x > y else -1) * (-1 if rev else 1)
            return a[1] - b[1]

        rows.sort(key=functools.cmp_to_key(order))
        yield _line(b"* SORT" + b"".join(b" %d" % (r[2] if uid else r[1]) for r in rows))
        yield from self.done(tag, b"SORT completed", expunge=uid)


_SORT_KEYS = {b"ARRIVAL", b"CC", b"DATE", b"FROM", b"SIZE", b"SUBJECT", b"TO"}


def _casemap(text: str) -> str:
    """The i;ascii-casemap collation: ASCII letters upper-cased, nothing else touched."""
    return text.translate(_UPPER)


_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


def _sort_value(c: _Candidate, key: bytes) -> Any:
    if key == b"ARRIVAL":
        return c.entry.internal_date()
    if key == b"SIZE":
        return c.entry.size()
    if key == b"DATE":
        sent = c.sent(utc=True)
        return c.entry.internal_date() if sent is None else sent
    if key == b"SUBJECT":
        return _casemap(imapmime.base_subject(c.tree.get("subject")))
    return _casemap(imapmime.first_mailbox(c.tree.get(key.decode().lower())))


class _NoEntry:
    flags: frozenset[str] = frozenset()


_NO = _NoEntry()
_NO_EXPUNGE = {b"FETCH", b"STORE", b"SEARCH", b"SORT"}


def _flags(words: list[bytes]) -> list[str]:
    out = []
    for w in words:
        f = normal_flag(w.decode("ascii", "replace"))
        if f is None and w.lower() != b"\\recent":
            raise Bad("Invalid flag " + w.decode("ascii", "replace"))
        if f is not None:
            out.append(f)
    return out


def _wire_name(name: str) -> bytes:
    return name.encode("ascii")


def _checked(raw: bytes) -> str:
    """A name or pattern, which IMAP4rev1 writes in 7 bits."""
    if not raw.isascii():
        raise Syntax("Mailbox names are 7-bit (modified UTF-7)")
    return raw.decode("ascii")


def _join(reference: str, pattern: str) -> str:
    if not reference or pattern.startswith(DELIMITER):
        return pattern
    if reference.endswith(DELIMITER):
        return reference + pattern
    return reference + DELIMITER + pattern if pattern else reference


def _list_match(pattern: str, name: str) -> bool:
    if name == "INBOX" or name.startswith("INBOX" + DELIMITER):
        if pattern.upper().startswith("INBOX"):
            pattern = "INBOX" + pattern[5:]
    return pattern_matches(pattern, name)


# -- dates ------------------------------------------------------------------------------


def _parse_date(word: bytes) -> float:
    """C{1-Jan-2000} as the UTC timestamp of its midnight."""
    m = re.fullmatch(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})", word)
    if m is None:
        raise Syntax("bad date")
    month = m.group(2).decode().capitalize()
    if month not in MONTHS:
        raise Syntax("bad month")
    try:
        return calendar.timegm((int(m.group(3)), MONTHS.index(month) + 1, int(m.group(1)), 0, 0, 0))
    except ValueError:
        raise Syntax("bad date") from None


def _parse_datetime(word: bytes) -> float:
    """An APPEND date-time (C{ 1-Jan-2000 12:00:00 +0100})."""
    m = re.fullmatch(
        rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", word
    )
    if m is None:
        raise Syntax("bad date-time")
    day = _parse_date(b"%s-%s-%s" % (m.group(1), m.group(2), m.group(3)))
    offset = (int(m.group(8)) * 60 + int(m.group(9))) * 60
    offset = -offset if m.group(7) == b"-" else offset
    return day + int(m.group(4)) * 3600 + int(m.group(5)) * 60 + int(m.group(6)) - offset


def internal_date(when: float) -> bytes:
    t = time.gmtime(when)
    return b'"%02d-%s-%04d %02d:%02d:%02d +0000"' % (
        t.tm_mday,
        MONTHS[t.tm_mon - 1].encode(),
        t.tm_year,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
    )


def _day(when: float) -> float:
    return when - when % 86400


# -- FETCH ------------------------------------------------------------------------------

# (name, section spec, header field names, partial (start, length), peek)
Item = tuple[str, str, list[str] | None, tuple[int, int] | None, str]

_MACROS = {
    "ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
    "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
    "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
}
_SIMPLE = {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE"}
_SIMPLE |= {"RFC822", "RFC822.HEADER", "RFC822.TEXT"}


def _fetch_items(t: Tokens) -> list[Item]:
    items: list[Item] = []
    if t.take(b"("):
        while not t.take(b")"):
            if t.peek() == b"":
                raise Syntax("Illegal syntax: unterminated FETCH list")
            items.append(_fetch_item(t))
        if not items:
            raise Syntax("Illegal syntax: empty FETCH list")
        return items
    word = t.text[t.pos :].split(b" ", 1)[0].upper()
    if word in (b"ALL", b"FAST", b"FULL"):
        t.atom()
        return [(name, "", None, None, "") for name in _MACROS[word.decode()]]
    return [_fetch_item(t)]


def _fetch_item(t: Tokens) -> Item:
    t.space()
    m = re.compile(rb"[A-Za-z0-9.]+").match(t.text, t.pos)
    if m is None:
        raise Syntax("Illegal syntax: unknown FETCH data item")
    name = m.group(0).upper().decode()
    t.pos = m.end()
    if name in ("BODY", "BODY.PEEK") and t.text[t.pos : t.pos + 1] == b"[":
        t.pos += 1
        m = re.compile(rb"[A-Za-z0-9.]*").match(t.text, t.pos)
        assert m is not None
        spec = m.group(0).upper().decode()
        t.pos = m.end()
        fields = None
        if spec.endswith("HEADER.FIELDS") or spec.endswith("HEADER.FIELDS.NOT"):
            t.space()
            if not t.take(b"("):
                raise Syntax("Illegal syntax: header list expected")
            fields = []
            while not t.take(b")"):
                if t.peek() == b"":
                    raise Syntax("Illegal syntax: unterminated header list")
                fields.append(t.astring().decode("ascii", "replace").upper())
            if not fields:
                raise Syntax("Illegal syntax: empty header list")
        if t.text[t.pos : t.pos + 1] != b"]":
            raise Syntax("Illegal syntax: ] expected")
        t.pos += 1
        partial = None
        p = re.compile(rb"<(\d{1,10})\.(\d{1,10})>").match(t.text, t.pos)
        if p is not None:
            partial = (int(p.group(1)), int(p.group(2)))
            if partial[1] == 0:
                raise Syntax("Illegal syntax: zero-length partial")
            t.pos = p.end()
        _check_spec(spec)
        return ("BODY[", spec, fields, partial, "PEEK" if name == "BODY.PEEK" else "")
    if name not in _SIMPLE:
        raise Syntax("Illegal syntax: unknown FETCH data item")
    if t.text[t.pos : t.pos + 1] not in (b"", b" ", b")"):
        raise Syntax("Illegal syntax: unknown FETCH data item")
    return (name, "", None, None, "")


def _check_spec(spec: str) -> None:
    root = imapmime.Part(b"", b"", [])
    imapmime.section(root, spec, [])  # raises Syntax for a malformed one


def _charset(t: Tokens) -> None:
    """Read a SEARCH or SORT charset; one zoo does not search in is NO [BADCHARSET]."""
    if t.astring().upper() not in (b"US-ASCII", b"UTF-8"):
        raise No("[BADCHARSET (US-ASCII UTF-8)] Unsupported charset")


def fetch_message(view: View, seq: int, uid: int, items: list[Item], flags_changed: bool) -> bytes:
    """The data of one FETCH response (between the parentheses)."""
    entry = view.state.entries[uid]
    raw: bytes | None = None
    tree: imapmime.Part | None = None
    out: list[bytes] = []
    names = [i[0] for i in items]
    if flags_changed and "FLAGS" not in names:
        items = items + [("FLAGS", "", None, None, "")]
    for name, spec, fields, partial, _peek in items:
        if name == "UID":
            out.append(b"UID %d" % uid)
        elif name == "FLAGS":
            out.append(b"FLAGS (" + " ".join(view.flags(uid)).encode() + b")")
            view.told[uid] = entry.flags
        elif name == "INTERNALDATE":
            out.append(b"INTERNALDATE " + internal_date(entry.internal_date()))
        elif name == "RFC822.SIZE":
            out.append(b"RFC822.SIZE %d" % entry.size())
        else:
            if raw is None:
                raw = entry.read()
            if name == "RFC822":
                out.append(b"RFC822 " + literal(raw))
                continue
            if tree is None:
                tree = imapmime.parse(raw)
            if name == "ENVELOPE":
                out.append(b"ENVELOPE " + imapmime.envelope(tree))
            elif name == "BODYSTRUCTURE":
                out.append(b"BODYSTRUCTURE " + imapmime.bodystructure(tree))
            elif name == "BODY":
                out.append(b"BODY " + imapmime.bodystructure(tree, extended=False))
            elif name == "RFC822.HEADER":
                out.append(b"RFC822.HEADER " + literal(tree.header))
            elif name == "RFC822.TEXT":
                out.append(b"RFC822.TEXT " + literal(tree.body))
            else:
                data = imapmime.section(tree, spec, fields)
                label = spec
                if fields is not None:
                    label += " (" + " ".join(fields) + ")"
                origin = b""
                if partial is not None:
                    data = data[partial[0] : partial[0] + partial[1]]
                    origin = b"<%d>" % partial[0]
                out.append(b"BODY[" + label.encode() + b"]" + origin + b" " + literal(data))
    return b" ".join(out)


# -- SEARCH -----------------------------------------------------------------------------


class _Candidate:
    """One message being searched; its text is read and parsed only if a key needs it."""

    def __init__(self, view: View, seq: int, uid: int, entry: Any, count: int, largest: int):
        self.view, self.seq, self.uid, self.entry = view, seq, uid, entry
        self.count, self.largest = count, largest
        self._tree: imapmime.Part | None = None
        self._text: str | None = None

    @property
    def flags(self) -> frozenset[str]:
        return self.entry.flags  # type: ignore[no-any-return]

    @property
    def tree(self) -> imapmime.Part:
        if self._tree is None:
            self._tree = imapmime.parse(self.entry.read())
        return self._tree

    def header(self, name: str) -> str | None:
        return imapmime.header_text(self.tree, name)

    def addresses(self, name: str) -> str | None:
        """The addresses of header C{name}, comments and groups resolved."""
        values = [v for k, v in self.tree.fields if k == name]
        return ", ".join(imapmime.address_text(v) for v in values) if values else None

    def body_text(self) -> str:
        if self._text is None:
            self._text = imapmime.decoded_text(self.tree)
        return self._text

    def sent(self, utc: bool = False) -> float | None:
        """The Date: header's time: its wall clock (SENT* keys) or, with C{utc}, the instant."""
        value = self.tree.get("date")
        if value is None:
            return None
        try:
            parsed = email.utils.parsedate_tz(value.decode("latin-1"))
        except Exception:
            return None
        if parsed is None:
            return None
        wall = calendar.timegm(parsed[:6] + (0, 0, 0))  # type: ignore[arg-type]
        return wall - (parsed[9] or 0) if utc else wall


Test = Callable[[_Candidate], bool]


def _search_all(t: Tokens, view: View) -> Test:
    tests = [_search_key(t, view)]
    while not t.at_end() and t.peek() != b")":
        tests.append(_search_key(t, view))
    return lambda c: all(test(c) for test in tests)


def _has(text: str | None, needle: str) -> bool:
    return text is not None and needle.casefold() in text.casefold()


def _search_key(t: Tokens, view: View) -> Test:
    if t.take(b"("):
        inner = _search_all(t, view)
        t.expect(b")")
        return inner
    word = t.atom(extra=b"*").upper()
    flag_keys = {
        b"ANSWERED": "\\Answered",
        b"DELETED": "\\Deleted",
        b"DRAFT": "\\Draft",
        b"FLAGGED": "\\Flagged",
        b"SEEN": "\\Seen",
    }
    if word in flag_keys:
        f = flag_keys[word]
        return lambda c: f in c.flags
    if word.startswith(b"UN") and word[2:] in flag_keys:
        f = flag_keys[word[2:]]
        return lambda c: f not in c.flags
    if word == b"ALL":
        return lambda c: True
    if word == b"RECENT":
        return lambda c: c.uid in c.view.recent
    if word == b"OLD":
        return lambda c: c.uid not in c.view.recent
    if word == b"NEW":
        return lambda c: c.uid in c.view.recent and "\\Seen" not in c.flags
    if word in (b"KEYWORD", b"UNKEYWORD"):
        k = normal_flag(t.atom(extra=b"\\").decode("ascii", "replace")) or ""
        if word == b"KEYWORD":
            return lambda c: k in c.flags
        return lambda c: k not in c.flags
    if word == b"NOT":
        inner = _search_key(t, view)
        return lambda c: not inner(c)
    if word == b"OR":
        a, b = _search_key(t, view), _search_key(t, view)
        return lambda c: a(c) or b(c)
    if word in (b"LARGER", b"SMALLER"):
        n = t.number()
        if word == b"LARGER":
            return lambda c: c.entry.size() > n
        return lambda c: c.entry.size() < n
    if word == b"UID":
        seqset = SeqSet(t.atom(extra=b"*"))
        return lambda c: seqset.contains(c.uid, c.largest)
    if word in (b"BEFORE", b"ON", b"SINCE", b"SENTBEFORE", b"SENTON", b"SENTSINCE"):
        day = _parse_date(t.astring())
        sent = word.startswith(b"SENT")
        op = word[4:] if sent else word

        def when(c: _Candidate) -> float | None:
            return c.sent() if sent else c.entry.internal_date()

        if op == b"BEFORE":
            return lambda c: (w := when(c)) is not None and _day(w) < day
        if op == b"ON":
            return lambda c: (w := when(c)) is not None and _day(w) == day
        return lambda c: (w := when(c)) is not None and _day(w) >= day
    if word == b"SUBJECT":
        needle = t.astring().decode("utf-8", "replace")
        return lambda c: _has(c.header("subject"), needle)
    if word in (b"FROM", b"TO", b"CC", b"BCC"):
        needle = t.astring().decode("utf-8", "replace")
        field = word.decode().lower()
        return lambda c: _has(c.header(field), needle) or _has(c.addresses(field), needle)
    if word == b"HEADER":
        field = t.astring().decode("ascii", "replace").lower()
        needle = t.astring().decode("utf-8", "replace")
        if not needle:
            return lambda c: c.header(field) is not None
        return lambda c: _has(c.header(field), needle)
    if word == b"BODY":
        needle = t.astring().decode("utf-8", "replace")
        return lambda c: _has(c.body_text(), needle)
    if word == b"TEXT":
        needle = t.astring().decode("utf-8", "replace")
        return lambda c: (
            _has(imapmime._decode_header(c.tree.header), needle) or _has(c.body_text(), needle)
        )
    if is_seqset(word):
        seqset = SeqSet(word)
        return lambda c: seqset.contains(c.seq, c.count)
    raise Syntax("unknown SEARCH key")


_AUTH = ("auth", "select")
COMMANDS: dict[bytes, tuple[Callable[..., Reply], tuple[str, ...]]] = {
    b"CAPABILITY": (IMAPSession.do_capability, ("unauth", "auth", "select")),
    b"NOOP": (IMAPSession.do_noop, ("unauth", "auth", "select")),
    b"LOGOUT": (IMAPSession.do_logout, ("unauth", "auth", "select")),
    b"ID": (IMAPSession.do_id, ("unauth", "auth", "select")),
    b"STARTTLS": (IMAPSession.do_starttls, ("unauth",)),
    b"LOGIN": (IMAPSession.do_login, ("unauth",)),
    b"AUTHENTICATE": (IMAPSession.do_authenticate, ("unauth",)),
    b"ENABLE": (IMAPSession.do_enable, _AUTH),
    b"NAMESPACE": (IMAPSession.do_namespace, _AUTH),
    b"SELECT": (IMAPSession.do_select, _AUTH),
    b"EXAMINE": (IMAPSession.do_examine, _AUTH),
    b"CREATE": (IMAPSession.do_create, _AUTH),
    b"DELETE": (IMAPSession.do_delete, _AUTH),
    b"RENAME": (IMAPSession.do_rename, _AUTH),
    b"SUBSCRIBE": (IMAPSession.do_subscribe, _AUTH),
    b"UNSUBSCRIBE": (IMAPSession.do_unsubscribe, _AUTH),
    b"LIST": (IMAPSession.do_list, _AUTH),
    b"LSUB": (IMAPSession.do_lsub, _AUTH),
    b"STATUS": (IMAPSession.do_status, _AUTH),
    b"APPEND": (IMAPSession.do_append, _AUTH),
    b"IDLE": (IMAPSession.do_idle, _AUTH),
    b"CHECK": (IMAPSession.do_check, ("select",)),
    b"CLOSE": (IMAPSession.do_close, ("select",)),
    b"UNSELECT": (IMAPSession.do_unselect, ("select",)),
    b"EXPUNGE": (IMAPSession.do_expunge, ("select",)),
    b"FETCH": (IMAPSession.do_fetch, ("select",)),
    b"STORE": (IMAPSession.do_store, ("select",)),
    b"COPY": (IMAPSession.do_copy, ("select",)),
    b"MOVE": (IMAPSession.do_move, ("select",)),
    b"SEARCH": (IMAPSession.do_search, ("select",)),
    b"SORT": (IMAPSession.do_sort, ("select",)),
}
