"""Maildir naming and writing, and the shared mail credentials (zoo.mail.maildir, zoo.mail.creds)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin

from zoo.mail.creds import (
    AnyLogin,
    SharedPassword,
    Users,
    checker_for,
    parse_user,
    read_users_file,
    shared_password,
)
from zoo.mail.maildir import MaildirStore, arrival_order, mailbox_name, wire_size


@pytest.mark.parametrize(
    "address, name",
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("<bob@x>", "bob@x"),
        ("zoo", "zoo@localhost"),
        ("../../etc/passwd@x", "%2e.%2f..%2fetc%2fpasswd@x"),
        (".hidden@x", "%2ehidden@x"),
        ("a b@x", "a%20b@x"),
    ],
)
def test_mailbox_names_are_safe(address, name):
    """Addresses map to one lower-case directory name that can never leave the mail root."""
    assert mailbox_name(address) == name
    assert "/" not in name and not name.startswith(".")


def test_empty_mailbox_name_is_refused():
    """An empty address is not a mailbox."""
    with pytest.raises(ValueError):
        mailbox_name(" <> ")


def test_write_is_atomic_and_private(tmp_path):
    """A delivery lands in new/ (nothing left in tmp/), one unique 0600 file per mailbox."""
    store = MaildirStore(tmp_path, clock=lambda: 5.25, host="h")
    paths = store.write(["a@x", "b@x"], b"data\r\n")
    assert [p.parent.name for p in paths] == ["new", "new"]
    assert len({p.name for p in paths}) == 2
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    assert list((tmp_path / "a@x" / "tmp").iterdir()) == []
    assert store.mailboxes() == ["a@x", "b@x"]
    assert paths[0].read_bytes() == b"data\n"
    assert wire_size(paths[0]) == 6 and paths[0].name.endswith(",S=5,W=6")


def test_store_refuses_path_names():
    """The store refuses a mailbox name that is a path."""
    store = MaildirStore("/nonexistent")
    for bad in ("../x", "a/b", ".x", ""):
        with pytest.raises(ValueError):
            store.path(bad)


def login(checker, name, password):
    d = checker.requestAvatarId(UsernamePassword(name.encode(), password.encode()))
    out = []
    d.addBoth(out.append)
    return out[0]


def test_users_checker():
    """Configured users log in with their own password; their avatar is their mailbox."""
    c = Users({"alice@example.com": "pw", "zoo": "z"})
    assert login(c, "Alice@example.com", "pw") == "alice@example.com"
    assert login(c, "zoo", "z") == "zoo@localhost"
    assert login(c, "alice@example.com", "z").check(UnauthorizedLogin)
    assert login(c, "nobody@x", "pw").check(UnauthorizedLogin)


def test_shared_and_any():
    """A shared password opens any mailbox; AnyLogin opens any with anything."""
    assert login(SharedPassword("s3"), "x@y", "s3") == "x@y"
    assert login(SharedPassword("s3"), "x@y", "no").check(UnauthorizedLogin)
    assert login(AnyLogin(), "q", "") == "q@localhost"


def test_generated_password_is_private_and_reused(tmp_path):
    """The generated password is written 0600 once and read back on the next start."""
    first, path, made = shared_password(tmp_path)
    assert made and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.isalnum() and len(first) == 16  # never "-x...", which tools read as an option
    again, _, made_again = shared_password(tmp_path)
    assert again == first and not made_again
    checker, how = checker_for([], False, tmp_path, "localhost")
    assert first in how and login(checker, "zoo", first) == "zoo@localhost"


def test_users_file(tmp_path):
    """A users file: NAME:PASSWORD lines, comments and blanks skipped, bad lines named."""
    f = tmp_path / "users"
    f.write_text("# mail users\nalice@x:a:b\n\nbob:pw\n")
    assert read_users_file(f) == {"alice@x": "a:b", "bob": "pw"}
    f.write_text("good:pw\nbad\n")
    with pytest.raises(ValueError, match=":2:"):
        read_users_file(f)
    with pytest.raises(ValueError):
        parse_user("nopassword:")


def test_arrival_order_is_numeric():
    """Messages sort by time, microsecond and sequence as numbers, not as text."""
    names = ["10.M000002P1Q10.h", "10.M000002P1Q9.h", "9.M999999P1Q0.h", "other"]
    got = sorted((Path(n) for n in names), key=arrival_order)
    assert [p.name for p in got] == [
        "other",
        "9.M999999P1Q0.h",
        "10.M000002P1Q9.h",
        "10.M000002P1Q10.h",
    ]


def test_clean_tmp_removes_only_old_leftovers(tmp_path):
    """Interrupted deliveries older than 36 hours are removed from tmp/; newer ones stay."""
    import os

    store = MaildirStore(tmp_path, clock=lambda: 200_000.0)
    store.ensure("a@x")
    old, new = tmp_path / "a@x" / "tmp" / "old", tmp_path / "a@x" / "tmp" / "new"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (1000, 1000))
    os.utime(new, (199_000, 199_000))
    assert store.clean_tmp() == 1
    assert not old.exists() and new.exists()
