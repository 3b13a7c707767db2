"""The one path jail: a client's virtual paths mapped to real paths under one root folder.

FTP and SFTP clients name files by I{virtual} paths: C{/} is the user's root folder,
whatever real directory that is. This module is the only place that turns such a path
into a real path, so it is the only place to audit. The rules:

- A path is split on C{/} into names. Empty names and C{.} are dropped; C{..} removes the
  name before it. Absolute paths start at the virtual root, relative ones at C{cwd}.
- C{..} at the root is refused with L{Escape} (FTP answers C{550}). A jail made with
  C{at_root="stop"} keeps it at the root instead, as C{sftp-server} does in a chroot, so
  C{/../../etc/passwd} names C{ROOT/etc/passwd}.
- A name is refused with L{BadName} if it holds NUL or another control character, or a
  backslash (a Windows separator here is neither a separator nor a safe name), or if it
  is not UTF-8, or longer than L{MAX_NAME} bytes; so is a path over L{MAX_PATH} bytes.
- The real path is resolved with C{os.path.realpath}, following every symlink, and must
  be the root or lie under it, else L{Escape}. The root itself is resolved once, when the
  jail is made, so a root that is a symlink works.
- A symlink loop is left to the OS: C{realpath} keeps the looping link in the path
  (normalising what follows it), so the path is either outside (L{Escape}) or inside
  and fails with C{ELOOP} when it is used.
- L{Jail.entry} is the real path of the name itself, for operations on a link rather
  than its target (lstat, remove, rename, readlink): its folder is resolved and checked.

The checks compare resolved paths, so they hold against any path a client can send. They
do not hold against a I{local} user who swaps a folder for a symlink between the check and
the use; zoo gives clients no way to create symlinks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Literal

#: Longest name (bytes of UTF-8), as Linux's NAME_MAX.
MAX_NAME = 255
#: Longest virtual path (bytes of UTF-8), as Linux's PATH_MAX.
MAX_PATH = 4096

_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_SHOWN = 200


class JailError(Exception):
    """A path the jail refuses; the message is safe to show a client."""


class Escape(JailError):
    """The path leads out of the root (C{..} past it, or a symlink out)."""


class BadName(JailError):
    """The path holds a name the jail does not accept (see the module docstring)."""


def shown(path: str | bytes) -> str:
    """C{path} made printable for a reply or a log line: escapes, and at most 200 characters."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", "surrogateescape")
    text = repr(path)[1:-1]
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _check_name(name: str, path: str | bytes) -> int:
    """Raise L{BadName} unless C{name} is acceptable; return its length in bytes."""
    bad = _BAD_CHARS.search(name)
    if bad is not None:
        what = (
            "a backslash" if bad.group() == "\\" else f"control character {ord(bad.group()):#04x}"
        )
        raise BadName(f"{shown(path)}: bad file name ({what})")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # surrogate-escaped bytes that were not UTF-8
        raise BadName(f"{shown(path)}: bad file name (not UTF-8)") from None
    if size > MAX_NAME:
        raise BadName(f"{shown(path)}: file name too long")
    return size


def segments(
    path: str | bytes,
    cwd: Sequence[str] = (),
    *,
    at_root: Literal["refuse", "stop"] = "refuse",
) -> list[str]:
    """The names of C{path}, normalised: absolute, or relative to C{cwd}; no C{.} or C{..}.

    @param path: what the client sent (C{bytes} must be UTF-8).
    @param cwd: the names of the current folder.
    @param at_root: C{"refuse"}: C{..} at the root raises L{Escape}; C{"stop"}: ignored.
    @raise BadName: see the module docstring.
    @raise Escape: C{..} past the root, with C{at_root="refuse"}.
    """
    if isinstance(path, bytes):
        try:
            text = path.decode("utf-8")
        except UnicodeDecodeError:
            raise BadName(f"{shown(path)}: bad file name (not UTF-8)") from None
    else:
        text = path
    segs = [] if text.startswith("/") else list(cwd)
    total = sum(len(s.encode("utf-8", "surrogateescape")) + 1 for s in segs)
    for name in text.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if segs:
                total -= len(segs.pop().encode("utf-8", "surrogateescape")) + 1
            elif at_root == "refuse":
                raise Escape(f"{shown(path)}: outside the root folder")
            continue
        total += _check_name(name, path) + 1
        if total > MAX_PATH:
            raise BadName(f"{shown(path)}: path too long")
        segs.append(name)
    return segs


def virtual(segs: Sequence[str]) -> str:
    """The path a client sees for C{segs}: C{/a/b}."""
    return "/" + "/".join(segs)


class Jail:
    """Real paths under one root folder for virtual paths (see the module docstring).

    @param root: the real folder that is the client's C{/} (may be a symlink).
    @param at_root: what C{..} at the root does in L{segments}: C{"refuse"} or C{"stop"}.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, at_root: Literal["refuse", "stop"] = "refuse"
    ) -> None:
        self.root = os.path.realpath(root)
        self.at_root: Literal["refuse", "stop"] = at_root
        self._prefix = self.root if self.root.endswith(os.sep) else self.root + os.sep

    def segments(self, path: str | bytes, cwd: Sequence[str] = ()) -> list[str]:
        """L{segments} with this jail's rule for C{..} at the root."""
        return segments(path, cwd, at_root=self.at_root)

    def inside(self, real: str) -> bool:
        """C{real} (a resolved path) is the root or lies under it."""
        return real == self.root or real.startswith(self._prefix)

    def real(self, segs: Sequence[str]) -> str:
        """The resolved real path of C{segs}, every symlink followed; L{Escape} if it leaves."""
        for name in segs:
            # Callers pass names from segments() or os.listdir(); refuse anything else
            # rather than trust it (a "/" or ".." here would bypass the rules above).
            if name in ("", ".", "..") or "/" in name or "\0" in name:
                raise BadName(f"{shown(virtual(segs))}: bad file name")
        joined = os.path.join(self.root, *segs)
        try:
            real = os.path.realpath(joined)
        except (OSError, ValueError):
            raise BadName(f"{shown(virtual(segs))}: bad file name") from None
        if not self.inside(real):
            raise Escape(f"{shown(virtual(segs))}: outside the root folder")
        return real

    def entry(self, segs: Sequence[str]) -> str:
        """The real path of the name C{segs} itself (not followed); its folder is resolved."""
        if not segs:
            return self.root
        return os.path.join(self.real(segs[:-1]), segs[-1])

    def to_segments(self, real: str) -> list[str]:
        """The names of a resolved real path inside the root; L{Escape} if it is not inside."""
        if not self.inside(real):
            raise Escape("outside the root folder")
        rest = real[len(self._prefix) :] if real != self.root else ""
        return [s for s in rest.split(os.sep) if s]

    def resolve(self, segs: Sequence[str]) -> list[str]:
        """The virtual names C{segs} lead to with every symlink followed (L{Escape} if out)."""
        return self.to_segments(self.real(segs))


__all__ = [
    "MAX_NAME",
    "MAX_PATH",
    "BadName",
    "Escape",
    "Jail",
    "JailError",
    "segments",
    "shown",
    "virtual",
]
