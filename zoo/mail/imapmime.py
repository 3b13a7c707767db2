"""The MIME structure IMAP's FETCH serves, read from a message's raw bytes (no I/O).

L{parse} splits a message (CRLF line ends) into L{Part}s on the bytes themselves, so
a section (C{BODY[1.2]}, C{BODY[2.HEADER]}) is exactly the bytes of the message
and a part's size is its body's size. A multipart whose body never meets its
boundary is served as one text part (any sender can mail such a message); nothing
in a message makes L{parse}, L{bodystructure} or L{envelope} raise.
"""

from __future__ import annotations

import email.header
import email.policy
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
    part: Part | None = root
    message: Part | None = root  # the message whose HEADER/TEXT a suffix means
    for n in numbers:
        if part is None:
            return b""
        if part.message is not None:  # numbers inside a message/rfc822 go to its body
            part = part.message
        if part.multipart:
            part = part.children[n - 1] if n <= len(part.children) else None
        elif n != 1:
            part = None
        message = part.message if part is not None else None
    if part is None:
        return b""
    if text == "":
        return part.body
    if text == "MIME":
        return part.header
    target = root if not numbers else message
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


def _addresses(value: bytes | None) -> bytes:
    if value is None:
        return b"NIL"
    try:
        header = email.policy.default.header_factory("to", value.decode("utf-8", "replace"))
        groups = header.groups
    except Exception:
        return b"NIL"
    out = []
    for group in groups:
        if group.display_name is not None:
            out.append(b"(NIL NIL " + quote(_enc(group.display_name)) + b" NIL)")
        for a in group.addresses:
            name = _enc(a.display_name) if a.display_name else None
            out.append(
                b"("
                + nstring(name)
                + b" NIL "
                + nstring(a.username.encode("utf-8") if a.username else None)
                + b" "
                + nstring(a.domain.encode("utf-8") if a.domain else None)
                + b")"
            )
        if group.display_name is not None:
            out.append(b"(NIL NIL NIL NIL)")
    return b"(" + b"".join(out) + b")" if out else b"NIL"


def _enc(text: str) -> bytes:
    if text.isascii():
        return text.encode()
    return email.header.Header(text, "utf-8").encode().encode("ascii")


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
