"""The control plane's token: generated once, kept 0600 in the state directory, reused."""

from __future__ import annotations

import secrets
from pathlib import Path

from zoo.state import ensure_private_dir, write_private

#: The token file's name in the state directory.
TOKEN_FILE = "admin-token"


def load_or_create(state_dir: Path) -> tuple[str, Path]:
    """The token kept in C{state_dir} (created with mode 0600 if absent), and its path.

    A token file readable by others is made private again; an empty one is replaced.
    """
    path = ensure_private_dir(state_dir) / TOKEN_FILE
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        token = ""
    if token:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return token, path
    token = secrets.token_urlsafe(24)
    write_private(path, (token + "\n").encode("ascii"))
    return token, path
