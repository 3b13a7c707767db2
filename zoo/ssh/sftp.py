"""A sandboxed SFTP server: conch's SFTP wire protocol over a virtual root folder.

conch's own C{SFTPServerForUnixConchUser} serves the whole file system as a real OS
user, and in Twisted 26.10 it fails before the first command (C{_absPath} gets a
C{str}). L{RootedSFTPServer} is zoo's L{ISFTPServer} instead:

- Paths are virtual: C{/} is the user's root folder, mapped by L{zoo.jail} (the one
  audited jail, shared with FTP) with C{..} stopping at the root (like a chroot), so
  C{/etc/passwd} names C{ROOT/etc/passwd}.
- Symbolic links are followed only while they stay inside the root; operations on a
  link itself (lstat, readlink, remove, rename) check its parent folder. Creating links
  is refused. Anything the jail refuses (a link out, NUL, a name that is not UTF-8 ...)
  is answered with C{FX_PERMISSION_DENIED}.
- Writes land in the named file as they arrive, like OpenSSH's C{sftp-server} (FTP
  uploads instead go to a temporary file first).
- Permissions set by clients are limited to C{0o777} (no setuid, setgid or sticky bits);
  ownership cannot be changed.

L{SFTPProtocol} is conch's C{FileTransferServer} with a packet size cap, no log line per
packet, and the OpenSSH extensions C{posix-rename}, C{fsync} and C{limits} (which lets
OpenSSH's C{sftp} use 255 KiB writes, and reads that fit one channel packet).
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Iterator
from typing import Any

from twisted.conch import ls
from twisted.conch.interfaces import ISFTPFile, ISFTPServer
from twisted.conch.ssh import filetransfer
from twisted.conch.ssh.common import NS, getNS
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from zoo import jail
from zoo._twisted.ssh import FileTransferServerAdapter
from zoo.faults.hook import at
from zoo.faults.model import registry as fault_registry
from zoo.files import emit as emit_file_event
from zoo.jail import virtual

log = Logger()

#: Largest SFTP packet accepted (OpenSSH's sftp-server uses the same 256 KiB).
MAX_PACKET = 256 * 1024
#: Largest READ answered and WRITE accepted (leaves room for the packet header).
MAX_IO = MAX_PACKET - 1024
MAX_HANDLES = 64
#: The read size advertised to OpenSSH (limits@openssh.com): each reply then fits one
#: 32 KiB channel packet (a 32 KiB read is 13 bytes over and goes out as two packets),
#: and 64 reads in flight are about one channel window.
READ_SIZE = 32 * 1024 - 1024


def _encode(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _denied(message: str) -> filetransfer.SFTPError:
    return filetransfer.SFTPError(filetransfer.FX_PERMISSION_DENIED, message)


def _attrs(s: os.stat_result) -> dict[str, int]:
    return {
        "size": s.st_size,
        "uid": s.st_uid,
        "gid": s.st_gid,
        "permissions": s.st_mode,
        "atime": int(s.st_atime),
        "mtime": int(s.st_mtime),
    }


def _refused(e: jail.JailError) -> filetransfer.SFTPError:
    """The SFTP answer to a path the jail refuses: permission denied, with the reason."""
    return _denied(str(e))


def _open_flags(flags: int) -> int:
    readable = flags & filetransfer.FXF_READ
    writable = flags & filetransfer.FXF_WRITE
    mode = os.O_RDWR if readable and writable else os.O_WRONLY if writable else os.O_RDONLY
    for sftp_flag, os_flag in (
        (filetransfer.FXF_APPEND, os.O_APPEND),
        (filetransfer.FXF_CREAT, os.O_CREAT),
        (filetransfer.FXF_TRUNC, os.O_TRUNC),
        (filetransfer.FXF_EXCL, os.O_EXCL),
    ):
        if flags & sftp_flag:
            mode |= os_flag
    return mode | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


@implementer(ISFTPFile)
class RootedFile:
    """An open file: positioned reads and writes on one descriptor."""

    #: A fault at C{sftp:READ} that fired when the file was opened (L{zoo.faults.hook}).
    fault: Any = None

    def __init__(self, server: RootedSFTPServer, fd: int, path: str | None = None) -> None:
        self.server = server
        self.fd = fd
        #: The virtual path, when its transfer is reported (else C{None}).
        self.path = path
        self.read = self.written = 0

    def readChunk(self, offset: int, length: int) -> bytes | defer.Deferred[bytes]:
        length = min(length, MAX_IO)
        if self.fault is not None:
            if self.fault.action == "hang":
                return defer.Deferred()  # never answered: the client's timeout is tested
            length = self._faulted(offset, length)
        data = os.pread(self.fd, length, offset)
        self.read += len(data)
        return data

    def _faulted(self, offset: int, length: int) -> int:
        """The fault's effect on a read: the file ends early (C{N}), or the connection goes."""
        value = self.fault.value or "0"
        if value.isdigit():  # the file seems to end after N bytes: the read is truncated
            return max(0, min(length, int(value) - offset))
        conn = getattr(self.server.avatar, "conn", None)
        transport = getattr(conn, "transport", None)
        if transport is not None:
            self.fault.perform(transport, lambda v: None)
        return 0

    def writeChunk(self, offset: int, data: bytes) -> None:
        self.written += len(data)
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, offset)
            view, offset = view[written:], offset + written

    def getAttrs(self) -> dict[str, int]:
        return _attrs(os.fstat(self.fd))

    def setAttrs(self, attrs: dict[str, int]) -> None:
        _set_attrs(attrs, self.fd)

    def fsync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            self.server.handles -= 1
            try:
                if self.path is not None and self.written:
                    self.server.report(
                        "file.uploaded", self.path, size=os.fstat(fd).st_size, received=self.written
                    )
                elif self.path is not None and self.read:
                    self.server.report("file.downloaded", self.path, size=self.read)
            finally:
                os.close(fd)


class RootedDirectory:
    """A directory listing: C{(name, longname, attrs)} entries, read lazily."""

    def __init__(self, server: RootedSFTPServer, real: str) -> None:
        self.server = server
        self._entries: Any = os.scandir(real)
        self.real = real

    def __iter__(self) -> Iterator[tuple[bytes, bytes, dict[str, int]]]:
        return self

    def __next__(self) -> tuple[bytes, bytes, dict[str, int]]:
        if self._entries is None:
            raise StopIteration
        entry = next(self._entries)
        name = entry.name
        s = entry.stat(follow_symlinks=False)
        longname = ls.lsLine(name, s)
        return _encode(name), _encode(longname), _attrs(s)

    def close(self) -> None:
        if self._entries is not None:
            self._entries.close()
            self._entries = None
            self.server.handles -= 1


def _set_attrs(attrs: dict[str, int], target: int | str) -> None:
    """Apply SFTP attributes to a path or descriptor (size, permissions, times; no owner)."""
    if "uid" in attrs or "gid" in attrs:
        s = os.stat(target)  # both accept a descriptor
        if attrs.get("uid", s.st_uid) != s.st_uid or attrs.get("gid", s.st_gid) != s.st_gid:
            raise _denied("changing the owner is not allowed")
    if "size" in attrs:
        os.truncate(target, attrs["size"])
    if "permissions" in attrs:
        os.chmod(target, attrs["permissions"] & 0o777)
    if "atime" in attrs and "mtime" in attrs:
        os.utime(target, (attrs["atime"], attrs["mtime"]))


@implementer(ISFTPServer)
class RootedSFTPServer:
    """L{ISFTPServer} confined to one folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str], avatar: Any = None) -> None:
        self.jail = jail.Jail(root, at_root="stop")
        self.handles = 0
        #: The logged-in user (its name, observatory and session id for the events).
        self.avatar = avatar

    @classmethod
    def for_avatar(cls, avatar: Any) -> RootedSFTPServer:
        """The SFTP server of a logged-in user (L{zoo.ssh.session.Avatar})."""
        return cls(avatar.root, avatar)

    def _observed(self) -> Any:
        observatory = getattr(self.avatar, "observatory", None)
        return observatory if observatory is not None and observatory.enabled else None

    def report(self, kind: str, path: str, **fields: Any) -> None:
        """Emit a file event for the virtual C{path} (if observed)."""
        observatory = self._observed()
        if observatory is None:
            return
        user = getattr(self.avatar, "username", None)
        emit_file_event(
            observatory,
            "ssh",
            kind,
            getattr(self.avatar, "session_id", None),
            protocol="sftp",
            user=user,
            root="home",
            path=path,
            stored=f"/{user}{path if path != '/' else ''}",
            **fields,
        )

    def _virtual(self, path: bytes) -> str:
        return virtual(self._segments(path))

    def _segments(self, path: bytes) -> list[str]:
        try:
            return self.jail.segments(path)
        except jail.JailError as e:
            raise _refused(e) from None

    def _follow(self, path: bytes) -> str:
        """The real path for an operation that follows symlinks (open, stat, opendir)."""
        try:
            return self.jail.real(self._segments(path))
        except jail.JailError as e:
            raise _refused(e) from None

    def _entry(self, path: bytes) -> str:
        """The real path of the entry itself, not followed (lstat, remove, rename, readlink)."""
        try:
            return self.jail.entry(self._segments(path))
        except jail.JailError as e:
            raise _refused(e) from None

    def _handle(self) -> None:
        if self.handles >= MAX_HANDLES:
            raise filetransfer.SFTPError(filetransfer.FX_FAILURE, "too many open handles")
        self.handles += 1

    def gotVersion(self, otherVersion: int, extData: dict) -> dict[bytes, bytes]:
        return {
            b"posix-rename@openssh.com": b"1",
            b"fsync@openssh.com": b"1",
            b"limits@openssh.com": b"1",
        }

    def openFile(self, filename: bytes, flags: int, attrs: dict[str, int]) -> RootedFile:
        real = self._follow(filename)
        mode = attrs.get("permissions", 0o666) & 0o777
        self._handle()
        try:
            fd = os.open(real, _open_flags(flags), mode)
        except BaseException:
            self.handles -= 1
            raise
        f = RootedFile(self, fd, self._virtual(filename) if self._observed() else None)
        if fault_registry.points and not flags & filetransfer.FXF_WRITE:
            avatar = self.avatar
            f.fault = at(
                None,
                "sftp",
                "READ",
                mailbox=self._virtual(filename),
                user=getattr(avatar, "username", None),
                service="ssh",
                session=getattr(avatar, "session_id", None),
            )
        rest = {k: v for k, v in attrs.items() if k != "permissions"}
        if rest and flags & filetransfer.FXF_CREAT:
            _set_attrs(rest, fd)
        return f

    def removeFile(self, filename: bytes) -> None:
        real = self._entry(filename)
        if os.path.isdir(real) and not os.path.islink(real):
            raise filetransfer.SFTPError(filetransfer.FX_FAILURE, "is a directory")
        os.remove(real)
        self.report("file.deleted", self._virtual(filename))

    def renameFile(self, oldpath: bytes, newpath: bytes) -> None:
        """SFTPv3 rename: fails if the new name exists."""
        old, new = self._entry(oldpath), self._entry(newpath)
        if os.path.lexists(new):
            raise filetransfer.SFTPError(filetransfer.FX_FAILURE, "target exists")
        self._root_guard(old)
        os.rename(old, new)
        self._renamed(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        """posix-rename@openssh.com: replace the new name if it exists."""
        old, new = self._entry(oldpath), self._entry(newpath)
        self._root_guard(old)
        os.replace(old, new)
        self._renamed(oldpath, newpath)

    def _renamed(self, oldpath: bytes, newpath: bytes) -> None:
        if self._observed():
            old, new = self._virtual(oldpath), self._virtual(newpath)
            self.report("file.renamed", new, **{"from": old, "to": new})

    def _root_guard(self, real: str) -> None:
        if real == self.jail.root:
            raise _denied("the root folder cannot be renamed")

    def makeDirectory(self, path: bytes, attrs: dict[str, int]) -> None:
        real = self._entry(path)
        os.mkdir(real, attrs.get("permissions", 0o777) & 0o777)
        self.report("dir.created", self._virtual(path))

    def removeDirectory(self, path: bytes) -> None:
        real = self._entry(path)
        self._root_guard(real)
        os.rmdir(real)
        self.report("dir.removed", self._virtual(path))

    def openDirectory(self, path: bytes) -> RootedDirectory:
        real = self._follow(path)
        self._handle()
        try:
            return RootedDirectory(self, real)
        except BaseException:
            self.handles -= 1
            raise

    def getAttrs(self, path: bytes, followLinks: bool) -> dict[str, int]:
        real = self._follow(path) if followLinks else self._entry(path)
        return _attrs(os.stat(real) if followLinks else os.lstat(real))

    def setAttrs(self, path: bytes, attrs: dict[str, int]) -> None:
        _set_attrs(attrs, self._follow(path))

    def readLink(self, path: bytes) -> bytes:
        os.readlink(self._entry(path))  # EINVAL unless it is a link
        try:
            return _encode(virtual(self.jail.resolve(self._segments(path))))
        except jail.JailError as e:
            raise _refused(e) from None

    def makeLink(self, linkPath: bytes, targetPath: bytes) -> None:
        raise _denied("creating symbolic links is not allowed")

    def realPath(self, path: bytes) -> bytes:
        segs = self._segments(path)
        try:
            segs = self.jail.resolve(segs)
        except jail.Escape:
            pass  # a link out of the root: the client sees the name; using it is refused
        return _encode(virtual(segs))

    def extendedRequest(self, extendedName: bytes, extendedData: bytes) -> bytes:
        if extendedName == b"limits@openssh.com":
            return struct.pack("!4Q", MAX_PACKET, READ_SIZE, MAX_IO, MAX_HANDLES)
        raise NotImplementedError(extendedName.decode("ascii", "replace"))


#: Extensions whose reply is a STATUS (conch's packet_EXTENDED always sends EXTENDED_REPLY).
_STATUS_EXTENSIONS = {b"posix-rename@openssh.com", b"fsync@openssh.com"}


class SFTPProtocol(FileTransferServerAdapter):
    """conch's SFTP server protocol, bounded and quiet (see the module docstring)."""

    def __init__(self, data: Any = None, avatar: Any = None) -> None:
        super().__init__(data, avatar)
        # Received chunks are only joined once a whole packet is there: a 255 KiB WRITE
        # arrives in ~8 channel packets, and copying the buffer per chunk cost 15% of
        # upload time.
        self._chunks: list[bytes] = []
        self._size = 0
        self._want = 5

    def dataReceived(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size < self._want:
            return
        buf = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        offset, self._want = 0, 5
        while len(buf) - offset >= 5:
            length, kind = struct.unpack_from("!LB", buf, offset)
            if length > MAX_PACKET or length < 1:
                log.warn("sftp: packet of {n} bytes refused; closing", n=length)
                self._chunks, self._size, self._want = [], 0, 5
                transport: Any = self.transport
                transport.loseConnection()
                return
            if len(buf) - offset < 4 + length:
                self._want = 4 + length
                break
            body = buf[offset + 5 : offset + 4 + length]
            offset += 4 + length
            self._dispatch(kind, body)
        rest = buf[offset:] if offset else buf
        self._chunks = [rest] if rest else []
        self._size = len(rest)

    def _dispatch(self, kind: int, body: bytes) -> None:
        name = self.packetTypes.get(kind)
        handler = getattr(self, f"packet_{name}", None) if name else None
        if handler is None:
            self.send_status(body[:4], filetransfer.FX_OP_UNSUPPORTED, f"unsupported packet {kind}")
            return
        try:
            handler(body)
        except Exception as e:  # malformed packet: answer it, keep the session
            log.debug("sftp: bad {name} packet: {e}", name=name, e=e)
            if kind != filetransfer.FXP_INIT and len(body) >= 4:
                self.send_status(body[:4], filetransfer.FX_BAD_MESSAGE, "malformed packet")

    def packet_EXTENDED(self, data: bytes) -> None:
        request_id = data[:4]
        name, rest = getNS(data[4:])
        if name not in _STATUS_EXTENSIONS:
            return super().packet_EXTENDED(data)
        d = defer.maybeDeferred(self._status_extension, name, rest)
        d.addCallback(self.status_ok, request_id)
        d.addErrback(self.status_failed, request_id, name + b" failed")
        return None

    def _status_extension(self, name: bytes, rest: bytes) -> None:
        if name == b"posix-rename@openssh.com":
            old, new = getNS(rest, 2)[:2]
            self.client.posix_rename(old, new)
        else:
            handle = getNS(rest)[0]
            if handle not in self.openFiles:
                raise filetransfer.SFTPError(filetransfer.FX_FAILURE, "bad handle")
            self.openFiles[handle].fsync()

    def status_failed(self, reason: Any, request_id: bytes, msg: bytes = b"request failed") -> None:
        # conch logs a traceback for every errno it does not map; map the common ones.
        value = reason.value
        if isinstance(value, OSError) and value.errno not in (
            errno.ENOENT,
            errno.EACCES,
            errno.EEXIST,
        ):
            code = filetransfer.FX_FAILURE
            if value.errno in (errno.EPERM, errno.ELOOP):
                code = filetransfer.FX_PERMISSION_DENIED
            self.send_status(request_id, code, value.strerror or msg.decode())
            return
        super().status_failed(reason, request_id, msg)

    def packet_CLOSE(self, data: bytes) -> None:
        request_id = data[:4]
        handle = getNS(data[4:])[0]
        target = self.openFiles.pop(handle, None) or (self.openDirs.pop(handle, (None,))[0])
        if target is None:
            self.send_status(request_id, filetransfer.FX_FAILURE, "bad handle")
            return
        d = defer.maybeDeferred(target.close)
        d.addCallback(self.status_ok, request_id)
        d.addErrback(self.status_failed, request_id, b"close failed")

    def connectionLost(self, reason: Any = None) -> None:
        filetransfer.FileTransferBase.connectionLost(self, reason)
        for f in list(self.openFiles.values()):
            f.close()
        for d, _ in list(self.openDirs.values()):
            d.close()
        self.openFiles.clear()
        self.openDirs.clear()


__all__ = ["NS", "RootedSFTPServer", "SFTPProtocol"]
