"""What httpbin echoes back: a request described as plain JSON values.

L{describe} builds the dictionary httpbin's endpoints answer with (C{args},
C{headers}, C{origin}, C{url}, and for requests with a body C{data}, C{form},
C{files} and C{json}) from a twisted.web request. The parsing helpers take plain
bytes and strings, so they are tested without a request at all.
"""

from __future__ import annotations

import base64
import json
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

#: Headers a proxy in front of httpbin adds; hidden unless the query has C{show_env}.
PROXY_HEADERS = frozenset(
    name.lower()
    for name in (
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Protocol",
        "X-Forwarded-Port",
        "X-Forwarded-Ssl",
        "X-Real-Ip",
        "X-Request-Id",
        "X-Request-Start",
        "Via",
    )
)

#: Every key L{describe} knows, in httpbin's names.
KEYS = ("url", "args", "form", "data", "origin", "headers", "files", "json", "method")


def flatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Pairs to a dict: one value stays a string, a repeated name becomes a list."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name not in out:
            out[name] = value
        elif isinstance(out[name], list):
            out[name].append(value)
        else:
            out[name] = [out[name], value]
    return out


def query_pairs(uri: bytes) -> list[tuple[str, str]]:
    """The C{name=value} pairs of C{uri}'s query string, blank values kept."""
    _, _, query = uri.partition(b"?")
    query = query.partition(b"#")[0]
    return parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8")


def json_safe(data: bytes, content_type: str = "application/octet-stream") -> str:
    """C{data} as text if it is UTF-8, else as a C{data:} URL carrying base64."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def header_dict(raw: list[tuple[bytes, list[bytes]]], show_env: bool = False) -> dict[str, str]:
    """Request headers by name; a repeated header's values joined with commas."""
    out: dict[str, str] = {}
    for name, values in raw:
        key = name.decode("latin-1")
        if not show_env and key.lower() in PROXY_HEADERS:
            continue
        out[key] = ",".join(v.decode("latin-1") for v in values)
    return out


def parse_body(content_type: str, body: bytes) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Split a request body into httpbin's C{data}, C{form} and C{files}.

    A URL-encoded or multipart form goes to C{form} (and C{files} for parts with a
    file name) and leaves C{data} empty, as a form-parsing server does; any other
    body is C{data}.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="utf-8")
        return "", flatten(pairs), {}
    if kind == "multipart/form-data":
        form, files = _multipart(content_type, body)
        return "", flatten(form), flatten(files)
    return json_safe(body), {}, {}


def _multipart(content_type: str, body: bytes) -> tuple[list[tuple[str, str]], list[Any]]:
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    form: list[tuple[str, str]] = []
    files: list[tuple[str, str]] = []
    if not message.is_multipart():
        return form, files
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        if part.get_filename() is not None:
            files.append((name, json_safe(payload, part.get_content_type())))
        else:
            form.append((name, json_safe(payload)))
    return form, files


def parse_json(body: bytes) -> Any:
    """The body as JSON, or C{None} if it is not JSON."""
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def origin(request: Any) -> str:
    """The client's address, or what C{X-Forwarded-For} says it is."""
    forwarded = request.getHeader(b"x-forwarded-for")
    if forwarded:
        return str(forwarded.decode("latin-1"))
    addr = request.getClientAddress()
    return str(getattr(addr, "host", "") or "")


def url(request: Any) -> str:
    """The URL the client asked for, as it would type it."""
    if request.uri.startswith((b"http://", b"https://")):  # absolute form, as to a proxy
        return str(request.uri.decode("latin-1"))
    scheme = request.getHeader(b"x-forwarded-proto")
    if scheme:
        scheme_text = scheme.decode("latin-1")
    else:
        scheme_text = "https" if request.isSecure() else "http"
    host = request.getHeader(b"host")
    if host is None:
        where = request.getHost()
        host = f"{where.host}:{where.port}".encode("latin-1")
    return f"{scheme_text}://{host.decode('latin-1')}{request.uri.decode('latin-1')}"


def describe(request: Any, *keys: str) -> dict[str, Any]:
    """The dictionary httpbin answers with for C{request}, limited to C{keys}."""
    args = query_pairs(request.uri)
    out: dict[str, Any] = {}
    body: bytes | None = None
    parsed: tuple[str, dict[str, Any], dict[str, Any]] | None = None
    for key in keys:
        if key == "url":
            out[key] = url(request)
        elif key == "args":
            out[key] = flatten(args)
        elif key == "origin":
            out[key] = origin(request)
        elif key == "headers":
            show_env = any(name == "show_env" for name, _ in args)
            out[key] = header_dict(request.requestHeaders.getAllRawHeaders(), show_env)
        elif key == "method":
            out[key] = request.method.decode("latin-1")
        else:
            if body is None:
                body = request.content.getvalue() if request.content is not None else b""
            if parsed is None:
                ctype = (request.getHeader(b"content-type") or b"").decode("latin-1")
                parsed = parse_body(ctype, body)
            if key == "json":  # a form's body is never JSON: its data is empty
                out[key] = parse_json(parsed[0].encode("utf-8")) if parsed[0] else None
            else:
                out[key] = parsed[("data", "form", "files").index(key)]
    return out
