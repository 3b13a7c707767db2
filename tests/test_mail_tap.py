"""The mail plugins' options and wiring (zoo.tap.smtp, pop3, imap): no listening."""

from __future__ import annotations

import pytest
from twisted.python import usage

from zoo.cred import PasswordChecker
from zoo.mail.maildir import SyncWriter, ThreadWriter
from zoo.tap import imap, pop3, smtp


def factory_of(service):
    [group] = list(service)
    return group.protocol_factory


def test_smtp_options_reach_the_policy(tmp_path):
    """SMTP limits and TLS/AUTH rules from the command line end up in the factory's policy."""
    o = smtp.Options()
    o.parseOptions(
        ["--port", "0", "--state-dir", str(tmp_path), "--max-size", "1000",
         "--max-recipients", "3", "--require-tls", "--require-auth", "--user", "a@x:pw",
         "--hostname", "mail.test"]
    )  # fmt: skip
    f = factory_of(smtp.makeService(o))
    p = f.policy
    assert (p.max_size, p.max_recipients, p.require_tls, p.require_auth) == (1000, 3, True, True)
    assert p.hostname == "mail.test" and f.starttls is not None
    assert (tmp_path / "mail").is_dir()
    assert isinstance(f.writer, ThreadWriter) and f.writer.store.fsync


def test_no_fsync_writes_in_the_reactor_thread(tmp_path):
    """--no-fsync stores without syncing, in the calling thread (no thread hand-off)."""
    o = smtp.Options()
    o.parseOptions(["--port", "0", "--state-dir", str(tmp_path), "--no-fsync"])
    f = factory_of(smtp.makeService(o))
    assert isinstance(f.writer, SyncWriter) and not f.writer.store.fsync


def test_default_credentials_are_shared(tmp_path):
    """With no users, all three services share one generated password from the state dir."""
    checkers = []
    for tap in (smtp, pop3, imap):
        o = tap.Options()
        o.parseOptions(["--port", "0", "--state-dir", str(tmp_path)])
        f = factory_of(tap.makeService(o))
        checkers += list(f.portal.checkers.values())
    assert all(isinstance(c, PasswordChecker) and not c.passwords for c in checkers)
    assert len({c.shared for c in checkers}) == 1
    assert (tmp_path / "generated-password").read_text() == f"zoo:{checkers[0].shared}\n"


def test_users_file_and_any_login(tmp_path):
    """--users-file adds users; --accept-any-login gives the anything-goes checker."""
    users = tmp_path / "users"
    users.write_text("alice@x:secret\n")
    o = pop3.Options()
    o.parseOptions(["--port", "0", "--state-dir", str(tmp_path), "--users-file", str(users)])
    [checker] = set(factory_of(pop3.makeService(o)).portal.checkers.values())
    assert checker.passwords == {"alice@x": "secret"} and checker.shared is None
    o = imap.Options()
    o.parseOptions(["--port", "0", "--state-dir", str(tmp_path), "--accept-any-login"])
    [checker] = set(factory_of(imap.makeService(o)).portal.checkers.values())
    assert checker.accept_any


def test_tls_listener_means_no_starttls(tmp_path):
    """With --tls (implicit TLS) STARTTLS/STLS is not offered; --no-starttls turns it off too."""
    for args in (["--tls"], ["--no-starttls"]):
        o = imap.Options()
        o.parseOptions(["--port", "0", "--state-dir", str(tmp_path), *args])
        assert factory_of(imap.makeService(o)).starttls is None


def test_starttls_with_the_users_certificate(tmp_path):
    """--starttls with --tls-cert/--tls-key: a plaintext listener offering STARTTLS with that cert."""
    from OpenSSL import SSL, crypto

    from zoo.certs import ensure_dev_certificates

    own = ensure_dev_certificates(tmp_path / "own", ["mail.example"])
    o = smtp.Options()
    o.parseOptions(
        ["--port", "0", "--state-dir", str(tmp_path / "state"), "--starttls",
         "--tls-cert", str(own.cert), "--tls-key", str(own.key)]
    )  # fmt: skip
    assert not o["tls"]
    f = factory_of(smtp.makeService(o))
    ctx = f.starttls.getContext()
    served = crypto.load_certificate(crypto.FILETYPE_PEM, own.cert.read_bytes())
    conn = SSL.Connection(ctx, None)
    assert conn.get_certificate().to_cryptography() == served.to_cryptography()
    assert not (tmp_path / "state" / "tls").exists()  # no development certificate was made


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--user", "nocolon"], "NAME:PASSWORD"),
        (["--users-file", "/nonexistent/users"], "--users-file"),
        (["--accept-any-login", "--user", "a:b"], "exclude each other"),
        (["--max-recipients", "0"], "--max-recipients"),
        (["--starttls"], "needs --tls-cert"),
        (["--starttls", "--no-starttls"], "exclude each other"),
    ],
)
def test_bad_options(args, fragment):
    """Bad mail options raise a UsageError naming the problem."""
    with pytest.raises(usage.UsageError, match=fragment):
        smtp.Options().parseOptions(args)
