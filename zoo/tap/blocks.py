"""twistd zoo-blocks: length-prefixed blocks, FOPNP's blocks.py (default tcp 1061)."""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.python import usage

from zoo import blocks
from zoo.tap._options import ServerOptions, named, positive_int
from zoo.tap._service import build


class Options(ServerOptions):
    name = "blocks"
    default_port = blocks.PORT
    synopsis = "[--port 1061] [--listen ENDPOINT ...] [--mode sink|echo] [--max-block BYTES]"
    longdesc = (
        "Reads blocks framed by a 4-byte big-endian length; a zero-length block ends a "
        "series. sink logs each block as the book's blocks.py server does; echo sends "
        "each block back, framed."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        ["mode", None, "sink", "sink (log, send nothing: the book) or echo (send blocks back)."],
        [
            "max-block",
            None,
            blocks.DEFAULT_MAX_SIZE,
            "Largest block accepted, in bytes; a larger header closes the connection.",
            named("--max-block", positive_int),
        ],
    ]

    def check(self) -> None:
        if self["mode"] not in blocks.MODES:
            raise usage.UsageError(
                f"--mode: unknown mode {self['mode']!r}; choose from {', '.join(blocks.MODES)}"
            )
        if self["max-block"] > 2**32 - 1:
            raise usage.UsageError("--max-block: the 4-byte header cannot exceed 4294967295")


def makeService(options: Options) -> IService:
    factory = blocks.BlocksFactory(options["mode"], options["max-block"])
    return build(options, factory)
