"""FTP uploads: written to a hidden temporary file, published under their name only when complete.

An upload (C{STOR}, C{APPE}, C{REST} + C{STOR}) never writes to the file it names. It
writes C{.zoo-upload-XXXXXXXXXXXXXXXX} (16 hex digits) in the same folder, and
L{Upload.publish} renames that over the name only when the transfer completed, just
before the C{226}. A dropped data or control connection, C{ABOR}, a write error or the
server stopping calls L{Upload.discard}, which deletes the temporary: a partial upload
never appears under its name, and the file that was there stays as it was.

- C{APPE} and C{REST N} + C{STOR} start the temporary with a copy of the existing
  file (all of it, or its first C{N} bytes) and add what arrives. The name so only ever
  holds the old file or the whole new one. The cost is a server-side copy of the bytes
  already there when the command starts (C{copy_file_range}: a reflink or an in-kernel
  copy on Linux). A resume after a dropped upload therefore starts from zero, since
  nothing of the dropped upload was kept.
- The temporary takes the permission bits of the file it replaces (new files: 0o644
  less the umask).
- An upload that may not overwrite (the anonymous upload folder) is published with
  C{link()}, which fails if the name appeared meanwhile, rather than C{rename()}.
- The writing process holds an exclusive C{flock} on each temporary. L{sweep}, run
  when the server starts, deletes zoo's temporaries that no live process holds: those
  left by a process that was killed (C{SIGKILL}, a power cut). L{LiveUploads} discards
  the uploads in progress when the server stops (C{SIGTERM}).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover (not POSIX: no locks; the sweep takes every temporary)
    fcntl = None  # type: ignore[assignment]

#: Uploads in progress are written to C{.zoo-upload-} + 16 hex digits and hidden from listings.
TEMP_PREFIX = ".zoo-upload-"
_TEMP_NAME = re.compile(r"\.zoo-upload-[0-9a-f]{16}\Z")
_COPY_CHUNK = 1 << 24


class NameTaken(OSError):
    """The name appeared while a no-overwrite upload was in progress."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.EEXIST, "File exists", path)


class LiveUploads:
    """The uploads in progress on one server, so that stopping it can discard them."""

    def __init__(self) -> None:
        self._uploads: set[Upload] = set()

    def add(self, upload: Upload) -> None:
        self._uploads.add(upload)

    def remove(self, upload: Upload) -> None:
        self._uploads.discard(upload)

    def __len__(self) -> int:
        return len(self._uploads)

    def discard_all(self) -> int:
        """Discard every upload in progress; return how many there were."""
        uploads, self._uploads = self._uploads, set()
        for upload in uploads:
            upload.discard()
        return len(uploads)


class Upload:
    """A file being stored into its temporary; see the module docstring.

    @ivar path: the real path it will be published as.
    @ivar temp: the real path of the temporary file.
    @ivar done: L{publish} or L{discard} has run; writes are ignored.
    """

    def __init__(
        self, f: BinaryIO, path: str, temp: str, *, no_replace: bool, live: LiveUploads | None
    ) -> None:
        self.file = f
        self.path = path
        self.temp = temp
        self.no_replace = no_replace
        self.live = live
        self.size = 0
        self.done = False
        if live is not None:
            live.add(self)

    def write(self, data: bytes) -> None:
        """Add C{data}; raise C{OSError} (a full disk) for the caller to report."""
        if self.done:
            return
        self.file.write(data)
        self.size += len(data)

    def publish(self) -> None:
        """Close the temporary and rename it to L{path}; on any error, discard it and raise."""
        if self.done:
            raise OSError(errno.ECANCELED, "upload was discarded", self.path)
        try:
            self.file.close()  # flushes: a full disk shows here
            if self.no_replace:
                if _link_new(self.temp, self.path):
                    os.unlink(self.temp)
            else:
                os.replace(self.temp, self.path)
        except OSError:
            self.discard()
            raise
        self._end()

    def discard(self) -> None:
        """Close and delete the temporary file (nothing if already published or discarded)."""
        if self.done:
            return
        try:
            self.file.close()
        except OSError:
            pass  # a flush that fails on a full disk; the file goes anyway
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            pass
        self._end()

    def _end(self) -> None:
        self.done = True
        if self.live is not None:
            self.live.remove(self)


def _link_new(temp: str, path: str) -> bool:
    """Give C{temp} the name C{path}, or L{NameTaken}; C{True} if C{temp} is still there too."""
    try:
        os.link(temp, path, follow_symlinks=False)
        return True
    except FileExistsError:
        raise NameTaken(path) from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        # No hard links here (FAT, some network file systems): check, then rename.
        if os.path.lexists(path):
            raise NameTaken(path) from None
        os.rename(temp, path)
        return False


def start_upload(
    path: str, keep: int, *, no_replace: bool = False, live: LiveUploads | None = None
) -> Upload:
    """Create the temporary for an upload to C{path}, holding the first C{keep} bytes of it.

    @param keep: C{0} for a new file; C{-1} for all of the existing file (C{APPE}); C{N}
        for its first C{N} bytes (C{REST N}).
    @raise ValueError: C{keep} is past the end of the existing file.
    @raise OSError: the temporary cannot be made.
    """
    folder = os.path.dirname(path)
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    size = old.st_size if old is not None and stat.S_ISREG(old.st_mode) else 0
    if keep > size:
        raise ValueError(keep)
    mode = stat.S_IMODE(old.st_mode) if old is not None else 0o644
    temp = os.path.join(folder, f"{TEMP_PREFIX}{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if old is not None:
            os.fchmod(fd, mode)  # exactly the old bits, whatever the umask
        count = size if keep < 0 else keep
        if count:
            _copy_head(path, fd, count)
        f = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        os.unlink(temp)
        raise
    return Upload(f, path, temp, no_replace=no_replace, live=live)


def _copy_head(path: str, fd: int, count: int) -> None:
    """Copy the first C{count} bytes of C{path} to C{fd} (in the kernel where it can)."""
    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        done = 0
        while done < count:
            want = min(_COPY_CHUNK, count - done)
            try:
                n = os.copy_file_range(src, fd, want)
            except (AttributeError, OSError):
                data = os.read(src, want)
                n = os.write(fd, data) if data else 0
            if n == 0:
                break
            done += n
    finally:
        os.close(src)


def temporaries(folder: str, recursive: bool) -> Iterator[str]:
    """Paths of zoo's upload temporaries in C{folder} (and below it; symlinks not followed)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if _TEMP_NAME.match(entry.name):
            yield entry.path
        elif recursive and entry.is_dir(follow_symlinks=False):
            yield from temporaries(entry.path, recursive)


def sweep(folder: str, recursive: bool = True) -> int:
    """Delete the upload temporaries in C{folder} that no live process writes; return how many.

    Only regular files named like zoo's temporaries and owned by this user are touched,
    and only when their C{flock} is free (the process that wrote them is gone).
    """
    removed = 0
    for path in temporaries(folder, recursive):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                continue
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live upload, in this process or another
            now = os.lstat(path)
            if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                os.unlink(path)
                removed += 1
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed
