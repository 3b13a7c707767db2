"""What the control plane sees of the mail zoo-smtp stores: mailboxes, messages, parts.

zoo-smtp, zoo-pop3 and zoo-imap share one store, the Maildirs under
C{<state dir>/mail/}, so there is one L{MailInspector}, registered as C{"smtp"}: what
POP3 and IMAP read and delete is what it lists. It lists mailboxes and messages
(searchable), shows one message's headers, text and HTML parts and attachments, its
raw source, one attachment; deletes a message; and seeds one without SMTP, stored by
the same writer as SMTP and reported by the same C{mail.stored} event (L{emit_stored}).

A message's id is C{<mailbox>~<file name>} (the file name without its Maildir flags):
a mailbox name never holds C{~} (it is escaped), nor does either part hold C{/}.

MIME is parsed with the standard library's C{email} package (C{policy.default});
malformed messages (a broken boundary, undecodable headers) are shown as far as they
can be parsed, never raise.
"""

from __future__ import annotations

import contextlib
import email
import email.parser
import json
import os
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage, Message
from email.utils import formataddr, getaddresses, make_msgid
from pathlib import Path
from typing import Any

from zoo.events import hub
from zoo.inspect import ApiError, Call, RawBody, Route, query_limit
from zoo.mail.maildir import MaildirStore, Writer, arrival_order, mailbox_name, wire_size

#: Messages listed when the request gives no C{limit}; and the most it may ask for.
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
#: Bytes of a message read to answer a search in its body.
MAX_SEARCHED = 4 * 1024 * 1024
#: The largest message a seed request may store.
MAX_SEED = 20 * 1024 * 1024

_HEADERS = email.parser.BytesHeaderParser(policy=policy.default)


def _header(msg: Message, name: str) -> str:
    """Header C{name} as text ("" if absent); a malformed one is shown as it was sent."""
    try:
        value = msg.get(name)
    except Exception:
        raw = msg.get_all(name, failobj=[""])  # pragma: no cover - policy-dependent
        value = raw[0] if raw else ""
    try:
        return "" if value is None else str(value)
    except Exception:
        return repr(value)


def _addresses(msg: Message, name: str) -> list[str]:
    try:
        return [a for _, a in getaddresses([_header(msg, name)]) if a]
    except Exception:
        return []


def _head(data: bytes) -> bytes:
    """The header block of C{data} (up to and including the blank line), at most 64 KiB."""
    end = data.find(b"\r\n\r\n", 0, 65536)
    # A bare-LF blank line counts too where it comes first (searched only up to the CRLF one).
    bare = data.find(b"\n\n", 0, 65536 if end < 0 else end + 2)
    if bare >= 0 and (end < 0 or bare < end):
        end = bare
    return data[: end + 2] if end >= 0 else data[:65536]


def headers_of(data: bytes) -> Message:
    """The parsed header block of C{data} (the body is not parsed)."""
    return _HEADERS.parsebytes(_head(data))


def emit_stored(
    observatory: Any,
    session: str | None,
    sender: Any,
    recipients: Sequence[Any],
    mailboxes: Sequence[str],
    paths: Sequence[Any],
    data: bytes,
    service: str = "smtp",
) -> None:
    """Record C{mail.stored} for C{data}, now on disk at C{paths} (the caller checks C{enabled}).

    Only the header block is kept, and parsed when the event is read: parsing it with
    the email package costs more than storing a small message. What is kept is
    plain bytes and text: the sender and the recipients as their bytes (Twisted's
    C{Address} objects, each with a dict, made into one bytes object; text as it is)
    and the paths as text. An event is kept for thousands of messages after its
    own, so what it holds should be small and hold nothing else (every object it
    keeps alive is one more for memory and for the garbage collector). The bytes
    are made text, as UTF-8, when the event is read.
    """
    head = _head(data)
    # Three values, the C recorder's shape (the size as observatory.record estimates it).
    observatory.recorder(service, "mail.stored", _stored).record(
        session,
        len(head) + 96,
        _plain(sender),
        (tuple(map(_plain, recipients)), tuple(mailboxes), tuple(map(str, paths)), len(data)),
        head,
    )


def _plain(address: Any) -> bytes | str:
    """An address as bytes or text, what an event keeps of it (see L{emit_stored})."""
    return address if isinstance(address, (bytes, str)) else bytes(address)


def _text(address: bytes | str) -> str:
    """What L{_plain} kept, as text (the bytes as UTF-8; a byte that is not, replaced)."""
    return address.decode("utf-8", "replace") if isinstance(address, bytes) else address


def _stored(
    sender: bytes | str,
    stored: tuple[tuple[bytes | str, ...], tuple[str, ...], tuple[str, ...], int],
    head: bytes,
) -> dict[str, Any]:
    recipients, mailboxes, paths, size = stored
    parsed = _HEADERS.parsebytes(head)
    return {
        "from": _text(sender),
        "to": [_text(r) for r in recipients],
        "message_id": _header(parsed, "Message-ID"),
        "subject": _header(parsed, "Subject")[:998],
        "size": size,
        "mailboxes": list(mailboxes),
        "ids": [message_id(Path(p)) for p in paths],
        "paths": list(paths),
    }


def emit_deleted(
    observatory: Any, service: str, paths: Sequence[Any], via: str | None = None
) -> None:
    """Emit one C{mail.deleted} per removed message file (the caller checks C{enabled}).

    @param via: what removed it: C{"pop3"}, C{"imap"} or C{"api"} (default C{service}).
    """
    for p in paths:
        path = Path(p)
        observatory.emit(
            service,
            "mail.deleted",
            None,
            mailbox=path.parent.parent.name,
            id=message_id(path),
            via=via or service,
        )


def message_id(path: Path) -> str:
    """The inspector's id of the message file at C{path} (C{<mailbox>~<name>})."""
    return f"{path.parent.parent.name}~{path.name.partition(':')[0]}"


def _flags(path: Path) -> list[str]:
    if path.parent.name == "new":
        return ["new"]
    info = path.name.partition(":")[2]
    names = {"S": "seen", "R": "answered", "F": "flagged", "T": "deleted", "D": "draft"}
    return [names.get(c, c) for c in info.partition(",")[2]] if info.startswith("2,") else []


def parse(data: bytes) -> EmailMessage:
    """C{data} as a message object (C{policy.default}); never raises on malformed MIME."""
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


#: The policy a message's HTML is served with: a sandbox (no script, no forms, no
#: same origin), its own inline styles, and images only from C{data:} URLs.
HTML_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _content(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except Exception:
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
    if isinstance(content, bytes):
        return content.decode("utf-8", "replace")
    return content if isinstance(content, str) else str(content)


def _leaves(msg: Message) -> list[Message]:
    try:
        return [p for p in msg.walk() if not p.is_multipart()]
    except Exception:
        return [msg]


def _body(msg: EmailMessage, kind: str) -> Message | None:
    try:
        return msg.get_body((kind,))
    except Exception:
        return None


def parts(msg: EmailMessage) -> tuple[Message | None, Message | None, list[Message]]:
    """The text part, the HTML part and the attachments (every other leaf part)."""
    text, html = _body(msg, "plain"), _body(msg, "html")
    others = [p for p in _leaves(msg) if p is not text and p is not html]
    return text, html, others


def _part_name(part: Message) -> str | None:
    try:
        return part.get_filename()
    except Exception:
        return None


def _part_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


class MailInspector:
    """The control plane's view of the Maildirs under C{store.root}.

    @param store: the Maildirs zoo-smtp writes (and zoo-pop3/zoo-imap read).
    @param writer: how a seeded message is stored (zoo-smtp's own writer).
    @param hostname: the domain of a bare recipient name, as in SMTP.
    @param observatory: where C{mail.stored} and C{mail.deleted} go.
    """

    def __init__(
        self,
        store: MaildirStore,
        writer: Writer,
        hostname: str = "localhost",
        observatory: Any = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.hostname = hostname
        self.observatory = observatory if observatory is not None else hub

    # -- the store ------------------------------------------------------------------

    def _files(self, mailbox: str) -> list[Path]:
        box = self.store.path(mailbox)
        found: list[Path] = []
        for sub in ("new", "cur"):
            try:
                found.extend(p for p in (box / sub).iterdir() if not p.name.startswith("."))
            except FileNotFoundError:
                pass
        return found

    def _find(self, ident: str) -> Path:
        mailbox, sep, name = ident.partition("~")
        if not sep or not name or "/" in name or name.startswith(".") or "\0" in ident:
            raise ApiError(404, f"no message {ident[:200]!r}")
        try:
            box = self.store.path(mailbox)
        except ValueError:
            raise ApiError(404, f"no message {ident[:200]!r}") from None
        for sub in ("new", "cur"):
            exact = box / sub / name
            if exact.is_file():
                return exact
            try:
                for p in (box / sub).iterdir():
                    if p.name.partition(":")[0] == name:
                        return p
            except FileNotFoundError:
                pass
        raise ApiError(404, f"no message {ident[:200]!r}")

    def _read(self, ident: str) -> tuple[Path, bytes]:
        path = self._find(ident)
        try:
            return path, path.read_bytes()
        except FileNotFoundError:  # deleted meanwhile (POP3, IMAP)
            raise ApiError(404, f"no message {ident[:200]!r}") from None

    def reset(self) -> None:
        """Delete every message in every mailbox; the Maildir folders stay.

        One C{scandir} a folder and no C{stat} a file (a test suite resets before
        every test, and the mailboxes its tests made add up).
        """
        try:
            boxes = os.scandir(self.store.root)
        except FileNotFoundError:
            return
        with boxes:
            for box in boxes:
                if not box.is_dir(follow_symlinks=False):
                    continue
                for sub in ("cur", "new", "tmp"):
                    try:
                        with os.scandir(os.path.join(box.path, sub)) as files:
                            for f in files:
                                if not f.is_dir(follow_symlinks=False):
                                    with contextlib.suppress(FileNotFoundError):
                                        os.unlink(f.path)
                    except (FileNotFoundError, NotADirectoryError):
                        if sub == "cur":
                            break  # not a Maildir

    # -- the contract ------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        boxes = self.store.mailboxes()
        return {
            "root": str(self.store.root),
            "mailboxes": len(boxes),
            "messages": sum(len(self._files(b)) for b in boxes),
            "shared_with": ["pop3", "imap"],
        }

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/mailboxes", self.mailboxes, "The mailboxes and their message counts."),
            Route(
                "GET",
                "/messages",
                self.messages,
                "Messages, newest first.",
                {
                    "mailbox": "only this mailbox (an address)",
                    "q": "text to find in the subject, sender, recipients or body",
                    "limit": f"the most to list (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
                },
            ),
            Route(
                "POST",
                "/messages",
                self.seed,
                "Store a message without SMTP (raw RFC 5322, or JSON from/to/subject/text/html).",
                {"to": "recipients of a raw message (comma-separated; default its To/Cc)"},
            ),
            Route(
                "GET", "/messages/{id}", self.message, "One message: headers, parts, attachments."
            ),
            Route("DELETE", "/messages/{id}", self.delete, "Delete one message."),
            Route("GET", "/messages/{id}/raw", self.raw, "The message's source (message/rfc822)."),
            Route(
                "GET",
                "/messages/{id}/html",
                self.html,
                "The HTML part alone, for a sandboxed frame: its Content Security Policy lets "
                "nothing run and nothing load (remote images only with images=1).",
                {"images": "1: let the frame load remote images (http and https)"},
            ),
            Route(
                "GET",
                "/messages/{id}/attachments/{index}",
                self.attachment,
                "One attachment, with its type and file name.",
            ),
        ]

    def _mailbox_param(self, call: Call) -> str | None:
        given = call.query.get("mailbox")
        if not given:
            return None
        try:
            return mailbox_name(given, self.hostname)
        except ValueError:
            raise ApiError(400, "mailbox must not be empty") from None

    def mailboxes(self, call: Call) -> list[dict[str, Any]]:
        return [{"mailbox": b, "messages": len(self._files(b))} for b in self.store.mailboxes()]

    def messages(self, call: Call) -> list[dict[str, Any]]:
        limit = query_limit(call, DEFAULT_LIMIT, MAX_LIMIT)
        wanted = self._mailbox_param(call)
        q = (call.query.get("q") or "").lower()
        existing = self.store.mailboxes()
        boxes = existing if wanted is None else [wanted] if wanted in existing else []
        files = [p for b in boxes for p in self._files(b)]
        files.sort(key=arrival_order, reverse=True)
        found: list[dict[str, Any]] = []
        for path in files:
            if len(found) >= limit:
                break
            summary = self._summary(path, q)
            if summary is not None:
                found.append(summary)
        return found

    def _summary(self, path: Path, q: str) -> dict[str, Any] | None:
        try:
            with path.open("rb") as f:
                data = f.read(MAX_SEARCHED if q else 64 * 1024)
        except FileNotFoundError:
            return None
        head = headers_of(data)
        summary = {
            "id": message_id(path),
            "mailbox": path.parent.parent.name,
            "from": _header(head, "From"),
            "to": _addresses(head, "To") + _addresses(head, "Cc"),
            "subject": _header(head, "Subject"),
            "date": _header(head, "Date"),
            "message_id": _header(head, "Message-ID"),
            "size": wire_size(path),
            "flags": _flags(path),
        }
        if q and not self._matches(summary, data, q):
            return None
        return summary

    @staticmethod
    def _matches(summary: dict[str, Any], data: bytes, q: str) -> bool:
        shown = " ".join([summary["from"], summary["subject"], " ".join(summary["to"])])
        if q in shown.lower():
            return True
        text, html, _ = parts(parse(data))
        return any(q in _content(p).lower() for p in (text, html) if p is not None)

    def message(self, call: Call) -> dict[str, Any]:
        path, data = self._read(call.params["id"])
        msg = parse(data)
        text, html, attachments = parts(msg)
        headers = []
        for name, value in msg.raw_items():  # every header, repeated ones too, in order
            try:
                shown = str(msg.policy.header_fetch_parse(name, value))
            except Exception:
                shown = str(value)
            headers.append([name, shown])
        return {
            "id": message_id(path),
            "mailbox": path.parent.parent.name,
            "from": _header(msg, "From"),
            "to": _addresses(msg, "To"),
            "cc": _addresses(msg, "Cc"),
            "subject": _header(msg, "Subject"),
            "date": _header(msg, "Date"),
            "message_id": _header(msg, "Message-ID"),
            "size": wire_size(path),
            "flags": _flags(path),
            "headers": headers,
            "text": _content(text) if text is not None else None,
            "html": _content(html) if html is not None else None,
            "attachments": [
                {
                    "index": i,
                    "name": _part_name(p),
                    "type": p.get_content_type(),
                    "size": len(_part_bytes(p)),
                }
                for i, p in enumerate(attachments)
            ],
            "defects": [type(d).__name__ for d in getattr(msg, "defects", [])],
        }

    def html(self, call: Call) -> RawBody:
        images = call.query.get("images", "0")
        if images not in ("0", "1"):
            raise ApiError(400, f"images must be 0 or 1, not {images[:40]!r}")
        _, data = self._read(call.params["id"])
        _, html, _ = parts(parse(data))
        if html is None:
            raise ApiError(404, "the message has no HTML part")
        policy = HTML_POLICY + (" http: https:" if images == "1" else "")
        return RawBody(_content(html).encode("utf-8"), "text/html; charset=utf-8", policy=policy)

    def raw(self, call: Call) -> RawBody:
        path, data = self._read(call.params["id"])
        return RawBody(data, "message/rfc822", path.name.partition(":")[0] + ".eml")

    def attachment(self, call: Call) -> RawBody:
        _, data = self._read(call.params["id"])
        index = call.params["index"]
        if not index.isdigit():
            raise ApiError(400, f"attachment index must be a whole number, not {index[:40]!r}")
        attachments = parts(parse(data))[2]
        if int(index) >= len(attachments):
            raise ApiError(404, f"no attachment {index} ({len(attachments)} in this message)")
        part = attachments[int(index)]
        return RawBody(_part_bytes(part), part.get_content_type(), _part_name(part))

    def delete(self, call: Call) -> dict[str, Any]:
        path = self._find(call.params["id"])
        try:
            path.unlink()
        except FileNotFoundError:
            raise ApiError(404, f"no message {call.params['id'][:200]!r}") from None
        if self.observatory.enabled:
            emit_deleted(self.observatory, "smtp", [path], via="api")
        return {"deleted": message_id(path)}

    # -- seeding ---------------------------------------------------------------------------

    def seed(self, call: Call) -> Any:
        if len(call.body) > MAX_SEED:
            raise ApiError(413, f"a seeded message may be at most {MAX_SEED} bytes")
        if not call.body.strip():
            raise ApiError(400, "the body must be a message (RFC 5322) or a JSON object")
        if call.content_type.split(";")[0].strip().lower() == "application/json":
            data, sender, recipients = self._from_json(call.body)
        else:
            data = call.body
            head = headers_of(data)
            sender = (_addresses(head, "From") or [""])[0]
            listed = call.query.get("to")
            if listed:
                recipients = [a.strip() for a in listed.split(",") if a.strip()]
            else:
                recipients = _addresses(head, "To") + _addresses(head, "Cc")
        if not recipients:
            raise ApiError(400, "no recipient: give 'to' (or a To: header)")
        try:
            mailboxes = [mailbox_name(r, self.hostname) for r in recipients]
        except ValueError:
            raise ApiError(400, "a recipient is empty") from None
        data = _crlf(data)
        d = self.writer.deliver(mailboxes, data)

        def stored(paths: list[str]) -> dict[str, Any]:
            if self.observatory.enabled:
                emit_stored(self.observatory, None, sender, recipients, mailboxes, paths, data)
            return {"ids": [message_id(Path(p)) for p in paths], "mailboxes": mailboxes}

        return d.addCallback(stored)

    def _from_json(self, body: bytes) -> tuple[bytes, str, list[str]]:
        try:
            spec = json.loads(body)
        except ValueError as e:
            raise ApiError(400, f"the body is not JSON: {e}") from None
        if not isinstance(spec, dict):
            raise ApiError(400, "the JSON body must be an object")
        unknown = set(spec) - {"from", "to", "cc", "subject", "text", "html"}
        if unknown:
            raise ApiError(400, f"unknown fields: {', '.join(sorted(unknown))}")
        to = spec.get("to")
        recipients = [to] if isinstance(to, str) else to
        cc = spec.get("cc") or []
        cc = [cc] if isinstance(cc, str) else cc
        sender = spec.get("from", "zoo@localhost")
        if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
            raise ApiError(400, "'to' must be an address or a list of addresses")
        if not isinstance(cc, list) or not all(isinstance(r, str) for r in cc):
            raise ApiError(400, "'cc' must be an address or a list of addresses")
        for name in ("from", "subject", "text", "html"):
            if name in spec and not isinstance(spec[name], str):
                raise ApiError(400, f"'{name}' must be a string")
        msg = EmailMessage()
        try:
            msg["From"] = formataddr(("", sender)) if "<" not in sender else sender
            if recipients:
                msg["To"] = ", ".join(recipients)
            if cc:
                msg["Cc"] = ", ".join(cc)
            msg["Subject"] = spec.get("subject", "")
        except (ValueError, TypeError) as e:
            raise ApiError(400, f"bad header: {e}") from None
        msg["Date"] = email.utils.formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.hostname)
        msg.set_content(spec.get("text", ""))
        if "html" in spec:
            msg.add_alternative(spec["html"], subtype="html")
        return msg.as_bytes(policy=policy.SMTP), sender, recipients + cc


def _crlf(data: bytes) -> bytes:
    """C{data} with CRLF line ends, as SMTP carries it (the store writes LF)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def register(
    store: MaildirStore, writer: Writer, hostname: str = "localhost", observatory: Any = None
) -> MailInspector:
    """Register the mail inspector and its reset on C{observatory} (the hub by default)."""
    from zoo.inspect import register as register_inspector

    inspector = MailInspector(store, writer, hostname, observatory)
    register_inspector(inspector.observatory, "smtp", inspector)
    return inspector


__all__ = ["MailInspector", "emit_stored", "message_id", "register"]
