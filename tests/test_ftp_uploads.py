"""FTP uploads: hidden temporaries, published only when complete, discarded and swept otherwise."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from zoo.ftp import FTPConfig, FTPFactory, User
from zoo.ftp.jail import FTPFileError, Jail, Refused
from zoo.ftp.uploads import (
    TEMP_PREFIX,
    LiveUploads,
    NameTaken,
    start_upload,
    sweep,
    temporaries,
)

SERVER = IPv4Address("TCP", "127.0.0.1", 2121)
CLIENT = IPv4Address("TCP", "127.0.0.1", 50000)


def temps(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(TEMP_PREFIX)]


# -- one upload ------------------------------------------------------------------------------


def test_store_writes_a_hidden_temporary(tmp_path: Path) -> None:
    """Bytes go to .zoo-upload-<16 hex>; the name keeps the old file until publish."""
    (tmp_path / "f").write_bytes(b"old")
    up = start_upload(str(tmp_path / "f"), 0)
    up.write(b"new")
    [temp] = temps(tmp_path)
    assert len(temp) == len(TEMP_PREFIX) + 16 and (tmp_path / "f").read_bytes() == b"old"
    up.publish()
    assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f").read_bytes() == b"new"


def test_append_starts_from_a_copy(tmp_path: Path) -> None:
    """APPE (keep=-1) copies the whole file first; discarding leaves the file untouched."""
    (tmp_path / "f").write_bytes(b"0123456789")
    up = start_upload(str(tmp_path / "f"), -1)
    up.write(b"+")
    up.discard()
    assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f").read_bytes() == b"0123456789"
    up = start_upload(str(tmp_path / "f"), -1)
    up.write(b"+")
    up.publish()
    assert (tmp_path / "f").read_bytes() == b"0123456789+"


def test_append_to_a_missing_file(tmp_path: Path) -> None:
    """APPE to a name that does not exist creates it (empty start)."""
    up = start_upload(str(tmp_path / "new"), -1)
    up.write(b"x")
    up.publish()
    assert (tmp_path / "new").read_bytes() == b"x"


def test_resume_keeps_the_first_bytes(tmp_path: Path) -> None:
    """REST N + STOR keeps N bytes of the file; N past its end raises ValueError."""
    (tmp_path / "f").write_bytes(b"0123456789")
    up = start_upload(str(tmp_path / "f"), 4)
    up.write(b"xy")
    assert (tmp_path / "f").read_bytes() == b"0123456789"
    up.publish()
    assert (tmp_path / "f").read_bytes() == b"0123xy"
    with pytest.raises(ValueError):
        start_upload(str(tmp_path / "f"), 7)
    assert temps(tmp_path) == []


def test_large_append_copies_everything(tmp_path: Path) -> None:
    """A file bigger than one copy step is copied whole before the new bytes."""
    data = os.urandom((1 << 24) + 12345)
    (tmp_path / "big").write_bytes(data)
    up = start_upload(str(tmp_path / "big"), -1)
    up.write(b"tail")
    up.publish()
    assert (tmp_path / "big").read_bytes() == data + b"tail"


def test_replacement_keeps_permission_bits(tmp_path: Path) -> None:
    """The published file has the permission bits of the file it replaced."""
    (tmp_path / "f").write_bytes(b"old")
    os.chmod(tmp_path / "f", 0o640)
    up = start_upload(str(tmp_path / "f"), 0)
    up.publish()
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640


def test_no_replace_loses_to_a_file_that_appeared(tmp_path: Path) -> None:
    """A no-overwrite upload whose name appeared meanwhile fails and keeps the other file."""
    up = start_upload(str(tmp_path / "f"), 0, no_replace=True)
    up.write(b"mine")
    (tmp_path / "f").write_bytes(b"theirs")
    with pytest.raises(NameTaken):
        up.publish()
    assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f").read_bytes() == b"theirs"
    up = start_upload(str(tmp_path / "g"), 0, no_replace=True)
    up.write(b"mine")
    up.publish()
    assert sorted(os.listdir(tmp_path)) == ["f", "g"] and (tmp_path / "g").read_bytes() == b"mine"


def test_discarded_upload_cannot_be_published(tmp_path: Path) -> None:
    """After discard, writes are ignored and publish raises: nothing appears."""
    up = start_upload(str(tmp_path / "f"), 0)
    up.discard()
    up.write(b"late")
    with pytest.raises(OSError):
        up.publish()
    up.discard()  # twice is fine
    assert os.listdir(tmp_path) == []


def test_failed_flush_discards(tmp_path: Path) -> None:
    """A full disk at the final flush discards the temporary and raises ENOSPC."""
    up = start_upload(str(tmp_path / "f"), 0)

    class FullDisk:
        closed = False

        def close(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    real, up.file = up.file, FullDisk()  # type: ignore[assignment]
    with pytest.raises(OSError) as e:
        up.publish()
    real.close()
    assert e.value.errno == errno.ENOSPC and os.listdir(tmp_path) == []


def test_live_uploads_discard_all(tmp_path: Path) -> None:
    """The live set holds uploads in progress only, and discard_all empties the folder."""
    live = LiveUploads()
    a = start_upload(str(tmp_path / "a"), 0, live=live)
    start_upload(str(tmp_path / "b"), 0, live=live)
    a.publish()
    assert len(live) == 1
    assert live.discard_all() == 1
    assert os.listdir(tmp_path) == ["a"] and len(live) == 0


# -- the sweep ---------------------------------------------------------------------------------


def test_sweep_removes_only_stale_temporaries(tmp_path: Path) -> None:
    """Stale temporaries go (also in subfolders); live ones, look-alikes and links stay."""
    (tmp_path / "sub").mkdir()
    stale = [
        tmp_path / ".zoo-upload-0123456789abcdef",
        tmp_path / "sub" / ".zoo-upload-fedcba9876543210",
    ]
    for path in stale:
        path.write_bytes(b"x")
    live = start_upload(str(tmp_path / "sub" / "f"), 0)  # flock held by this process
    keep = [tmp_path / ".zoo-upload-notes.txt", tmp_path / ".zoo-upload-0123456789ABCDEF"]
    for path in keep:
        path.write_bytes(b"mine")
    (tmp_path / ".zoo-upload-aaaaaaaaaaaaaaaa").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-victim"
    outside.write_bytes(b"v")
    os.symlink(outside, tmp_path / ".zoo-upload-bbbbbbbbbbbbbbbb")
    assert sweep(str(tmp_path)) == 2
    assert not any(p.exists() for p in stale)
    assert os.path.exists(live.temp) and all(p.exists() for p in keep)
    assert (tmp_path / ".zoo-upload-aaaaaaaaaaaaaaaa").is_dir() and outside.exists()
    live.publish()
    assert (tmp_path / "sub" / "f").exists()


def test_sweep_not_recursive(tmp_path: Path) -> None:
    """recursive=False sweeps the folder itself only."""
    (tmp_path / "sub").mkdir()
    (tmp_path / ".zoo-upload-0123456789abcdef").write_bytes(b"x")
    (tmp_path / "sub" / ".zoo-upload-0123456789abcdef").write_bytes(b"x")
    assert sweep(str(tmp_path), recursive=False) == 1
    assert list(temporaries(str(tmp_path), True)) == [
        str(tmp_path / "sub" / ".zoo-upload-0123456789abcdef")
    ]


# -- the FTP jail and session --------------------------------------------------------------------


def test_reserved_names_refused(tmp_path: Path) -> None:
    """Names that look like zoo's temporaries cannot be stored, made or renamed to."""
    (tmp_path / "f").write_bytes(b"x")
    jail = Jail(tmp_path, writable=True)
    with pytest.raises(Refused):
        jail.open_write([".zoo-upload-0123456789abcdef"])
    with pytest.raises(Refused):
        jail.mkdir([".zoo-upload-x"])
    with pytest.raises(Refused):
        jail.rename(["f"], [".zoo-upload-x"])
    assert os.listdir(tmp_path) == ["f"]


def test_longest_name_can_be_stored(tmp_path: Path) -> None:
    """A 255-byte name can be uploaded (the temporary's name does not grow with it)."""
    name = "n" * 255
    up = Jail(tmp_path, writable=True).open_write([name])
    up.publish()
    assert os.listdir(tmp_path) == [name]


def test_resume_past_end_is_554(tmp_path: Path) -> None:
    """REST past the end of the file before STOR answers 554 and leaves no temporary."""
    (tmp_path / "f").write_bytes(b"abc")
    with pytest.raises(FTPFileError) as e:
        Jail(tmp_path, writable=True).open_write(["f"], offset=10)
    assert e.value.code == "554" and os.listdir(tmp_path) == ["f"]


class Session:
    """A logged-in in-memory session with a passive data connection mid-STOR."""

    def __init__(
        self, root: Path, home: Path, command: str = "STOR f", upload_grace: float = 0.02
    ) -> None:
        self.reactor = MemoryReactorClock()
        config = FTPConfig(root=root, users={"alice": User("pw", home)}, upload_grace=upload_grace)
        self.factory = FTPFactory(config, self.reactor)
        self.proto = self.factory.buildProtocol(CLIENT)
        self.transport = StringTransport(hostAddress=SERVER, peerAddress=CLIENT)
        self.proto.makeConnection(self.transport)
        for line in (b"USER alice", b"PASS pw", b"TYPE I", b"PASV", command.encode()):
            self.proto.dataReceived(line + b"\r\n")
        _, factory, _, _ = self.reactor.tcpServers[-1]
        self.data = factory.buildProtocol(CLIENT)
        self.data.makeConnection(StringTransport(hostAddress=SERVER, peerAddress=CLIENT))
        self.data.dataReceived(b"partial")
        self.transport.clear()

    def end_data(self) -> str:
        self.data.connectionLost(Failure(ConnectionDone()))
        self.reactor.advance(1)
        return self.transport.value().decode()


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "root").mkdir()
    (tmp_path / "home").mkdir()
    return tmp_path / "root", tmp_path / "home"


def test_control_lost_discards_at_once(dirs: tuple[Path, Path]) -> None:
    """When the control connection drops, the temporary goes before the data connection ends."""
    s = Session(*dirs)
    assert len(temps(dirs[1])) == 1
    s.proto.connectionLost(Failure(ConnectionDone()))
    assert os.listdir(dirs[1]) == []
    s.end_data()
    assert os.listdir(dirs[1]) == []


def test_server_stop_discards_uploads(dirs: tuple[Path, Path]) -> None:
    """Stopping the factory discards uploads in progress; the late data end publishes nothing."""
    s = Session(*dirs)
    s.factory.doStart()
    s.factory.doStop()
    assert os.listdir(dirs[1]) == []
    assert s.end_data().startswith("426")
    assert os.listdir(dirs[1]) == []


def test_complete_upload_is_published_before_226(dirs: tuple[Path, Path]) -> None:
    """A data connection closed normally publishes the file, then answers 226."""
    s = Session(*dirs)
    assert s.end_data() == "226 Transfer complete.\r\n"
    assert os.listdir(dirs[1]) == ["f"] and (dirs[1] / "f").read_bytes() == b"partial"
    assert len(s.factory.uploads) == 0


def test_start_sweeps_where_users_write(tmp_path: Path) -> None:
    """Starting the factory sweeps users' homes and the anonymous upload folder, not the root."""
    root, home = tmp_path / "root", tmp_path / "home"
    (root / "incoming").mkdir(parents=True)
    (home / "deep").mkdir(parents=True)
    name = ".zoo-upload-0123456789abcdef"
    for folder in (root, root / "incoming", home / "deep"):
        (folder / name).write_bytes(b"x")
    config = FTPConfig(root=root, users={"alice": User("pw", home)}, anonymous_upload=["incoming"])
    FTPFactory(config, MemoryReactorClock()).doStart()
    assert (root / name).exists()
    assert not (root / "incoming" / name).exists() and not (home / "deep" / name).exists()


def test_publish_waits_for_the_grace(dirs: tuple[Path, Path]) -> None:
    """The end of the data is not published at once, but the upload grace later, with the 226."""
    s = Session(*dirs)
    s.data.connectionLost(Failure(ConnectionDone()))
    s.reactor.advance(0)
    assert "f" not in os.listdir(dirs[1]) and s.transport.value() == b""
    s.reactor.advance(s.proto.config.upload_grace)
    assert s.transport.value() == b"226 Transfer complete.\r\n"
    assert os.listdir(dirs[1]) == ["f"]


@pytest.mark.parametrize("grace", [0.002, 0.5])
def test_publish_waits_for_the_configured_grace(dirs: tuple[Path, Path], grace: float) -> None:
    """--upload-grace sets the wait: nothing before it, the 226 and the file at it."""
    s = Session(*dirs, upload_grace=grace)
    s.data.connectionLost(Failure(ConnectionDone()))
    s.reactor.advance(grace * 0.9)
    assert "f" not in os.listdir(dirs[1]) and s.transport.value() == b""
    s.reactor.advance(grace * 0.1)
    assert s.transport.value() == b"226 Transfer complete.\r\n"


def test_zero_grace_still_waits_one_turn(dirs: tuple[Path, Path]) -> None:
    """With --upload-grace 0 a control close in the same reactor turn still discards the upload."""
    s = Session(*dirs, upload_grace=0.0)
    s.data.connectionLost(Failure(ConnectionDone()))
    s.proto.connectionLost(Failure(ConnectionDone()))
    s.reactor.advance(0)
    assert os.listdir(dirs[1]) == []


def test_killed_client_control_close_after_data(dirs: tuple[Path, Path]) -> None:
    """A control close that follows the data's end within the grace publishes nothing."""
    s = Session(*dirs)
    s.data.connectionLost(Failure(ConnectionDone()))
    s.reactor.advance(s.proto.config.upload_grace / 2)
    s.proto.connectionLost(Failure(ConnectionDone()))
    s.reactor.advance(1)
    assert os.listdir(dirs[1]) == []
