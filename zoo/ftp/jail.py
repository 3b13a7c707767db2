"""The FTP file system view: a L{zoo.jail.Jail} with FTP's permissions and file operations.

Every path a client names becomes a list of names under its virtual root (C{/} is the
root, whatever the real directory is), by L{zoo.jail} (the one audited jail, shared with
SFTP). C{..} past the root, names the jail refuses, and symlinks pointing outside all
become L{Refused} (C{550}).

Permissions are three levels: read-only, upload-only (new files in one folder, no
overwrite, delete or rename: the classic anonymous C{incoming}), and read-write.
Uploads are written to a hidden temporary file (L{zoo.ftp.uploads}).
Everything here is synchronous plain-value code, tested without a reactor.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from zoo import jail
from zoo.ftp.uploads import TEMP_PREFIX, LiveUploads, Upload, start_upload
from zoo.jail import virtual

_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_SIX_MONTHS = 182 * 24 * 3600


class FTPFileError(Exception):
    """A file operation failed; C{code} and C{message} are the FTP reply."""

    code = "550"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class Refused(FTPFileError):
    """The path escapes the jail, or the user may not do this."""


def split_path(cwd: Sequence[str], path: str) -> list[str]:
    """Resolve C{path} (absolute or relative to C{cwd}) to names; L{Refused} if the jail says no."""
    try:
        return jail.segments(path, cwd)
    except jail.JailError as e:
        raise Refused(str(e)) from None


@dataclass(frozen=True)
class Entry:
    """One directory entry: its name and C{os.stat} result."""

    name: str
    st: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


def _map_oserror(e: OSError, path: str) -> FTPFileError:
    messages = {
        errno.ENOENT: "No such file or directory",
        errno.EACCES: "Permission denied",
        errno.EPERM: "Permission denied",
        errno.ENOTDIR: "Not a directory",
        errno.EISDIR: "Is a directory",
        errno.EEXIST: "File exists",
        errno.ENOTEMPTY: "Directory not empty",
        errno.ENAMETOOLONG: "File name too long",
    }
    if e.errno == errno.ENOSPC:
        return FTPFileError(f"{path}: No space left on device", "452")
    return FTPFileError(f"{path}: {messages.get(e.errno or 0, e.strerror or 'error')}")


def _not_reserved(segs: list[str]) -> None:
    """Refuse a name that looks like one of zoo's upload temporaries (they are swept)."""
    if segs and segs[-1].startswith(TEMP_PREFIX):
        raise Refused(f"{virtual(segs)}: Permission denied (name reserved for uploads)")


class Jail(jail.Jail):
    """One user's view of the filesystem: the shared jail, FTP permissions and file operations.

    @param root: the real directory that is this user's C{/}.
    @param writable: may create, overwrite, delete and rename anywhere under the root.
    @param upload_dir: if set (and not C{writable}), segments of the one folder where
        new files may be stored (never overwritten).
    """

    def __init__(
        self, root: Path | str, *, writable: bool = False, upload_dir: list[str] | None = None
    ) -> None:
        super().__init__(root)
        self.writable = writable
        self.upload_dir = upload_dir

    # -- paths --------------------------------------------------------------------------

    def real(self, segs: Sequence[str]) -> str:
        """The real path for C{segs}, symlinks resolved; L{Refused} if the jail refuses it."""
        try:
            return super().real(segs)
        except jail.JailError as e:
            raise Refused(str(e)) from None

    def _stat(self, segs: list[str]) -> tuple[str, os.stat_result]:
        path = self.real(segs)
        try:
            return path, os.stat(path)
        except OSError as e:
            raise _map_oserror(e, virtual(segs)) from None

    def stat(self, segs: list[str]) -> os.stat_result:
        """C{os.stat} of C{segs}, or L{FTPFileError}."""
        return self._stat(segs)[1]

    def is_dir(self, segs: list[str]) -> bool:
        try:
            return stat.S_ISDIR(self.stat(segs).st_mode)
        except FTPFileError:
            return False

    def check_dir(self, segs: list[str]) -> None:
        """Raise L{FTPFileError} unless C{segs} is a directory the user may enter."""
        path, st = self._stat(segs)
        if not stat.S_ISDIR(st.st_mode):
            raise FTPFileError(f"{virtual(segs)}: Not a directory")
        if not os.access(path, os.X_OK):
            raise FTPFileError(f"{virtual(segs)}: Permission denied")

    # -- listing ------------------------------------------------------------------------

    def entries(self, segs: list[str]) -> list[Entry]:
        """The entries of a directory (sorted), or the one entry of a file; glob in the last segment."""
        pattern = None
        if segs and any(c in segs[-1] for c in "*?[") and not self._exists(segs):
            pattern, segs = segs[-1], segs[:-1]
        path, st = self._stat(segs)
        if not stat.S_ISDIR(st.st_mode):
            return [Entry(segs[-1] if segs else "/", st)]
        try:
            names = sorted(os.listdir(path))
        except OSError as e:
            raise _map_oserror(e, virtual(segs)) from None
        out = []
        for name in names:
            if name.startswith(TEMP_PREFIX):
                continue
            if pattern is not None and not fnmatch.fnmatchcase(name, pattern):
                continue
            try:
                # Follow symlinks only while they stay inside the jail.
                out.append(Entry(name, os.stat(self.real([*segs, name]))))
            except (OSError, FTPFileError):
                continue
        return out

    def _exists(self, segs: list[str]) -> bool:
        try:
            self.stat(segs)
        except FTPFileError:
            return False
        return True

    # -- reading and writing ------------------------------------------------------------

    def open_read(self, segs: list[str]) -> tuple[BinaryIO, int]:
        """Open a regular file for reading; return it and its size."""
        path, st = self._stat(segs)
        if stat.S_ISDIR(st.st_mode):
            raise FTPFileError(f"{virtual(segs)}: Is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise FTPFileError(f"{virtual(segs)}: Not a regular file")
        try:
            f = open(path, "rb")
        except OSError as e:
            raise _map_oserror(e, virtual(segs)) from None
        return f, st.st_size

    def _may_store(self, segs: list[str], *, new_only: bool) -> None:
        if not segs:
            raise FTPFileError("/: Is a directory")
        _not_reserved(segs)
        if self.writable:
            return
        if self.upload_dir is not None and segs[:-1] == self.upload_dir:
            if new_only and self._exists(segs):
                raise Refused(f"{virtual(segs)}: File exists (uploads may not overwrite)")
            if not new_only:
                raise Refused(f"{virtual(segs)}: Permission denied (upload only)")
            return
        raise Refused(f"{virtual(segs)}: Permission denied (read-only)")

    def open_write(
        self, segs: list[str], offset: int | None = None, live: LiveUploads | None = None
    ) -> Upload:
        """Start storing C{segs} into a hidden temporary file (see L{zoo.ftp.uploads}).

        C{offset=None} (STOR) starts empty; C{offset=-1} (APPE) starts with a copy of
        the whole file; C{offset>=0} (REST + STOR) with a copy of its first C{offset}
        bytes. Only L{Upload.publish} makes the result appear under the name.

        @param live: the server's set of uploads in progress (for shutdown).
        """
        new_only = offset is None
        self._may_store(segs, new_only=new_only)
        path = self.real(segs)
        if os.path.isdir(path):
            raise FTPFileError(f"{virtual(segs)}: Is a directory")
        keep = 0 if offset is None else offset
        try:
            return start_upload(path, keep, no_replace=new_only and not self.writable, live=live)
        except ValueError:
            raise FTPFileError(f"{virtual(segs)}: restart offset past end of file", "554") from None
        except OSError as e:
            raise _map_oserror(e, virtual(segs)) from None

    def _may_change(self, segs: list[str]) -> str:
        if not self.writable:
            raise Refused(f"{virtual(segs)}: Permission denied (read-only)")
        if not segs:
            raise Refused("/: Permission denied (the root)")
        return self.real(segs)

    def _do(self, segs: list[str], op: object, *args: str) -> None:
        try:
            op(*args)  # type: ignore[operator]
        except OSError as e:
            raise _map_oserror(e, virtual(segs)) from None

    def mkdir(self, segs: list[str]) -> None:
        _not_reserved(segs)
        self._do(segs, os.mkdir, self._may_change(segs))

    def rmdir(self, segs: list[str]) -> None:
        self._do(segs, os.rmdir, self._may_change(segs))

    def remove(self, segs: list[str]) -> None:
        path = self._may_change(segs)
        if os.path.isdir(path):
            raise FTPFileError(f"{virtual(segs)}: Is a directory")
        self._do(segs, os.unlink, path)

    def rename(self, src: list[str], dst: list[str]) -> None:
        _not_reserved(dst)
        self._do(src, os.rename, self._may_change(src), self._may_change(dst))


# -- listing formats ----------------------------------------------------------------------


def list_line(entry: Entry, now: float) -> str:
    """One C{ls -l} line (owner and group are always C{ftp}: no local names leak)."""
    st = entry.st
    kind = "d" if stat.S_ISDIR(st.st_mode) else "-"
    mode = stat.filemode(st.st_mode)[1:]
    t = time.gmtime(st.st_mtime)
    if abs(now - st.st_mtime) < _SIX_MONTHS:
        when = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}"
    else:
        when = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d}  {t.tm_year}"
    return f"{kind}{mode} {st.st_nlink:3d} ftp      ftp      {st.st_size:12d} {when} {entry.name}"


def mdtm(mtime: float) -> str:
    """C{YYYYMMDDHHMMSS} in UTC, as MDTM and the MLSx C{modify} fact want."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(mtime))


def mlsx_facts(entry: Entry, jail: Jail, in_upload_dir: bool = False, cdir: bool = False) -> str:
    """RFC 3659 facts and name: C{type=file;size=3;modify=...;perm=r; name}."""
    st = entry.st
    if entry.is_dir:
        kind = "cdir" if cdir else "dir"
        perm = "elcmfp" if jail.writable else ("elc" if in_upload_dir else "el")
    else:
        kind = "file"
        perm = "radfwn" if jail.writable else "r"
    facts = f"type={kind};size={st.st_size};modify={mdtm(st.st_mtime)};perm={perm};"
    return f"{facts} {entry.name}"
