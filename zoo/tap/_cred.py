"""The login options every plugin with logins shares: C{--user}, C{--users-file} and
C{--max-login-attempts} (zoo-smtp, zoo-pop3, zoo-imap, zoo-ftp, zoo-ssh).

Mix L{LoginOptions} in before L{zoo.tap._options.ServerOptions}. The users (from both
options, a name given twice is an error) are in C{options["users"]} as
L{zoo.cred.UserSpec}s once the options are parsed. C{--max-login-attempts} goes to
the service's factory, whose connections log in through L{zoo.cred.LoginGuard}.
"""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.python import usage

from zoo.cred import DEFAULT_MAX_LOGIN_ATTEMPTS
from zoo.tap._options import named, positive_int


class LoginOptions(usage.Options):
    """C{--user}, C{--users-file}, C{--max-login-attempts}; users are in C{self["users"]}."""

    #: Whether a user line has a third field (zoo-ftp: the home folder).
    user_extra: ClassVar[bool] = False

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "users-file",
            None,
            None,
            "File of --user values, one per line ('#' comments); a PASSWORD may be a "
            "bcrypt hash from zoo-passwd.",
        ],
        [
            "max-login-attempts",
            None,
            DEFAULT_MAX_LOGIN_ATTEMPTS,
            "Failed logins on one connection before it is closed.",
            named("--max-login-attempts", positive_int),
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["users"] = []

    def opt_user(self, spec: str) -> None:
        """NAME:PASSWORD that may log in (repeatable); PASSWORD may be a bcrypt hash (zoo-passwd)."""
        from zoo.cred import parse_user

        try:
            self["users"].append(parse_user(spec, self.user_extra))
        except ValueError as e:
            raise usage.UsageError(f"--user: {e}") from None

    def postOptions(self) -> None:
        from zoo.cred import read_users_file, users_table

        path = self["users-file"]
        if path:
            try:
                self["users"].extend(read_users_file(path, self.user_extra))
            except OSError as e:
                raise usage.UsageError(f"--users-file: {e.strerror}: {path}") from None
            except ValueError as e:
                raise usage.UsageError(f"--users-file: {e}") from None
        try:
            users_table(self["users"])
        except ValueError as e:
            raise usage.UsageError(f"--user: {e}") from None
        super().postOptions()
