"""twistd zoo-tls: a TLS wrapper like stunnel (default: TLS on 4433 in front of 127.0.0.1:1060)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.python import usage

from zoo.tap._options import ServerOptions, named, nonnegative_float, parse_port
from zoo.tap._service import build

DEFAULT_PORT = 4433
DEFAULT_CONNECT = "127.0.0.1:1060"
MODES = ("server", "client")


def parse_target(value: str) -> tuple[str, int]:
    """C{HOST:PORT}, C{[IPv6]:PORT} or a bare C{PORT} (on 127.0.0.1)."""
    value = value.strip()
    if value.isdigit():
        return "127.0.0.1", parse_port(value)
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{value!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{value!r}: write an IPv6 address as [ADDRESS]:PORT")
    return host, parse_port(port)


def positive_seconds(value: str) -> float:
    """A number of seconds greater than 0."""
    seconds = nonnegative_float(value)
    if seconds == 0:
        raise ValueError(f"{value!r} is not a number of seconds > 0")
    return seconds


class Options(ServerOptions):
    name = "tls"
    default_command_timeout = None  # a byte stream, no commands: the idle timeout applies
    default_port = DEFAULT_PORT
    synopsis = "[--mode server|client] [--port 4433] [--connect HOST:PORT] [--ca FILE]"
    longdesc = (
        "A TLS wrapper like stunnel. Server mode (default) accepts TLS and forwards the "
        "plaintext to --connect; client mode accepts plain TCP and connects to --connect "
        "with TLS, verifying its certificate chain (--ca, default the zoo development CA) "
        "and hostname (--servername, default the --connect host). In client mode "
        "--tls-cert/--tls-key are the client certificate shown to the server."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        ["mode", "m", "server", "server: TLS in, plain out; client: plain in, TLS out."],
        [
            "connect",
            "c",
            DEFAULT_CONNECT,
            "Forward to HOST:PORT ([IPv6]:PORT; a bare PORT means 127.0.0.1).",
            named("--connect", parse_target),
        ],
        [
            "ca",
            None,
            None,
            "Client mode: trust this PEM CA file (default: the zoo development CA).",
        ],
        ["servername", None, None, "Client mode: name to verify (default: the --connect host)."],
        [
            "connect-timeout",
            None,
            10.0,
            "Seconds to wait for the upstream TCP connection (more than 0).",
            named("--connect-timeout", positive_seconds),
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.client_cert: tuple[str, str] | None = None

    def check(self) -> None:
        if self["mode"] not in MODES:
            raise usage.UsageError(f"--mode: {self['mode']!r} is not one of: {', '.join(MODES)}")
        if isinstance(self["connect"], str):  # the default is not run through the coercer
            self["connect"] = parse_target(self["connect"])
        if self["mode"] == "server":
            for flag in ("ca", "servername"):
                if self[flag]:
                    raise usage.UsageError(f"--{flag} is for --mode client")
            self["tls"] = True
            return
        if self["tls-client-ca"]:
            raise usage.UsageError(
                "--tls-client-ca is for --mode server (client mode listens in plain TCP)"
            )
        if self["tls"] and not self["tls-cert"]:
            raise usage.UsageError("--tls is for --mode server (client mode listens in plain TCP)")
        if self["tls-cert"]:
            self.client_cert = (self["tls-cert"], self["tls-key"])
        self["tls"] = False
        if self["ca"]:
            from zoo.tls import TLSConfigError, client_tls

            try:
                client_tls(self.servername(), self["ca"], *(self.client_cert or ()))
            except TLSConfigError as e:
                raise usage.UsageError(f"--ca: {e}") from None

    def servername(self) -> str:
        return self["servername"] or self["connect"][0]


def makeService(options: Options) -> IService:
    from twisted.internet import endpoints, reactor
    from twisted.internet.abstract import isIPAddress, isIPv6Address

    from zoo import tunnel

    host, port = options["connect"]
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    timeout = options["connect-timeout"]
    if isIPAddress(host):
        tcp: Any = endpoints.TCP4ClientEndpoint(reactor, host, port, timeout=timeout)
    elif isIPv6Address(host):
        tcp = endpoints.TCP6ClientEndpoint(reactor, host, port, timeout=timeout)
    else:  # a name: resolved for every connection (in a thread), both families tried
        tcp = endpoints.HostnameEndpoint(reactor, host, port, timeout=timeout)
    if options["mode"] == "client":
        from zoo.tls import client_tls

        ca = options["ca"]
        if not ca:
            from zoo.certs import ensure_dev_certificates

            ca = ensure_dev_certificates(options.state_dir()).ca_cert
        creator = client_tls(options.servername(), Path(ca), *(options.client_cert or ()))
        upstream = tunnel.tls_endpoint(creator, tcp, reactor)
    else:
        upstream = tcp
    factory = tunnel.TunnelFactory(
        lambda proto: tunnel.connect_protocol(upstream, proto),
        target,
        upstream_tls=options["mode"] == "client",
        after_handshake=options["mode"] == "server",
    )
    root = build(options, factory)
    tunnel.log.info(
        "tls: {mode} mode, relaying to {target}{how}",
        mode=options["mode"],
        target=target,
        how=f" over TLS, verifying {options.servername()!r}" if options["mode"] == "client" else "",
    )
    return root
