"""twistd zoo-dns: an authoritative DNS server for one zone (default tcp and udp 8053)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.python import usage

from zoo import dns
from zoo.tap._options import ServerOptions, named, parse_port
from zoo.tap._service import listener_group, plugin_root
from zoo.tap._udp import PUBLIC_FLAG, check_udp


def _upstream(value: str) -> tuple[str, int]:
    """C{HOST}, C{HOST:PORT} or C{[IPV6]:PORT} as C{(host, port)}; port 53 by default."""
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            port = rest.removeprefix(":")
    elif value.count(":") == 1:
        host, port = value.split(":")
    return host, parse_port(port)


class Options(ServerOptions):
    name = "dns"
    default_port = dns.PORT
    synopsis = (
        "[--port 8053] [--udp PORT] [--domain zoo.test] [--zone-file FILE] "
        "[--record 'NAME TYPE DATA' ...] [--forward HOST[:PORT] ...] [--udp-public]"
    )
    longdesc = (
        "Answers A, AAAA, CNAME, MX, NS and TXT questions for one zone, over UDP and TCP, "
        "as FOPNP's dns_basic.py asks them. The zone comes from --zone-file, --record "
        "lines, or a built-in zoo.test zone. Other names get NXDOMAIN unless --forward "
        "names an upstream server."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "udp",
            None,
            None,
            "UDP port [default: the TCP port; a free one with --port 0].",
            named("--udp", parse_port),
        ],
        ["domain", None, dns.DEFAULT_ORIGIN, "The zone's name ($ORIGIN of --record lines)."],
        ["zone-file", None, None, "Read the zone from this file of zone-file lines."],
    ]
    optFlags: ClassVar[list[list[Any]]] = [PUBLIC_FLAG]

    def __init__(self) -> None:
        super().__init__()
        self["record"] = []
        self["forward"] = []

    def opt_record(self, line: str) -> None:
        """A zone-file line, e.g. 'www A 127.0.0.1' or '@ MX 10 mail' (repeatable)."""
        self["record"].append(line)

    def opt_forward(self, value: str) -> None:
        """Forward names outside the zone to this server, HOST[:PORT] (repeatable; off by default)."""
        try:
            self["forward"].append(_upstream(value))
        except ValueError as e:
            raise usage.UsageError(f"--forward: {e}") from None

    def check(self) -> None:
        if self["udp"] is None:
            ports = [d for d in self.endpoints if d.startswith("tcp:")]
            self["udp"] = int(ports[0].split(":")[1]) if ports else dns.PORT
        check_udp(self, ["udp"])
        zone = dns.Zone(self["domain"])
        try:
            if self["zone-file"]:
                path = Path(self["zone-file"]).expanduser()
                try:
                    text = path.read_text()
                except OSError as e:
                    raise usage.UsageError(f"--zone-file: {e.strerror}: {path}") from None
                zone.add_lines(text.splitlines(), str(path))
            zone.add_lines(self["record"], "--record")
            if not self["zone-file"] and not self["record"]:
                zone = dns.default_zone(self["domain"])
        except dns.ZoneError as e:
            raise usage.UsageError(str(e)) from None
        self.zone = zone


def makeService(options: Options) -> IService:
    factory = dns.server_factory(options.zone, options["forward"])
    group = listener_group(options, factory)
    group.listen_udp(options["udp"], dns.DNSDatagram(controller=factory), options["interface"])
    return plugin_root(options, group)
