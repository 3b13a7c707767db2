"""twistd zoo-ssh: an SSH server with exec, a shell and sandboxed SFTP (default port 2222)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.logger import Logger
from twisted.python import usage

from zoo.tap._cred import LoginOptions
from zoo.tap._options import ServerOptions, named, nonnegative_float, positive_int
from zoo.tap._service import build, state_dir

log = Logger()


class Options(LoginOptions, ServerOptions):
    name = "ssh"
    default_port = 2222
    synopsis = "[--port 2222] [--user NAME:PASSWORD ...] [--authorized-keys [NAME:]FILE ...]"
    longdesc = (
        "SSH (FOPNP ch. 16): exec and a shell as the zoo's own OS user, and SFTP confined "
        "to each user's folder under --root. With no users configured, user 'zoo' gets a "
        "generated password, printed at start."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "root",
            None,
            None,
            "Folder holding each user's root folder ROOT/NAME [default: STATE/ssh/home].",
        ],
        [
            "max-per-address",
            None,
            10,
            "Most connections open at once from one address.",
            named("--max-per-address", positive_int),
        ],
        [
            "login-timeout",
            None,
            120.0,
            "Seconds a connection may take to log in.",
            named("--login-timeout", nonnegative_float),
        ],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["no-exec", None, "Refuse commands (ssh host CMD)."],
        ["no-shell", None, "Refuse interactive shells."],
        ["allow-forwarding", None, "Allow local port forwarding (ssh -L); off by default."],
        [
            "reset-root",
            None,
            "Let a reset over the control plane delete the files under a --root you gave "
            "(by default only the state directory's folder is emptied).",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["authorized-keys"] = []
        self.users: Any = None

    def opt_authorized_keys(self, spec: str) -> None:
        """[NAME:]FILE: an authorized_keys file for user NAME (default: your OS user name) (repeatable)."""
        self["authorized-keys"].append(spec)

    def check(self) -> None:
        if self["tls"]:
            raise usage.UsageError("--tls: SSH encrypts by itself; TLS options do not apply")
        from zoo.cred import check_name
        from zoo.ssh.keys import Users, read_authorized_keys

        users = Users()
        for user in self["users"]:
            users.add_password(user.name, user.password)
        for spec in self["authorized-keys"]:
            name, path = _split_keys_spec(spec)
            try:
                users.add_keys(check_name(name), read_authorized_keys(path))
            except (OSError, ValueError) as e:
                raise usage.UsageError(f"--authorized-keys: {e}") from None
        self.users = users


def _split_keys_spec(spec: str) -> tuple[str, Path]:
    name, sep, rest = spec.partition(":")
    if sep and name and "/" not in name and Path(rest).expanduser().exists():
        return name, Path(rest).expanduser()
    return getpass.getuser(), Path(spec).expanduser()


def makeService(options: Options) -> IService:
    from zoo.cred import DEFAULT_USER, generated_password
    from zoo.ssh import Features, make_factory
    from zoo.ssh.keys import ensure_host_keys, fingerprint
    from zoo.state import ensure_private_dir

    state = ensure_private_dir(state_dir(options) / "ssh")
    host_keys = ensure_host_keys(state)
    for kind, key in host_keys.items():
        log.info("ssh host key {kind}: {fp}", kind=kind, fp=fingerprint(key))
    users = options.users
    if not users.names():
        password, path, new = generated_password(state_dir(options))
        users.add_password(DEFAULT_USER, password)
        log.info(
            "ssh: no users configured; log in as {name} with password {password} ({how})",
            name=DEFAULT_USER,
            password=password,
            how="generated" if new else f"from {path}",
        )
    if options["root"]:  # the user's folder: create it if needed, leave its mode alone
        root = Path(options["root"]).expanduser()
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = ensure_private_dir(state / "home")
    from zoo.files import Root, register

    register(
        "ssh", [Root("home", root, owned=not options["root"])], reset_any_root=options["reset-root"]
    )
    features = Features(
        exec=not options["no-exec"],
        shell=not options["no-shell"],
        forwarding=options["allow-forwarding"],
    )
    factory = make_factory(
        host_keys,
        users,
        root,
        features,
        max_per_address=options["max-per-address"],
        max_login_attempts=options["max-login-attempts"],
        login_timeout=options["login-timeout"],
    )
    log.info(
        "ssh: users {names}; root folders under {root}", names=", ".join(users.names()), root=root
    )
    return build(options, factory)
