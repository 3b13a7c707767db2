"""twistd zoo-xmlrpc: XML-RPC (/, /RPC2) and JSON-RPC 2.0 (/jsonrpc) on port 7001."""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.python import usage

from zoo.tap._options import ServerOptions, named, positive_int
from zoo.tap._service import build


class Options(ServerOptions):
    name = "xmlrpc"
    default_port = 7001
    synopsis = "[--port 7001] [--module NAME ...] [--no-book] [--max-body BYTES] [--tls]"
    longdesc = (
        "XML-RPC at / and /RPC2 and JSON-RPC 2.0 at /jsonrpc, serving the books' methods "
        "(double, addtogether, quadratic, remote_repr, lengths, now) and the public "
        "functions of any --module."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "max-body",
            None,
            1024 * 1024,
            "Largest request body in bytes; bigger ones get 413 before parsing.",
            named("--max-body", positive_int),
        ],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["no-book", None, "Do not serve the books' methods (only --module's)."],
        ["no-access-log", None, "Do not log a line per HTTP request."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["modules"] = []

    def opt_module(self, name: str) -> None:
        """Serve the public functions of this module: a dotted name or a .py file (repeatable)."""
        self["modules"].append(name)

    def check(self) -> None:
        from zoo.xmlrpc.methods import Methods, load_module

        for name in self["modules"]:
            try:
                module = load_module(name)
            except Exception as e:
                raise usage.UsageError(f"--module: cannot import {name!r}: {e}") from None

            try:
                Methods().add_module(module)
            except ValueError as e:
                raise usage.UsageError(f"--module: {e}") from None
        if self["no-book"] and not self["modules"]:
            raise usage.UsageError("--no-book leaves nothing to serve; add --module NAME")


def makeService(options: Options) -> IService:
    from zoo.xmlrpc import Methods, book_methods, make_site

    methods = Methods() if options["no-book"] else book_methods()
    for name in options["modules"]:
        methods.add_module(name)
    site = make_site(methods, max_body=options["max-body"], access_log=not options["no-access-log"])
    return build(options, site)
