"""twistd zoo-telnet: a telnet login and shell, cleartext, loopback only (default port 2323)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.logger import Logger
from twisted.python import usage

from zoo.tap._cred import LoginOptions
from zoo.tap._options import ServerOptions
from zoo.tap._service import build, state_dir

log = Logger()


class Options(LoginOptions, ServerOptions):
    name = "telnet"
    default_port = 2323
    synopsis = "[--port 2323] [--user NAME:PASSWORD ...] [--root DIR]"
    longdesc = (
        "Telnet (FOPNP ch. 16: telnet_login.py, telnet_codes.py): login: and Password: "
        "prompts, then /bin/sh as the zoo's own OS user in the user's home folder (the "
        "same as zoo-ssh's). TELNET IS CLEARTEXT: names, passwords and the whole session "
        "cross the network as typed. Loopback only unless --interface says otherwise; "
        "`twistd -n zoo` starts it only with --with telnet. With no users configured, "
        "user 'zoo' gets the zoo's generated password, printed at start."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "root",
            None,
            None,
            "Folder holding each user's home folder ROOT/NAME [default: zoo-ssh's, "
            "STATE/ssh/home].",
        ],
    ]

    def check(self) -> None:
        if self["tls"]:
            raise usage.UsageError(
                "--tls: zoo-telnet is cleartext by design; use zoo-ssh for an encrypted shell"
            )


def makeService(options: Options) -> IService:
    from zoo.cred import DEFAULT_USER, generated_password, users_table
    from zoo.state import ensure_private_dir
    from zoo.telnet import make_factory

    passwords = users_table(options["users"])
    if not passwords:
        password, path, new = generated_password(state_dir(options))
        passwords[DEFAULT_USER] = password
        log.info(
            "telnet: no users configured; log in as {name} with password {password} ({how})",
            name=DEFAULT_USER,
            password=password,
            how="generated" if new else f"from {path}",
        )
    if options["root"]:
        root = Path(options["root"]).expanduser()
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = ensure_private_dir(ensure_private_dir(state_dir(options) / "ssh") / "home")
    factory = make_factory(passwords, root, max_login_attempts=options["max-login-attempts"])
    log.info(
        "telnet: users {names}; homes under {root}; telnet is cleartext",
        names=", ".join(passwords),
        root=root,
    )
    return build(options, factory)
