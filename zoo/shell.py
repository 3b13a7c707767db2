"""Processes for logged-in users: one home for how zoo-ssh and zoo-telnet run them.

A user's command or shell is a real process, run as the zoo's own OS user in the
user's home folder (the same folder for SSH and telnet): C{/bin/sh -c CMD} for a
command, C{/bin/sh -i} on a terminal for a shell. This module holds what both
servers need:

- L{login_environ}: the environment (C{PATH}, C{HOME}, C{USER}, C{TERM}, ...);
- L{open_pty} and L{spawn}: a pseudo-terminal and the process on it (or on pipes);
- L{resize}: tell the terminal its window size (SSH C{window-change}, telnet NAWS);
- L{hang_up}: end the process when its connection goes (C{SIGHUP}, as a terminal's
  hang-up does).

These processes are not sandboxed: whoever logs in can do what the zoo's OS user
can. That is why zoo-ssh's exec and shell can be turned off, and zoo-telnet is off
unless asked for.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
from pathlib import Path
from typing import Any

from twisted.internet.error import ProcessExitedAlready

SHELL = "/bin/sh"
PATH = "/usr/local/bin:/usr/bin:/bin"


def home_of(base: Path | str, name: str) -> Path:
    """User C{name}'s home folder, C{base/NAME} (created 0700 on first login)."""
    home = Path(base) / name
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def login_environ(
    name: str, home: Path | str, term: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a user's process.

    @param term: C{$TERM}, for a process on a terminal (C{None}: no C{TERM}).
    @param extra: more variables (C{SSH_CLIENT}, C{PS1}, ...).
    """
    env = {
        "PATH": PATH,
        "HOME": str(home),
        "USER": name,
        "LOGNAME": name,
        "SHELL": SHELL,
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    if term is not None:
        env["TERM"] = term
    env.update(extra)
    return env


def open_pty() -> tuple[int, int, str]:
    """A new pseudo-terminal: C{(master fd, slave fd, slave's path)}."""
    import pty

    master, slave = pty.openpty()
    return master, slave, os.ttyname(slave)


def spawn(
    reactor: Any,
    proto: Any,
    argv: list[str],
    env: dict[str, str],
    home: Path | str,
    pty: tuple[int, int, str] | bool = False,
) -> Any:
    """Run C{argv} (its program is L{SHELL}) for C{proto}, on C{pty} if given.

    @param pty: from L{open_pty}, C{True} for a new one, or C{False} for pipes.
    @return: the process transport.
    """
    return reactor.spawnProcess(proto, SHELL, argv, env, str(home), usePTY=pty)


def resize(process: Any, rows: int, cols: int, xpixel: int = 0, ypixel: int = 0) -> None:
    """Tell the terminal of C{process} its window size (the shell gets C{SIGWINCH})."""
    fcntl.ioctl(
        process.fileno(),
        termios.TIOCSWINSZ,
        struct.pack("4H", rows, cols, xpixel, ypixel),
    )


def hang_up(process: Any) -> None:
    """The connection is gone: C{SIGHUP} the process and close its pipes or terminal."""
    try:
        process.signalProcess("HUP")
    except (OSError, ProcessExitedAlready):
        pass
    process.loseConnection()


def close_pty(pty: tuple[int, int, str]) -> None:
    """Close a terminal from L{open_pty} that no process took."""
    for fd in pty[:2]:
        try:
            os.close(fd)
        except OSError:
            pass


__all__ = [
    "PATH",
    "SHELL",
    "close_pty",
    "hang_up",
    "home_of",
    "login_environ",
    "open_pty",
    "resize",
    "spawn",
]
