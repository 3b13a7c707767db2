"""twistd zoo-lancelot: the Lancelot Q&A server (default port 1060)."""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.python import usage

from zoo import lancelot
from zoo.tap._options import ServerOptions, named, positive_int
from zoo.tap._service import build


class Options(ServerOptions):
    name = "lancelot"
    default_port = lancelot.PORT
    synopsis = "[--port 1060] [--listen ENDPOINT ...] [--book lancelot|zen]"
    longdesc = "Answers the three questions of FOPNP chapter 7 (or the 3rd edition's aphorisms)."

    optParameters: ClassVar[list[list[Any]]] = [
        ["book", None, "lancelot", "Answer book: lancelot (2nd ed.) or zen (3rd ed. client.py)."],
        [
            "max-question",
            None,
            lancelot.DEFAULT_MAX_LENGTH,
            "Most bytes of a question before '?'; longer closes the connection.",
            named("--max-question", positive_int),
        ],
    ]

    def check(self) -> None:
        if self["book"] not in lancelot.BOOKS:
            raise usage.UsageError(
                f"--book: unknown answer book {self['book']!r}; choose from {', '.join(lancelot.BOOKS)}"
            )


def makeService(options: Options) -> IService:
    factory = lancelot.LancelotFactory(options["book"], options["max-question"])
    return build(options, factory)
