"""A zoo of your own for a test suite or a script: C{zoo.run("smtp", "ftp")}.

L{run} starts C{twistd -n zoo} in a subprocess with the services named, every
listener on a free port (port 0), a private temporary state directory and the
control plane on, and gives one L{Service} handle per service: where it listens,
how to log in, the CA that signed its certificate, and what happened in it::

    import smtplib
    import zoo

    with zoo.run("smtp", "ftp") as z:
        with smtplib.SMTP(z.smtp.host, z.smtp.port) as s:
            s.sendmail("shop@example.com", ["alice@example.com"], "Subject: hi\\r\\n\\r\\nhello")
        message = z.smtp.wait_for_message(to="alice@example.com", timeout=5)
        assert message["subject"] == "hi"
        z.smtp.reset()

Only the standard library is imported here (and the zoo's own light modules): your
process runs no reactor. The pytest plugin (L{zoo.pytest_plugin}) is built on this.

Choices made for tests (the runner's defaults are for people):

- every service listens on 127.0.0.1 port 0 (C{time} and C{exercises} on several);
- zoo-smtp runs with C{--no-fsync} (a test never needs a message to survive a power cut);
- C{pop3} and C{imap} bring C{smtp}, whose inspector seeds and lists the mail they read;
- zoo-ftp gets one user, C{zoo}, with the zoo's generated password and a writable
  home (the runner's FTP is anonymous and read-only), unless you give C{--user} or
  C{--users-file};
- C{tls} (the stunnel-like wrapper) forwards to an echo service of its own, unless
  you give C{--connect}.
"""

from __future__ import annotations

import secrets
import shlex
import shutil
import socket
import string
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from zoo.client import Client, Event, Fault
from zoo.process import TwistdError, TwistdProcess
from zoo.state import ensure_private_dir, write_private

__all__ = ["Service", "Zoo", "ZooStartError", "run"]

#: The generated login's user name (as L{zoo.cred.DEFAULT_USER}).
USER = "zoo"
#: The generated password's file in the state directory (as L{zoo.cred}).
PASSWORD_FILE = "generated-password"
#: Options every instance of a service gets, before the caller's.
#: (A test's FTP clients are not killed mid-upload: a short grace, see zoo-ftp's
#: --upload-grace.)
DEFAULTS: dict[str, list[str]] = {"smtp": ["--no-fsync"], "ftp": ["--upload-grace", "0.002"]}
#: Options that put the service's other listeners on port 0 too.
_ZERO_PORTS: dict[str, list[str]] = {"time": ["--rfc868-port", "0", "--daytime-port", "0"]}
#: Services that need another to be useful, started with them.
_BRINGS: dict[str, tuple[str, ...]] = {"pop3": ("smtp",), "imap": ("smtp",)}
#: Services whose stored data another's reset clears (the Maildirs are smtp's).
_RESETS: dict[str, tuple[str, ...]] = {"pop3": ("pop3", "smtp"), "imap": ("imap", "smtp")}
#: URL schemes: plain, and with --tls.
_SCHEMES: dict[str, tuple[str, str]] = {
    "smtp": ("smtp", "smtps"),
    "pop3": ("pop3", "pop3s"),
    "imap": ("imap", "imaps"),
    "ftp": ("ftp", "ftps"),
    "ssh": ("sftp", "sftp"),
    "pubsub": ("redis", "rediss"),
    "xmlrpc": ("http", "https"),
    "tls": ("tls", "tls"),
    "dns": ("dns", "dns"),
    "http": ("http", "https"),
    "telnet": ("telnet", "telnets"),
}
#: Services with logins (the others have no user or password).
_LOGINS = frozenset({"smtp", "pop3", "imap", "ftp", "ssh", "telnet"})
#: Services storing files, and the root their files are listed from.
_FILES = frozenset({"ftp", "ssh"})
#: The mail services (their messages are zoo-smtp's inspector's).
_MAIL = frozenset({"smtp", "pop3", "imap"})
#: Tries to start a zoo whose tls backend port was taken meanwhile.
_TRIES = 3


class ZooStartError(RuntimeError):
    """The zoo did not start: the message carries its log."""


def _words(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _has(args: Sequence[str], *flags: str) -> bool:
    return any(a == f or a.startswith(f + "=") for a in args for f in flags)


def _free_port() -> int:
    """A port nobody listens on now (for the tls wrapper's backend; see L{Zoo.start})."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _given_user(args: Sequence[str]) -> tuple[str, str] | None:
    """The first C{--user NAME:PASSWORD} in C{args} (not a bcrypt hash), if any."""
    for i, arg in enumerate(args):
        spec = None
        if arg == "--user" and i + 1 < len(args):
            spec = args[i + 1]
        elif arg.startswith("--user="):
            spec = arg.partition("=")[2]
        if spec and ":" in spec:
            name, _, rest = spec.partition(":")
            if not rest.startswith("$2"):
                return name, rest.split(":", 1)[0]
    return None


class Service:
    """One service of a running L{Zoo}: where it listens, its login, and what happened in it.

    @ivar name: the service (C{smtp}, C{ssh}, ...).
    @ivar host: the address it listens on (C{127.0.0.1}).
    @ivar port: its first TCP listener's port (or first listener's, for UDP-only).
    @ivar url: C{smtp://127.0.0.1:PORT} (C{smtps}, C{ftps}, ... under C{--tls}).
    @ivar tls: whether its listener speaks TLS from the first byte.
    @ivar user: the user name to log in with, or C{None} for a service without logins.
        For mail any address logs in with the password, too.
    @ivar password: that user's password, or C{None}.
    @ivar ca_file: the PEM file of the CA that signed the zoo's certificate (trust it
        for STARTTLS, FTPS, C{--tls}), or C{None} if no service made one.
    @ivar listeners: every listener of the service, as in the ready file.
    @ivar api: the L{Client} of the zoo's control plane.
    """

    def __init__(
        self,
        zoo: Zoo,
        name: str,
        listeners: list[dict[str, Any]],
        login: tuple[str, str] | None,
    ) -> None:
        self.zoo = zoo
        self.name = name
        self.listeners = listeners
        self.api: Client = zoo.api
        first = next((e for e in listeners if e["type"] == "TCP"), listeners[0])
        self.host: str = first["host"]
        self.port: int = int(first["port"])
        self.tls: bool = bool(first.get("tls"))
        plain, secure = _SCHEMES.get(name, ("tcp", "tls"))
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{secure if self.tls else plain}://{host}:{self.port}"
        self.user: str | None = login[0] if login else None
        self.password: str | None = login[1] if login else None
        self.resets = _RESETS.get(name, (name,))
        self._faults: list[Fault] = []

    def __repr__(self) -> str:
        return f"<zoo {self.name} at {self.url}>"

    @property
    def ca_file(self) -> str | None:
        path = self.zoo.state_dir / "tls" / "ca.pem"
        return str(path) if path.exists() else None

    def ports(self, type: str = "TCP") -> list[int]:
        """Every port of the service's listeners of this type (C{TCP}, C{UDP})."""
        return [int(e["port"]) for e in self.listeners if e["type"] == type]

    def _needs(self, kinds: frozenset[str], what: str) -> None:
        if self.name not in kinds:
            names = ", ".join(sorted(kinds))
            raise TypeError(f"zoo {self.name} has no {what} (only {names} do)")

    # -- every service ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget this service's events and stored data (a POP3/IMAP reset empties the mail too)."""
        for name in self.resets:
            self.api.reset(name)

    def fault(self, spec: str) -> Fault:
        """Put a fault in force on this service (C{"smtp:RCPT=451 first=2"}, docs/faults.rst).

        The pytest fixtures delete it when the test ends; use it as a context manager
        (or call C{delete()}) to end it sooner. Its C{fired} and C{seen} read the counters.
        """
        made = self.api.add_fault(spec, self.name)
        self._faults.append(made)
        return made

    def clear_faults(self) -> None:
        """Delete the faults put in force through this handle (the fixtures do it after a test)."""
        made, self._faults = self._faults, []
        for f in made:
            f.delete()

    def events(self, kind: str | None = None, *, after: int = 0, **match: Any) -> list[Event]:
        """This service's kept events, oldest first; C{match} names field values."""
        return self.api.events(self.name, kind, match=match, after=after)

    def wait_for(
        self,
        kind: str,
        *,
        timeout: float = 10.0,
        after: int = 0,
        match: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Event:
        """The first event of this service of C{kind} with these field values.

        @raise zoo.client.ZooTimeout: none in C{timeout} seconds (the message says what came).
        """
        __tracebackhide__ = True
        wanted = {**(match or {}), **fields}
        return self.api.wait_for(self.name, kind, match=wanted, after=after, timeout=timeout)

    def sessions(self) -> list[dict[str, Any]]:
        """The sessions this service has seen since its last reset."""
        return self.api.sessions(self.name)

    def transcript(self, session: str | None = None) -> str:
        """The dialogue of one session, or of every session since the last reset, as text."""
        if session is not None:
            return self.api.transcript_text(session)
        return "\n".join(self.api.transcript_text(s["id"]) for s in self.sessions())

    # -- mail -------------------------------------------------------------------------------

    def messages(self, mailbox: str | None = None, q: str | None = None) -> list[dict[str, Any]]:
        """Stored messages, newest first (of one mailbox, or matching text C{q})."""
        self._needs(_MAIL, "messages")
        return self.api.messages(mailbox, q, limit=1000)

    def message(self, message_id: str) -> dict[str, Any]:
        """One message in full: headers, C{text}, C{html}, C{attachments}."""
        self._needs(_MAIL, "messages")
        return self.api.message(message_id)

    def wait_for_message(
        self,
        to: str | None = None,
        subject: str | None = None,
        *,
        sender: str | None = None,
        timeout: float = 10.0,
        after: int = 0,
    ) -> dict[str, Any]:
        """The first message stored for C{to} (with this C{subject}, C{sender}), in full.

        Returns as soon as zoo-smtp has stored it (or at once if it already has); the
        answer is L{message}'s, plus C{"event"}: the C{mail.stored} L{Event}.

        @raise zoo.client.ZooTimeout: none in C{timeout} seconds; the message lists
            the mail that did arrive.
        """
        __tracebackhide__ = True
        self._needs(_MAIL, "messages")
        match = {"to": to, "subject": subject, "from": sender}
        wanted = {k: v for k, v in match.items() if v is not None}
        event = self.api.wait_for("smtp", "mail.stored", match=wanted, after=after, timeout=timeout)
        ids: list[str] = event.fields.get("ids") or []
        chosen = ids[0] if ids else None
        if to is not None:
            for ident, mailbox in zip(ids, event.fields.get("mailboxes") or [], strict=False):
                if mailbox.lower() == to.lower():
                    chosen = ident
        found = self.api.message(chosen) if chosen else {}
        return {**found, "event": event}

    def seed_message(
        self,
        to: str | Iterable[str],
        subject: str = "",
        text: str = "",
        *,
        sender: str = "zoo@localhost",
        html: str | None = None,
    ) -> list[str]:
        """Store a message as if it came over SMTP (for POP3 or IMAP to read); return its ids."""
        self._needs(_MAIL, "messages")
        return self.api.seed_message(to, subject, text, sender=sender, html=html)

    # -- files ------------------------------------------------------------------------------

    def _where(self, path: str) -> tuple[str | None, str]:
        """The inspector's root and path of C{path} as this service's user sees it."""
        path = "/" + path.lstrip("/")
        if self.name == "ssh" and self.user:
            return "home", f"/{self.user}{path if path != '/' else ''}"
        if self.name == "ftp" and self.user:
            return self.user, path
        return None, path

    def files(self, path: str = "/") -> list[dict[str, Any]]:
        """The entries of a folder as the service's user sees it (C{/} is their home)."""
        self._needs(_FILES, "files")
        root, where = self._where(path)
        return self.api.files(self.name, where, root)

    def read_file(self, path: str) -> bytes:
        """A file's bytes, C{path} as the service's user sees it."""
        self._needs(_FILES, "files")
        root, where = self._where(path)
        return self.api.read_file(self.name, where, root)

    def put_file(self, path: str, data: bytes) -> None:
        """Put a file where the service's user will find it (folders made as needed)."""
        self._needs(_FILES, "files")
        root, where = self._where(path)
        self.api.put_file(self.name, where, data, root)

    def wait_for_upload(self, path: str, *, timeout: float = 10.0, after: int = 0) -> Event:
        """The C{file.uploaded} event of C{path} (as the client named it), once complete.

        @raise zoo.client.ZooTimeout: no upload of C{path} in C{timeout} seconds; the
            message lists the uploads that did arrive.
        """
        __tracebackhide__ = True
        self._needs(_FILES, "files")
        wanted = {"path": "/" + path.lstrip("/")}
        return self.api.wait_for(
            self.name, "file.uploaded", match=wanted, after=after, timeout=timeout
        )

    # -- pub-sub ----------------------------------------------------------------------------

    def published(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages published (to C{channel}), oldest first: C{channel}, C{payload}, C{size}, ..."""
        self._needs(frozenset({"pubsub"}), "published messages")
        return self.api.published(channel)

    def wait_for_publish(
        self, channel: str, *, payload: str | None = None, timeout: float = 10.0, after: int = 0
    ) -> Event:
        """The first message published to C{channel} (with this C{payload})."""
        __tracebackhide__ = True
        self._needs(frozenset({"pubsub"}), "published messages")
        match = {"channel": channel, "payload": payload}
        wanted = {k: v for k, v in match.items() if v is not None}
        return self.api.wait_for(
            "pubsub", "pubsub.published", match=wanted, after=after, timeout=timeout
        )

    def publish(self, channel: str, message: str) -> int:
        """Publish as a client would; return how many subscribers got it."""
        self._needs(frozenset({"pubsub"}), "published messages")
        return self.api.publish(channel, message)

    # -- RPC --------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """RPC calls answered (of C{method}), oldest first: C{method}, C{params}, C{result} or C{fault}."""
        self._needs(frozenset({"xmlrpc"}), "calls")
        return self.api.calls(method)

    def wait_for_call(self, method: str, *, timeout: float = 10.0, after: int = 0) -> Event:
        """The first answered call of C{method}."""
        __tracebackhide__ = True
        self._needs(frozenset({"xmlrpc"}), "calls")
        return self.api.wait_for(
            "xmlrpc", "rpc.called", match={"method": method}, after=after, timeout=timeout
        )


@dataclass
class _Spec:
    name: str
    args: list[str]


class Zoo:
    """C{twistd -n zoo} in a subprocess, with handles on its services.

    Prefer L{run}. Use as a context manager, or call L{start} and L{stop}.

    @param services: the services to run (names as in C{twistd zoo --list}).
    @param options: per service, its plugin options (a string, split like a shell
        would, or a list): C{{"smtp": "--require-auth"}}.
    @param tls: services to serve over TLS from the first byte (C{--tls}).
    @param workdir: a folder for the state directory and the log; a temporary one
        (removed at L{stop}) if C{None}.
    @param timeout: seconds to wait for the zoo to listen.
    """

    def __init__(
        self,
        services: Iterable[str],
        options: Mapping[str, str | Sequence[str]] | None = None,
        *,
        tls: Iterable[str] = (),
        workdir: str | Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        options = dict(options or {})
        wanted = list(dict.fromkeys(services))
        if not wanted:
            raise ValueError("name at least one service, as in zoo.run('smtp')")
        for name in list(wanted):
            wanted += [b for b in _BRINGS.get(name, ()) if b not in wanted]
        self.tls_services = set(tls)
        for what, names in (("options", set(options)), ("tls", self.tls_services)):
            unknown = sorted(names - set(wanted))
            if unknown:
                raise ValueError(f"{what} for services not started: {', '.join(unknown)}")
        self.services = wanted
        self.options = {name: _words(options.get(name)) for name in wanted}
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else None
        self.timeout = timeout
        self.process: TwistdProcess | None = None
        self.api: Client
        self.startup_seconds = 0.0
        self._handles: dict[str, Service] = {}
        self._backend: int | None = None

    # -- life -------------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        assert self.workdir is not None, "the zoo has not started"
        return self.workdir / "state"

    @property
    def log(self) -> str:
        """Everything the zoo has logged so far."""
        return self.process.output if self.process else ""

    @property
    def log_path(self) -> Path | None:
        return self.process.log_path if self.process else None

    def _password(self) -> str:
        """The generated password the zoo's services share (made here, kept 0600, reused)."""
        path = ensure_private_dir(self.state_dir) / PASSWORD_FILE
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            text = ""
        password = text.partition(":")[2] if ":" in text else text
        if not password:
            alphabet = string.ascii_letters + string.digits
            password = "".join(secrets.choice(alphabet) for _ in range(16))
            write_private(path, f"{USER}:{password}\n".encode())
        return password

    def _specs(self, password: str) -> list[_Spec]:
        specs = []
        for name in self.services:
            given = self.options[name]
            args = list(DEFAULTS.get(name, []))
            if not _has(given, "--port", "--listen"):
                args += ["--port", "0", *_ZERO_PORTS.get(name, [])]
            if name in self.tls_services and not _has(given, "--tls"):
                args.append("--tls")
            if name == "ftp" and not _has(given, "--user", "--users-file"):
                # (not ftp-users: zoo-ftp keeps its users' homes there)
                users = ensure_private_dir(self.state_dir) / "ftp-users-file"
                write_private(users, f"{USER}:{password}\n".encode())
                args += ["--users-file", str(users)]
            if name == "tls" and not _has(given, "--connect"):
                assert self._backend is not None
                args += ["--connect", str(self._backend)]
            specs.append(_Spec(name, args + given))
        if self._backend is not None:
            specs.append(_Spec("echo", ["--port", str(self._backend)]))
        return specs

    def start(self) -> Zoo:
        """Start the zoo and wait until every service listens.

        @raise ZooStartError: it exited or was not ready in time (with its log).
        """
        began = time.monotonic()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="zoo-"))
        ensure_private_dir(self.state_dir)
        password = self._password()
        needs_backend = "tls" in self.services and not _has(self.options["tls"], "--connect")
        for attempt in range(1, _TRIES + 1):
            self._backend = _free_port() if needs_backend else None
            args = ["zoo", "--admin", "tcp:0"]
            for spec in self._specs(password):
                args += ["--with", shlex.join([spec.name, *spec.args])]
            process = TwistdProcess(args, self.workdir, timeout=self.timeout)
            try:
                process.start()
            except TwistdError as e:
                taken = "Address already in use" in str(e) or "address in use" in str(e)
                if needs_backend and taken and attempt < _TRIES:
                    continue  # the backend's port was taken meanwhile: pick another
                raise ZooStartError(str(e)) from None
            break
        self.process = process
        url, token = process.admin()
        self.api = Client(url, token)
        self._handles = {}
        for name in self.services:
            listeners = [
                e
                for e in process.listeners
                if e["service"] == name and not (name == "echo" and e["port"] == self._backend)
            ]
            login = None
            if name in _LOGINS:
                login = _given_user(self.options[name]) or (USER, password)
            self._handles[name] = Service(self, name, listeners, login)
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the zoo (and remove its temporary folder, if it made one)."""
        if self.process is not None:
            self.api.close()
            self.process.stop()
        if self._own_dir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Zoo:
        return self if self.process is not None else self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- services ---------------------------------------------------------------------------

    def service(self, name: str) -> Service:
        """The handle of service C{name}.

        @raise KeyError: the zoo does not run it (the message says what it runs).
        """
        try:
            return self._handles[name]
        except KeyError:
            running = ", ".join(self._handles) or "nothing (not started)"
            raise KeyError(f"this zoo does not run {name!r}; it runs {running}") from None

    __getitem__ = service

    def __getattr__(self, name: str) -> Service:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.service(name)
        except KeyError as e:
            raise AttributeError(str(e.args[0])) from None

    def reset(self, *names: str) -> None:
        """Reset these services (their stored data and events), or the whole zoo."""
        if not names:
            self.api.reset()
        for name in names:
            self.service(name).reset()


def run(
    *services: str,
    tls: Iterable[str] = (),
    workdir: str | Path | None = None,
    timeout: float = 30.0,
    **options: str | Sequence[str],
) -> Zoo:
    """Start a zoo with these services; use the answer as a context manager.

    ::

        with zoo.run("smtp", "ftp", smtp="--require-auth") as z:
            z.smtp.port, z.ftp.user, z.ftp.password

    @param services: service names (C{smtp}, C{pop3}, C{imap}, C{ftp}, C{ssh},
        C{pubsub}, C{xmlrpc}, C{tls}, C{lancelot}, C{echo}, C{blocks}, C{time},
        C{exercises}, C{dns}, C{http}, C{telnet}, C{memcached}).
    @param tls: services to serve over TLS from the first byte.
    @param workdir: where the state directory and the log go (a temporary folder,
        removed at the end, if C{None}).
    @param timeout: seconds to wait for the zoo to listen.
    @param options: per service, its plugin options: C{smtp="--require-auth"}.
    @raise ZooStartError: the zoo did not start (the message carries its log).
    """
    return Zoo(services, options, tls=tls, workdir=workdir, timeout=timeout).start()
