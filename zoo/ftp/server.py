"""The FTP control connection: L{FTPSession} on C{twisted.protocols.ftp.FTP}, and its factory.

Twisted's C{FTP} gives the line framing, the reply table and C{TYPE}/C{STRU}/C{MODE}/
C{SYST}/C{NOOP}. The rest is replaced, because Twisted's versions are unsafe or broken
(C{twisted-anchor.md} §3):

- every path goes through a L{Jail} (real paths resolved, containment checked);
- C{NLST} without an argument works (Twisted #4258); C{TYPE A} transfers convert line
  endings instead of raising C{TypeError} (#9555);
- the passive listener binds the control connection's local address (Twisted binds all
  interfaces) and accepts only the client's own address; C{PORT}/C{EPRT} dial only the
  client's own address (no FTP bounce);
- data connections use the reactor given to the factory, not the global one, and have
  C{TCP_NODELAY} set;
- C{FEAT} lists what is supported; C{REST}, C{APPE}, C{MLSD}, C{MLST} exist;
- explicit FTPS (C{AUTH TLS}, C{PBSZ}, C{PROT}), and C{--require-tls};
- logins through a twisted.cred C{Portal} (L{FTPRealm}: a login's avatar is its L{Jail}),
  guarded by L{zoo.cred.LoginGuard}: throttled per address, logged once, and C{421}
  after C{--max-login-attempts} failures;
- limits: connections per address, consecutive bad commands, line length.

Commands are handled one at a time. While a transfer runs, C{ABOR}, C{STAT} and C{NOOP}
are answered at once (C{ABOR} closes the data connection: C{426} for the transfer, then
C{226}); any other command waits for the transfer's final reply.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from twisted.cred import credentials
from twisted.cred.checkers import ANONYMOUS, AllowAnonymousAccess
from twisted.cred.error import LoginFailed
from twisted.cred.portal import IRealm, Portal
from twisted.internet import defer, protocol
from twisted.internet.interfaces import ISSLTransport, ITCPTransport, ITransport
from twisted.logger import Logger
from twisted.protocols import ftp
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from zoo.cred import Logins, LoginThrottle, PasswordChecker, shared_throttle
from zoo.events import hub
from zoo.faults.hook import at, reply_code
from zoo.faults.model import registry as fault_registry
from zoo.files import emit as emit_file_event
from zoo.flow import ReadGate
from zoo.ftp.data import (
    DataChannel,
    TransferAborted,
    _plain,
)
from zoo.ftp.jail import (
    Entry,
    FTPFileError,
    Jail,
    mdtm,
    mlsx_facts,
    split_path,
    virtual,
)
from zoo.ftp.transfers import TransferCommands
from zoo.ftp.uploads import LiveUploads, sweep
from zoo.policies import ZooProtocolWrapper, command_done, fast_writer
from zoo.tls import StartTLSMixin, start_tls

log = Logger()

ANONYMOUS_NAMES = ("anonymous", "ftp")

FEATURES = [
    "AUTH TLS",
    "EPRT",
    "EPSV",
    "MDTM",
    "MLST type*;size*;modify*;perm*;",
    "PASV",
    "PBSZ",
    "PROT",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
]

# Commands allowed before login.
_PRE_LOGIN = {"USER", "PASS", "AUTH", "PBSZ", "PROT", "FEAT", "SYST", "NOOP", "HELP", "QUIT"}
_PRE_LOGIN |= {"OPTS"}
# Commands whose handler takes no argument.
_NO_ARG = {"PWD", "CDUP", "NOOP", "SYST", "QUIT", "PASV", "FEAT", "ABOR", "HELP", "STAT"}
# Answered while a transfer is in progress (RFC 959 §4.1.3); the rest waits for it.
_DURING_TRANSFER = {"ABOR", "STAT", "NOOP"}
#: The read gate's reason while a command waits for the running transfer.
HELD_COMMAND = "held command"
_ALIASES = {"XPWD": "PWD", "XCWD": "CWD", "XCUP": "CDUP", "XMKD": "MKD", "XRMD": "RMD"}


# Commands whose argument names a file: a name that is not UTF-8 on disk is listed
# with its own bytes, so those bytes must reach the jail unchanged.
_PATH_ARGUMENT = {"CWD", "MKD", "RMD", "DELE", "RNFR", "RNTO", "SIZE", "MDTM", "MLST", "MLSD"}
_PATH_ARGUMENT |= {"LIST", "NLST", "RETR", "STOR", "APPE", "STAT"}


def _decode_argument(cmd: str, raw: bytes) -> str | None:
    """A command's argument as text, or C{None} when it is not UTF-8 where it must be.

    File names keep undecodable bytes (as surrogates, like C{os.fsdecode}); every other
    argument (user names, passwords, types, addresses) must be UTF-8 (RFC 2640).
    """
    if cmd in _PATH_ARGUMENT:
        return raw.decode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class User:
    """A named user: password (or bcrypt hash, see L{zoo.cred}) and home directory (their C{/})."""

    password: str
    home: Path


@dataclass
class FTPConfig:
    """Everything an FTP server instance needs to know; built by the tap module."""

    root: Path
    users: dict[str, User] = field(default_factory=dict)
    anonymous: bool = True
    #: Folder (segments under C{root}) where anonymous users may store new files.
    anonymous_upload: list[str] | None = None
    #: Passive ports to try, or C{None} to let the OS pick.
    passive_ports: range | None = None
    #: Address to advertise in PASV replies instead of the control connection's own.
    passive_address: str | None = None
    #: TLS context factory for AUTH TLS and PROT P (C{None}: no explicit FTPS).
    tls: Any = None
    require_tls: bool = False
    max_login_attempts: int = 3
    max_per_address: int = 16
    max_bad_commands: int = 20
    data_timeout: float = 30.0
    #: Seconds between the end of an upload's data and its publication (and 226). A
    #: killed client's control connection closes just after its data connection: 0.05
    #: to 2.5 ms later on a loaded two-core machine, so the default waits 8 times the
    #: longest. A test suite whose clients are never killed can make it shorter
    #: (L{zoo.run} and the pytest plugin use 2 ms; 0 still waits one reactor turn).
    upload_grace: float = 0.02
    welcome: str = "zoo FTP server ready."


class IFTPJail(Interface):
    """What an FTP login gets from the portal: the L{Jail} its session runs in."""


@implementer(IRealm)
class FTPRealm:
    """Anonymous logins get the read-only root; named users their writable home."""

    def __init__(self, config: FTPConfig) -> None:
        self.config = config

    def requestAvatar(self, avatar_id: Any, mind: Any, *interfaces: Any) -> Any:
        if IFTPJail not in interfaces:
            raise NotImplementedError("only FTP jails here")
        if avatar_id == ANONYMOUS:
            jail = Jail(self.config.root, upload_dir=self.config.anonymous_upload)
        else:
            jail = Jail(self.config.users[avatar_id].home, writable=True)
        return IFTPJail, jail, lambda: None


class _Lines(ftp.FTP):
    """Twisted's FTP with zoo's line handling (kept in a base class for L{StartTLSMixin}).

    Flow control: a client that sends commands and never reads the replies stops
    being read once the transport's buffer is full (Twisted's FTP would buffer the
    replies without bound: 30 MB of pipelined NOOPs grew the server by 300 MB), and
    so does a client whose command waits for a running transfer (L{HELD_COMMAND}).
    """

    delimiter = b"\n"
    MAX_LENGTH = 8192
    #: The transfer in progress: while it runs only ABOR, STAT and NOOP are answered.
    _busy: defer.Deferred[Any] | None = None
    _held: tuple[str, str | None] | None = None
    _aborting = False
    #: How replies are written (a fast writer on plain TCP); None: transport.write.
    _send: Callable[[bytes], None] | None = None

    #: Reading from the client, stopped while replies back up or a command is held.
    gate: ReadGate

    def dataReceived(self, data: bytes) -> None:
        self.gate.ready()  # implicit FTPS: the handshake is done
        super().dataReceived(data)

    def pauseProducing(self) -> None:
        self.paused = True
        self.gate.pause(HELD_COMMAND)

    def resumeProducing(self) -> None:
        self.paused = False
        self.gate.resume(HELD_COMMAND)
        self.dataReceived(b"")  # the lines that arrived meanwhile

    def sendLine(self, line: str | bytes) -> None:
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogateescape")
        # Replies end in CRLF; only incoming lines are split on a bare LF (see delimiter).
        (self._send or cast(ITransport, self.transport).write)(line + b"\r\n")

    def command_timed_out(self) -> None:
        """The shared command deadline passed in the middle of a command line."""
        self.sendLine("421 Command line not finished in time; closing.")
        cast(ITransport, self.transport).loseConnection()

    def lineLengthExceeded(self, line: bytes) -> None:
        self.sendLine("500 Command line too long; closing.")
        transport = self.transport
        assert transport is not None  # connected: the line arrived on it
        transport.loseConnection()

    def lineReceived(self, line: bytes) -> None:
        command_done(self.transport)
        # Clients may send Telnet IP/DM (and ftplib's abort() urgent data) before ABOR.
        word, _, rest = line.lstrip(b"\xff\xf4\xf2").rstrip(b"\r").partition(b" ")
        cmd = word.decode("utf-8", "surrogateescape").upper()  # not a command name: 502
        arg = _decode_argument(_ALIASES.get(cmd, cmd), rest)
        if self._busy is None:
            self._run(cmd, arg)
        elif cmd in _DURING_TRANSFER:
            self.respond(self.during_transfer(cmd))
        else:
            # Anything else waits for the transfer's final reply; stop reading meanwhile.
            self._held = (cmd, arg)
            self.pauseProducing()

    def _run(self, cmd: str, arg: str | None) -> None:
        if arg is None:
            self.respond("501 Syntax error: the argument is not UTF-8.")
            return
        if fault_registry.points:
            user = getattr(self, "username", None)
            hit = at(self.transport, "ftp", _ALIASES.get(cmd, cmd), mailbox=arg, user=user)
            if hit is not None:
                hit.perform(self.transport, self._fault_reply)
                return
        try:
            result = self.dispatch(cmd, arg)
        except FTPFileError as e:
            result = f"{e.code} {e.message}"
        if not isinstance(result, defer.Deferred):
            self.respond(result)
            return
        self._busy = result
        result.addBoth(self._finished)

    def _fault_reply(self, value: str | None) -> None:
        code, text = reply_code(value, 451, "Requested action aborted (zoo fault).")
        self.sendLine(f"{code} {text}")

    def _finished(self, result: Any) -> None:
        self._busy = None
        self.respond(result)
        if self._aborting:
            self._aborting = False
            self.respond("226 ABOR successful.")
        held, self._held = self._held, None
        if held is not None and not self.disconnected:
            self._run(*held)
        if self.paused and self._held is None and not self.disconnected and self.transport:
            self.resumeProducing()

    def during_transfer(self, cmd: str) -> str | None:
        raise NotImplementedError

    def respond(self, result: Any) -> None:
        """Send a handler's result: a reply line, a Twisted reply key (tuple), or a failure."""
        if self.disconnected or self.transport is None or result is None:
            return
        if isinstance(result, Failure):
            if result.check(FTPFileError):
                result = f"{result.value.code} {result.value.message}"
            elif result.check(ftp.FTPCmdError):
                result = result.value.response()
            else:
                log.failure("FTP command failed", result)
                result = "451 Requested action aborted: local error in processing."
        if isinstance(result, tuple):
            self.reply(*result)
        elif result in ftp.RESPONSE:
            self.reply(result)
        else:
            self.sendLine(result)

    def dispatch(self, cmd: str, arg: str) -> Any:
        raise NotImplementedError


class FTPSession(StartTLSMixin, TransferCommands, _Lines):
    """One FTP control connection."""

    factory: FTPFactory

    def connectionMade(self) -> None:
        self.config = self.factory.config
        self.reactor = self.factory.reactor
        self.gate = ReadGate(self.transport)
        # Implicit FTPS (also seen through an observed session's plaintext layer).
        self.secure = bool(ISSLTransport.providedBy(self.transport))
        self._send = fast_writer(self.transport)  # replies go out now, not next turn
        self.jail: Jail | None = None
        self.username: str | None = None
        self.pending_user: str | None = None
        self.cwd: list[str] = []
        self.binary = False  # RFC 959: TYPE A until the client says otherwise
        self.rest = 0
        self.rnfr: list[str] | None = None
        self.prot_private = False
        self.epsv_all = False
        self._guard = self.factory.logins.guard(self.transport)
        self.session_id = self._guard.session  # the connection's, for its events
        self.bad_commands = 0
        self._data_port: Any = None
        self._data: DataChannel | None = None
        self._data_wait: defer.Deferred[DataChannel] | None = None
        self._data_timer: Any = None
        self._data_error: Failure | None = None
        sock = self._socket()
        if sock is not None:
            # ftplib's abort() sends "ABOR\r\n" as urgent data, whose last byte Linux
            # would otherwise keep out of band, leaving the line unfinished.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        if not self.factory.session_started(self):
            self.sendLine("421 Too many connections from your address.")
            self.disconnected = True
            self.transport.loseConnection()
            return
        self.gate.start(after_handshake=self.secure)  # implicit FTPS: after the handshake
        self.sendLine(f"220 {self.config.welcome}")

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.disconnected = True
        self._close_data()
        self._guard.close()
        self.factory.session_ended(self)
        self.transport = None

    # -- helpers ----------------------------------------------------------------------

    def file_event(self, kind: str, segs: list[str], **fields: Any) -> None:
        """Report C{kind} (C{file.uploaded}, ...) for the file C{segs} of this login's jail."""
        observatory = self.factory.observatory
        if observatory.enabled:
            user = self.username
            emit_file_event(
                observatory,
                "ftp",
                kind,
                self.session_id,
                protocol="ftp",
                user=user,
                root=user if user is not None and user != "anonymous" else "anonymous",
                path=virtual(segs),
                **fields,
            )

    def peer_host(self) -> str:
        return _plain(self.transport.getPeer().host)

    def local_host(self) -> str:
        return self.transport.getHost().host

    def touch(self) -> None:
        """Count data-connection traffic as activity on the control connection."""
        t = self.transport
        while t is not None:
            # isinstance, not hasattr: Twisted's ProtocolWrapper (and so the TLS layer)
            # forwards unknown attributes to its transport.
            if isinstance(t, ZooProtocolWrapper):
                t.activity += 1
                return
            t = t.__dict__.get("transport")

    def _segs(self, arg: str, command: str, required: bool = True) -> list[str]:
        if required and not arg:
            raise FTPFileError(f"Syntax error: {command} needs a path.", "501")
        return split_path(self.cwd, arg)

    def _socket(self) -> socket.socket | None:
        """The control connection's TCP socket under any wrappers (None in memory tests)."""
        t, sock = self.transport, None
        while t is not None and sock is None:
            sock = t.__dict__.get("socket")
            t = t.__dict__.get("transport")
        return sock

    def _control_gone(self) -> bool:
        """The client closed the control connection (seen by peeking: reading may be paused)."""
        if self.disconnected or self.transport is None:
            return True
        sock = self._socket()
        if sock is None:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    # -- dispatch ---------------------------------------------------------------------

    def dispatch(self, cmd: str, arg: str) -> Any:
        cmd = _ALIASES.get(cmd, cmd)
        method = getattr(self, "ftp_" + cmd, None) if cmd.isalpha() else None
        if method is None:
            self.bad_commands += 1
            if self.bad_commands >= self.config.max_bad_commands:
                self.sendLine("421 Too many bad commands; closing.")
                self.transport.loseConnection()
                self.disconnected = True
                return None
            return f"502 Command {cmd[:20]!r} not implemented."
        self.bad_commands = 0
        if self.rnfr is not None and cmd != "RNTO":
            self.rnfr = None
        if self.jail is None and cmd not in _PRE_LOGIN:
            return "530 Please log in with USER and PASS first."
        return method() if cmd in _NO_ARG else method(arg)

    # -- login ------------------------------------------------------------------------

    def ftp_USER(self, arg: str) -> str:
        if not arg:
            return "501 Syntax error: USER needs a name."
        if self.config.require_tls and not self.secure:
            return "530 TLS required: send AUTH TLS before logging in."
        self.jail = None
        self.cwd = []
        self.pending_user = arg
        if arg.lower() in ANONYMOUS_NAMES and self.config.anonymous:
            return "331 Anonymous login ok, send your e-mail address as password."
        return f"331 Password required for {arg}."

    def ftp_PASS(self, arg: str) -> str | defer.Deferred[str | None]:
        name, self.pending_user = self.pending_user, None
        if name is None:
            return "503 Login with USER first."
        anonymous = name.lower() in ANONYMOUS_NAMES and self.config.anonymous
        creds: Any = credentials.Anonymous()
        if not anonymous:  # the line was decoded with surrogateescape: these are its bytes
            creds = credentials.UsernamePassword(
                name.encode("utf-8", "surrogateescape"), arg.encode("utf-8", "surrogateescape")
            )
        d = self._guard.login(creds, None, IFTPJail)
        return d.addCallbacks(self._logged_in, self._login_failed, callbackArgs=(name, anonymous))

    def _logged_in(self, result: Any, name: str, anonymous: bool) -> str | None:
        _, self.jail, _ = result
        if anonymous:
            self.username = "anonymous"
            self.factory.log_anonymous(self.peer_host())
            return "230 Anonymous access granted, restrictions apply."
        self.username = name
        log.info("FTP user {name} logged in from {peer}", name=name, peer=self.peer_host())
        return f"230 User {name} logged in."

    def _login_failed(self, reason: Failure) -> str | None:
        reason.trap(LoginFailed)  # the guard logged it
        if self.disconnected:
            return None
        if self._guard.exhausted:
            self.sendLine("530 Login incorrect.")
            self.sendLine("421 Too many failed logins; closing.")
            self.transport.loseConnection()
            self.disconnected = True
            return None
        return "530 Login incorrect."

    # -- TLS (RFC 4217) ---------------------------------------------------------------

    def ftp_AUTH(self, arg: str) -> str | None:
        if arg.upper() not in ("TLS", "SSL", "TLS-C"):
            return "504 AUTH type not supported; use AUTH TLS."
        if self.config.tls is None:
            return "502 TLS is not configured."
        if self.secure:
            return "503 Already using TLS."
        if self.jail is not None:
            return "503 AUTH TLS must come before login."
        self.sendLine("234 AUTH TLS successful.")
        start_tls(self, self.config.tls)
        self.secure = True
        self.pending_user = None
        return None

    def ftp_PBSZ(self, arg: str) -> str:
        if not self.secure:
            return "503 PBSZ requires AUTH TLS first."
        return "200 PBSZ=0"

    def ftp_PROT(self, arg: str) -> str:
        if not self.secure:
            return "503 PROT requires AUTH TLS first."
        level = arg.upper()
        if level == "P":
            self.prot_private = True
            return "200 Protection level set to P."
        if level == "C":
            if self.config.require_tls:
                return "534 Clear data connections are refused here; use PROT P."
            self.prot_private = False
            return "200 Protection level set to C."
        if level in ("S", "E"):
            return "536 Protection level not supported."
        return "504 Unknown protection level."

    def data_tls(self) -> Any:
        """The TLS context for the next data connection, or C{None} for clear."""
        return self.config.tls if self.prot_private else None

    # -- information ------------------------------------------------------------------

    def ftp_FEAT(self) -> str:
        features = FEATURES
        if self.config.tls is None:
            features = [f for f in features if f not in ("AUTH TLS", "PBSZ", "PROT")]
        self.sendLine("211-Features:")
        for feature in features:
            self.sendLine(" " + feature)
        return "211 End"

    def ftp_OPTS(self, arg: str) -> str:
        option = arg.upper().split()
        if option[:2] == ["UTF8", "ON"]:
            return "200 Always in UTF8 mode."
        if option[:1] == ["MLST"]:
            return "200 MLST OPTS type;size;modify;perm;"
        return "501 Option not understood."

    def ftp_HELP(self) -> str:
        names = sorted(n[4:] for n in dir(self) if n.startswith("ftp_") and n[4:].isupper())
        self.sendLine("214-The following commands are recognized:")
        for i in range(0, len(names), 10):
            self.sendLine(" " + " ".join(names[i : i + 10]))
        return "214 Help OK."

    def ftp_STAT(self) -> str:
        self.sendLine("211-zoo FTP server status:")
        self.sendLine(f" Logged in as {self.username}")
        self.sendLine(f" TYPE: {'BINARY' if self.binary else 'ASCII'}")
        self.sendLine(
            f" TLS: control {'yes' if self.secure else 'no'}, data "
            f"{'yes' if self.prot_private else 'no'}"
        )
        return "211 End of status."

    def ftp_ALLO(self, arg: str) -> str:
        return "202 No storage allocation necessary."

    def ftp_ABOR(self) -> str:
        self._close_data()
        return "225 No transfer to abort."

    def during_transfer(self, cmd: str) -> str | None:
        if cmd == "NOOP":
            return "200 NOOP ok."
        if cmd == "STAT":
            return "211 A transfer is in progress."
        self._aborting = True
        data = self._data
        if data is not None and data.reason is None and data.transport is not None:
            cast(ITCPTransport, data.transport).abortConnection()
        else:  # still waiting for the client to connect
            self._fire_wait(Failure(TransferAborted()))
        return None

    def ftp_QUIT(self) -> None:
        self.sendLine("221 Goodbye.")
        self.transport.loseConnection()
        self.disconnected = True

    # -- directories ------------------------------------------------------------------

    def ftp_PWD(self) -> str:
        path = virtual(self.cwd).replace('"', '""')
        return f'257 "{path}" is the current directory.'

    def ftp_CWD(self, arg: str) -> str:
        assert self.jail is not None
        segs = self._segs(arg or "/", "CWD")
        self.jail.check_dir(segs)
        self.cwd = segs
        return f"250 Directory changed to {virtual(segs)}."

    def ftp_CDUP(self) -> str:
        return self.ftp_CWD("..")

    def ftp_MKD(self, arg: str) -> str:
        assert self.jail is not None
        segs = self._segs(arg, "MKD")
        self.jail.mkdir(segs)
        self.file_event("dir.created", segs)
        return '257 "{}" created.'.format(virtual(segs).replace('"', '""'))

    def ftp_RMD(self, arg: str) -> str:
        assert self.jail is not None
        segs = self._segs(arg, "RMD")
        self.jail.rmdir(segs)
        self.file_event("dir.removed", segs)
        return "250 Directory removed."

    def ftp_DELE(self, arg: str) -> str:
        assert self.jail is not None
        segs = self._segs(arg, "DELE")
        self.jail.remove(segs)
        self.file_event("file.deleted", segs)
        return "250 File removed."

    def ftp_RNFR(self, arg: str) -> str:
        assert self.jail is not None
        segs = self._segs(arg, "RNFR")
        self.jail.stat(segs)
        if not self.jail.writable:
            raise FTPFileError(f"{virtual(segs)}: Permission denied (read-only)")
        self.rnfr = segs
        return "350 Ready for RNTO."

    def ftp_RNTO(self, arg: str) -> str:
        assert self.jail is not None
        src, self.rnfr = self.rnfr, None
        if src is None:
            return "503 RNFR required first."
        dst = self._segs(arg, "RNTO")
        self.jail.rename(src, dst)
        self.file_event("file.renamed", dst, **{"from": virtual(src), "to": virtual(dst)})
        return "250 Rename successful."

    # -- file information -------------------------------------------------------------

    def ftp_SIZE(self, arg: str) -> str:
        assert self.jail is not None
        segs = self._segs(arg, "SIZE")
        st = self.jail.stat(segs)
        if not Entry("", st).is_dir and not self.binary:
            return "550 SIZE not allowed in ASCII mode (send TYPE I)."
        if Entry("", st).is_dir:
            return f"550 {virtual(segs)}: not a regular file."
        return f"213 {st.st_size}"

    def ftp_MDTM(self, arg: str) -> str:
        assert self.jail is not None
        return f"213 {mdtm(self.jail.stat(self._segs(arg, 'MDTM')).st_mtime)}"

    def ftp_MLST(self, arg: str) -> str:
        assert self.jail is not None
        segs = self._segs(arg, "MLST", required=False)
        entry = Entry(virtual(segs), self.jail.stat(segs))
        self.sendLine(f"250-Listing {virtual(segs)}")
        self.sendLine(" " + mlsx_facts(entry, self.jail))
        return "250 End."

    def ftp_REST(self, arg: str) -> str:
        if not arg.isdigit():
            return "501 REST needs a byte offset."
        self.rest = int(arg)
        return f"350 Restarting at {self.rest}. Send STOR or RETR to start the transfer."


class FTPFactory(protocol.ServerFactory[FTPSession]):
    """Builds L{FTPSession}s for one L{FTPConfig}; counts connections per address.

    @param reactor: used for data connections and timers (Twisted's FTP uses the
        global reactor for those), and the login delays.
    @param throttle: the login throttle (default: the process's, L{shared_throttle}).
    @param observatory: where file and login events go (L{zoo.events.hub}).
    """

    protocol = FTPSession
    noisy = False
    logins: Logins
    #: Anonymous logins after a logged one are logged as one line this much later.
    SUMMARY_SECONDS = 1.0
    #: Most addresses named in that line.
    SUMMARY_PEERS = 5

    def __init__(
        self,
        config: FTPConfig,
        reactor: Any = None,
        throttle: LoginThrottle | None = None,
        observatory: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.config = config
        self.reactor = reactor
        self.observatory = observatory if observatory is not None else hub
        checkers: list[Any] = [
            PasswordChecker({name: user.password for name, user in config.users.items()})
        ]
        if config.anonymous:
            checkers.append(AllowAnonymousAccess())
        portal = Portal(FTPRealm(config), checkers)
        throttle = throttle or shared_throttle(reactor)
        self.logins = Logins(portal, "ftp", throttle, config.max_login_attempts, self.observatory)
        self.per_address: Counter[str] = Counter()
        self._passive_cursor = 0
        self._anonymous: Counter[str] | None = None  # logins counted for the summary
        self.uploads = LiveUploads()

    def startFactory(self) -> None:
        """Delete the upload temporaries a killed server left where users may write."""
        places = [(user.home, True) for user in self.config.users.values()]
        if self.config.anonymous_upload is not None:
            places.append((self.config.root.joinpath(*self.config.anonymous_upload), False))
        for folder, recursive in places:
            removed = sweep(os.path.realpath(folder), recursive)
            if removed:
                log.info(
                    "FTP removed {n} unfinished upload(s) in {folder}", n=removed, folder=folder
                )

    def stopFactory(self) -> None:
        """Discard the uploads in progress: none is published, no temporary is left."""
        removed = self.uploads.discard_all()
        if removed:
            log.info("FTP stopping: discarded {n} unfinished upload(s)", n=removed)

    def session_started(self, session: FTPSession) -> bool:
        host = session.peer_host()
        self.per_address[host] += 1
        session._counted_host = host  # type: ignore[attr-defined]
        return self.per_address[host] <= self.config.max_per_address

    def session_ended(self, session: FTPSession) -> None:
        host = getattr(session, "_counted_host", None)
        if host is None:
            return
        session._counted_host = None  # type: ignore[attr-defined]
        self.per_address[host] -= 1
        if self.per_address[host] <= 0:
            del self.per_address[host]

    def log_anonymous(self, peer: str) -> None:
        """Log an anonymous login: in full if it is the first for a while, else in a summary.

        A log line costs about 30 us of CPU, a tenth of a whole anonymous session that
        fetches a small file, so under load the anonymous logins that follow within
        L{SUMMARY_SECONDS} of a logged one are counted by address and logged as one line
        when that time is up. Named users' logins and failed logins are logged one by one.
        """
        if self._anonymous is not None:
            self._anonymous[peer] += 1
            return
        log.info("FTP anonymous login from {peer}", peer=peer)
        self._anonymous = Counter()
        self.reactor.callLater(self.SUMMARY_SECONDS, self._log_anonymous_summary)

    def _log_anonymous_summary(self) -> None:
        counts, self._anonymous = self._anonymous, None
        if not counts:
            return
        peers = ", ".join(f"{peer} ({n})" for peer, n in counts.most_common(self.SUMMARY_PEERS))
        if len(counts) > self.SUMMARY_PEERS:
            peers += f" and {len(counts) - self.SUMMARY_PEERS} more addresses"
        log.info(
            "FTP {count} more anonymous logins in the last {seconds:g} s from {peers}",
            count=counts.total(),
            seconds=self.SUMMARY_SECONDS,
            peers=peers,
        )

    def next_passive(self) -> int:
        """Where to start trying passive ports, so sessions do not all race for the first."""
        self._passive_cursor += 1
        return self._passive_cursor
