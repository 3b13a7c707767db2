"""twistd zoo-ftp: an FTP and FTPS server (default port 2121, anonymous read-only)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.python import usage

from zoo.tap._cred import LoginOptions
from zoo.tap._options import ServerOptions, named, nonnegative_float, positive_int
from zoo.tap._service import build, state_dir
from zoo.tap._tls import tls_context

PORT = 2121

README = """\
Welcome to zoo-ftp.

This is the anonymous FTP root. Anonymous users can list and download what is
here but cannot change anything. Put files in this folder to serve them:

    {root}

Start the server with --user NAME:PASSWORD for a user with a writable home,
or --anonymous-upload DIR to let anonymous users store new files in DIR.
"""


def parse_port_range(value: str) -> range:
    """C{LOW-HIGH} (inclusive), both 1024-65535."""
    low, sep, high = value.partition("-")
    try:
        lo, hi = int(low), int(high if sep else low)
    except ValueError:
        lo = hi = -1
    if not (1024 <= lo <= hi <= 65535):
        raise ValueError(f"{value!r} is not a port range LOW-HIGH within 1024-65535")
    return range(lo, hi + 1)


def parse_address(value: str) -> str:
    """An IPv4 address to advertise in PASV replies."""
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


class Options(LoginOptions, ServerOptions):
    name = "ftp"
    default_port = PORT
    synopsis = "[--root DIR] [--user NAME:PASSWORD[:HOME] ...] [--no-anonymous] [options]"
    user_extra = True
    longdesc = (
        "An FTP server with explicit (AUTH TLS) and implicit (--tls) FTPS. Anonymous users "
        "read the root; named users get a writable home. Every user is jailed in their root."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        ["root", None, None, "Directory anonymous users see [default: STATE_DIR/ftp]."],
        [
            "anonymous-upload",
            None,
            None,
            "Let anonymous users store new files (never overwrite) in this folder of the root.",
        ],
        [
            "passive-ports",
            None,
            None,
            "Passive data ports LOW-HIGH [default: any free port].",
            named("--passive-ports", parse_port_range),
        ],
        [
            "passive-address",
            None,
            None,
            "IPv4 address to advertise in PASV replies (behind NAT or in a container).",
            named("--passive-address", parse_address),
        ],
        [
            "max-per-address",
            None,
            16,
            "Most control connections from one client address.",
            named("--max-per-address", positive_int),
        ],
        [
            "data-timeout",
            None,
            30.0,
            "Seconds to wait for the client's data connection.",
            named("--data-timeout", nonnegative_float),
        ],
        [
            "upload-grace",
            None,
            0.02,
            "Seconds an upload waits after its data ends before it is published (and 226 "
            "sent), so that a killed client's upload is never published; zoo.run and the "
            "pytest plugin use 0.002.",
            named("--upload-grace", nonnegative_float),
        ],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["no-anonymous", None, "Refuse anonymous logins."],
        ["require-tls", None, "Refuse login and data transfers without TLS (AUTH TLS, PROT P)."],
        [
            "reset-root",
            None,
            "Let a reset over the control plane delete the files under a --root or a "
            "user HOME you gave (by default only folders under the state directory are emptied).",
        ],
    ]

    _tls_asked = False

    def opt_tls(self) -> None:
        """Implicit FTPS: speak TLS from the first byte on every TCP listener."""
        self["tls"] = True
        self._tls_asked = True

    def opt_user(self, spec: str) -> None:
        """A user NAME:PASSWORD[:HOME] (repeatable) [default HOME: STATE_DIR/ftp-users/NAME]; PASSWORD may be a bcrypt hash (zoo-passwd)."""
        super().opt_user(spec)

    def check(self) -> None:
        # The shared options turn --tls on whenever --tls-cert is given. For FTP a
        # certificate alone means explicit FTPS (AUTH TLS) with it; only --tls makes
        # the listeners implicit.
        if self["tls-cert"] and not self._tls_asked:
            self["tls"] = False
        from zoo.ftp.server import ANONYMOUS_NAMES

        for user in self["users"]:
            if user.name.lower() in ANONYMOUS_NAMES:
                raise usage.UsageError(
                    f"--user: {user.name!r} cannot be a user name (it means an anonymous login)"
                )
        if not self["data-timeout"]:
            raise usage.UsageError("--data-timeout: must be more than 0 seconds")
        if self["no-anonymous"] and not self["users"]:
            raise usage.UsageError("--no-anonymous without --user: nobody could log in")
        upload = self["anonymous-upload"]
        if upload is not None:
            parts = [p for p in upload.split("/") if p not in ("", ".")]
            if not parts or ".." in parts:
                raise usage.UsageError(
                    f"--anonymous-upload: {upload!r} must be a folder inside the root"
                )
            self["anonymous-upload"] = parts


def _prepare_root(root: Path) -> None:
    if not root.exists():
        root.mkdir(parents=True, mode=0o755)
        (root / "README").write_text(README.format(root=root))


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    from zoo.ftp import FTPConfig, FTPFactory, User

    state = state_dir(options)
    root = Path(options["root"]).expanduser() if options["root"] else state / "ftp"
    _prepare_root(root)
    if options["anonymous-upload"]:
        root.joinpath(*options["anonymous-upload"]).mkdir(parents=True, exist_ok=True)
    from zoo.files import Root, register

    roots = [Root("anonymous", root, owned=not options["root"], keep=frozenset({"README"}))]
    users = {}
    for name, password, home in options["users"]:
        path = Path(home).expanduser() if home else state / "ftp-users" / name
        path.mkdir(parents=True, exist_ok=True)
        users[name] = User(password, path)
        roots.append(Root(name, path, owned=not home))
    register("ftp", roots, reset_any_root=options["reset-root"])
    config = FTPConfig(
        root=root,
        users=users,
        anonymous=not options["no-anonymous"],
        anonymous_upload=options["anonymous-upload"],
        passive_ports=options["passive-ports"],
        passive_address=options["passive-address"],
        tls=tls_context(options, "auth-tls"),
        require_tls=options["require-tls"],
        max_login_attempts=options["max-login-attempts"],
        max_per_address=options["max-per-address"],
        data_timeout=options["data-timeout"],
        upload_grace=options["upload-grace"],
    )
    return build(options, FTPFactory(config, reactor), reactor=reactor)
