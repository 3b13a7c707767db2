"""Files in the observatory: FTP's file events and the files inspector (in memory)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_ftp import Client
from twisted.internet.task import Clock

from zoo.events import Filter, Observatory
from zoo.files import FilesInspector, Root, register
from zoo.ftp import User
from zoo.inspect import ApiError, Call


def observatory(enabled: bool = True) -> Observatory:
    return Observatory(Clock(), enabled=enabled)


@pytest.fixture
def ftp(tmp_path: Path) -> tuple[Client, Observatory, Path]:
    root = tmp_path / "root"
    home = tmp_path / "alice"
    home.mkdir()
    root.mkdir()
    (root / "README").write_bytes(b"hello\n")
    c = Client(root, users={"alice": User("pw", home)})
    obs = c.factory.observatory = observatory()
    c.login("alice", "pw")
    c.cmd("TYPE I")
    return c, obs, home


def kinds(obs: Observatory) -> list[tuple[str, dict]]:
    return [
        (e.kind, e.fields)
        for e in obs.events(Filter.of("ftp", "file.")) + obs.events(Filter.of("ftp", "dir."))
    ]


def test_ftp_upload_is_reported_when_published(ftp):
    """STOR gives file.uploaded (virtual path, user, size, root) once the file has its name."""
    c, obs, home = ftp
    assert c.upload("STOR /report.txt", b"12345").startswith("150")
    [event] = obs.events(Filter.of("ftp", "file.uploaded"))
    assert event.fields == {
        "protocol": "ftp",
        "user": "alice",
        "root": "alice",
        "path": "/report.txt",
        "stored": "/report.txt",
        "size": 5,
        "received": 5,
        "mode": "store",
    }
    assert (home / "report.txt").read_bytes() == b"12345"
    json.dumps(event.to_json())


def test_ftp_cut_upload_is_not_reported(ftp):
    """An upload cut short is discarded, never published, and gives no file.uploaded."""
    c, obs, home = ftp
    c.upload("STOR /cut.txt", b"partial", reason=ConnectionResetError())
    assert not (home / "cut.txt").exists()
    assert obs.events(Filter.of("ftp", "file.uploaded")) == []


def test_ftp_append_reports_the_whole_size(ftp):
    """APPE reports the file's new size and the bytes received, mode "append"."""
    c, obs, home = ftp
    (home / "log").write_bytes(b"abc")
    c.upload("APPE /log", b"de")
    [event] = obs.events(Filter.of("ftp", "file.uploaded"))
    assert (event.fields["size"], event.fields["received"], event.fields["mode"]) == (
        5,
        2,
        "append",
    )


def test_ftp_download_rename_delete_and_folders(ftp):
    """RETR, MKD, RNFR/RNTO, DELE and RMD each give their event with virtual paths."""
    c, obs, home = ftp
    (home / "a.bin").write_bytes(b"x" * 10)
    replies, data = c.download("RETR a.bin")
    assert data == b"x" * 10
    assert c.cmd("MKD /d").startswith("257")
    c.cmd("RNFR /a.bin")
    assert c.cmd("RNTO /d/b.bin").startswith("250")
    assert c.cmd("DELE /d/b.bin").startswith("250")
    assert c.cmd("RMD /d").startswith("250")
    seen = [(e.kind, e.fields["path"]) for e in obs.events()]
    assert seen == [
        ("file.downloaded", "/a.bin"),
        ("dir.created", "/d"),
        ("file.renamed", "/d/b.bin"),
        ("file.deleted", "/d/b.bin"),
        ("dir.removed", "/d"),
    ]
    download, _, renamed, _, _ = obs.events()
    assert download.fields["size"] == 10 and download.fields["offset"] == 0
    assert (renamed.fields["from"], renamed.fields["to"]) == ("/a.bin", "/d/b.bin")


def test_ftp_emits_nothing_when_off(ftp):
    """With the observatory off, uploads, downloads and deletions leave no event."""
    c, obs, home = ftp
    obs.enabled = False
    c.upload("STOR /x", b"1")
    c.download("RETR /x")
    c.cmd("DELE /x")
    obs.enabled = True
    assert obs.events() == []


# -- the inspector ------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> tuple[FilesInspector, Observatory, Path]:
    obs = observatory()
    pub = tmp_path / "pub"
    pub.mkdir()
    (pub / "README").write_bytes(b"read me")
    (pub / "docs").mkdir()
    (pub / "docs" / "a.txt").write_bytes(b"alpha")
    (pub / ".zoo-upload-0123456789abcdef").write_bytes(b"half")
    bob = tmp_path / "bob"
    bob.mkdir()
    roots = [
        Root("anonymous", pub, owned=True, keep=frozenset({"README"})),
        Root("bob", bob, owned=False),
    ]
    return FilesInspector("ftp", roots, obs), obs, tmp_path


def test_list_a_folder(files):
    """A listing gives name, type, size and mtime; upload temporaries are hidden."""
    inspector, _, _ = files
    listing = inspector.list_folder(Call())
    assert listing["root"] == "anonymous" and listing["path"] == "/"
    entries = {e["name"]: e for e in listing["entries"]}
    assert set(entries) == {"README", "docs"}
    assert (entries["README"]["type"], entries["README"]["size"]) == ("file", 7)
    assert entries["docs"]["type"] == "dir" and entries["docs"]["size"] is None
    assert isinstance(entries["README"]["mtime"], float)
    deeper = inspector.list_folder(Call(query={"path": "/docs"}))
    assert [e["path"] for e in deeper["entries"]] == ["/docs/a.txt"]


def test_download_upload_delete(files):
    """GET gives the bytes; PUT stores (making folders) and emits; DELETE removes and emits."""
    inspector, obs, tmp = files
    body = inspector.download(Call(query={"path": "/docs/a.txt"}))
    assert (body.content_type, body.filename) == ("text/plain", "a.txt")
    with body.data as f:  # an open file, streamed by the control plane
        assert not isinstance(f, bytes) and f.read() == b"alpha"
    done = inspector.upload(Call(query={"root": "bob", "path": "/new/deep/x.bin"}, body=b"\0\1"))
    assert done == {"root": "bob", "path": "/new/deep/x.bin", "size": 2}
    assert (tmp / "bob" / "new" / "deep" / "x.bin").read_bytes() == b"\0\1"
    listing = inspector.list_folder(Call(query={"root": "bob", "path": "/new/deep"}))
    assert listing["entries"][0]["uploaded_by"]["protocol"] == "api"
    assert inspector.delete(Call(query={"root": "bob", "path": "new/deep/x.bin"})) == {
        "root": "bob",
        "deleted": "/new/deep/x.bin",
    }
    assert [e.kind for e in obs.events()] == ["file.uploaded", "file.deleted"]


def test_listing_says_who_uploaded_over_ftp(files):
    """A file uploaded over FTP is listed with the user and protocol from its event."""
    inspector, obs, tmp = files
    (tmp / "bob" / "r.txt").write_bytes(b"r")
    obs.emit(
        "ftp",
        "file.uploaded",
        "ftp-3",
        protocol="ftp",
        user="bob",
        root="bob",
        path="/r.txt",
        stored="/r.txt",
        size=1,
    )
    [entry] = inspector.list_folder(Call(query={"root": "bob"}))["entries"]
    assert entry["uploaded_by"] == {
        "user": "bob",
        "protocol": "ftp",
        "time": 0.0,
        "session": "ftp-3",
    }


@pytest.mark.parametrize(
    "path, status",
    [
        ("/../bob/x", 403),
        ("../../etc/passwd", 403),
        ("/docs/../../x", 403),
        ("/a\\b", 400),
        ("/a\x00b", 400),
        ("/a\nb", 400),
        ("/" + "x" * 300, 400),
    ],
)
def test_hostile_paths_are_refused(files, path, status):
    """Traversal past the root is 403; a bad name (NUL, backslash, control, too long) is 400."""
    inspector, _, tmp = files
    for route in (inspector.download, inspector.upload, inspector.delete, inspector.list_folder):
        with pytest.raises(ApiError) as e:
            route(Call(query={"path": path}, body=b"evil"))
        assert e.value.status == status, route
    assert not (tmp / "x").exists() and not (tmp / "bob" / "x").exists()


def test_symlink_out_of_the_root_is_refused(files):
    """A symlink leading out of the root cannot be read, written through or listed."""
    inspector, _, tmp = files
    (tmp / "secret").write_bytes(b"s")
    os.symlink(tmp, tmp / "pub" / "out")
    for route in (inspector.download, inspector.upload):
        with pytest.raises(ApiError) as e:
            route(Call(query={"path": "/out/secret"}, body=b"x"))
        assert e.value.status == 403
    with pytest.raises(ApiError) as e:
        inspector.list_folder(Call(query={"path": "/out"}))
    assert e.value.status == 403
    assert (tmp / "secret").read_bytes() == b"s"


def test_unknown_things_are_404_and_conflicts_409(files):
    """An unknown root or file is 404; a folder where a file is wanted (or back) is 409."""
    inspector, _, _ = files
    cases = [
        (inspector.download, {"path": "/nope"}, 404),
        (inspector.delete, {"path": "/nope"}, 404),
        (inspector.list_folder, {"path": "/nope"}, 404),
        (inspector.list_folder, {"root": "carol"}, 404),
        (inspector.download, {"path": "/docs"}, 409),
        (inspector.delete, {"path": "/docs"}, 409),
        (inspector.upload, {"path": "/docs"}, 409),
        (inspector.upload, {"path": "/README/x"}, 409),
        (inspector.list_folder, {"path": "/README"}, 409),
        (inspector.download, {}, 400),
    ]
    for route, query, status in cases:
        with pytest.raises(ApiError) as e:
            route(Call(query=query))
        assert e.value.status == status, (route, query)


def test_reset_empties_owned_roots_only(files, tmp_path):
    """A reset empties zoo's own roots (keeping README) and leaves a user-given one alone."""
    inspector, obs, tmp = files
    (tmp / "bob" / "keep.txt").write_bytes(b"k")
    register("ftp", inspector._roots, observatory=obs)
    obs.reset("ftp")
    assert sorted(os.listdir(tmp / "pub")) == ["README"]
    assert (tmp / "bob" / "keep.txt").exists()
    register("ftp", inspector._roots, observatory=obs, reset_any_root=True)
    obs.reset("ftp")
    assert os.listdir(tmp / "bob") == [] and (tmp / "bob").is_dir()
    assert [r["reset_deletes"] for r in obs.inspectors["ftp"].list_roots(Call())] == [True, True]
    assert [r["reset_deletes"] for r in inspector.list_roots(Call())] == [True, False]


def test_upload_through_a_file_is_a_conflict(files):
    """A seed whose folder path crosses a file (or cannot be written) is a 409, not a traceback."""
    inspector, _, tmp = files
    with pytest.raises(ApiError) as e:
        inspector.upload(Call(query={"path": "/README/a/b.txt"}, body=b"x"))
    assert e.value.status == 409 and "README" in e.value.message
    (tmp / "pub" / "ro").mkdir(mode=0o500)
    if os.access(tmp / "pub" / "ro", os.W_OK):  # root can write anywhere: nothing to refuse
        return
    with pytest.raises(ApiError) as e:
        inspector.upload(Call(query={"path": "/ro/x.txt"}, body=b"x"))
    assert e.value.status == 409 and "Permission denied" in e.value.message
