"""The MIME structure IMAP's FETCH serves, read from a message's raw bytes (no I/O).

L{parse} splits a message (CRLF line ends) into L{Part}s on the bytes themselves, so
a section (C{BODY[1.2]}, C{BODY[2.HEADER]}) is exactly the bytes of the message
and a part's size is its body's size. A multipart whose body never meets its
boundary is served as one text part (any sender can mail such a message); nothing
in a message makes L{parse}, L{bodystructure} or L{envelope} raise.
"""

from __future__ import annotations

import email.header
import re
from dataclasses import dataclass, field

from zoo.mail.imapwire import Syntax, nstring, quote

_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass
class Part:
    """One MIME entity: its header bytes (with the blank line), its body bytes."""

    header: bytes
    body: bytes
    fields: list[tuple[str, bytes]]
    ctype: str = "text"
    subtype: str = "plain"
    params: list[tuple[str, str]] = field(default_factory=list)
    children: list[Part] = field(default_factory=list)
    message: Part | None = None  # the message inside a message/rfc822 part

    def get(self, name: str) -> bytes | None:
        name = name.lower()
        for key, value in self.fields:
            if key == name:
                return value
        return None

    @property
    def multipart(self) -> bool:
        return self.ctype == "multipart"


def _unfold(value: bytes) -> bytes:
    return re.sub(rb"\r?\n[ \t]", b" ", value).strip()


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """The header (with its blank line) and the body."""
    if raw.startswith(b"\r\n"):
        return b"\r\n", raw[2:]
    m = _HEADER_END.search(raw)
    if m is None:
        return raw, b""
    return raw[: m.end()], raw[m.end() :]


def header_fields(header: bytes) -> list[tuple[str, bytes]]:
    """C{(lower-case name, unfolded value)} for each field of C{header}."""
    out: list[tuple[str, bytes]] = []
    for line in re.split(rb"\r?\n(?![ \t])", header):
        name, sep, value = line.partition(b":")
        if not sep or not name or b" " in name.strip():
            continue
        out.append((name.strip().decode("ascii", "replace").lower(), _unfold(value)))
    return out


def raw_lines(header: bytes) -> list[tuple[str, bytes]]:
    """Each field of C{header} as C{(lower-case name, its raw folded lines with CRLF)}."""
    out: list[tuple[str, bytes]] = []
    for line in re.split(rb"(?<=\n)(?![ \t])", header):
        if not line.strip():
            continue
        name, sep, _ = line.partition(b":")
        if sep:
            out.append((name.strip().decode("ascii", "replace").lower(), line))
    return out


def _params(value: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    text = value.decode("latin-1")
    head, _, rest = text.partition(";")
    ctype, _, sub = head.strip().partition("/")
    params: list[tuple[str, str]] = []
    for m in re.finditer(r'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', rest):
        v = m.group(2).strip()
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        params.append((m.group(1).lower(), v))
    return ctype.strip().lower(), sub.strip().lower(), params


def parse(raw: bytes, default: tuple[str, str] = ("text", "plain"), depth: int = 0) -> Part:
    """The MIME tree of C{raw} (a message or a part)."""
    header, body = split_header(raw)
    fields = header_fields(header)
    part = Part(header, body, fields, *default)
    ct = part.get("content-type")
    if ct:
        ctype, sub, params = _params(ct)
        if ctype and sub and re.fullmatch(r"[a-z0-9!#$&^_.+-]+", ctype + sub):
            part.ctype, part.subtype, part.params = ctype, sub, params
        else:
            part.params = params
    if depth > 20:  # nesting that deep is an attack, not mail: serve it flat
        part.ctype, part.subtype = "text", "plain"
        return part
    if part.multipart:
        boundary = dict(part.params).get("boundary")
        children = _split(body, boundary.encode("latin-1")) if boundary else None
        if not children:
            part.ctype, part.subtype = "text", "plain"
            return part
        child_default = ("message", "rfc822") if part.subtype == "digest" else ("text", "plain")
        part.children = [parse(c, child_default, depth + 1) for c in children]
    elif (part.ctype, part.subtype) == ("message", "rfc822"):
        part.message = parse(body, depth=depth + 1)
    return part


def _split(body: bytes, boundary: bytes) -> list[bytes]:
    delim = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)")
    parts: list[bytes] = []
    start = None
    for m in delim.finditer(body):
        if start is not None:
            parts.append(body[start : m.start()])
        if m.group(1):
            return parts
        start = m.end()
    if start is not None:
        parts.append(body[start:])
    return parts


# -- sections -------------------------------------------------------------------


def section(root: Part, spec: str, fields: list[str] | None = None) -> bytes:
    """The bytes of C{BODY[spec]} (spec upper-case, e.g. C{1.2.HEADER.FIELDS}).

    Raises L{Syntax} for a malformed spec; a part that does not exist is empty.
    """
    if not spec:
        return root.header + root.body
    numbers: list[int] = []
    words = spec.split(".")
    while words and words[0].isdigit():
        n = int(words.pop(0))
        if n == 0:
            raise Syntax("part 0")
        numbers.append(n)
    text = ".".join(words)
    if text not in ("", "HEADER", "TEXT", "MIME", "HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        raise Syntax("bad section")
    if text == "MIME" and not numbers:
        raise Syntax("MIME needs a part number")
    part: Part | None = None
    for i, n in enumerate(numbers):
        if i == 0:
            container: Part = root  # the message itself: its parts, or its one body
        else:
            assert part is not None
            if part.message is not None:  # inside a message/rfc822 part: its message
                container = part.message
            elif part.multipart:
                container = part
            else:
                return b""  # a leaf has no parts
        if container.multipart:
            part = container.children[n - 1] if n <= len(container.children) else None
        else:
            part = container if n == 1 else None
        if part is None:
            return b""
    if part is None:  # no numbers: the message
        part = root
    if text == "":
        return part.body if numbers else root.header + root.body
    if text == "MIME":
        return part.header
    target = root if not numbers else part.message
    if target is None:
        return b""
    if text == "TEXT":
        return target.body
    if text == "HEADER":
        return target.header
    wanted = {f.lower() for f in (fields or [])}
    negate = text.endswith(".NOT")
    lines = [line for name, line in raw_lines(target.header) if (name in wanted) != negate]
    return b"".join(lines) + b"\r\n"


# -- ENVELOPE and BODYSTRUCTURE -------------------------------------------------------


_SPECIALS = '()<>,;:@.\\"[]'
_SPACE = " \t\r\n"


def _tokens(text: str) -> list[tuple[str, str]]:
    """RFC 5322 tokens: C{(kind, text)}, kind one of atom, qs, comment, angle, or a special."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _SPACE:
            i += 1
        elif c == '"':
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            out.append(("qs", "".join(buf)))
            i = j + 1
        elif c == "(":
            depth, j, buf = 1, i + 1, []
            while j < n:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                elif text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                    if not depth:
                        break
                buf.append(text[j])
                j += 1
            out.append(("comment", "".join(buf).strip()))
            i = j + 1
        elif c == "<":
            j = text.find(">", i)
            j = n if j < 0 else j
            out.append(("angle", text[i + 1 : j]))
            i = j + 1
        elif c in ",;:@.":
            out.append((c, c))
            i += 1
        else:
            j = i + 1
            while j < n and text[j] not in _SPECIALS and text[j] not in _SPACE:
                j += 1
            out.append(("atom", text[i:j]))
            i = j
    return out


def _addr_spec(text: str) -> tuple[str | None, str | None]:
    local, at, host = text.strip().rpartition("@")
    if not at:
        return (text.strip() or None), None
    return local.strip() or None, host.strip() or None


def _mailbox(segment: list[tuple[str, str]]) -> list[str | None]:
    """C{[name, route, mailbox, host]} of one mailbox's tokens."""
    comments = [t[1] for t in segment if t[0] == "comment"]
    angle = next((i for i, t in enumerate(segment) if t[0] == "angle"), None)
    if angle is not None:
        words = [t[1] for t in segment[:angle] if t[0] in ("atom", "qs")]
        name = " ".join(words) if words else (comments[-1] if comments else None)
        inner = re.sub(r"\s+", "", re.sub(r"\([^()]*\)", "", segment[angle][1]))
        route = None
        if inner.startswith("@") and ":" in inner:
            route, _, inner = inner.partition(":")
        return [name, route, *_addr_spec(inner)]
    spec = "".join(t[1] for t in segment if t[0] != "comment")
    return [comments[-1] if comments else None, None, *_addr_spec(spec)]


def _addresses(value: bytes | None) -> bytes:
    """An ENVELOPE address list (a group as start and end markers), or NIL."""
    if value is None:
        return b"NIL"
    out: list[bytes] = []
    segment: list[tuple[str, str]] = []
    in_group = False

    def flush() -> None:
        if any(t[0] in ("atom", "qs", "angle") for t in segment):
            fields = _mailbox(segment)
            if fields[2] is not None or fields[3] is not None:
                out.append(b"(" + b" ".join(nstring(_enc(f)) for f in fields) + b")")
        segment.clear()

    for kind, text in _tokens(value.decode("utf-8", "replace")):
        if kind == ":" and not in_group:
            name = " ".join(t[1] for t in segment if t[0] in ("atom", "qs"))
            segment.clear()
            out.append(b"(NIL NIL " + quote(name.encode("utf-8")) + b" NIL)")
            in_group = True
        elif kind == ",":
            flush()
        elif kind == ";":
            flush()
            if in_group:
                out.append(b"(NIL NIL NIL NIL)")
                in_group = False
        else:
            segment.append((kind, text))
    flush()
    if in_group:
        out.append(b"(NIL NIL NIL NIL)")
    return b"(" + b"".join(out) + b")" if out else b"NIL"


def address_text(value: bytes) -> str:
    """An address header as C{name <mailbox@host>, ...}, comments and groups resolved (for SEARCH)."""
    out = []
    segment: list[tuple[str, str]] = []
    for kind, text in _tokens(value.decode("utf-8", "replace")) + [(",", ",")]:
        if kind in (",", ";", ":"):
            if kind != ":" and any(t[0] in ("atom", "qs", "angle") for t in segment):
                name, _, local, host = _mailbox(segment)
                spec = f"{local or ''}@{host}" if host else (local or "")
                out.append(f"{name} <{spec}>" if name else spec)
            segment = []
        else:
            segment.append((kind, text))
    return ", ".join(out)


def first_mailbox(value: bytes | None) -> str:
    """The mailbox (local part) of the first address in a header, or C{""} (a SORT key)."""
    if value is None:
        return ""
    segment: list[tuple[str, str]] = []
    for kind, text in _tokens(value.decode("utf-8", "replace")) + [(",", ",")]:
        if kind == ":":  # a group comes first: its name is the mailbox, as in ENVELOPE
            return " ".join(t[1] for t in segment if t[0] in ("atom", "qs"))
        if kind in (",", ";"):
            if any(t[0] in ("atom", "qs", "angle") for t in segment):
                local = _mailbox(segment)[2]
                if local:
                    return local
            segment = []
        else:
            segment.append((kind, text))
    return ""


def base_subject(value: bytes | None) -> str:
    """The base subject of RFC 5256 2.1 (no Re:/Fwd:, blobs, "(fwd)" trailers)."""
    if value is None:
        return ""
    text = re.sub(r"\s+", " ", _decode_header(value)).strip()
    leader = re.compile(r"^(\[[^\[\]]*\]\s*)*(re|fwd?)\s*(\[[^\[\]]*\]\s*)?:\s*", re.I)
    blob = re.compile(r"^\[[^\[\]]*\]\s*")
    while True:
        while True:  # 2: trailing "(fwd)"
            cut = re.sub(r"\s*\(fwd\)\s*$", "", text, flags=re.I).rstrip()
            if cut == text:
                break
            text = cut
        while True:  # 3 and 4: leading "Re:", "Fwd: ", "[blob]"
            m = leader.match(text)
            if m:
                text = text[m.end() :]
                continue
            m = blob.match(text)
            if m and text[m.end() :]:
                text = text[m.end() :]
                continue
            break
        m = re.match(r"^\[fwd:(.*)\]$", text, re.I | re.S)  # 5: "[fwd: ...]"
        if not m:
            return text
        text = m.group(1).strip()


def _enc(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8")


def envelope(part: Part) -> bytes:
    """The ENVELOPE of a message."""
    sender = part.get("sender") or part.get("from")
    reply = part.get("reply-to") or part.get("from")
    items = [
        nstring(part.get("date")),
        nstring(part.get("subject")),
        _addresses(part.get("from")),
        _addresses(sender),
        _addresses(reply),
        _addresses(part.get("to")),
        _addresses(part.get("cc")),
        _addresses(part.get("bcc")),
        nstring(part.get("in-reply-to")),
        nstring(part.get("message-id")),
    ]
    return b"(" + b" ".join(items) + b")"


def _plist(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return b"NIL"
    out = []
    for k, v in params:
        out.append(quote(k.upper().encode("latin-1")) + b" " + quote(v.encode("latin-1")))
    return b"(" + b" ".join(out) + b")"


def _disposition(part: Part) -> bytes:
    value = part.get("content-disposition")
    if not value:
        return b"NIL"
    _, _, params = _params(value)
    kind = value.decode("latin-1").split(";", 1)[0].strip()
    if not kind:
        return b"NIL"
    return b"(" + quote(kind.encode("latin-1")) + b" " + _plist(params) + b")"


def _language(part: Part) -> bytes:
    value = part.get("content-language")
    if not value:
        return b"NIL"
    tags = [t.strip() for t in value.decode("latin-1").split(",") if t.strip()]
    return b"(" + b" ".join(quote(t.encode("latin-1")) for t in tags) + b")" if tags else b"NIL"


def bodystructure(part: Part, extended: bool = True) -> bytes:
    """C{BODYSTRUCTURE} (or C{BODY} with C{extended} false) of C{part}."""
    if part.multipart:
        kids = b"".join(bodystructure(c, extended) for c in part.children)
        out = kids + b" " + quote(part.subtype.upper().encode())
        if extended:
            params = [(k, v) for k, v in part.params]
            out += b" " + _plist(params) + b" " + _disposition(part) + b" " + _language(part)
            out += b" " + nstring(part.get("content-location"))
        return b"(" + out + b")"
    params = part.params or ([("charset", "us-ascii")] if part.ctype == "text" else [])
    encoding = (part.get("content-transfer-encoding") or b"7BIT").strip().upper()
    items = [
        quote(part.ctype.upper().encode()),
        quote(part.subtype.upper().encode()),
        _plist(params),
        nstring(part.get("content-id")),
        nstring(part.get("content-description")),
        quote(encoding),
        b"%d" % len(part.body),
    ]
    if part.message is not None:
        items.append(envelope(part.message))
        items.append(bodystructure(part.message, extended))
        items.append(b"%d" % part.body.count(b"\n"))
    elif part.ctype == "text":
        items.append(b"%d" % part.body.count(b"\n"))
    if extended:
        items += [nstring(part.get("content-md5")), _disposition(part), _language(part)]
        items.append(nstring(part.get("content-location")))
    return b"(" + b" ".join(items) + b")"


def decoded_text(part: Part) -> str:
    """The text of every part (transfer encoding and charset undone), for SEARCH."""
    pieces: list[str] = []
    _collect(part, pieces)
    return "\n".join(pieces)


def _collect(part: Part, pieces: list[str]) -> None:
    if part.multipart:
        for c in part.children:
            _collect(c, pieces)
        return
    if part.message is not None:
        pieces.append(_decode_header(part.message.header))
        _collect(part.message, pieces)
        return
    encoding = (part.get("content-transfer-encoding") or b"").strip().lower()
    body = part.body
    try:
        if encoding == b"base64":
            import base64

            body = base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body) + b"===")
        elif encoding == b"quoted-printable":
            import quopri

            body = quopri.decodestring(body)
    except Exception:
        pass
    charset = dict(part.params).get("charset", "utf-8")
    try:
        pieces.append(body.decode(charset, "replace"))
    except LookupError:
        pieces.append(body.decode("utf-8", "replace"))


def _decode_header(value: bytes) -> str:
    text = value.decode("utf-8", "replace")
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except Exception:
        return text


def header_text(part: Part, name: str) -> str | None:
    """A header field's value with encoded words decoded (for SEARCH), or C{None}."""
    values = [v for k, v in part.fields if k == name.lower()]
    if not values:
        return None
    return "\n".join(_decode_header(v) for v in values)
