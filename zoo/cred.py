"""Who may log in to a zoo service, and how fast wrong guesses may come: one home for all.

Every service with logins (zoo-smtp AUTH, zoo-pop3 USER/PASS and APOP, zoo-imap LOGIN
and AUTHENTICATE, zoo-ftp, zoo-ssh) uses this module:

- L{parse_user} and L{read_users_file}: C{NAME:PASSWORD[:EXTRA]} from C{--user} and
  C{--users-file} (EXTRA is FTP's home folder);
- a PASSWORD is either the password itself or a bcrypt hash of it (L{hash_password},
  C{zoo-passwd}); hashes are checked in a thread, off the reactor;
- L{generated_password}: with no users configured, one password generated on first
  use and kept 0600 in the state directory (C{generated-password});
- L{PasswordChecker}: the constant-time C{ICredentialsChecker} of a twisted.cred
  C{Portal};
- L{LoginThrottle} and L{LoginGuard}: per client address, failed logins are answered
  after a delay that doubles with each consecutive failure (0.1 s, 0.2 s, ... capped
  at 10 s) and the address's next attempt waits for it, whichever connection or
  protocol it comes on; every failed login is logged once; a connection is told to
  close after C{--max-login-attempts} failures.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import string
import sys
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from twisted.cred import credentials, error
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo.events import session_of
from zoo.faults.model import registry as fault_registry
from zoo.state import write_private

log = Logger()

#: The user name of the generated login (SSH and FTP; any mailbox name for mail).
DEFAULT_USER = "zoo"
#: The generated password's file in the state directory: C{zoo:PASSWORD}.
GENERATED_PASSWORD_FILE = "generated-password"
#: Where earlier zoo versions kept it; adopted once if the file above is missing.
LEGACY_PASSWORD_FILES = ("ssh/generated-password", "mail/password")
DEFAULT_MAX_LOGIN_ATTEMPTS = 3
#: bcrypt's work factor for new hashes (about 0.2 s per check on a 2020s core).
BCRYPT_ROUNDS = 12
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_ALPHABET = string.ascii_letters + string.digits


# -- users ---------------------------------------------------------------------------


class UserSpec(NamedTuple):
    """One C{NAME:PASSWORD[:EXTRA]}: PASSWORD may be a bcrypt hash; EXTRA may be C{None}."""

    name: str
    password: str
    extra: str | None = None


def check_name(name: str) -> str:
    """A user name must be printable and usable as a folder name (no '/', not '.' or '..').

    @raise ValueError: naming the problem.
    """
    if not name or "/" in name or name in (".", "..") or not name.isprintable():
        raise ValueError(f"{name!r} cannot be a user name")
    return name


def parse_user(spec: str, extra: bool = False) -> UserSpec:
    """C{NAME:PASSWORD} (or C{NAME:PASSWORD[:EXTRA]} when C{extra}) -> L{UserSpec}.

    Without C{extra} the password may contain colons; with it, the third field is
    EXTRA (FTP's home folder). Surrounding blanks around NAME are dropped.

    @raise ValueError: saying what is wrong, without echoing the password.
    """
    if extra:
        parts = spec.split(":", 2)
        name, password = parts[0], parts[1] if len(parts) > 1 else ""
        more = parts[2] if len(parts) == 3 and parts[2] else None
    else:
        name, _, password = spec.partition(":")
        more = None
    shape = "NAME:PASSWORD[:EXTRA]" if extra else "NAME:PASSWORD"
    if not name.strip() or not password:
        raise ValueError(f"expected {shape}, got {name.strip()!r} and no password")
    return UserSpec(check_name(name.strip()), password, more)


def read_users_file(path: Path | str, extra: bool = False) -> list[UserSpec]:
    """The L{parse_user} lines of a users file; blank lines and C{#} comments are skipped.

    @raise ValueError: naming the file and line of a bad entry.
    @raise OSError: if the file cannot be read.
    """
    users = []
    text = Path(path).expanduser().read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            users.append(parse_user(line, extra))
        except ValueError as e:
            raise ValueError(f"{path}:{number}: {e}") from None
    return users


def users_table(users: Iterable[UserSpec]) -> dict[str, str]:
    """C{{name: password}} of C{users}; a name given twice is an error.

    @raise ValueError: naming the repeated user.
    """
    table: dict[str, str] = {}
    for user in users:
        if user.name in table:
            raise ValueError(f"user {user.name!r} is given twice")
        table[user.name] = user.password
    return table


def generated_password(state_dir: Path) -> tuple[str, Path, bool]:
    """The password of a zoo started without users: made on first use, then reused.

    Kept as C{zoo:PASSWORD} (0600) in C{state_dir/generated-password}. A state
    directory from an earlier zoo keeps its password: the SSH or mail file found in
    L{LEGACY_PASSWORD_FILES} is adopted.

    @return: (password, its file, whether it was just made).
    """
    path = state_dir / GENERATED_PASSWORD_FILE
    for candidate in (path, *(state_dir / old for old in LEGACY_PASSWORD_FILES)):
        try:
            text = candidate.read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            continue
        password = text.partition(":")[2] if ":" in text else text
        if password:
            if candidate != path:
                _store_generated(path, password)
            return password, path, False
    # Letters and digits only: a leading "-" would read as an option to swaks & co.
    password = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    _store_generated(path, password)
    return password, path, True


def _store_generated(path: Path, password: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, f"{DEFAULT_USER}:{password}\n".encode())


# -- hashes --------------------------------------------------------------------------


def is_hash(password: str) -> bool:
    """Is this users-file password a bcrypt hash (C{$2b$12$...}) rather than a password?"""
    return len(password) == 60 and password.startswith(_BCRYPT_PREFIXES)


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash of C{password}, to put in a users file instead of the password."""
    import bcrypt

    secret = password.encode("utf-8")
    if len(secret) > 72:
        raise ValueError("bcrypt uses at most 72 bytes of a password; choose a shorter one")
    return bcrypt.hashpw(secret, bcrypt.gensalt(rounds)).decode("ascii")


def _check_hash(password: bytes, hashed: str) -> bool:
    import bcrypt

    if len(password) > 72:  # bcrypt would ignore the rest; zoo-passwd never hashes such
        return False
    try:
        return bool(bcrypt.checkpw(password, hashed.encode("ascii")))
    except ValueError:  # a malformed hash in the users file
        return False


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _in_thread(f: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
    """Run C{f} in the reactor's thread pool (bcrypt takes ~0.2 s: never on the reactor)."""
    from twisted.internet import reactor, threads

    r: Any = reactor
    return threads.deferToThreadPool(r, r.getThreadPool(), f, *args)


# -- the checker ---------------------------------------------------------------------


@implementer(ICredentialsChecker)
class PasswordChecker:
    """Names and passwords (or bcrypt hashes), checked in constant time per password.

    @param passwords: name -> password or bcrypt hash.
    @param avatar_id: maps a login name to the key of C{passwords} and the avatar id
        returned (mail: the mailbox name); raises L{ValueError} for an unusable name.
    @param shared: a password any name may log in with (the generated one for mail).
    @param accept_any: accept every name and password (test setups only).
    @param run_hash: runs a bcrypt check and returns a Deferred (default: in the
        reactor's thread pool; tests pass a synchronous one).
    @param as_bytes: return the avatar id as UTF-8 bytes (conch's realms want bytes).
    """

    #: Plain passwords (SMTP AUTH, POP3 USER/PASS, IMAP LOGIN, FTP, SSH) and APOP digests.
    credentialInterfaces = (credentials.IUsernamePassword, credentials.IUsernameHashedPassword)

    def __init__(
        self,
        passwords: Mapping[str, str],
        *,
        avatar_id: Callable[[str], str] = check_name,
        shared: str | None = None,
        accept_any: bool = False,
        run_hash: Callable[..., defer.Deferred[Any]] = _in_thread,
        as_bytes: bool = False,
    ) -> None:
        self.avatar_id = avatar_id
        self.passwords = {avatar_id(n): p for n, p in passwords.items()}
        self.shared = shared
        self.accept_any = accept_any
        self.run_hash = run_hash
        self.as_bytes = as_bytes
        self._decoy = next((p for p in self.passwords.values() if is_hash(p)), None)

    def requestAvatarId(self, creds: Any) -> defer.Deferred[Any]:
        try:
            who = self.avatar_id(_text(creds.username))
        except ValueError:
            return defer.fail(error.UnauthorizedLogin("unusable user name"))
        result = who.encode("utf-8") if self.as_bytes else who
        want = self.passwords.get(who, self.shared)
        if self.accept_any and credentials.IUsernamePassword.providedBy(creds):
            return defer.succeed(result)
        if not credentials.IUsernamePassword.providedBy(creds):  # APOP: only a digest travels
            ok = want is not None and not is_hash(want) and bool(creds.checkPassword(want.encode()))
            return self._verdict(ok, result)
        given = creds.password if isinstance(creds.password, bytes) else _text(creds.password)
        given = given if isinstance(given, bytes) else given.encode("utf-8", "surrogateescape")
        if want is not None and is_hash(want):
            d = self.run_hash(_check_hash, given, want)
            return d.addCallback(self._verdict, result)
        if want is None and self._decoy is not None:
            # No such user: spend a hash check anyway, so the time taken does not tell.
            d = self.run_hash(_check_hash, given, self._decoy)
            return d.addCallback(lambda _: self._verdict(False, result))
        ok = want is not None and hmac.compare_digest(want.encode("utf-8"), given)
        return self._verdict(ok, result)

    @staticmethod
    def _verdict(ok: bool, result: Any) -> Any:
        if ok:
            return defer.succeed(result)
        return defer.fail(error.UnauthorizedLogin("wrong user name or password"))


# -- throttling ----------------------------------------------------------------------


def throttle_key(host: str) -> str:
    """The address a login is throttled by: the IPv4 address, or the IPv6 /64 prefix.

    One IPv6 client usually holds a whole /64, so its addresses count as one.
    """
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host or "local"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass
class _Address:
    """One address's throttle state."""

    failures: int = 0
    last_failure: float = 0.0
    #: A login from this address is being checked, or its failure's delay runs.
    busy: bool = False
    waiting: deque[defer.Deferred[None]] = field(default_factory=deque)


class LoginThrottle:
    """Per client address, one login at a time, and a growing pause after each failure.

    An address's logins are checked one after another, whichever connection or
    protocol they come on. After a failure the address waits L{delay}C{(n)} for its
    C{n}-th consecutive failure before its next login is checked (and the failed
    login's answer waits as long): 0.1 s, 0.2 s, 0.4 s, ... up to L{MAX_DELAY}. So one
    address gets at most 10 wrong guesses a second, fewer and fewer as it goes on.

    A success resets the count. So does a quiet L{FORGET_AFTER} seconds. A correct
    password is checked at once when no earlier failure's delay is still running.

    @param clock: an C{IReactorTime}.
    """

    BASE_DELAY = 0.1
    MAX_DELAY = 10.0
    FORGET_AFTER = 600.0
    #: Addresses remembered at most; the longest-quiet are forgotten first.
    MAX_ADDRESSES = 100_000

    def __init__(self, clock: IReactorTime, base: float | None = None, cap: float | None = None):
        self.clock = clock
        if base is not None:
            self.BASE_DELAY = base
        if cap is not None:
            self.MAX_DELAY = cap
        self._addresses: OrderedDict[str, _Address] = OrderedDict()

    def delay(self, failures: int) -> float:
        """Seconds an address waits after its C{failures}-th consecutive failure."""
        if failures <= 0:
            return 0.0
        return min(self.BASE_DELAY * 2 ** min(failures - 1, 64), self.MAX_DELAY)

    def failures(self, key: str) -> int:
        """Consecutive failures remembered for C{key}."""
        state = self._addresses.get(key)
        return state.failures if state is not None else 0

    def turn(self, key: str) -> defer.Deferred[None]:
        """Wait for C{key}'s turn to have a login checked; then call L{done} exactly once.

        Cancelling the Deferred (the connection closed) gives the turn up.
        """
        now = self.clock.seconds()
        state = self._addresses.get(key)
        if state is None:
            self._forget_old(now)
            state = self._addresses[key] = _Address(last_failure=now)
        elif state.failures and now - state.last_failure > self.FORGET_AFTER:
            state.failures = 0
        if not state.busy:
            state.busy = True
            return defer.succeed(None)

        def cancel(d: defer.Deferred[None]) -> None:
            if d in state.waiting:
                state.waiting.remove(d)

        waiter: defer.Deferred[None] = defer.Deferred(cancel)
        state.waiting.append(waiter)
        return waiter

    def done(self, key: str, ok: bool | None) -> float:
        """End C{key}'s turn: C{ok} if the login succeeded, C{None} if nothing was checked.

        @return: the seconds the failed login's answer (and C{key}'s next turn) waits.
        """
        state = self._addresses.get(key)
        if state is None:  # forgotten meanwhile (a flood of other addresses)
            return 0.0
        if ok is not False:
            if ok:
                state.failures = 0
            self._next(key, state)
            return 0.0
        state.failures += 1
        state.last_failure = self.clock.seconds()
        self._addresses.move_to_end(key)
        wait = self.delay(state.failures)
        self.clock.callLater(wait, self._next, key, state)
        return wait

    def withdraw(self, key: str, waiter: defer.Deferred[None]) -> None:
        """Take a L{turn} that has not come yet out of the queue (it never fires)."""
        state = self._addresses.get(key)
        if state is not None and waiter in state.waiting:
            state.waiting.remove(waiter)

    def _next(self, key: str, state: _Address) -> None:
        if state.waiting:
            state.waiting.popleft().callback(None)  # busy stays True: the turn passes on
            return
        state.busy = False
        if not state.failures and self._addresses.get(key) is state:
            del self._addresses[key]

    def _forget_old(self, now: float) -> None:
        """Forget quiet addresses, and the longest-quiet beyond L{MAX_ADDRESSES}.

        An address with a login in progress is never forgotten: its turn must pass on.
        """
        for _ in range(len(self._addresses)):
            key, state = next(iter(self._addresses.items()))
            full = len(self._addresses) >= self.MAX_ADDRESSES
            if state.busy:
                if not full:
                    return
                self._addresses.move_to_end(key)
                continue
            if not full and now - state.last_failure <= self.FORGET_AFTER:
                return
            del self._addresses[key]


_shared: WeakKeyDictionary[Any, LoginThrottle] = WeakKeyDictionary()


def shared_throttle(reactor: Any) -> LoginThrottle:
    """The one L{LoginThrottle} of this process (per reactor), shared by every service."""
    throttle = _shared.get(reactor)
    if throttle is None:
        throttle = _shared[reactor] = LoginThrottle(reactor)
    return throttle


def _secret_bearing(creds: Any) -> bool:
    """Credentials a guesser could try (passwords, APOP digests), as opposed to SSH keys."""
    return credentials.IUsernamePassword.providedBy(
        creds
    ) or credentials.IUsernameHashedPassword.providedBy(creds)


def _shown(name: Any) -> str:
    text = _text(name).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 64 else text[:64] + "..."


@dataclass
class Logins:
    """How a service logs users in: its portal, the shared throttle, and the attempt limit.

    A factory holds one; each connection asks it for a L{LoginGuard}.

    @param protocol: the name in log lines (C{"imap"}, C{"ftp"}, ...).
    """

    portal: Any
    protocol: str
    throttle: LoginThrottle
    max_attempts: int = DEFAULT_MAX_LOGIN_ATTEMPTS
    #: Where C{login.failed} and C{login.succeeded} events go (L{zoo.events.hub} if C{None}).
    observatory: Any = None

    def guard(self, transport: Any) -> LoginGuard:
        """A L{LoginGuard} for the connection on C{transport} (its peer is the address)."""
        host = ""
        try:
            host = str(getattr(transport.getPeer(), "host", "") or "")
        except Exception:
            pass
        return LoginGuard(self, host or "local", transport)


class LoginGuard:
    """One connection's stand-in for its C{Portal}: throttled, logged, counted logins.

    A protocol sets C{self.portal = guard} (Twisted's protocols call C{portal.login}),
    or calls L{login} itself. Passwords and APOP digests go through the address's
    L{LoginThrottle}; SSH keys (not guessable) go straight to the portal. Every failed
    password login is logged once, as C{PROTOCOL: failed login for 'USER' from ADDRESS}.
    After L{Logins.max_attempts} failures L{exhausted} is true: the protocol says so in
    its own words and closes; any further login on the connection fails unchecked.
    """

    def __init__(self, logins: Logins, host: str, transport: Any = None) -> None:
        self.logins = logins
        self.host = host
        #: The connection's transport: its session gets the events, and is told who
        #: logged in (see L{zoo.sessions}).
        self.transport = transport
        self.session = session_of(transport)
        if logins.observatory is None:
            from zoo.events import hub

            logins.observatory = hub
        self.observatory = logins.observatory
        self.key = throttle_key(host)
        self.failures = 0
        #: Who logged in on this connection (as shown in events), or C{None} yet.
        self.user: str | None = None
        #: The login being checked or answered (the protocol holds later commands).
        self.pending: defer.Deferred[Any] | None = None
        self._told = False
        self._turns: set[defer.Deferred[None]] = set()
        self._answers: dict[defer.Deferred[Any], Any] = {}

    @property
    def exhausted(self) -> bool:
        """Has this connection used up its failed logins?"""
        return self.failures >= self.logins.max_attempts

    def listCredentialsInterfaces(self) -> list[Any]:
        return list(self.logins.portal.listCredentialsInterfaces())

    def login(self, creds: Any, mind: Any, *interfaces: Any) -> defer.Deferred[Any]:
        """C{Portal.login}, throttled by address and counted per connection.

        While the Deferred is unfired it is also L{pending}.
        """
        portal = self.logins.portal
        if not _secret_bearing(creds):
            d = defer.maybeDeferred(portal.login, creds, mind, *interfaces)
            return d.addCallback(self._succeeded, creds)
        if self.exhausted:
            self._refuse_unchecked(creds)
            return defer.fail(error.UnauthorizedLogin("too many failed logins"))
        if fault_registry.points:
            from zoo.faults.hook import at

            name = getattr(creds, "username", None)
            hit = at(self.transport, self.logins.protocol, "LOGIN", user=_shown(name or b""))
            if hit is not None:
                d = self.pending = self._faulted(hit, portal, creds, mind, interfaces)
                return d.addBoth(self._settled, d)
        d = self.pending = self._login(portal, creds, mind, interfaces)
        return d.addBoth(self._settled, d)  # clears pending at once if already answered

    def _faulted(
        self, hit: Any, portal: Any, creds: Any, mind: Any, interfaces: Any
    ) -> defer.Deferred[Any]:
        """A fault at C{PROTOCOL:LOGIN} fired (L{zoo.faults}): what the login does instead.

        A number of seconds checks the password that much later; C{fail} refuses it
        (as bad credentials, not counted against the connection); C{drop}, C{reset}
        and C{hang} do that to the connection and never answer.
        """
        value = (hit.value or "fail").strip().lower()
        if value == "fail":
            return defer.fail(error.UnauthorizedLogin("login refused (zoo fault)"))
        try:
            seconds = max(float(value), 0.0)
        except ValueError:
            hit.perform(self.transport, lambda v: None)
            return defer.Deferred()
        later: defer.Deferred[None] = defer.Deferred()
        self.logins.throttle.clock.callLater(seconds, later.callback, None)
        return later.addCallback(lambda _: self._login(portal, creds, mind, interfaces))

    def _settled(self, result: Any, d: defer.Deferred[Any]) -> Any:
        if self.pending is d:
            self.pending = None
        return result

    def _refuse_unchecked(self, creds: Any) -> None:
        if not self._told:  # once per connection: these are refused, not checked
            self._told = True
            self._log_failure(creds, "not checked: too many failures on this connection")

    def _login(self, portal: Any, creds: Any, mind: Any, interfaces: Any) -> defer.Deferred[Any]:
        throttle = self.logins.throttle
        turn = throttle.turn(self.key)
        self._turns.add(turn)

        def check(_: None) -> Any:
            self._turns.discard(turn)
            if self.exhausted:  # queued behind this connection's last allowed failure
                throttle.done(self.key, None)
                self._refuse_unchecked(creds)
                raise error.UnauthorizedLogin("too many failed logins")
            return defer.maybeDeferred(portal.login, creds, mind, *interfaces).addBoth(finish)

        def finish(result: Any) -> Any:
            if not isinstance(result, Failure):
                throttle.done(self.key, True)
                return self._succeeded(result, creds)
            wait = throttle.done(self.key, False)
            self.failures += 1
            self._log_failure(creds, None if result.check(error.LoginFailed) else result)
            if not result.check(error.LoginFailed):
                result = Failure(error.UnauthorizedLogin("login failed"))
            later: defer.Deferred[Any] = defer.Deferred()
            call = throttle.clock.callLater(wait, self._answer, later, result)
            self._answers[later] = call
            return later

        return turn.addCallback(check)

    def _answer(self, later: defer.Deferred[Any], result: Failure) -> None:
        self._answers.pop(later, None)
        later.errback(result)

    def _succeeded(self, result: Any, creds: Any) -> Any:
        """Report the login: C{login.succeeded}, and the session's user (L{zoo.sessions})."""
        from zoo.policies import watch_of

        name = getattr(creds, "username", None)
        self.user = _shown(name) if name else "anonymous"
        watch = watch_of(self.transport)
        if watch is not None:
            watch.user(self.user)
        if self.observatory.enabled:
            self.observatory.emit(
                self.logins.protocol,
                "login.succeeded",
                self.session,
                protocol=self.logins.protocol,
                user=_shown(getattr(creds, "username", b"")),
                address=self.host,
            )
        return result

    def _log_failure(self, creds: Any, why: Any) -> None:
        user = _shown(getattr(creds, "username", b""))
        if self.observatory.enabled:
            self.observatory.emit(
                self.logins.protocol,
                "login.failed",
                self.session,
                protocol=self.logins.protocol,
                user=user,
                address=self.host,
                reason="checker error" if isinstance(why, Failure) else (why or "bad credentials"),
            )
        if isinstance(why, Failure):
            log.failure(
                "{protocol}: failed login for {user!r} from {address} (checker error)",
                failure=why,
                protocol=self.logins.protocol,
                user=user,
                address=self.host,
            )
            return
        log.info(
            "{protocol}: failed login for {user!r} from {address}{why}",
            protocol=self.logins.protocol,
            user=user,
            address=self.host,
            why=f" ({why})" if why else "",
        )

    def close(self) -> None:
        """The connection is gone: give up its queued turns; its pending answers never come."""
        self.failures = max(self.failures, self.logins.max_attempts)
        for turn in self._turns:
            self.logins.throttle.withdraw(self.key, turn)
        self._turns.clear()
        for call in self._answers.values():
            if call.active():
                call.cancel()
        self._answers.clear()


# -- zoo-passwd ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """C{zoo-passwd [NAME]}: read a password twice (no echo), print C{NAME:HASH} or C{HASH}.

    The line goes into a C{--users-file}; C{--user NAME:HASH} works too.
    """
    import argparse
    import getpass

    parser = argparse.ArgumentParser(
        prog="zoo-passwd",
        description="Print a bcrypt hash of a password for a zoo --users-file or --user.",
    )
    parser.add_argument("name", nargs="?", help="print NAME:HASH, a users-file line")
    parser.add_argument(
        "--stdin", action="store_true", help="read the password from the first line of stdin"
    )
    parser.add_argument("--rounds", type=int, default=BCRYPT_ROUNDS, help="bcrypt work factor")
    args = parser.parse_args(argv)
    try:
        if args.name is not None:
            check_name(args.name)
        if args.stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Again: ") != password:
                raise ValueError("the passwords differ")
        if not password:
            raise ValueError("empty password")
        if not 4 <= args.rounds <= 31:
            raise ValueError("--rounds must be 4 to 31")
        hashed = hash_password(password, args.rounds)
    except (ValueError, EOFError, KeyboardInterrupt) as e:
        sys.stderr.write(f"zoo-passwd: error: {e or 'cancelled'}\n")
        return 2
    print(f"{args.name}:{hashed}" if args.name is not None else hashed)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["hash"]:
        del sys.argv[1]
    raise SystemExit(main())
