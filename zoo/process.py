"""Run C{twistd -n zoo-NAME ...} (or the runner) in a subprocess, without importing Twisted.

- L{TwistdProcess}: start twistd with a C{--ready-file}, wait until it is listening,
  read the addresses it bound, stop it.
- L{run_twistd}: run twistd to completion (C{--help}, bad options).

Only the standard library is imported here, so a test suite that is not a Twisted
program (L{zoo.launch}, the pytest plugin) can start a zoo without loading Twisted.
L{zoo.testing} re-exports these names.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


class TwistdError(RuntimeError):
    """The twistd process exited before it was listening."""


class TwistdProcess:
    """A C{twistd -n} subprocess that writes a ready file.

    Use as a context manager::

        with TwistdProcess(["zoo-lancelot", "--port", "0"], tmp_path) as zoo:
            port = zoo.port()

    @param args: the plugin name and its options (C{--ready-file} is added; for the
        runner, C{--admin tcp:0} too unless C{args} name C{--admin}, so tests running
        at once never fight over the control plane's default port).
    @param workdir: a private folder for the ready file, log and state directory.
    """

    def __init__(
        self,
        args: Sequence[str],
        workdir: Path | str,
        *,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ready_file = self.workdir / f"ready-{os.getpid()}-{id(self)}.json"
        self.log_path = self.workdir / f"twistd-{id(self)}.log"
        if list(args[:1]) == ["zoo"] and not any(a.startswith("--admin") for a in args):
            args = [*args, "--admin", "tcp:0"]
        self.args = [
            *TWISTD,
            "-n",
            "--pidfile=",
            *args[:1],
            "--ready-file",
            str(self.ready_file),
            *args[1:],
        ]
        self.env = {**os.environ, "ZOO_STATE_DIR": str(self.workdir / "state"), **(env or {})}
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.listeners: list[dict[str, Any]] = []

    def start(self) -> TwistdProcess:
        """Start twistd and wait until it has written its ready file.

        @raise TwistdError: twistd exited first, or was not ready in time (the
            message carries its log).
        """
        # The name embeds id(self), which Python reuses once an earlier object is
        # gone: a stale file from an earlier process must not count as "ready".
        self.ready_file.unlink(missing_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                self.listeners = json.loads(self.ready_file.read_text())["listeners"]
                return self
            if self.proc.poll() is not None:
                raise TwistdError(
                    f"twistd exited with {self.proc.returncode} before listening:\n{self.output}"
                )
            time.sleep(0.005)  # start-up is ~0.5 s: a coarse poll would add to every suite
        self.stop()
        raise TwistdError(f"twistd not ready after {self.timeout}s:\n{self.output}")

    @property
    def output(self) -> str:
        """Everything twistd has logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def port(self, service: str | None = None, type: str = "TCP", index: int = 0) -> int:
        """The port of the C{index}th listener of C{service} (any service if C{None})."""
        found = [
            entry
            for entry in self.listeners
            if entry["type"] == type and (service is None or entry["service"] == service)
        ]
        if len(found) <= index:
            raise LookupError(f"no {type} listener #{index} for {service}: {self.listeners}")
        return int(found[index]["port"])

    def admin(self) -> tuple[str, str]:
        """The control plane's base URL (C{http://127.0.0.1:PORT}) and its token."""
        token_file = Path(self.env["ZOO_STATE_DIR"]) / "admin-token"
        return f"http://127.0.0.1:{self.port('admin')}", token_file.read_text().strip()

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop twistd with SIGTERM (SIGKILL after C{timeout}); return its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> TwistdProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_twistd(
    args: Sequence[str], timeout: float = 30.0, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run twistd to completion (for C{--help} and bad-option checks)."""
    return subprocess.run(
        [*TWISTD, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kw,
    )
