"""Options and wiring shared by zoo-smtp, zoo-pop3 and zoo-imap.

The three services share the Maildirs under C{<state dir>/mail/} and the credentials:
C{--user NAME:PASSWORD} (repeatable), C{--users-file}, C{--accept-any-login}, or, when
none is given, one generated password kept in C{<state dir>/mail/password}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from twisted.logger import Logger
from twisted.python import usage

from zoo.tap._options import ServerOptions

log = Logger()


class MailOptions(ServerOptions):
    """Options every mail service takes."""

    optParameters: ClassVar[list[list[Any]]] = [
        ["users-file", None, None, "File of NAME:PASSWORD lines (# comments allowed)."],
        [
            "hostname",
            None,
            "localhost",
            "Name in greetings; the domain of bare names like <zoo>.",
        ],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["accept-any-login", None, "Accept every user name and password (test setups only)."],
        [
            "allow-plaintext-auth",
            None,
            "Allow passwords before TLS (default: only after STARTTLS/STLS or with --tls).",
        ],
        ["no-starttls", None, "Do not offer STARTTLS/STLS."],
        [
            "starttls",
            None,
            "Use --tls-cert/--tls-key for STARTTLS/STLS on a plaintext listener "
            "(the submission-port setup) instead of TLS from the first byte.",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["users"] = []

    def opt_user(self, spec: str) -> None:
        """NAME:PASSWORD that may log in (repeatable); NAME is a mailbox address or a bare name."""
        from zoo.mail.creds import parse_user

        try:
            self["users"].append(parse_user(spec))
        except ValueError as e:
            raise usage.UsageError(f"--user: {e}") from None

    def check(self) -> None:
        if self["users-file"]:
            from zoo.mail.creds import read_users_file

            try:
                self["users"].extend(read_users_file(self["users-file"]).items())
            except OSError as e:
                raise usage.UsageError(
                    f"--users-file: {e.strerror}: {self['users-file']}"
                ) from None
            except ValueError as e:
                raise usage.UsageError(f"--users-file: {e}") from None
        if self["accept-any-login"] and self["users"]:
            raise usage.UsageError("--accept-any-login and --user/--users-file exclude each other")
        if self["starttls"]:
            if self["no-starttls"]:
                raise usage.UsageError("--starttls and --no-starttls exclude each other")
            if not self["tls-cert"]:
                raise usage.UsageError(
                    "--starttls needs --tls-cert and --tls-key (without them STARTTLS "
                    "already uses the development certificate)"
                )
            self["tls"] = False  # the files were checked; the listener stays plaintext


def mail_root(options: MailOptions) -> Path:
    """Create (0700) and return C{<state dir>/mail}."""
    from zoo.tap._service import state_dir

    root = state_dir(options) / "mail"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def checker(options: MailOptions) -> Any:
    """The credentials checker the options ask for; logs how to log in."""
    from zoo.mail.creds import checker_for

    found, how = checker_for(
        options["users"], options["accept-any-login"], mail_root(options), options["hostname"]
    )
    log.info("{name}: {how}", name=options.name, how=how)
    return found


def reader_service(options: MailOptions, factory_class: Any) -> Any:
    """The service of a mail-reading plugin (zoo-pop3, zoo-imap) over the shared Maildirs."""
    from zoo.mail.maildir import MaildirStore
    from zoo.tap._service import build
    from zoo.tap._tls import tls_context

    factory = factory_class(
        MaildirStore(mail_root(options)),
        checker(options),
        starttls=tls_context(options, "starttls"),
        allow_plaintext_auth=options["allow-plaintext-auth"],
        timeout=options["idle-timeout"] or None,
    )
    return build(options, factory)
