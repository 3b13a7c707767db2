"""twistd zoo-time: ISO time (exercise 17.1, tcp 1013), RFC 868 time (tcp 1037), RFC 867 daytime (tcp 1867)."""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService

from zoo import timeserver
from zoo.tap._options import ServerOptions, named, normalize_endpoint, parse_port
from zoo.tap._service import ListenerGroup, ZooRoot, listener_group, plugin_root
from zoo.tap._udp import PUBLIC_FLAG, check_udp


def port_or_off(value: str) -> int | None:
    """A port number, or C{off} for no listener."""
    if value.strip().lower() in ("off", "none", "no"):
        return None
    return parse_port(value)


class Options(ServerOptions):
    name = "time"
    default_port = timeserver.ISO_PORT
    synopsis = (
        "[--port 1013] [--rfc868-port 1037|off] [--daytime-port 1867|off] "
        "[--udp PORT] [--rfc868-udp PORT] [--daytime-udp PORT] [--local]"
    )
    longdesc = (
        "--port/--listen: send 'time', get the date and time as an ISO 8601 string "
        "(Introducing Python, exercise 17.1). --rfc868-port: RFC 868 time, seconds since "
        "1900 as 4 bytes (rdate -p -o PORT HOST). --daytime-port: RFC 867 daytime. "
        "UDP only when asked for, per service."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "rfc868-port",
            None,
            timeserver.RFC868_PORT,
            "TCP port for RFC 868 time, or 'off'.",
            named("--rfc868-port", port_or_off),
        ],
        [
            "daytime-port",
            None,
            timeserver.DAYTIME_PORT,
            "TCP port for RFC 867 daytime, or 'off'.",
            named("--daytime-port", port_or_off),
        ],
        ["udp", None, None, "UDP port for ISO time requests.", named("--udp", parse_port)],
        [
            "rfc868-udp",
            None,
            None,
            "UDP port for RFC 868 time (rdate -u).",
            named("--rfc868-udp", parse_port),
        ],
        [
            "daytime-udp",
            None,
            None,
            "UDP port for RFC 867 daytime.",
            named("--daytime-udp", parse_port),
        ],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["local", None, "ISO time in the server's local time zone (default: UTC, +00:00)."],
        PUBLIC_FLAG,
    ]

    def check(self) -> None:
        check_udp(self, ["udp", "rfc868-udp", "daytime-udp"])


def makeService(options: Options) -> IService:
    local = options["local"]
    iso = listener_group(options, timeserver.IsoTimeFactory(local=local))
    root = plugin_root(options, iso)
    interface = options["interface"]
    for key, factory in (
        ("rfc868-port", timeserver.Rfc868Factory()),
        ("daytime-port", timeserver.DaytimeFactory()),
    ):
        if options[key] is None:
            continue
        group = ListenerGroup(
            options.name,
            factory,
            max_connections=options["max-connections"],
            idle_timeout=options["idle-timeout"],
            tls=iso.tls,
            command_timeout=None,  # RFC 867/868: the server speaks first, then closes
        )
        group.listen(normalize_endpoint(str(options[key]), interface))
        # Service names are unique per parent, and every group is called "time".
        holder = ZooRoot()
        group.setServiceParent(holder)
        holder.setServiceParent(root)
    for key, kind in (("udp", "iso"), ("rfc868-udp", "rfc868"), ("daytime-udp", "daytime")):
        if options[key] is not None:
            iso.listen_udp(options[key], timeserver.TimeDatagram(kind, local=local), interface)
    return root
