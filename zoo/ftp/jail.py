"""The FTP filesystem jail: a virtual root over one real directory.

Every path a client names is a list of segments under its virtual root (C{/} is the
root, whatever the real directory is). L{Jail.real} turns segments into a real path,
resolving symlinks, and refuses anything whose real path is not inside the real root:
C{..} past the root, absolute paths (they are taken as relative to the virtual root),
and symlinks pointing outside are all refused with L{Refused}.

Permissions are three levels: read-only, upload-only (new files in one folder, no
overwrite, delete or rename: the classic anonymous C{incoming}), and read-write.
Everything here is synchronous plain-value code, tested without a reactor.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: Uploads in progress are written to C{.zoo-upload-NAME-RANDOM} and hidden from listings.
TEMP_PREFIX = ".zoo-upload-"

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


def split_path(cwd: list[str], path: str) -> list[str]:
    """Resolve C{path} (absolute or relative to C{cwd}) to segments; C{..} above the root is refused."""
    segs = [] if path.startswith("/") else list(cwd)
    for s in path.split("/"):
        if s in ("", "."):
            continue
        if s == "..":
            if not segs:
                raise Refused(f"{path}: outside the FTP root")
            segs.pop()
        elif "\0" in s:
            raise Refused(f"{path}: bad file name")
        else:
            segs.append(s)
    return segs


def virtual(segs: list[str]) -> str:
    """The path a client sees for C{segs}: C{/a/b}."""
    return "/" + "/".join(segs)


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


class Jail:
    """One user's view of the filesystem.

    @param root: the real directory that is this user's C{/}.
    @param writable: may create, overwrite, delete and rename anywhere under the root.
    @param upload_dir: if set (and not C{writable}), segments of the one folder where
        new files may be stored (never overwritten).
    """

    def __init__(
        self, root: Path | str, *, writable: bool = False, upload_dir: list[str] | None = None
    ) -> None:
        self.root = os.path.realpath(root)
        self.writable = writable
        self.upload_dir = upload_dir

    # -- paths --------------------------------------------------------------------------

    def real(self, segs: list[str]) -> str:
        """The real path for C{segs}, symlinks resolved; L{Refused} if it leaves the root."""
        try:
            path = os.path.realpath(os.path.join(self.root, *segs))
        except (ValueError, OSError):
            raise Refused(f"{virtual(segs)}: bad file name") from None
        if path != self.root and not path.startswith(self.root + os.sep):
            raise Refused(f"{virtual(segs)}: outside the FTP root")
        return path

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
            f = open(path, "rb")  # noqa: SIM115 (closed by the transfer)
        except OSError as e:
            raise _map_oserror(e, virtual(segs)) from None
        return f, st.st_size

    def _may_store(self, segs: list[str], *, new_only: bool) -> None:
        if not segs:
            raise FTPFileError("/: Is a directory")
        if self.writable:
            return
        if self.upload_dir is not None and segs[:-1] == self.upload_dir:
            if new_only and self._exists(segs):
                raise Refused(f"{virtual(segs)}: File exists (uploads may not overwrite)")
            if not new_only:
                raise Refused(f"{virtual(segs)}: Permission denied (upload only)")
            return
        raise Refused(f"{virtual(segs)}: Permission denied (read-only)")

    def open_write(self, segs: list[str], offset: int | None = None) -> Upload:
        """Start storing C{segs}: a new file via a temporary name, or in place at C{offset}.

        C{offset=None} writes a temporary file renamed over the target on success;
        C{offset=-1} appends (APPE); C{offset>=0} resumes (REST + STOR) in place.
        """
        self._may_store(segs, new_only=offset is None)
        path = self.real(segs)
        parent = os.path.dirname(path)
        if os.path.isdir(path):
            raise FTPFileError(f"{virtual(segs)}: Is a directory")
        try:
            if offset is None:
                temp = os.path.join(parent, f"{TEMP_PREFIX}{segs[-1]}-{secrets.token_hex(4)}")
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                return Upload(os.fdopen(fd, "wb"), path, temp)
            if offset < 0:
                return Upload(open(path, "ab"), path, None)  # noqa: SIM115
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            f = os.fdopen(fd, "wb")
            if offset > os.fstat(fd).st_size:
                f.close()
                raise FTPFileError(f"{virtual(segs)}: restart offset past end of file", "554")
            f.seek(offset)
            f.truncate()
            return Upload(f, path, None)
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
        self._do(segs, os.mkdir, self._may_change(segs))

    def rmdir(self, segs: list[str]) -> None:
        self._do(segs, os.rmdir, self._may_change(segs))

    def remove(self, segs: list[str]) -> None:
        path = self._may_change(segs)
        if os.path.isdir(path):
            raise FTPFileError(f"{virtual(segs)}: Is a directory")
        self._do(segs, os.unlink, path)

    def rename(self, src: list[str], dst: list[str]) -> None:
        self._do(src, os.rename, self._may_change(src), self._may_change(dst))


class Upload:
    """A file being stored. L{finish} renames the temporary file into place; L{abort} removes it."""

    def __init__(self, f: BinaryIO, path: str, temp: str | None) -> None:
        self.file = f
        self.path = path
        self.temp = temp
        self.size = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)

    def finish(self) -> None:
        self.file.close()
        if self.temp is not None:
            os.replace(self.temp, self.path)

    def abort(self) -> None:
        self.file.close()
        if self.temp is not None:
            try:
                os.unlink(self.temp)
            except OSError:
                pass


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
