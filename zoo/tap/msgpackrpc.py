"""twistd zoo-msgpackrpc: MessagePack-RPC over TCP (port 6785), the XML-RPC methods."""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService

from zoo.tap._options import ServerOptions, named, positive_int
from zoo.tap._service import build


class Options(ServerOptions):
    name = "msgpackrpc"
    default_port = 6785
    synopsis = "[--port 6785] [--max-message BYTES]"
    longdesc = (
        "MessagePack-RPC over TCP (Introducing Python's msgpack_client.py): requests, "
        "responses and notifications, serving the same methods as zoo-xmlrpc "
        "(double, addtogether, quadratic, remote_repr, lengths, now)."
    )
    optParameters: ClassVar[list[list[Any]]] = [
        [
            "max-message",
            None,
            1024 * 1024,
            "Most bytes of one request; a bigger one closes the connection.",
            named("--max-message", positive_int),
        ],
    ]


def makeService(options: Options) -> IService:
    from zoo.msgpackrpc import MsgpackRPCFactory
    from zoo.xmlrpc import book_methods

    return build(options, MsgpackRPCFactory(book_methods(), options["max-message"]))
