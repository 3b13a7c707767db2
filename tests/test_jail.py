"""zoo.jail: virtual paths to real paths under one root, with real files and symlinks."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from zoo.jail import MAX_NAME, MAX_PATH, BadName, Escape, Jail, segments, virtual


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root with a file, links inside and out, and a secret next to it."""
    r = tmp_path / "root"
    (r / "sub").mkdir(parents=True)
    (r / "sub" / "f.txt").write_bytes(b"hello")
    (tmp_path / "secret").write_bytes(b"outside")
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "x").write_bytes(b"x")
    os.symlink(tmp_path / "secret", r / "out-link")
    os.symlink(tmp_path / "outdir", r / "out-dir")
    os.symlink("sub/f.txt", r / "in-link")
    os.symlink("../..", r / "sub" / "up")
    return r


def real_root(root: Path) -> str:
    return os.path.realpath(root)


# -- names and normalisation --------------------------------------------------------------


def test_segments_normalise() -> None:
    """Empty names and '.' go, '..' pops, doubled and trailing slashes are harmless."""
    assert segments("/a//b/./c/") == ["a", "b", "c"]
    assert segments("a/../b", ["x"]) == ["x", "b"]
    assert segments("", ["x", "y"]) == ["x", "y"]
    assert segments("/", ["x"]) == []
    assert segments(b"/a/b") == ["a", "b"]


def test_absolute_paths_start_at_the_virtual_root(root: Path) -> None:
    """/etc/passwd names ROOT/etc/passwd, never the system's file; cwd is ignored."""
    jail = Jail(root)
    assert jail.segments("/etc/passwd", ["sub"]) == ["etc", "passwd"]
    assert jail.real(["etc", "passwd"]) == os.path.join(real_root(root), "etc", "passwd")


def test_dotdot_past_root_refused_or_stopped() -> None:
    """'..' at the root raises Escape by default, and stays at the root with at_root='stop'."""
    for path, cwd in (("..", []), ("../../etc/passwd", ["a"]), ("/../etc", ["a"]), ("a/../..", [])):
        with pytest.raises(Escape):
            segments(path, cwd)
    assert segments("../../etc/passwd", ["a"], at_root="stop") == ["etc", "passwd"]
    assert segments(b"/../../..", at_root="stop") == []
    assert Jail("/tmp", at_root="stop").segments("../x") == ["x"]


@pytest.mark.parametrize(
    "path",
    [
        "a\0b",
        b"a\0b",
        "dir/\0",
        "tab\there",
        "line\nbreak",
        "del\x7f",
        "..\\..\\etc\\passwd",
        "C:\\Windows",
        b"\xff\xfe",
        b"caf\xe9",  # Latin-1, not UTF-8
        "caf\udce9",  # the same bytes after FTP's surrogateescape decoding
    ],
)
def test_bad_names_refused(path: str | bytes) -> None:
    """NUL, control characters, backslashes and non-UTF-8 names raise BadName."""
    with pytest.raises(BadName):
        segments(path)


def test_bad_name_message_is_printable() -> None:
    """The refusal message escapes what it quotes and stays short."""
    with pytest.raises(BadName) as e:
        segments("x\0" + "y" * 5000)
    message = str(e.value)
    assert "\0" not in message and "\\x00" in message and len(message) < 300
    with pytest.raises(BadName) as e:
        segments(b"caf\xe9")
    message = str(e.value)
    assert message.isprintable() and "not UTF-8" in message


def test_unicode_names_accepted() -> None:
    """UTF-8 names of any script pass, and spaces and odd punctuation are plain characters."""
    assert segments("/données/日本語/a b;c'd") == ["données", "日本語", "a b;c'd"]
    assert segments("/données".encode()) == ["données"]


def test_very_long_names() -> None:
    """A name of 255 bytes passes, 256 (or 128 two-byte characters) do not; nor a path over 4096."""
    assert segments("a" * MAX_NAME) == ["a" * MAX_NAME]
    with pytest.raises(BadName):
        segments("a" * (MAX_NAME + 1))
    with pytest.raises(BadName):
        segments("é" * 128)
    deep = "/".join(["d" * 200] * (MAX_PATH // 201 + 1))
    with pytest.raises(BadName):
        segments(deep)
    # '..' gives the length back: a long walk that ends short is fine.
    assert segments("/".join(["d" * 200, ".."] * 40) + "/x") == ["x"]


# -- real paths and symlinks ----------------------------------------------------------------


def test_real_follows_links_inside(root: Path) -> None:
    """A link inside the root resolves to its target; the root maps to itself."""
    jail = Jail(root)
    assert jail.real([]) == real_root(root)
    assert jail.real(["in-link"]) == os.path.join(real_root(root), "sub", "f.txt")
    assert jail.resolve(["in-link"]) == ["sub", "f.txt"]


@pytest.mark.parametrize(
    "names",
    [["out-link"], ["out-dir"], ["out-dir", "x"], ["sub", "up"], ["sub", "up", "secret"]],
)
def test_symlinks_out_of_the_root_refused(root: Path, names: list[str]) -> None:
    """A symlink (absolute or relative '../..') that leads out of the root raises Escape."""
    with pytest.raises(Escape):
        Jail(root).real(names)


def test_etc_passwd_is_not_reachable(root: Path) -> None:
    """../../etc/passwd is refused (FTP) or names ROOT/etc/passwd (SFTP); never the real one."""
    with pytest.raises(Escape):
        Jail(root).segments("../../etc/passwd", ["sub"])
    sftp = Jail(root, at_root="stop")
    real = sftp.real(sftp.segments(b"../../etc/passwd"))
    assert real == os.path.join(real_root(root), "etc", "passwd") and not os.path.exists(real)


def test_symlink_loops_never_reach_outside(root: Path) -> None:
    """A link to itself or a cycle maps inside and fails with ELOOP; one hiding '..' is Escape."""
    os.symlink("self", root / "self")
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    # realpath stops at the loop and normalises the "../../.." behind it: outside.
    os.symlink("self/../../..", root / "sneaky")
    jail = Jail(root)
    for names in (["self"], ["a"], ["b", "x"]):
        real = jail.real(names)
        assert jail.inside(real)
        with pytest.raises(OSError) as e:
            open(real, "rb")
        assert e.value.errno == errno.ELOOP
    for names in (["sneaky"], ["sneaky", "etc"]):
        with pytest.raises(Escape):
            jail.real(names)


def test_root_that_is_a_symlink(root: Path, tmp_path: Path) -> None:
    """A root given as a symlink works: paths resolve under its target, escapes still fail."""
    link = tmp_path / "root-link"
    os.symlink(root, link)
    jail = Jail(link)
    assert jail.root == real_root(root)
    assert jail.real(["sub", "f.txt"]) == os.path.join(real_root(root), "sub", "f.txt")
    # A link inside that goes through the root's own symlink still lands inside.
    os.symlink(link / "sub", root / "via-root-link")
    assert jail.resolve(["via-root-link", "f.txt"]) == ["sub", "f.txt"]
    with pytest.raises(Escape):
        jail.real(["out-link"])


def test_sibling_with_common_prefix_is_outside(tmp_path: Path) -> None:
    """ROOT-evil next to ROOT is outside, though its path starts with ROOT's."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data-evil").mkdir()
    os.symlink(tmp_path / "data-evil", tmp_path / "data" / "link")
    jail = Jail(tmp_path / "data")
    assert not jail.inside(str(tmp_path / "data-evil"))
    with pytest.raises(Escape):
        jail.real(["link"])


def test_filesystem_root_as_jail_root() -> None:
    """A jail rooted at / contains every path (the prefix check handles the trailing slash)."""
    jail = Jail("/")
    assert jail.inside("/etc") and jail.real(["tmp"]) == os.path.realpath("/tmp")


def test_entry_does_not_follow_the_last_link(root: Path) -> None:
    """entry() names a link itself (for lstat, remove, rename) but follows its folders."""
    jail = Jail(root)
    assert jail.entry(["out-link"]) == os.path.join(real_root(root), "out-link")
    assert jail.entry([]) == real_root(root)
    with pytest.raises(Escape):
        jail.entry(["out-dir", "x"])


def test_real_refuses_unnormalised_names(root: Path) -> None:
    """real() checks its names too: '..', '.', '' or a slash inside a name raise BadName."""
    jail = Jail(root)
    for names in (["..", "secret"], ["."], [""], ["sub/../.."], ["a\0"]):
        with pytest.raises(BadName):
            jail.real(names)


def test_to_segments(root: Path, tmp_path: Path) -> None:
    """Real paths inside map back to names; outside raises Escape."""
    jail = Jail(root)
    assert jail.to_segments(real_root(root)) == []
    assert jail.to_segments(os.path.join(real_root(root), "sub", "f.txt")) == ["sub", "f.txt"]
    with pytest.raises(Escape):
        jail.to_segments(str(tmp_path / "secret"))
    assert virtual(["sub", "f.txt"]) == "/sub/f.txt" and virtual([]) == "/"


def test_containment_property(root: Path) -> None:
    """Whatever a client sends, a mapped real path stays inside (or the jail refuses it)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from zoo.jail import JailError

    os.symlink("a", root / "a")  # a loop too
    names = ["..", ".", "", "sub", "up", "out-link", "out-dir", "in-link", "a", "f.txt", "x\\y"]
    prefix = real_root(root) + os.sep

    @settings(max_examples=400, deadline=None)
    @given(
        st.lists(st.sampled_from(names), max_size=8),
        st.booleans(),
        st.sampled_from(["refuse", "stop"]),
    )
    def check(parts: list[str], absolute: bool, at_root: str) -> None:
        jail = Jail(root, at_root=at_root)  # type: ignore[arg-type]
        path = ("/" if absolute else "") + "/".join(parts)
        try:
            real = jail.real(jail.segments(path, ["sub"]))
        except JailError:
            return
        assert real == real_root(root) or real.startswith(prefix), (path, real)
        assert os.path.realpath(real) == real

    check()
