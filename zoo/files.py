"""The files FTP and SFTP serve, as the control plane sees them: list, download, seed, delete.

One L{FilesInspector} per file service (C{"ftp"}, C{"ssh"}), over named roots:
zoo-ftp's C{anonymous} root (what anonymous users read) and each named user's home
(named after the user); zoo-ssh's C{home}, the folder holding each user's folder. A
path in a request is virtual (C{/reports/q1.pdf}) and goes through L{zoo.jail}, the
one audited jail: C{..} past the root is refused (403), as is a symlink leading out,
and a name with a control character or a backslash (400).

The file events (L{emit}) carry, besides the path the client named, the root and the
path within it (C{root}, C{stored}), so a listing can say who uploaded each file.

A reset deletes what is under a root only when it is zoo's own (under the state
directory); a root given on the command line is left alone, with a log line saying
so, unless the service was started with C{--reset-root}.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.logger import Logger

from zoo import jail
from zoo.events import Filter, hub
from zoo.inspect import ApiError, Call, RawBody, Route

log = Logger()

#: Entries listed at most per folder.
MAX_LISTED = 10_000
#: The largest file a seed request may store.
MAX_SEED = 512 * 1024 * 1024
#: Names never listed (FTP's upload temporaries).
_HIDDEN_PREFIX = ".zoo-upload-"


def emit(
    observatory: Any,
    service: str,
    kind: str,
    session: str | None,
    *,
    protocol: str,
    user: str | None,
    root: str,
    path: str,
    stored: str | None = None,
    **fields: Any,
) -> None:
    """Emit a file event (the caller checks C{observatory.enabled}).

    @param path: the virtual path the client named.
    @param root: the inspector's root it lies in.
    @param stored: its path within C{root} (C{path} if not given).
    """
    observatory.emit(
        service,
        kind,
        session,
        protocol=protocol,
        user=user,
        root=root,
        path=path,
        stored=stored if stored is not None else path,
        **fields,
    )


@dataclass
class Root:
    """One folder the inspector shows.

    @ivar owned: zoo made it under its state directory (a reset may empty it).
    @ivar keep: names at its top that a reset leaves (the README zoo-ftp writes).
    """

    name: str
    path: Path
    owned: bool
    keep: frozenset[str] = field(default_factory=frozenset)


class FilesInspector:
    """The control plane's view of one file service's roots.

    @param service: C{"ftp"} or C{"ssh"} (its events and its name under C{/api/}).
    @param roots: the roots, or a function giving them now (users' folders appear later).
    @param reset_any_root: a reset may empty roots that are not zoo's own.
    """

    def __init__(
        self,
        service: str,
        roots: list[Root] | Callable[[], list[Root]],
        observatory: Any = None,
        reset_any_root: bool = False,
    ) -> None:
        self.service = service
        self._roots = roots
        self.observatory = observatory if observatory is not None else hub
        self.reset_any_root = reset_any_root

    def roots(self) -> dict[str, Root]:
        found = self._roots() if callable(self._roots) else self._roots
        return {r.name: r for r in found}

    # -- paths -------------------------------------------------------------------------

    def _where(self, call: Call, required: bool = True) -> tuple[Root, jail.Jail, list[str]]:
        roots = self.roots()
        name = call.query.get("root")
        if name is None:
            if not roots:
                raise ApiError(404, "this service has no folders yet")
            root = next(iter(roots.values()))
        elif name in roots:
            root = roots[name]
        else:
            raise ApiError(404, f"no root {name[:100]!r} (roots: {', '.join(roots)})")
        path = call.query.get("path", "")
        if required and not path.strip("/"):
            raise ApiError(400, "give the file's path (?path=/name)")
        box = jail.Jail(root.path)
        try:
            segs = box.segments(path)
        except jail.Escape as e:
            raise ApiError(403, str(e)) from None
        except jail.BadName as e:
            raise ApiError(400, str(e)) from None
        return root, box, segs

    @staticmethod
    def _real(box: jail.Jail, segs: list[str]) -> str:
        try:
            return box.real(segs)
        except jail.Escape as e:
            raise ApiError(403, str(e)) from None
        except jail.BadName as e:
            raise ApiError(400, str(e)) from None

    # -- the contract -----------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "roots": [
                {"name": r.name, "path": str(r.path), "reset_deletes": self._resettable(r)}
                for r in self.roots().values()
            ]
        }

    def routes(self) -> list[Route]:
        where = {"root": "which root (default: the first; see /roots)", "path": "a virtual path"}
        return [
            Route("GET", "/roots", self.list_roots, "The folders this service serves."),
            Route("GET", "/files", self.list_folder, "A folder's entries.", where),
            Route("GET", "/file", self.download, "A file's bytes.", where),
            Route("PUT", "/file", self.upload, "Store the body as a file (seeding).", where),
            Route("DELETE", "/file", self.delete, "Delete a file.", where),
        ]

    def list_roots(self, call: Call) -> list[dict[str, Any]]:
        return self.describe()["roots"]

    def uploads(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Who last uploaded each file, from the kept C{file.uploaded} events."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for e in self.observatory.events(Filter.of(self.service, "file.uploaded")):
            f = e.fields
            found[(str(f.get("root")), str(f.get("stored")))] = {
                "user": f.get("user"),
                "protocol": f.get("protocol"),
                "time": e.time,
                "session": e.session,
            }
        return found

    def list_folder(self, call: Call) -> dict[str, Any]:
        root, box, segs = self._where(call, required=False)
        real = self._real(box, segs)
        try:
            with os.scandir(real) as it:
                entries = [e for e in it if not e.name.startswith(_HIDDEN_PREFIX)]
        except FileNotFoundError:
            raise ApiError(404, f"no folder {jail.virtual(segs)}") from None
        except NotADirectoryError:
            raise ApiError(409, f"{jail.virtual(segs)} is a file, not a folder") from None
        uploads = self.uploads()
        listed = []
        for e in sorted(entries, key=lambda e: e.name)[:MAX_LISTED]:
            try:
                s = e.stat(follow_symlinks=False)
            except OSError:
                continue
            kind = (
                "dir" if stat.S_ISDIR(s.st_mode) else "link" if stat.S_ISLNK(s.st_mode) else "file"
            )
            stored = jail.virtual([*segs, e.name])
            listed.append(
                {
                    "name": e.name,
                    "path": stored,
                    "type": kind,
                    "size": s.st_size if kind == "file" else None,
                    "mtime": s.st_mtime,
                    "uploaded_by": uploads.get((root.name, stored)),
                }
            )
        return {
            "root": root.name,
            "path": jail.virtual(segs),
            "entries": listed,
            "truncated": len(entries) > MAX_LISTED,
        }

    def download(self, call: Call) -> RawBody:
        _, box, segs = self._where(call)
        real = self._real(box, segs)
        if os.path.isdir(real):
            raise ApiError(409, f"{jail.virtual(segs)} is a folder")
        try:
            f = open(real, "rb")  # streamed and closed by the control plane
        except FileNotFoundError:
            raise ApiError(404, f"no file {jail.virtual(segs)}") from None
        kind = mimetypes.guess_type(segs[-1])[0] or "application/octet-stream"
        return RawBody(f, kind, segs[-1])

    def upload(self, call: Call) -> dict[str, Any]:
        root, box, segs = self._where(call)
        if len(call.body) > MAX_SEED:
            raise ApiError(413, f"a seeded file may be at most {MAX_SEED} bytes")
        folder = self._real(box, segs[:-1]) if len(segs) > 1 else box.root
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise ApiError(409, f"{jail.virtual(segs[:-1])} is a file, not a folder")
        try:
            for i in range(1, len(segs)):  # make the folders one at a time, each checked
                part = self._real(box, segs[:i])
                if os.path.exists(part) and not os.path.isdir(part):
                    raise ApiError(409, f"{jail.virtual(segs[:i])} is a file, not a folder")
                if not os.path.isdir(part):
                    os.mkdir(part)
            real = self._real(box, segs)
            if os.path.isdir(real):
                raise ApiError(409, f"{jail.virtual(segs)} is a folder")
            temp = os.path.join(os.path.dirname(real), f"{_HIDDEN_PREFIX}api-{os.getpid()}")
            try:
                with open(temp, "wb") as f:
                    f.write(call.body)
                os.replace(temp, real)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as e:
            raise ApiError(409, f"{jail.virtual(segs)}: cannot store: {e.strerror}") from None
        path = jail.virtual(segs)
        if self.observatory.enabled:
            emit(
                self.observatory,
                self.service,
                "file.uploaded",
                None,
                protocol="api",
                user=None,
                root=root.name,
                path=path,
                size=len(call.body),
            )
        return {"root": root.name, "path": path, "size": len(call.body)}

    def delete(self, call: Call) -> dict[str, Any]:
        root, box, segs = self._where(call)
        real = os.path.join(self._real(box, segs[:-1]), segs[-1])  # the link, not its target
        if os.path.isdir(real) and not os.path.islink(real):
            raise ApiError(409, f"{jail.virtual(segs)} is a folder (only files are deleted)")
        try:
            os.remove(real)
        except FileNotFoundError:
            raise ApiError(404, f"no file {jail.virtual(segs)}") from None
        path = jail.virtual(segs)
        if self.observatory.enabled:
            emit(
                self.observatory,
                self.service,
                "file.deleted",
                None,
                protocol="api",
                user=None,
                root=root.name,
                path=path,
            )
        return {"root": root.name, "deleted": path}

    # -- reset ---------------------------------------------------------------------------

    def _resettable(self, root: Root) -> bool:
        return root.owned or self.reset_any_root

    def reset(self) -> None:
        """Empty every root zoo owns (or every root with C{--reset-root}); the roots stay."""
        for root in self.roots().values():
            if not self._resettable(root):
                log.warn(
                    "{service}: reset leaves the files under {path} alone: that folder was "
                    "given on the command line (start with --reset-root to let a reset "
                    "delete them)",
                    service=self.service,
                    path=root.path,
                )
                continue
            _empty(root.path, root.keep)


def _empty(folder: Path, keep: frozenset[str]) -> None:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for e in entries:
        if e.name in keep:
            continue
        if e.is_dir(follow_symlinks=False):
            shutil.rmtree(e.path, ignore_errors=True)
        else:
            try:
                os.remove(e.path)
            except FileNotFoundError:
                pass


def register(
    service: str,
    roots: list[Root] | Callable[[], list[Root]],
    observatory: Any = None,
    reset_any_root: bool = False,
) -> FilesInspector:
    """Register a files inspector as C{service} on C{observatory} (the hub by default)."""
    from zoo.inspect import register as register_inspector

    inspector = FilesInspector(service, roots, observatory, reset_any_root)
    register_inspector(inspector.observatory, service, inspector)
    return inspector


__all__ = ["FilesInspector", "Root", "emit", "register"]
