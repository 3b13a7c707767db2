"""The login and the shell of zoo-telnet: one L{TelnetServer} per connection.

- L{LineEditor}: the login and password lines (erase keys, a length cap, echo);
- L{HomeRealm}: a login's home folder, zoo-ssh's;
- L{TelnetServer}: negotiation, the login through L{zoo.cred}, the shell through
  L{zoo.shell}, and the events;
- L{TelnetFactory}: the settings every connection shares, and how a shell starts.
"""

from __future__ import annotations

import termios
from pathlib import Path
from typing import Any

from twisted.conch.telnet import AYT, BRK, ECHO, IP, NAWS, SGA, TelnetProtocol
from twisted.cred import credentials
from twisted.cred.portal import IRealm, Portal
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from zoo.cred import DEFAULT_MAX_LOGIN_ATTEMPTS, Logins, PasswordChecker, shared_throttle
from zoo.events import bounded_text, hub, session_of
from zoo.flow import GateReason, ReadGate
from zoo.policies import command_deadline_off, command_done, where
from zoo.shell import SHELL, hang_up, home_of, login_environ, open_pty, resize, spawn
from zoo.telnet.options import TTYPE, TTYPE_SEND, ZooTelnetTransport, terminal_type, window_size

log = Logger()

BANNER = b"zoo-telnet. Telnet is cleartext: do not type a password you use anywhere else.\r\n"
LOGIN_PROMPT = b"login: "
PASSWORD_PROMPT = b"Password: "
LOGIN_INCORRECT = b"\r\nLogin incorrect\r\n"
#: Written once the login succeeded, before the shell's first prompt.
WELCOME = b"zoo-telnet: logged in as %s.\r\n"
LINE_TOO_LONG = b"\r\nLine too long.\r\n"
TOO_MANY = b"\r\nToo many failed logins.\r\n"
TOO_MANY_OPTIONS = b"\r\nToo many telnet option requests.\r\n"
#: The shell's prompt, whoever the zoo runs as (dash prompts C{# } for root).
PS1 = "$ "
#: The terminal type when the client gives none.
DEFAULT_TERM = "dumb"

#: Longest login name or password line.
MAX_LINE = 512
#: Longest shell line reported in a C{telnet.command} event.
MAX_COMMAND = 256
#: Read-gate reasons.
LOGIN_PENDING = "login pending"
SHELL_INPUT = "shell not reading"
CONNECTION_BACKED_UP = "connection backed up"


class LineEditor:
    """The login and password lines: erase and kill keys, a length cap, what to echo.

    L{feed} takes bytes up to the end of the first line in them. BS and DEL erase a
    character, ^U the line; other control bytes are ignored, but ^D on an empty
    line, which ends the login.
    """

    #: L{feed}'s line when ^D ended the login.
    END = b"\x04"

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self.buffer = bytearray()
        #: The line passed L{max_line}.
        self.overflow = False

    def feed(self, data: bytes, echo: bool = False) -> tuple[bytes | None, bytes, bytes]:
        """Take C{data} up to its first line end.

        @param echo: whether to return what the client typed, to echo it.
        @return: (the finished line, L{END}, or C{None}; the bytes to echo; the
            bytes after the line, not taken yet).
        """
        out = bytearray()
        for i, b in enumerate(data):
            if b in (10, 13):
                line = bytes(self.buffer)
                self.buffer.clear()
                out += b"\r\n"
                return line, bytes(out) if echo else b"", data[i + 1 :]
            if b in (8, 127):
                if self.buffer:
                    del self.buffer[-1]
                    out += b"\b \b"
            elif b == 21:  # ^U
                out += b"\b \b" * len(self.buffer)
                self.buffer.clear()
            elif b == 4:  # ^D
                if not self.buffer:
                    return self.END, bytes(out) if echo else b"", data[i + 1 :]
            elif b >= 32:
                if len(self.buffer) >= self.max_line:
                    self.overflow = True
                    return None, bytes(out) if echo else b"", b""
                self.buffer.append(b)
                out.append(b)
        return None, bytes(out) if echo else b"", b""


# -- logins --------------------------------------------------------------------------


class IShellUser(Interface):
    """What a telnet login gets from the portal: the user's home folder (a C{Path})."""


@implementer(IRealm)
class HomeRealm:
    """Each user's home is C{base/NAME}, the same folder zoo-ssh gives them."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)

    def requestAvatar(self, avatarId: Any, mind: Any, *interfaces: Any) -> Any:
        if IShellUser not in interfaces:
            raise NotImplementedError("only shell users")
        name = avatarId.decode("utf-8") if isinstance(avatarId, bytes) else avatarId
        return IShellUser, (name, home_of(self.base, name)), lambda: None


def _quiet(failure: Failure) -> None:
    """An option request refused, or the connection gone first: nothing to do."""


class _Shell(ProcessProtocol):
    """The shell on the terminal: its output goes to the client; its end ends the session."""

    def __init__(self, server: TelnetServer) -> None:
        self.server = server

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.server.shell_output(data)

    def processEnded(self, reason: Failure) -> None:
        self.server.shell_ended(reason)


class TelnetServer(TelnetProtocol):
    """One telnet connection: option negotiation, the login, then the shell.

    @ivar state: C{login}, C{password}, C{checking}, C{shell} or C{closed}.
    @ivar term: the terminal type the client gave (C{None}: not yet).
    @ivar window: C{(columns, rows)} from NAWS, or C{None}.
    """

    factory: TelnetFactory
    transport: Any

    def connectionMade(self) -> None:
        factory = self.factory
        self.observatory = factory.observatory
        self.tcp = self.transport.transport
        self.session = session_of(self.tcp)
        self.gate = ReadGate(self.tcp).start(after_handshake=False)
        self.gate.on_backed_up = self._backed_up
        self.guard = factory.logins.guard(self.tcp)
        self.editor = LineEditor(factory.max_line)
        self.state = "login"
        self.name = ""
        self.password = b""
        self.held = bytearray()
        self.term: str | None = None
        self.window: tuple[int, int] | None = None
        self.process: Any = None
        self.process_gate: ReadGate | None = None
        self.commands = 0
        self._command = bytearray()
        self.transport.negotiationMap[TTYPE] = self._ttype
        self.transport.negotiationMap[NAWS] = self._naws
        for option in (ECHO, SGA):
            self.transport.will(option).addErrback(_quiet)
        self.transport.do(TTYPE).addCallbacks(self._ask_ttype, _quiet)
        self.transport.do(NAWS).addErrback(_quiet)
        self.transport.write(BANNER + LOGIN_PROMPT)

    # -- options ------------------------------------------------------------------------

    def enableLocal(self, option: bytes) -> bool:
        return option in (ECHO, SGA)

    def enableRemote(self, option: bytes) -> bool:
        return option in (TTYPE, NAWS, SGA)

    def _echoing(self) -> bool:
        """Did the client let the server echo (C{DO ECHO})?"""
        return bool(self.transport.getOptionState(ECHO).us.state == "yes")

    def _ask_ttype(self, _: Any) -> None:
        if self.state != "closed":
            self.transport.requestNegotiation(TTYPE, TTYPE_SEND)

    def _ttype(self, data: list[bytes]) -> None:
        term = terminal_type(b"".join(data))
        if term is not None and self.term is None:  # the first one counts (RFC 1091 cycles)
            self.term = term

    def _naws(self, data: list[bytes]) -> None:
        size = window_size(b"".join(data))
        if size is None:
            return
        self.window = size
        if self.process is not None:
            cols, rows = size
            try:
                self.factory.resize(self.process, rows, cols)
            except OSError:
                pass

    def unhandledCommand(self, command: bytes, argument: Any) -> None:
        if command == AYT:
            self.transport.write(b"\r\n[zoo-telnet: yes]\r\n")
        elif command in (IP, BRK) and self.process is not None:
            self.process.write(b"\x03")  # the terminal turns it into SIGINT

    def too_many_options(self, answered: int) -> None:
        """The client sent more option requests than L{MAX_NEGOTIATIONS}: close."""
        log.info(
            "telnet: closing {peer}: {n} option requests answered; no more",
            peer=where(self.tcp.getPeer()),
            n=answered,
        )
        self._close(TOO_MANY_OPTIONS)

    # -- input --------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.state == "shell":
            self._to_shell(data)
        elif self.state == "checking":
            self.held += data  # one read at most: the gate stops reading meanwhile
        elif self.state in ("login", "password"):
            self._login_input(data)

    def _login_input(self, data: bytes) -> None:
        while data and self.state in ("login", "password"):
            echo = self.state == "login" and self._echoing()  # never the password
            line, shown, data = self.editor.feed(data, echo)
            if shown:
                self.transport.write(shown)
            if self.editor.overflow:
                log.info(
                    "telnet: closing {peer}: login line too long", peer=where(self.tcp.getPeer())
                )
                self._close(LINE_TOO_LONG)
                return
            if line is None:
                return
            if line == LineEditor.END:
                self._close(b"\r\n")
                return
            command_done(self.tcp)
            if self.state == "login":
                self._name(line)
            else:
                self._password(line)
        if data:  # typed ahead: held for the verdict, or the shell's already
            self.dataReceived(data)

    def _name(self, line: bytes) -> None:
        name = line.strip()
        if not name:
            self.transport.write(LOGIN_PROMPT)
            return
        self.name = name.decode("utf-8", "surrogateescape")
        self.state = "password"
        self.transport.write(PASSWORD_PROMPT)

    def _password(self, line: bytes) -> None:
        self.state = "checking"
        self.gate.pause(LOGIN_PENDING)
        if self._echoing():
            self.transport.write(b"\r\n")
        creds = credentials.UsernamePassword(
            self.name.encode("utf-8", "surrogateescape"), bytes(line)
        )
        d = self.guard.login(creds, None, IShellUser)
        d.addCallbacks(self._logged_in, self._login_failed)

    def _login_failed(self, failure: Failure) -> None:
        if self.state == "closed":
            return
        self.name = ""
        if self.guard.exhausted:
            self._close(LOGIN_INCORRECT + TOO_MANY)
            return
        self.transport.write(LOGIN_INCORRECT + LOGIN_PROMPT)
        self.state = "login"
        self._release_held()

    def _release_held(self) -> None:
        held, self.held = bytes(self.held), bytearray()
        self.gate.resume(LOGIN_PENDING)
        if held:
            self.dataReceived(held)

    # -- the shell ----------------------------------------------------------------------

    def _logged_in(self, result: Any) -> None:
        if self.state == "closed":
            return
        _, (name, home), _logout = result
        self.state = "shell"
        command_deadline_off(self.tcp)
        echo = self._echoing()
        term = self.term or DEFAULT_TERM
        self.user = name
        self.transport.write(WELCOME % name.encode("utf-8", "backslashreplace"))
        try:
            self.process = self.factory.start_shell(
                _Shell(self), name, home, term, echo, self.window
            )
        except OSError as e:  # out of terminals or processes
            log.warn("telnet: cannot start a shell for {user}: {error}", user=name, error=e)
            self._close(b"zoo-telnet: the shell could not be started.\r\n")
            return
        self.process_gate = ReadGate(self.process)
        self.process_gate.hold(CONNECTION_BACKED_UP, bool(self.gate.reasons - {LOGIN_PENDING}))
        self.process.registerProducer(GateReason(self.gate, SHELL_INPUT), True)
        if self.observatory.enabled:
            self.observatory.emit(
                "telnet",
                "telnet.login",
                self.session,
                user=name,
                term=term,
                columns=self.window[0] if self.window else None,
                rows=self.window[1] if self.window else None,
                echo=echo,
            )
        self._release_held()

    def _backed_up(self, backed_up: bool) -> None:
        if self.process_gate is not None:
            self.process_gate.hold(CONNECTION_BACKED_UP, backed_up)

    def _to_shell(self, data: bytes) -> None:
        self.process.write(data)
        if self.observatory.enabled:
            self._observe_commands(data)

    def _observe_commands(self, data: bytes) -> None:
        """Report each line typed at the shell as C{telnet.command} (its first 256 bytes)."""
        start = 0
        while True:
            ends = [i for i in (data.find(b"\r", start), data.find(b"\n", start)) if i >= 0]
            end = min(ends) if ends else -1
            piece = data[start:] if end < 0 else data[start:end]
            room = MAX_COMMAND + 1 - len(self._command)
            if room > 0:
                self._command += piece[:room]
            if end < 0:
                return
            line, self._command = bytes(self._command), bytearray()
            if line.strip():
                self.commands += 1
                self.observatory.record(
                    "telnet", "telnet.command", self.session, _command_fields, self.user, line
                )
            start = end + 1

    def shell_output(self, data: bytes) -> None:
        if self.state == "shell":
            self.transport.write(data)

    def shell_ended(self, reason: Failure) -> None:
        self.process = None
        if self.observatory.enabled:
            self.observatory.emit(
                "telnet",
                "telnet.logout",
                self.session,
                user=self.user,
                exit_status=getattr(reason.value, "exitCode", None),
                signal=getattr(reason.value, "signal", None),
                commands=self.commands,
            )
        if self.state == "shell":
            self._close(b"")

    # -- the end ------------------------------------------------------------------------

    def _close(self, last: bytes) -> None:
        if self.state == "closed":
            return
        self.state = "closed"
        self.transport.stopped = True
        if last:
            self.transport.write(last)
        self.gate.resume(LOGIN_PENDING)
        self.tcp.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.state = "closed"
        self.guard.close()
        if self.process is not None:
            hang_up(self.process)
            self.process = None


def _command_fields(user: str, line: bytes) -> dict[str, Any]:
    """The fields of a C{telnet.command} event, built when it is read."""
    return {"user": user, "command": bounded_text(line.strip(), MAX_COMMAND)}


class TelnetFactory(Factory):
    """Builds telnet connections (L{ZooTelnetTransport} running a L{TelnetServer}).

    @param portal: checks logins (see L{make_factory}).
    @param reactor: spawns the shells (the global reactor by default).
    """

    noisy = False

    def __init__(
        self,
        portal: Any,
        *,
        reactor: Any = None,
        clock: IReactorTime | None = None,
        max_login_attempts: int = DEFAULT_MAX_LOGIN_ATTEMPTS,
        max_line: int = MAX_LINE,
        throttle: Any = None,
        observatory: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.reactor = reactor
        self.observatory = observatory if observatory is not None else hub
        if throttle is None:
            throttle = shared_throttle(clock if clock is not None else reactor)
        self.logins = Logins(portal, "telnet", throttle, max_login_attempts, self.observatory)
        self.max_line = max_line

    def start_shell(
        self,
        proto: Any,
        name: str,
        home: Path,
        term: str,
        echo: bool,
        window: tuple[int, int] | None,
    ) -> Any:
        """Run C{/bin/sh -i} for C{name} on a new terminal; return the process transport.

        @param echo: whether the terminal echoes input (the client let the server echo).
        @param window: C{(columns, rows)}, or C{None} to leave the terminal's size unset.
        """
        pty = open_pty()
        attrs = termios.tcgetattr(pty[1])
        if echo:
            attrs[3] |= termios.ECHO
        else:
            attrs[3] &= ~termios.ECHO
        termios.tcsetattr(pty[1], termios.TCSANOW, attrs)
        env = login_environ(name, home, term, PS1=PS1)
        process = spawn(self.reactor, proto, [SHELL, "-i"], env, home, pty)
        if window is not None:
            self.resize(process, window[1], window[0])
        return process

    def resize(self, process: Any, rows: int, cols: int) -> None:
        """Set the window size of C{process}'s terminal (L{zoo.shell.resize})."""
        resize(process, rows, cols)

    def buildProtocol(self, addr: Any) -> ZooTelnetTransport:
        transport = ZooTelnetTransport(TelnetServer)
        transport.factory = self
        return transport


def make_factory(passwords: dict[str, str], home: Path, **kw: Any) -> TelnetFactory:
    """A telnet server factory for C{passwords} (name -> password or bcrypt hash).

    Each user's shell starts in C{home/NAME}. C{kw} goes to L{TelnetFactory}.
    """
    portal = Portal(HomeRealm(home), [PasswordChecker(passwords)])
    return TelnetFactory(portal, **kw)


__all__ = [
    "BANNER",
    "LINE_TOO_LONG",
    "LOGIN_INCORRECT",
    "LOGIN_PROMPT",
    "MAX_LINE",
    "PASSWORD_PROMPT",
    "TOO_MANY",
    "TOO_MANY_OPTIONS",
    "WELCOME",
    "HomeRealm",
    "IShellUser",
    "LineEditor",
    "TelnetFactory",
    "TelnetServer",
    "make_factory",
]
