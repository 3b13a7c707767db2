"""Options and wiring shared by zoo-smtp, zoo-pop3 and zoo-imap.

The three services share the Maildirs under C{<state dir>/mail/} and the credentials:
C{--user NAME:PASSWORD} (repeatable), C{--users-file} (L{zoo.tap._cred}),
C{--accept-any-login}, or, when none is given, the zoo's generated password
(L{zoo.cred.generated_password}), which opens every mailbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from twisted.logger import Logger
from twisted.python import usage

from zoo.tap._cred import LoginOptions
from zoo.tap._options import ServerOptions

log = Logger()


class MailOptions(LoginOptions, ServerOptions):
    """Options every mail service takes."""

    optParameters: ClassVar[list[list[Any]]] = [
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

    def check(self) -> None:
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
    """The credentials checker the options ask for; logs how to log in.

    A login's avatar id is its mailbox name: a name without C{@} gets C{--hostname}.
    """
    from zoo.cred import PasswordChecker, generated_password, users_table
    from zoo.mail.maildir import mailbox_name
    from zoo.tap._service import state_dir

    domain = options["hostname"]

    def mailbox(name: str) -> str:
        return mailbox_name(name, domain)

    if options["accept-any-login"]:
        found = PasswordChecker({}, avatar_id=mailbox, accept_any=True)
        how = "any user name and password is accepted (--accept-any-login)"
    elif options["users"]:
        found = PasswordChecker(users_table(options["users"]), avatar_id=mailbox)
        how = f"{len(options['users'])} configured user(s)"
    else:
        password, path, _ = generated_password(state_dir(options))
        found = PasswordChecker({}, avatar_id=mailbox, shared=password)
        how = f"log in as any mailbox address (or 'zoo') with password {password} (kept in {path})"
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
        max_login_attempts=options["max-login-attempts"],
    )
    return build(options, factory)
