"""twistd zoo-echo: RFC 862 echo over TCP (default 7007), and over UDP with --udp PORT."""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService

from zoo import echo
from zoo.tap._options import ServerOptions, named, parse_port
from zoo.tap._service import listener_group, plugin_root
from zoo.tap._udp import PUBLIC_FLAG, check_udp


class Options(ServerOptions):
    name = "echo"
    default_command_timeout = None  # a byte stream, no commands: the idle timeout applies
    default_port = echo.PORT
    synopsis = "[--port 7007] [--listen ENDPOINT ...] [--udp PORT [--udp-public]] [--upper]"
    longdesc = (
        "Sends back every byte it receives (RFC 862); --upper upper-cases it, as the "
        "tcp_deadlock.py server of Foundations of Python Network Programming does."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "udp",
            None,
            None,
            "Also echo UDP datagrams on this port (on --interface).",
            named("--udp", parse_port),
        ],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["upper", None, "Upper-case what is echoed (the book's tcp_deadlock.py server)."],
        PUBLIC_FLAG,
    ]

    def check(self) -> None:
        check_udp(self, ["udp"])


def makeService(options: Options) -> IService:
    transform = echo.TRANSFORMS["upper" if options["upper"] else "identity"]
    group = listener_group(options, echo.EchoFactory(transform))
    if options["udp"] is not None:
        group.listen_udp(options["udp"], echo.EchoDatagram(transform), options["interface"])
    return plugin_root(options, group)
