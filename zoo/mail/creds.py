"""Who may log in to the mail services, shared by SMTP AUTH, POP3 and IMAP.

Three ways, chosen by the tap options:

- L{Users}: names and passwords from C{--user NAME:PASSWORD} or a users file;
- L{SharedPassword}: no users configured, so one generated password (logged at start,
  kept 0600 in the state directory) opens every mailbox;
- L{AnyLogin}: every name and password is accepted (C{--accept-any-login}, for tests).

A successful login's avatar id is the mailbox name (L{zoo.mail.maildir.mailbox_name}):
a login name without C{@} gets the server's domain, as a bare SMTP recipient does.
"""

from __future__ import annotations

import hmac
import secrets
import string
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from twisted.cred import credentials, error
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from zoo.mail.maildir import mailbox_name
from zoo.state import write_private

PASSWORD_FILE = "password"
_ALPHABET = string.ascii_letters + string.digits


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


@implementer(ICredentialsChecker)
class _Checker:
    #: Plain passwords (SMTP AUTH, POP3 USER/PASS, IMAP LOGIN) and POP3 APOP digests.
    credentialInterfaces = (credentials.IUsernamePassword, credentials.IUsernameHashedPassword)

    def __init__(self, domain: str = "localhost") -> None:
        self.domain = domain

    def password_of(self, name: str) -> str | None:
        """The password C{name} must give, or C{None} if C{name} may not log in."""
        raise NotImplementedError

    def allows(self, name: str, password: str) -> bool:
        want = self.password_of(name)
        return want is not None and hmac.compare_digest(want.encode(), password.encode())

    def requestAvatarId(self, creds: Any) -> Any:  # noqa: N802 (Twisted's name); Deferred[str]
        name = _text(creds.username or b"")
        try:
            mailbox = mailbox_name(name, self.domain)
        except ValueError:
            return fail(error.UnauthorizedLogin("empty user name"))
        if credentials.IUsernamePassword.providedBy(creds):
            ok = self.allows(name, _text(creds.password or b""))
        else:  # APOP: only the digest travels
            want = self.password_of(name)
            ok = want is not None and bool(creds.checkPassword(want.encode()))
        if ok:
            return succeed(mailbox)
        return fail(error.UnauthorizedLogin("wrong user name or password"))


class Users(_Checker):
    """Fixed names and passwords; a name may be an address or a bare name."""

    def __init__(self, users: Mapping[str, str], domain: str = "localhost") -> None:
        super().__init__(domain)
        self.users = {mailbox_name(n, domain): p for n, p in users.items()}

    def password_of(self, name: str) -> str | None:
        return self.users.get(mailbox_name(name, self.domain))


class SharedPassword(_Checker):
    """Any mailbox, with the one password."""

    def __init__(self, password: str, domain: str = "localhost") -> None:
        super().__init__(domain)
        self.password = password

    def password_of(self, name: str) -> str | None:
        return self.password


class AnyLogin(_Checker):
    """Every name and password (test setups only)."""

    def password_of(self, name: str) -> str | None:
        return None  # APOP cannot work without a known password

    def allows(self, name: str, password: str) -> bool:
        return True


def parse_user(spec: str) -> tuple[str, str]:
    """C{NAME:PASSWORD} -> (name, password); the password may contain colons."""
    name, sep, password = spec.partition(":")
    if not sep or not name.strip() or not password:
        raise ValueError(f"{spec!r} is not NAME:PASSWORD")
    return name.strip(), password


def read_users_file(path: Path | str) -> dict[str, str]:
    """Read C{NAME:PASSWORD} lines; blank lines and C{#} comments are skipped.

    @raise ValueError: naming the file and line of a bad entry.
    """
    users = {}
    text = Path(path).expanduser().read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            name, password = parse_user(line)
        except ValueError:
            raise ValueError(f"{path}:{number}: expected NAME:PASSWORD") from None
        users[name] = password
    return users


def shared_password(state_dir: Path) -> tuple[str, Path, bool]:
    """The generated mail password kept in C{state_dir}; made on first use.

    @return: (password, its file, whether it was just made).
    """
    path = state_dir / PASSWORD_FILE
    try:
        password = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        password = ""
    if password:
        return password, path, False
    # Letters and digits only: a leading "-" would read as an option to swaks & co.
    password = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, password.encode() + b"\n")
    return password, path, True


def checker_for(
    users: Iterable[tuple[str, str]], accept_any: bool, state_dir: Path, domain: str
) -> tuple[_Checker, str]:
    """The checker the options ask for, and a line saying how to log in."""
    if accept_any:
        return AnyLogin(domain), "any user name and password is accepted (--accept-any-login)"
    table = dict(users)
    if table:
        return Users(table, domain), f"{len(table)} configured user(s)"
    password, path, _ = shared_password(state_dir)
    return (
        SharedPassword(password, domain),
        f"log in as any mailbox address (or 'zoo') with password {password} (kept in {path})",
    )
