"""twistd zoo: run any set of zoo services in one process.

- C{twistd -n zoo}: every service on its default loopback listener, but those
  off by default (L{registry.OFF_BY_DEFAULT}: telnet), which need C{--with}.
- C{twistd -n zoo --with 'lancelot --port 1060' --with 'echo --port 7007'}: just these,
  each with its own plugin options; the same service may appear several times.
- C{twistd -n zoo --config zoo.toml}: the services a TOML file lists (see L{parse_config}).

The runner also serves the control plane (L{zoo.admin}) on 127.0.0.1:8900 unless
C{--admin off} (or C{--admin ENDPOINT} elsewhere).

Every sub-service is parsed with its own plugin's C{Options}, so C{--with 'NAME ARGS'}
accepts exactly what C{twistd zoo-NAME ARGS} does, and reports the same errors.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.python import usage

from zoo.tap import registry
from zoo.tap._options import AdminOptions, OneLineUsage
from zoo.tap._service import ZooRoot, serve_admin

#: Options the runner passes to every sub-service that does not set them itself.
_INHERITED = ("state-dir", "workers")


def _config_args(name: str, table: dict[str, Any]) -> list[str]:
    """Turn one TOML table into command-line arguments for service C{name}."""
    args: list[str] = []
    for key, value in table.items():
        flag = f"--{key}"
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool):
                if v:
                    args.append(flag)
            elif isinstance(v, str | int | float):
                args += [flag, str(v)]
            else:
                raise usage.UsageError(f"config [{name}] {key}: unsupported value {v!r}")
    return args


def parse_config(text: str, source: str = "config") -> list[tuple[str, list[str]]]:
    """Parse a zoo TOML config into C{(service, args)} pairs, in file order.

    Each top-level table names a service; its keys are the service's long options::

        [lancelot]
        port = 1060
        book = "zen"

        [[echo]]              # an array of tables runs the service several times
        port = 7007
        [[echo]]
        listen = ["tcp:7008", "tcp6:7008"]

        [zoo]                 # the runner's own options
        state-dir = "/tmp/zoo-state"
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise usage.UsageError(f"{source}: {e}") from None
    out: list[tuple[str, list[str]]] = []
    for name, body in data.items():
        if name == "zoo":
            continue
        tables = body if isinstance(body, list) else [body]
        for table in tables:
            if not isinstance(table, dict):
                raise usage.UsageError(f"{source}: [{name}] must be a table of options")
            out.append((name, _config_args(name, table)))
    return out


#: The keys a config file's C{[zoo]} table may hold: the runner's own options.
ZOO_TABLE_KEYS = (
    "state-dir",
    "ready-file",
    "admin",
    "events-max",
    "events-max-bytes",
    "transcripts",
    "events-redis",
    "workers",
)


def _zoo_table_args(argv: list[str]) -> list[str]:
    """The options a C{--config} file's C{[zoo]} table sets, as command-line words.

    A file that cannot be read or parsed gives none here: L{Options.postOptions}
    reports it when it reads the services.
    """
    given = None
    for i, word in enumerate(argv):
        if word in ("--config", "-c") and i + 1 < len(argv):
            given = argv[i + 1]
        elif word.startswith("--config="):
            given = word.split("=", 1)[1]
    if given is None:
        return []
    try:
        table = tomllib.loads(Path(given).expanduser().read_text(encoding="utf-8")).get("zoo", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    if not isinstance(table, dict):
        raise usage.UsageError(f"{given}: [zoo] must be a table of options")
    words: list[str] = []
    for key, value in table.items():
        if key not in ZOO_TABLE_KEYS:
            raise usage.UsageError(
                f"{given}: unknown [zoo] option {key!r}; known: {', '.join(ZOO_TABLE_KEYS)}"
            )
        if isinstance(value, bool):
            value = "on" if value else "off"
        words += [f"--{key}", str(value)]
    return words


class Options(OneLineUsage, AdminOptions):
    cli_name = "zoo"
    default_admin = "tcp:8900:interface=127.0.0.1"
    synopsis = "[--with 'NAME [OPTIONS]' ...] [--config zoo.toml]"
    longdesc = (
        "Without --with or --config, runs every zoo service on its default listener "
        "except " + ", ".join(sorted(registry.OFF_BY_DEFAULT)) + " (cleartext logins: ask "
        "with --with). Services: " + ", ".join(registry.names()) + "."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        ["config", "c", None, "TOML file listing the services to run and their options."],
        [
            "ready-file",
            None,
            None,
            "Write every bound address as JSON to this file once listening.",
        ],
        ["state-dir", None, None, "State directory for every service that does not set its own."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["with"] = []
        self.services: list[tuple[str, Any]] = []

    def opt_with(self, spec: str) -> None:
        """Run a service: 'NAME [OPTIONS]', with NAME's plugin options (repeatable)."""
        self["with"].append(spec)

    opt_w = opt_with

    def opt_list(self) -> None:
        """List the services the runner knows and exit."""
        for name in registry.names():
            module = registry.load(name)
            doc = (module.__doc__ or "").strip().splitlines()[0]
            print(f"{name:10} {doc}")
        raise SystemExit(0)

    def parseOptions(self, options: list[str] | None = None) -> None:
        """Parse C{options}, with the C{[zoo]} table of a C{--config} file before them.

        The table's keys become the runner's options (C{state-dir = "/x"} is
        C{--state-dir /x}), parsed and checked like them; the command line wins.
        """
        import sys

        argv = list(sys.argv[1:] if options is None else options)
        super().parseOptions(_zoo_table_args(argv) + argv)

    def postOptions(self) -> None:
        specs: list[tuple[str, list[str]]] = []
        if self["config"]:
            path = Path(self["config"]).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as e:
                raise usage.UsageError(f"--config: cannot read {path}: {e.strerror}") from None
            specs += parse_config(text, str(path))
        for spec in self["with"]:
            try:
                words = shlex.split(spec)
            except ValueError as e:
                raise usage.UsageError(f"--with {spec!r}: {e}") from None
            if not words:
                raise usage.UsageError("--with needs a service name")
            specs.append((words[0], words[1:]))
        self.check_admin()
        if not specs:
            specs = [(name, []) for name in registry.default_names()]
        for name, args in specs:
            self.services.append((name, self._sub_options(name, args)))

    def _sub_options(self, name: str, args: list[str]) -> Any:
        shown = " ".join([name, *args])
        try:
            module = registry.load(name)
        except KeyError as e:
            raise usage.UsageError(str(e.args[0])) from None
        sub = module.Options()
        for key in _INHERITED:
            if self[key] is not None and f"--{key}" not in " ".join(args):
                args = [f"--{key}", str(self[key]), *args]
        try:
            sub.parseOptions(args)
        except usage.UsageError as e:
            raise usage.UsageError(f"{shown!r}: {e}") from None
        return sub


def services(options: Options) -> list[IService]:
    """One service per C{--with} spec (or per known service), from each plugin's C{makeService}."""
    return [registry.load(name).makeService(sub) for name, sub in options.services]


def makeService(options: Options) -> IService:
    root = ZooRoot(
        ready_file=options["ready-file"], table=True, lean_poll=True, workers=options.workers()
    )
    for svc in services(options):
        svc.setServiceParent(root)
    serve_admin(root, options)
    return root
