"""Command-line options every zoo plugin shares.

A plugin's C{Options} subclasses L{ServerOptions}, sets C{name} and C{default_port},
and adds its own C{optParameters}/C{optFlags} (Twisted merges them along the MRO).

Shared options: C{--port}, C{--listen} (repeatable endpoint strings), C{--interface},
C{--max-connections}, C{--idle-timeout}, C{--command-timeout}, C{--ready-file},
C{--state-dir}, C{--fault} (repeatable; L{zoo.faults}), the TLS
options C{--tls}, C{--tls-cert}, C{--tls-key}, C{--tls-client-ca}, C{--tls-name},
and the control plane's (L{AdminOptions}, shared with the runner): C{--admin},
C{--events-max}, C{--events-max-bytes}, C{--transcripts}, C{--events-redis},
and C{--workers} (L{zoo.tap._workers}).

Parsing does no network I/O. Under twistd a bad value prints one line and exits
with status 2; called from Python (tests, .tac files, the runner) it raises
L{usage.UsageError}.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

from twisted.python import usage

from zoo.state import default_state_dir

_ENFORCE = "Parameter type enforcement failed: "

DEFAULT_MAX_CONNECTIONS = 10_000
DEFAULT_IDLE_TIMEOUT = 300.0


def parse_port(value: str) -> int:
    """A TCP/UDP port number, 0 to 65535 (0 lets the OS pick a free port)."""
    try:
        port = int(value, 10)
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError(f"{value!r} is not a port number (0-65535)")
    return port


def positive_int(value: str) -> int:
    """An integer >= 1."""
    try:
        n = int(value, 10)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ValueError(f"{value!r} is not a whole number of at least 1")
    return n


def nonnegative_float(value: str) -> float:
    """A finite number >= 0."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = -1.0
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{value!r} is not a number of seconds >= 0")
    return x


def named(flag: str, coerce: Any) -> Any:
    """Wrap a coerce function so its error names the option (C{--port: 'x' is not ...})."""

    def check(value: str) -> Any:
        try:
            return coerce(value)
        except ValueError as e:
            raise ValueError(f"{flag}: {e}") from None

    check.coerceDoc = getattr(coerce, "coerceDoc", "")  # type: ignore[attr-defined]
    return check


_IPV6_DEFAULT = {"tcp6", "tls"}
_INTERFACE_DEFAULT = {"tcp", "ssl", "tcp6", "tls"}


def _escape(host: str) -> str:
    return host.replace(":", r"\:")


def normalize_endpoint(desc: str, interface: str = "127.0.0.1") -> str:
    """Turn what a user typed into a server endpoint string that binds to loopback by default.

    A bare port (C{"1060"}) becomes C{tcp:1060:interface=127.0.0.1}. A C{tcp:}/C{ssl:}
    string that names no interface gets C{interface=INTERFACE}; C{tcp6:} and C{tls:}
    get C{::1}. Listening on every interface must be asked for (C{interface=0.0.0.0}).
    """
    desc = desc.strip()
    if not desc:
        raise ValueError("empty endpoint")
    if desc.isdigit():
        desc = f"tcp:{parse_port(desc)}"
    prefix = desc.split(":", 1)[0]
    if prefix in _INTERFACE_DEFAULT and not re.search(r"(^|:)interface=", desc):
        host = "::1" if prefix in _IPV6_DEFAULT else interface
        desc = f"{desc}:interface={_escape(host)}"
    return desc


def validate_endpoint(desc: str) -> None:
    """Raise L{ValueError} if C{desc} is not a usable server endpoint string."""
    from twisted.internet.endpoints import serverFromString

    try:
        # Parsing only keeps the reactor for listen(): a placeholder will do (and
        # spares every start importing twisted.internet.testing).
        serverFromString(object(), desc)
    except Exception as e:  # Twisted raises ValueError, KeyError, TypeError, OSError...
        detail = str(e) or type(e).__name__
        raise ValueError(f"bad endpoint {desc!r}: {detail}") from None
    port = _port_of(desc)
    if port is not None:
        parse_port(port)


def _port_of(desc: str) -> str | None:
    parts = re.split(r"(?<!\\):", desc)
    if parts[0] not in ("tcp", "tcp6", "ssl"):
        return None
    for part in parts[1:]:
        if part.startswith("port="):
            return part[5:]
        if "=" not in part:
            return part
    return None


def on_off(value: str) -> bool:
    """C{on} or C{off} (also yes/no, true/false, 1/0)."""
    word = value.strip().lower()
    if word in ("on", "yes", "true", "1"):
        return True
    if word in ("off", "no", "false", "0"):
        return False
    raise ValueError(f"{value!r} is not on or off")


class AdminOptions(usage.Options):
    """The control plane's options, mixed into every plugin's options and the runner's.

    C{--admin ENDPOINT} serves the control plane (L{zoo.admin}) there, on loopback
    unless the endpoint names an interface; C{off} (the default of a single plugin)
    serves nothing. Starting it turns the observatory on, keeping at most
    C{--events-max} events and C{--events-max-bytes} bytes per service, with
    transcripts unless C{--transcripts off}.
    """

    #: The endpoint used when --admin is not given (C{None}: no control plane).
    default_admin: ClassVar[str | None] = None

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "admin",
            None,
            None,
            "Serve the control plane (HTTP API of events, sessions, stored things) on this "
            "endpoint or port, on loopback unless it names an interface; 'off' disables it "
            "[default: off; 8900 under 'twistd zoo'].",
        ],
        [
            "events-max",
            None,
            None,
            "With the control plane: most events kept per service [default: 10000].",
            named("--events-max", positive_int),
        ],
        [
            "events-max-bytes",
            None,
            None,
            "With the control plane: most bytes of events kept per service [default: 16 MiB].",
            named("--events-max-bytes", positive_int),
        ],
        [
            "transcripts",
            None,
            True,
            "With the control plane: record what each side sent (on|off) [default: on].",
            named("--transcripts", on_off),
        ],
        [
            "events-redis",
            None,
            None,
            "With the control plane: share events with other zoo processes through this "
            "Redis (redis://HOST[:PORT]), so any process's API answers for all.",
        ],
        [
            "workers",
            None,
            None,
            "Serve the TCP listeners from this many processes (SO_REUSEPORT), e.g. one per "
            "core [default: 1]. With the control plane it needs --events-redis.",
            named("--workers", positive_int),
        ],
    ]

    def workers(self) -> int:
        """How many processes serve (C{--workers}, 1 unless given)."""
        return int(self["workers"] or 1)

    def check_admin(self, interface: str = "127.0.0.1") -> None:
        """Normalise C{--admin} into an endpoint string, or C{None} when off."""
        given = self["admin"]
        if given is None:
            given = self.default_admin
        if given is None or str(given).strip().lower() in ("off", "no", "none", "false", ""):
            self["admin"] = None
            if self["events-redis"]:
                raise usage.UsageError("--events-redis needs the control plane (--admin)")
            return
        if self.workers() > 1 and not self["events-redis"]:
            raise usage.UsageError(
                "--workers with the control plane needs --events-redis redis://HOST:PORT, so "
                "that it sees every worker's events (or --admin off)"
            )
        if self["events-redis"]:
            from zoo.pubsub.bridge import parse_redis_url

            try:
                parse_redis_url(self["events-redis"])
            except ValueError as e:
                raise usage.UsageError(f"--events-redis: {e}") from None
        try:
            desc = normalize_endpoint(str(given), interface)
            validate_endpoint(desc)
        except ValueError as e:
            raise usage.UsageError(f"--admin: {e}") from None
        self["admin"] = desc

    def state_dir(self) -> Path:
        """The state directory these options name (not created here)."""
        given = self["state-dir"]
        return Path(given).expanduser() if given else default_state_dir()


class OneLineUsage(usage.Options):
    """C{usage.Options} whose errors are one line and exit status 2 when run by twistd.

    Twisted prints the whole help and exits 1 on any bad option; a zoo plugin prints
    C{twistd zoo-NAME: error: WHAT (see 'twistd zoo-NAME --help')} and exits 2.
    Parsed from Python (no twistd parent), it raises L{usage.UsageError} instead.
    """

    #: The plugin's name on the twistd command line.
    cli_name: ClassVar[str] = "zoo"

    def parseOptions(self, options: list[str] | None = None) -> None:
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            message = str(e).removeprefix(_ENFORCE)
            if getattr(self, "parent", None) is None:
                raise usage.UsageError(message) from None
            prog = f"twistd {self.cli_name}"
            sys.stderr.write(f"{prog}: error: {message} (see '{prog} --help')\n")
            raise SystemExit(2) from None


class ServerOptions(OneLineUsage, AdminOptions):
    """The options every zoo plugin shares; subclass it per protocol."""

    #: The protocol's short name ("lancelot"), used in logs and the ready file.
    name: ClassVar[str] = "zoo"
    #: Port used when neither --port nor --listen is given.
    default_port: ClassVar[int] = 0
    #: Extra text shown under --help.
    longdesc = ""
    #: Seconds a client has to finish a command once it starts sending it (see
    #: L{zoo.policies.command_done}); C{None} for a service without commands.
    default_command_timeout: ClassVar[float | None] = 60.0

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "port",
            "p",
            None,
            "Listen on this TCP port on --interface (0 picks a free port).",
            named("--port", parse_port),
        ],
        ["interface", None, "127.0.0.1", "Interface for --port and for endpoints that name none."],
        [
            "max-connections",
            None,
            DEFAULT_MAX_CONNECTIONS,
            "Most connections served at once.",
            named("--max-connections", positive_int),
        ],
        [
            "idle-timeout",
            None,
            DEFAULT_IDLE_TIMEOUT,
            "Close connections idle this many seconds (0: never).",
            named("--idle-timeout", nonnegative_float),
        ],
        [
            "command-timeout",
            None,
            None,
            "Seconds to finish a command or request once its first byte arrives; "
            "longer gets the protocol's timeout reply and a close (0: no limit) "
            "[default: the service's, see its docs].",
            named("--command-timeout", nonnegative_float),
        ],
        [
            "ready-file",
            None,
            None,
            "Write the bound addresses as JSON to this file once listening.",
        ],
        [
            "state-dir",
            None,
            None,
            "Directory for generated keys, certificates and data [default: $ZOO_STATE_DIR or the user data dir].",
        ],
        [
            "tls-cert",
            None,
            None,
            "PEM certificate chain for --tls (default: the zoo's development certificate).",
        ],
        ["tls-key", None, None, "PEM private key for --tls-cert."],
        [
            "tls-client-ca",
            None,
            None,
            "Require client certificates signed by this PEM CA (mutual TLS).",
        ],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["tls", None, "Speak TLS on every TCP listener."],
    ]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.cli_name = f"zoo-{cls.name}"

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["tls-names"] = []
        self["fault"] = []
        #: The parsed C{--fault} specs (L{zoo.faults.Fault}), scoped to this service.
        self.faults: list[Any] = []
        self.endpoints: list[str] = []
        #: The server TLS context, once built (see L{zoo.tap._tls.tls_context}).
        self.chosen_tls: Any = None

    def opt_listen(self, desc: str) -> None:
        """Listen on a Twisted endpoint (repeatable): tcp:PORT[:interface=IP], tcp6:..., unix:PATH, ssl:..."""
        self["listen"].append(desc)

    def opt_tls_name(self, name: str) -> None:
        """Extra DNS name or IP for the development certificate (repeatable)."""
        self["tls-names"].append(name)

    def opt_fault(self, spec: str) -> None:
        """Inject a fault (repeatable), e.g. 'smtp:RCPT=451 first=2' or 'tcp:latency=0.2'; see docs/faults.rst."""
        self["fault"].append(spec)

    def postOptions(self) -> None:
        interface = self["interface"]
        descs = [("--listen", d) for d in self["listen"]]
        if self["port"] is not None:
            descs.insert(0, ("--port", str(self["port"])))
        if not descs and self.default_port is not None:
            descs = [("default", str(self.default_port))]
        endpoints = []
        for flag, desc in descs:
            try:
                desc = normalize_endpoint(desc, interface)
                validate_endpoint(desc)
            except ValueError as e:
                raise usage.UsageError(f"{flag}: {e}") from None
            endpoints.append(desc)
        self.endpoints = endpoints
        self.check_admin()
        self._check_command_timeout()
        self._check_tls()
        self._check_faults()
        self.check()

    def check(self) -> None:
        """Hook for subclasses: validate protocol options, raise L{usage.UsageError}."""

    def _check_faults(self) -> None:
        """Parse each C{--fault} now, so a bad one is a usage error naming it."""
        from zoo.faults.model import FAMILIES, FaultError, parse

        self.faults = []
        for spec in self["fault"]:
            try:
                fault = parse(spec, self.name)
            except FaultError as e:
                raise usage.UsageError(f"--fault: {e}") from None
            owners = FAMILIES.get(fault.family)
            if owners is not None and self.name not in owners:
                raise usage.UsageError(
                    f"--fault {spec!r}: {fault.family} faults belong to "
                    f"{' and '.join('zoo-' + o for o in owners)}, not zoo-{self.name}"
                )
            self.faults.append(fault)

    def _check_command_timeout(self) -> None:
        given = self["command-timeout"]
        if given is None:
            self["command-timeout"] = self.default_command_timeout
        elif not given:
            self["command-timeout"] = None  # 0: no deadline
        elif self.default_command_timeout is None:
            raise usage.UsageError(
                f"--command-timeout: zoo-{self.name} has no commands (its idle timeout applies)"
            )

    def _check_tls(self) -> None:
        cert, key = self["tls-cert"], self["tls-key"]
        if bool(cert) != bool(key):
            raise usage.UsageError("--tls-cert and --tls-key go together")
        if cert or self["tls-client-ca"]:
            self["tls"] = True
        if self["tls"]:
            for flag in ("tls-cert", "tls-key", "tls-client-ca"):
                if self[flag] and not Path(self[flag]).expanduser().is_file():
                    raise usage.UsageError(f"--{flag}: file not found: {self[flag]}")
            self._load_tls_files()

    def _load_tls_files(self) -> None:
        """Load the TLS files the user named, once, so a bad one is a usage error naming it."""
        from zoo.tap._tls import user_context

        cert, key, client_ca = self["tls-cert"], self["tls-key"], self["tls-client-ca"]
        if cert:
            self.chosen_tls = user_context(cert, key, client_ca)
        elif client_ca:
            from zoo.tls import TLSConfigError, load_certificates

            try:
                load_certificates(Path(client_ca).expanduser(), "TLS client CA")
            except TLSConfigError as e:
                raise usage.UsageError(str(e)) from None
