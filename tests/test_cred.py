"""zoo.cred in memory: users, the generated password, the checker, hashes and login throttling."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest
from twisted.cred import credentials, error
from twisted.cred.portal import IRealm, Portal
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from zope.interface import Interface, implementer

from zoo import cred

#: A bcrypt hash of "s3cret" at the lowest cost, so tests stay fast.
HASH = cred.hash_password("s3cret", rounds=4)


def sync(f: Any, *args: Any) -> defer.Deferred[Any]:
    """Run a hash check at once (tests have no thread pool)."""
    return defer.maybeDeferred(f, *args)


def result_of(d: defer.Deferred[Any]) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    assert out, "the Deferred has not fired"
    return out[0]


def watch(d: defer.Deferred[Any]) -> list[Any]:
    """What C{d} fires with, once it does (the failure is consumed)."""
    out: list[Any] = []
    d.addBoth(out.append)
    return out


def ok(d: defer.Deferred[Any]) -> Any:
    value = result_of(d)
    assert not hasattr(value, "check"), value
    return value


def refused(d: defer.Deferred[Any]) -> bool:
    value = result_of(d)
    return bool(value.check(error.UnauthorizedLogin))


# --- users --------------------------------------------------------------------------


def test_parse_user_keeps_colons_in_password() -> None:
    """NAME:PASSWORD keeps colons in the password; with extra, the third field is EXTRA."""
    assert cred.parse_user(" alice :a:b") == ("alice", "a:b", None)
    assert cred.parse_user("bob:pw:/home/bob", extra=True) == ("bob", "pw", "/home/bob")
    assert cred.parse_user("bob:pw", extra=True) == ("bob", "pw", None)


@pytest.mark.parametrize("spec", ["alice", "alice:", ":pw", "../x:pw", "a/b:pw", "..:pw", "a\tb:x"])
def test_parse_user_rejects(spec: str) -> None:
    """A missing name or password, or a name that cannot be a folder name, is refused."""
    with pytest.raises(ValueError):
        cred.parse_user(spec)


def test_parse_user_error_hides_password() -> None:
    """The error for a bad spec never repeats the password."""
    with pytest.raises(ValueError) as e:
        cred.parse_user("a/b:hunter2")
    assert "hunter2" not in str(e.value)


def test_read_users_file(tmp_path: Path) -> None:
    """Blank lines and comments are skipped; a bad line is named by file and number."""
    f = tmp_path / "users"
    f.write_text(f"# users\n\nalice:a:b\nbob:{HASH}\n")
    assert cred.read_users_file(f) == [("alice", "a:b", None), ("bob", HASH, None)]
    f.write_text("alice:pw\nbroken\n")
    with pytest.raises(ValueError, match=r"users:2:"):
        cred.read_users_file(f)


def test_users_table_refuses_twice() -> None:
    """A user given twice is an error, not a silent override."""
    with pytest.raises(ValueError, match="twice"):
        cred.users_table([cred.UserSpec("a", "x"), cred.UserSpec("a", "y")])


def test_generated_password_private_and_reused(tmp_path: Path) -> None:
    """The generated password is stored 0600 as zoo:PASSWORD and comes back on the next start."""
    password, path, new = cred.generated_password(tmp_path)
    assert new and len(password) == 16 and password.isalnum()
    assert path.read_text() == f"zoo:{password}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cred.generated_password(tmp_path) == (password, path, False)


@pytest.mark.parametrize(
    ("old", "content"),
    [("ssh/generated-password", "zoo:OldSsh1\n"), ("mail/password", "OldMail1\n")],
)
def test_generated_password_adopts_old_files(tmp_path: Path, old: str, content: str) -> None:
    """A state directory from before keeps its SSH or mail password, now in generated-password."""
    (tmp_path / old).parent.mkdir()
    (tmp_path / old).write_text(content)
    password, path, new = cred.generated_password(tmp_path)
    assert password == content.strip().removeprefix("zoo:") and not new
    assert path.read_text() == f"zoo:{password}\n"


# --- the checker --------------------------------------------------------------------


def test_checker_plain_and_hashed() -> None:
    """Plain passwords and bcrypt hashes both log in; a wrong password or user does not."""
    c = cred.PasswordChecker({"alice": "pw", "bob": HASH}, run_hash=sync)
    assert ok(c.requestAvatarId(credentials.UsernamePassword(b"alice", b"pw"))) == "alice"
    assert ok(c.requestAvatarId(credentials.UsernamePassword(b"bob", b"s3cret"))) == "bob"
    for name, pw in ((b"alice", b"PW"), (b"bob", b"S3cret"), (b"eve", b"pw"), (b"bob", HASH)):
        assert refused(c.requestAvatarId(credentials.UsernamePassword(name, pw)))


def test_checker_unknown_user_spends_a_hash_check() -> None:
    """An unknown user costs a bcrypt check too when hashes are in use (no timing oracle)."""
    calls: list[Any] = []

    def counting(f: Any, *args: Any) -> defer.Deferred[Any]:
        calls.append(args)
        return sync(f, *args)

    c = cred.PasswordChecker({"bob": HASH}, run_hash=counting)
    assert refused(c.requestAvatarId(credentials.UsernamePassword(b"eve", b"s3cret")))
    assert len(calls) == 1


def test_checker_apop_needs_plain_password() -> None:
    """APOP works against a plain password and fails against a hash (the digest needs it)."""
    from zoo.mail.pop3 import APOPCredentials

    c = cred.PasswordChecker({"alice": "pw", "bob": HASH}, run_hash=sync)
    magic = b"<1.2@x>"
    good = hashlib.md5(magic + b"pw").hexdigest().encode()
    assert ok(c.requestAvatarId(APOPCredentials(magic, b"alice", good))) == "alice"
    bob = hashlib.md5(magic + b"s3cret").hexdigest().encode()
    assert refused(c.requestAvatarId(APOPCredentials(magic, b"bob", bob)))


def test_checker_shared_any_and_avatar_ids() -> None:
    """A shared password opens any name; avatar_id normalises names; accept_any takes all."""
    c = cred.PasswordChecker({}, shared="one", avatar_id=str.lower, as_bytes=True)
    assert ok(c.requestAvatarId(credentials.UsernamePassword(b"Anyone", b"one"))) == b"anyone"
    assert refused(c.requestAvatarId(credentials.UsernamePassword(b"anyone", b"two")))
    anything = cred.PasswordChecker({}, accept_any=True)
    assert ok(anything.requestAvatarId(credentials.UsernamePassword(b"x", b"y"))) == "x"


def test_hash_password_long_secret_refused() -> None:
    """bcrypt ignores bytes past 72, so such a password is refused rather than truncated."""
    with pytest.raises(ValueError, match="72"):
        cred.hash_password("x" * 73, rounds=4)


def test_zoo_passwd_prints_users_file_line(monkeypatch: Any, capsys: Any) -> None:
    """zoo-passwd NAME --stdin prints NAME:HASH, and the hash checks the password."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    assert cred.main(["alice", "--stdin", "--rounds", "4"]) == 0
    line = capsys.readouterr().out.strip()
    user = cred.parse_user(line)
    assert user.name == "alice" and cred.is_hash(user.password)
    c = cred.PasswordChecker(cred.users_table([user]), run_hash=sync)
    assert ok(c.requestAvatarId(credentials.UsernamePassword(b"alice", b"s3cret"))) == "alice"


# --- the throttle -------------------------------------------------------------------


def test_throttle_delay_grows_and_is_capped() -> None:
    """Delays double from 0.1 s per consecutive failure and stop at 10 s."""
    t = cred.LoginThrottle(Clock())
    assert [t.delay(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert t.delay(8) == 10.0 and t.delay(10_000) == 10.0


def test_throttle_serialises_an_address() -> None:
    """A second login from an address waits for the first's failure delay; others do not."""
    clock = Clock()
    clock.advance(1_765_000_000)  # a real clock's epoch seconds, not 0
    t = cred.LoginThrottle(clock)
    assert result_of(t.turn("1.2.3.4")) is None
    second = t.turn("1.2.3.4")
    assert not second.called
    assert result_of(t.turn("5.6.7.8")) is None  # another address is not held up
    assert t.done("1.2.3.4", False) == 0.1
    clock.advance(0.099)
    assert not second.called
    clock.advance(0.001)
    assert second.called


def test_throttle_success_resets_and_frees_entry() -> None:
    """A success resets the failure count and the address is forgotten."""
    clock = Clock()
    t = cred.LoginThrottle(clock)
    for _ in range(3):
        t.turn("a")
        t.done("a", False)
        clock.advance(10)
    assert t.failures("a") == 3
    t.turn("a")
    t.done("a", True)
    assert t.failures("a") == 0 and "a" not in t._addresses


def test_throttle_forgets_only_quiet_addresses() -> None:
    """Remembering a new address forgets those quiet for FORGET_AFTER, never a counting one."""
    clock = Clock()
    clock.advance(1_765_000_000)
    t = cred.LoginThrottle(clock)
    t.turn("old")
    t.done("old", False)
    clock.advance(t.FORGET_AFTER + 1)
    t.turn("new")
    t.done("new", False)
    t.turn("newer")
    assert list(t._addresses) == ["new", "newer"] and t.failures("new") == 1


def test_throttle_full_table_forgets_oldest_but_not_busy() -> None:
    """Past MAX_ADDRESSES the longest-quiet address goes; one being checked stays and moves on."""
    clock = Clock()
    t = cred.LoginThrottle(clock)
    t.MAX_ADDRESSES = 2
    t.turn("busy")  # being checked: busy
    t.turn("failed")
    t.done("failed", False)
    clock.advance(1)
    t.turn("new")
    assert list(t._addresses) == ["busy", "new"]
    waiter = t.turn("busy")
    t.done("busy", False)
    clock.advance(0.1)
    assert waiter.called  # the busy address's queue still moves


def test_throttle_forgets_after_quiet() -> None:
    """Failures longer ago than FORGET_AFTER no longer count."""
    clock = Clock()
    t = cred.LoginThrottle(clock)
    t.turn("a")
    t.done("a", False)
    t.turn("a")
    t.done("a", False)
    clock.advance(t.FORGET_AFTER + 1)
    t.turn("a")
    assert t.done("a", False) == 0.1


def test_throttle_key_groups_ipv6_prefix() -> None:
    """IPv4 addresses are keys as they are; IPv6 addresses count by their /64."""
    assert cred.throttle_key("10.0.0.1") == "10.0.0.1"
    assert cred.throttle_key("2001:db8::1") == cred.throttle_key("2001:db8::ffff:1")
    assert cred.throttle_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert cred.throttle_key("") == "local"


# --- the guard ----------------------------------------------------------------------


class IThing(Interface):
    pass


@implementer(IRealm)
class Realm:
    def requestAvatar(self, avatar_id: Any, mind: Any, *interfaces: Any) -> Any:
        return IThing, avatar_id, lambda: None


def make_logins(clock: Clock, max_attempts: int = 3) -> cred.Logins:
    portal = Portal(Realm(), [cred.PasswordChecker({"alice": "right"}, run_hash=sync)])
    return cred.Logins(portal, "test", cred.LoginThrottle(clock), max_attempts)


def connection(logins: cred.Logins, host: str = "192.0.2.7") -> cred.LoginGuard:
    transport = StringTransport(peerAddress=IPv4Address("TCP", host, 4000))
    return logins.guard(transport)


def attempt(guard: cred.LoginGuard, password: bytes) -> defer.Deferred[Any]:
    return guard.login(credentials.UsernamePassword(b"alice", password), None, IThing)


def test_guard_parallel_connections_at_most_ten_guesses_a_second() -> None:
    """Fifty connections from one address guessing at once get under 10 checks in 2 s."""
    clock = Clock()
    logins = make_logins(clock, max_attempts=1000)
    checked: list[float] = []
    real = logins.portal.login

    def counting(*args: Any) -> Any:
        checked.append(clock.seconds())
        return real(*args)

    logins.portal.login = counting
    guards = [connection(logins) for _ in range(50)]

    def again(_: Any, g: cred.LoginGuard) -> None:
        attempt(g, b"wrong").addBoth(again, g)

    for g in guards:
        again(None, g)
    while clock.seconds() < 2.0:
        clock.advance(0.01)
    assert 3 <= len(checked) <= 20
    gaps = [b - a for a, b in zip(checked, checked[1:], strict=False)]
    assert all(gap >= 0.1 - 1e-9 for gap in gaps) and gaps == sorted(gaps)


def test_guard_failure_answer_waits_and_success_does_not() -> None:
    """A wrong password is answered after the delay; the right one, after it, at once."""
    clock = Clock()
    g = connection(make_logins(clock))
    wrong = watch(attempt(g, b"wrong"))
    clock.advance(0.099)
    assert not wrong
    clock.advance(0.001)
    assert wrong[0].check(error.UnauthorizedLogin)
    right = attempt(g, b"right")
    assert ok(right)[1] == "alice"


def test_guard_success_waits_only_for_running_delay() -> None:
    """Another connection's right password waits for a running failure delay, then goes through."""
    clock = Clock()
    logins = make_logins(clock)
    attacker, user = connection(logins), connection(logins)
    for _ in range(3):
        watch(attempt(attacker, b"wrong"))
        clock.advance(logins.throttle.delay(logins.throttle.failures(attacker.key) + 1))
    watch(attempt(connection(logins), b"wrong"))  # the 4th failure: 0.8 s
    right = watch(attempt(user, b"right"))
    clock.advance(0.799)
    assert not right
    clock.advance(0.001)
    assert right[0][1] == "alice"


def test_guard_exhausted_after_max_attempts_and_logs_each_failure_once() -> None:
    """Each failure is logged once with protocol, user and address (no password); then exhausted."""
    clock = Clock()
    g = connection(make_logins(clock, max_attempts=2))
    with capturedLogs() as events:
        watch(attempt(g, b"hunter2"))
        clock.advance(0.1)
        assert not g.exhausted
        watch(attempt(g, b"hunter3"))
        clock.advance(0.2)
    assert g.exhausted
    lines = [formatEvent(e) for e in events]
    assert lines == ["test: failed login for 'alice' from 192.0.2.7"] * 2
    after = attempt(g, b"right")
    assert refused(after)  # not checked once exhausted


def test_guard_pipelined_attempts_beyond_limit_not_checked() -> None:
    """Logins queued on one connection past its limit fail without a check."""
    clock = Clock()
    logins = make_logins(clock, max_attempts=2)
    g = connection(logins)
    results = [watch(attempt(g, b"wrong")) for _ in range(5)] + [watch(attempt(g, b"right"))]
    for _ in range(100):
        clock.advance(0.1)
    assert all(r and r[0].check(error.UnauthorizedLogin) for r in results)
    assert logins.throttle.failures(g.key) == 2


def test_guard_close_withdraws_queued_turn() -> None:
    """A closed connection's queued login is never checked and does not hold the address."""
    clock = Clock()
    logins = make_logins(clock)
    first, second, third = connection(logins), connection(logins), connection(logins)
    watch(attempt(first, b"wrong"))
    queued = watch(attempt(second, b"right"))
    second.close()
    clock.advance(0.1)
    assert not queued
    assert ok(attempt(third, b"right"))[1] == "alice"


def test_guard_keys_pass_straight_through() -> None:
    """Credentials without a secret (SSH keys) are neither throttled nor counted."""
    clock = Clock()
    portal = Portal(Realm(), [])
    g = cred.Logins(portal, "ssh", cred.LoginThrottle(clock)).guard(StringTransport())
    d = g.login(credentials.SSHPrivateKey(b"a", b"ssh-ed25519", b"k", None, None), None, IThing)
    assert result_of(d).check(error.UnhandledCredentials)
    assert g.failures == 0 and not g._turns


def test_shared_throttle_one_per_reactor() -> None:
    """Every service of a process shares one throttle per reactor."""
    clock = Clock()
    assert cred.shared_throttle(clock) is cred.shared_throttle(clock)
    assert cred.shared_throttle(clock) is not cred.shared_throttle(Clock())


def test_guard_ipv6_peer() -> None:
    """An IPv6 peer is throttled by its /64."""
    logins = make_logins(Clock())
    t = StringTransport(peerAddress=IPv6Address("TCP", "2001:db8::5", 1))
    assert logins.guard(t).key == "2001:db8::/64"
