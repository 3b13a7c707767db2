"""The state directory: where the zoo keeps generated keys, certificates and stored data.

Resolution order: an explicit path (``--state-dir``), then ``$ZOO_STATE_DIR``, then the
user's data directory (``~/.local/share/zoo`` on Linux). The directory is created with
mode 0700, and files holding secrets are written with mode 0600, atomically.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ENV_VAR = "ZOO_STATE_DIR"


def default_state_dir() -> Path:
    """Return the state directory used when none is given on the command line."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("zoo", appauthor=False))


def ensure_private_dir(path: Path | str) -> Path:
    """Create C{path} (and parents) if needed and make it private (0700).

    @raise OSError: if the directory cannot be created or its mode set.
    """
    path = Path(path).expanduser()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def write_private(path: Path | str, data: bytes, mode: int = 0o600, sync: bool = True) -> None:
    """Write C{data} to C{path} atomically, never visible with wider permissions than C{mode}.

    @param sync: C{fsync} the data before the rename (C{False}: atomic for other
        processes and across a process crash, not across an operating system crash).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_public(path: Path | str, data: bytes) -> None:
    """Write C{data} to C{path} atomically with mode 0644 (for certificates, ready files)."""
    write_private(path, data, mode=0o644)
