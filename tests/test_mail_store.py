"""Maildir naming and writing, and mail logins by mailbox name (zoo.mail.maildir, zoo.cred)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from mailfakes import any_login, mail_users
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.python.failure import Failure

from zoo.mail.maildir import (
    MaildirStore,
    ThreadWriter,
    arrival_order,
    mailbox_name,
    to_lf,
    wire_size,
)


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
    written = store.write(["a@x", "b@x"], b"data\r\n")
    assert all(type(p) is str for p in written)  # text: a delivery makes no Path
    paths = [Path(p) for p in written]
    assert [p.parent.name for p in paths] == ["new", "new"]
    assert len({p.name for p in paths}) == 2
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    folders = [tmp_path / "a@x", *(tmp_path / "a@x").iterdir()]
    assert [stat.S_IMODE(f.stat().st_mode) for f in folders] == [0o700] * 4
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
    c = mail_users({"alice@example.com": "pw", "zoo": "z"})
    assert login(c, "Alice@example.com", "pw") == "alice@example.com"
    assert login(c, "zoo", "z") == "zoo@localhost"
    assert login(c, "alice@example.com", "z").check(UnauthorizedLogin)
    assert login(c, "nobody@x", "pw").check(UnauthorizedLogin)


def test_shared_and_any():
    """A shared password opens any mailbox; accept-any opens any with anything."""
    assert login(mail_users({}, shared="s3"), "x@y", "s3") == "x@y"
    assert login(mail_users({}, shared="s3"), "x@y", "no").check(UnauthorizedLogin)
    assert login(any_login(), "q", "") == "q@localhost"


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


@pytest.mark.parametrize(
    "data", [b"", b"a\r\nb\r\n", b"bare\rcr\r\n", b"\r\r\n", b"lf\nonly\r\n", b"end\r"]
)
def test_crlf_becomes_lf_and_nothing_else_changes(data):
    """The Maildir's LF line ends: CRLF becomes LF; a bare CR or LF is kept as it came."""
    assert to_lf(data) == data.replace(b"\r\n", b"\n")


def test_concurrent_deliveries_share_the_directory_fsync(tmp_path, monkeypatch):
    """Renames waiting while new/ is fsynced are covered by one more fsync, not one each."""
    import threading

    from zoo.mail import maildir

    synced: list[str] = []
    first_started, release = threading.Event(), threading.Event()

    def fake_fsync_dir(path):
        synced.append(path)
        if len(synced) == 1:
            first_started.set()
            assert release.wait(10)

    monkeypatch.setattr(maildir, "_fsync_dir", fake_fsync_dir)
    store = MaildirStore(tmp_path)
    first = threading.Thread(target=store.sync_dir, args=("d",))
    first.start()
    assert first_started.wait(10)  # ticket 1 is being synced
    waiting = [threading.Thread(target=store.sync_dir, args=("d",)) for _ in range(3)]
    for t in waiting:
        t.start()
    state = store._dir_syncs["d"]
    while state.renamed < 4:  # the three took their tickets after the first fsync began
        threading.Event().wait(0.001)
    release.set()
    for t in [first, *waiting]:
        t.join(10)
    assert synced == ["d", "d"]  # the second fsync covered all three
    assert state.synced == 4
    store.sync_dir("d")  # a later rename is never covered by an earlier fsync
    assert synced == ["d", "d", "d"]


def test_failed_directory_fsync_covers_nobody(tmp_path, monkeypatch):
    """If the fsync of new/ fails, the delivery fails and the next one syncs again."""
    import errno

    from zoo.mail import maildir

    calls = []

    def failing_once(path):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(maildir, "_fsync_dir", failing_once)
    store = MaildirStore(tmp_path)
    with pytest.raises(OSError):
        store.write(["a@x"], b"one\r\n")
    assert list((tmp_path / "a@x" / "new").iterdir()) == []
    assert len(store.write(["a@x"], b"two\r\n")) == 1
    assert len(calls) == 2


class _ThreadReactor:
    """Just enough reactor for ThreadWriter: calls from threads are queued for the test."""

    def __init__(self):
        import queue

        self.calls = queue.SimpleQueue()
        self.triggers = []

    def callFromThread(self, f, *args):
        self.calls.put((f, args))

    def addSystemEventTrigger(self, phase, event, f):
        self.triggers.append((phase, event, f))

    def run_one(self):
        f, args = self.calls.get(timeout=10)
        f(*args)


def test_thread_writer_fires_in_the_reactor_thread(tmp_path):
    """A delivery is written in a writer thread; its Deferred fires via callFromThread."""
    reactor = _ThreadReactor()
    writer = ThreadWriter(MaildirStore(tmp_path), reactor=reactor)
    got = []
    writer.deliver(["a@x"], b"hi\r\n").addBoth(got.append)
    assert reactor.triggers and reactor.triggers[0][:2] == ("during", "shutdown")
    reactor.run_one()
    assert len(got) == 1 and Path(got[0][0]).read_bytes() == b"hi\n"
    writer.deliver(["../x"], b"bad\r\n").addBoth(got.append)  # not a mailbox name
    reactor.run_one()
    assert isinstance(got[1], Failure) and got[1].check(ValueError)
    writer.stop()
    assert writer.deliver(["a@x"], b"late\r\n").addErrback(lambda f: f.check(OSError)).result
    assert len(list((tmp_path / "a@x" / "new").iterdir())) == 1


def test_a_maildir_removed_while_running_is_made_again(tmp_path):
    """The store remembers Maildirs it made, but one removed since is simply made again."""
    import shutil

    store = MaildirStore(tmp_path)
    store.write(["a@x"], b"one\r\n")
    shutil.rmtree(tmp_path / "a@x")
    [written] = store.write(["a@x"], b"two\r\n")
    path = Path(written)
    assert path.read_bytes() == b"two\n" and store.mailboxes() == ["a@x"]


def test_spare_files_are_made_ahead_and_used_once(tmp_path):
    """refill() makes empty tmp/ files for recent mailboxes; a delivery renames one into new/."""
    store = MaildirStore(tmp_path)
    store.write(["a@x"], b"first\r\n")  # no spare yet: the file is created inline
    assert store.refill() == store.spares_per_box
    spares = sorted((tmp_path / "a@x" / "tmp").iterdir())
    assert len(spares) == 2 and all(p.stat().st_size == 0 for p in spares)
    [written] = store.write(["a@x"], b"second\r\n")
    path = Path(written)
    assert path.read_bytes() == b"second\n" and path.name.endswith(",S=7,W=8")
    assert len(list((tmp_path / "a@x" / "tmp").iterdir())) == 1  # one spare was used
    assert [
        p.read_bytes() for p in sorted((tmp_path / "a@x" / "new").iterdir(), key=arrival_order)
    ] == [
        b"first\n",
        b"second\n",
    ]
    store.close_spares()
    assert list((tmp_path / "a@x" / "tmp").iterdir()) == []


def test_spares_are_bounded_and_survive_a_removed_maildir(tmp_path):
    """Only the most recent mailboxes keep spares; a spare deleted meanwhile is not used."""
    import shutil

    store = MaildirStore(tmp_path, max_spare_boxes=2)
    for box in ("a@x", "b@x", "c@x"):
        store.write([box], b"m\r\n")
    store.refill()
    assert (
        sorted(p.parent.parent.name for p in tmp_path.glob("*/tmp/*")) == ["b@x"] * 2 + ["c@x"] * 2
    )
    shutil.rmtree(tmp_path / "c@x")
    [written] = store.write(["c@x"], b"again\r\n")
    path = Path(written)
    assert path.read_bytes() == b"again\n"
    store.close_spares()


def test_failed_write_into_a_spare_leaves_nothing(tmp_path, monkeypatch):
    """A spare whose write fails is removed with the rest of the delivery."""
    import errno

    store = MaildirStore(tmp_path)
    store.write(["a@x"], b"one\r\n")
    store.refill()

    def disk_full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "write_file", disk_full)
    with pytest.raises(OSError):
        store.write(["a@x"], b"two\r\n")
    assert len(list((tmp_path / "a@x" / "new").iterdir())) == 1
    assert len(list((tmp_path / "a@x" / "tmp").iterdir())) == 1  # the other spare
    store.close_spares()


def test_thread_writer_makes_spares_once_the_reply_is_out(tmp_path):
    """After a delivery's Deferred fired (reply sent), the writer makes spares; stop() removes them."""
    import time

    reactor = _ThreadReactor()
    writer = ThreadWriter(MaildirStore(tmp_path), reactor=reactor)
    tmp = tmp_path / "a@x" / "tmp"
    got = []
    writer.deliver(["a@x"], b"hi\r\n").addBoth(got.append)
    reactor.run_one()  # the reply: only now is the refill queued
    assert len(got) == 1
    deadline = time.monotonic() + 10
    while len(list(tmp.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(list(tmp.iterdir())) == 2
    writer.deliver(["a@x"], b"again\r\n").addBoth(got.append)
    reactor.run_one()
    assert Path(got[1][0]).read_bytes() == b"again\n"
    writer.stop()
    assert list(tmp.iterdir()) == []
    assert len(list((tmp_path / "a@x" / "new").iterdir())) == 2


def test_deliveries_finishing_together_fire_in_one_reactor_call(tmp_path):
    """Deliveries finished while the reactor is busy are handed over in one callFromThread."""
    import time

    reactor = _ThreadReactor()
    writer = ThreadWriter(MaildirStore(tmp_path), reactor=reactor)
    got = []
    for i in range(3):
        writer.deliver([f"m{i}@x"], b"hi\r\n").addBoth(got.append)
    deadline = time.monotonic() + 10
    while len(writer._finished) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(list(tmp_path.glob("*/new/*"))) == 3 and got == []
    assert reactor.calls.qsize() == 1
    reactor.run_one()
    assert len(got) == 3 and all(isinstance(r, list) for r in got)
    writer.stop()
