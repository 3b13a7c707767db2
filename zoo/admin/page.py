"""The control plane's web page: files shipped in the package, and the headers they get.

The page (C{/}) and its assets (C{/static/NAME}) are plain HTML, CSS and ES modules
under C{zoo/admin/static/}: nothing is fetched from elsewhere and nothing is built at
install time. They are served without the token because they hold neither data
nor the token: the page asks for the token once, keeps it in the tab's
C{sessionStorage}, and sends it with each API call. Every answer carries a strict
Content Security Policy: scripts and styles only from this origin, no inline script,
no plugins, no framing by other pages.
"""

from __future__ import annotations

from importlib.resources import files

#: The folder of the page's files, inside the package.
STATIC = files("zoo.admin") / "static"

#: Content types by file extension; a file of any other kind is not served.
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

#: The page's policy. Mail HTML is shown in a sandboxed frame served by the mail
#: inspector's own route, with its own stricter policy (see L{zoo.inspect.RawBody}).
POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

#: The headers every page file is served with (besides its content type).
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def is_page_path(path: bytes) -> bool:
    """Whether C{path} is the page (C{/}) or one of its assets (C{/static/...})."""
    return path == b"/" or path.startswith(b"/static/")


def asset(path: bytes) -> tuple[bytes, str] | None:
    """The bytes and content type of the page file at C{path}, or C{None}.

    Only plain names directly in the static folder are served: no sub-folders, no
    dot files, no other extensions, so nothing else in the package can be read.
    """
    name = "index.html" if path == b"/" else path[len(b"/static/") :].decode("ascii", "replace")
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    kind = TYPES.get(name[name.rfind(".") :] if "." in name else "")
    if kind is None:
        return None
    entry = STATIC / name
    if not entry.is_file():
        return None
    return entry.read_bytes(), kind


def names() -> list[str]:
    """The page's files (what the wheel must carry)."""
    return sorted(e.name for e in STATIC.iterdir() if e.is_file() and not e.name.startswith("."))
