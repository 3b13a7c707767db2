"""twistd zoo-http: httpbin's endpoints on twisted.web (port 8000, as in FOPNP)."""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService

from zoo.tap._options import ServerOptions, named, nonnegative_float, positive_int
from zoo.tap._service import build


class Options(ServerOptions):
    name = "http"
    default_port = 8000
    synopsis = (
        "[--port 8000] [--max-body BYTES] [--max-line BYTES] [--max-headers N] "
        "[--max-header-bytes BYTES] [--max-delay SECONDS] [--tls]"
    )
    longdesc = (
        "An HTTP test service in httpbin's image: /get, /post, /anything, /ip, /headers, "
        "/status/N, /redirect/N, /cookies, /basic-auth, /gzip, /stream/N, /bytes/N, "
        "/delay/N, /drip, /cache, /etag, /range, /response-headers and more, with "
        "httpbin's JSON shapes, for FOPNP's HTTP chapter and for HTTP clients' tests."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "max-body",
            None,
            1024 * 1024,
            "Largest request body in bytes; bigger ones get 413 unread.",
            named("--max-body", positive_int),
        ],
        [
            "max-line",
            None,
            8190,
            "Longest request line (else 414) or header line (else 431), in bytes.",
            named("--max-line", positive_int),
        ],
        [
            "max-headers",
            None,
            100,
            "Most headers in one request (else 400).",
            named("--max-headers", positive_int),
        ],
        [
            "max-header-bytes",
            None,
            32 * 1024,
            "Most bytes of request line and headers together (else 400).",
            named("--max-header-bytes", positive_int),
        ],
        [
            "max-delay",
            None,
            10.0,
            "Longest wait of /delay/N, and of /drip's duration and delay, in seconds.",
            named("--max-delay", nonnegative_float),
        ],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["no-access-log", None, "Do not log a line per HTTP request."],
    ]


def makeService(options: Options) -> IService:
    from zoo.http import Limits, make_site

    limits = Limits(max_delay=options["max-delay"], max_drip_seconds=options["max-delay"])
    site = make_site(
        limits,
        max_body=options["max-body"],
        max_line=options["max-line"],
        max_headers=options["max-headers"],
        max_header_bytes=options["max-header-bytes"],
        access_log=not options["no-access-log"],
    )
    return build(options, site)
