"""Logged-in users: the avatar, its session channel (exec and shell) and its SFTP subsystem.

- exec (C{ssh host CMD}) runs C{/bin/sh -c CMD} as the zoo's own OS user, in the user's
  root folder, with stdin, stdout and stderr streamed and the exit status (or signal)
  returned. With a C{pty-req} first (C{ssh -t}) the command gets a terminal.
- shell (C{ssh host}) runs C{/bin/sh -i} on a pty (or on pipes if the client asked for
  none, as C{ssh -T} does).
- SFTP is the sandboxed L{zoo.ssh.sftp.RootedSFTPServer} over the same root folder.

exec and the shell are real processes: they are not sandboxed the way SFTP is.
C{--no-exec} and C{--no-shell} turn them off (SFTP-only mode).

Output only ever reaches the channel from a spawned process, so nothing is written
before conch has answered the exec request (writing synchronously inside
C{execCommand} crashes conch's own client).
"""

from __future__ import annotations

import shlex
import struct
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.conch.avatar import ConchUser
from twisted.conch.error import ConchError
from twisted.conch.interfaces import IConchUser, ISession, ISFTPServer
from twisted.conch.ssh import connection, forwarding, session
from twisted.cred.portal import IRealm
from twisted.internet.interfaces import IProcessTransport
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python import components
from zope.interface import implementer

from zoo.events import bounded_text, hub
from zoo.faults.hook import at
from zoo.faults.model import registry as fault_registry
from zoo.flow import ReadGate
from zoo.shell import SHELL, close_pty, hang_up, home_of, login_environ, open_pty, resize, spawn
from zoo.ssh.sftp import RootedSFTPServer, SFTPProtocol

log = Logger()
#: Session channel window: conch's default of 128 KiB halves upload speed on loopback.
WINDOW = 2 * 1024 * 1024
MAX_PACKET = 32768
#: Most output queued for a client that does not open its window (then the channel
#: closes). A process's output stops being read once the window is shut, so only
#: SFTP replies to requests already read can queue up to this.
MAX_BACKLOG = 4 * 1024 * 1024
#: Most channels (sessions, SFTP, forwardings) open at once on one connection.
MAX_CHANNELS = 10
#: Read-gate reasons of a channel's process: the client's window is shut, or the
#: connection's own send buffer is backed up.
WINDOW_SHUT = "window shut"
CONNECTION_BACKED_UP = "connection backed up"


class RefusedError(Exception):
    """A session request this server is configured to refuse."""


@dataclass(frozen=True)
class Features:
    """What logged-in users may do."""

    exec: bool = True
    shell: bool = True
    sftp: bool = True
    forwarding: bool = False


class Session(session.SSHSession):
    """conch's session channel with a larger receive window and a linear send queue.

    conch keeps output that does not fit the client's window in one C{bytes} and
    appends with C{+=}: each SFTP reply copied the whole backlog, so downloads slowed
    quadratically with the client's requests in flight (OpenSSH's C{sftp -R 256}: 10x
    slower). Here the backlog is a queue of chunks, capped at L{MAX_BACKLOG}.
    """

    conn: Any

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("localWindow", WINDOW)
        kw.setdefault("localMaxPacket", MAX_PACKET)
        super().__init__(*args, **kw)
        self._backlog: deque[bytes] = deque()
        self._backlog_size = 0
        self._gate: ReadGate | None = None

    def process_gate(self) -> ReadGate | None:
        """The read gate of this channel's process output, once a process runs."""
        if self._gate is None:
            # A subsystem (SFTP) is a client too, on a transport that is no process.
            transport = getattr(self.client, "transport", None)
            if IProcessTransport.providedBy(transport):
                self._gate = ReadGate(transport)
        return self._gate

    def stopWriting(self) -> None:
        """The client's window is shut: stop reading the process instead of queueing its output."""
        gate = self.process_gate()
        if gate is not None:
            gate.pause(WINDOW_SHUT)

    def startWriting(self) -> None:
        gate = self.process_gate()
        if gate is not None:
            gate.resume(WINDOW_SHUT)

    def connection_backed_up(self, backed_up: bool) -> None:
        """The connection's send buffer backed up or drained: hold the process meanwhile."""
        gate = self.process_gate()
        if gate is not None:
            gate.hold(CONNECTION_BACKED_UP, backed_up)

    def write(self, data: bytes) -> None:
        if self._backlog:
            self._queue(data)
        else:
            self._send(data)

    def _queue(self, data: bytes, front: bool = False) -> None:
        if front:
            self._backlog.appendleft(data)
        else:
            self._backlog.append(data)
        self._backlog_size += len(data)
        if self._backlog_size > MAX_BACKLOG and not self.closing:
            log.warn("ssh: channel backlog over {n} bytes; closing it", n=MAX_BACKLOG)
            self._backlog.clear()
            self._backlog_size = 0
            self.loseConnection()

    def _send(self, data: bytes) -> None:
        """Send what the window allows in packets of remoteMaxPacket; queue the rest."""
        top = min(len(data), self.remoteWindowLeft)
        send, step = self.conn.sendData, self.remoteMaxPacket
        for offset in range(0, top, step):
            send(self, data[offset : min(offset + step, top)])
        self.remoteWindowLeft -= top
        if top < len(data):
            self._queue(data[top:], front=True)
            self.areWriting = False
            self.stopWriting()

    def addWindowBytes(self, data: int) -> None:
        self.remoteWindowLeft += data
        if not self.areWriting and not self.closing:
            self.areWriting = True
            self.startWriting()
        while self._backlog and self.remoteWindowLeft > 0:
            chunk = self._backlog.popleft()
            self._backlog_size -= len(chunk)
            self._send(chunk)
        if self.extBuf:
            pending, self.extBuf = self.extBuf, []
            for kind, chunk in pending:
                self.writeExtended(kind, chunk)
        if self.closing and not self._backlog and not self.extBuf:
            self.conn.sendClose(self)

    def loseConnection(self) -> None:
        if self.client is not None and self.client.transport is not None:
            self.client.transport.loseConnection()
        self.closing = 1
        if not self._backlog and not self.extBuf:
            self.conn.sendClose(self)

    def eofReceived(self) -> None:
        # conch hands EOF to the ISession whenever one exists, and one exists as soon as
        # the client sent an "env" or "pty-req" request (OpenSSH's sftp sends env): the
        # SFTP subsystem then never closed. Only a running process takes EOF as stdin.
        if self.session is not None and getattr(self.session, "process", None) is not None:
            self.session.eofReceived()
        elif self.conn is not None:
            if self.client is not None:  # the SFTP subsystem ends cleanly (scp checks this)
                self.conn.sendRequest(self, b"exit-status", struct.pack(">L", 0))
            self.conn.sendClose(self)


class Avatar(ConchUser):
    """One logged-in user: a name, a root folder and the features allowed.

    @ivar observatory: where its exec, shell and SFTP events go (set at login by the
        transport, L{zoo.ssh.transport.ZooServerTransport.setService}).
    @ivar session_id: its connection's session id.
    """

    observatory: Any = hub
    session_id: str | None = None

    def __init__(self, name: str, root: Path, features: Features, reactor: Any = None) -> None:
        super().__init__()
        self.username = name
        self.root = root
        self.features = features
        self.reactor = reactor
        self.channelLookup[b"session"] = Session
        if features.sftp:
            self.subsystemLookup[b"sftp"] = SFTPProtocol
        if features.forwarding:
            self.channelLookup[b"direct-tcpip"] = forwarding.openConnectForwardingClient
        self.max_channels = MAX_CHANNELS

    def lookupChannel(
        self, channelType: bytes, windowSize: int, maxPacket: int, data: bytes
    ) -> Any:
        conn = getattr(self, "conn", None)
        if conn is not None and len(conn.channels) >= self.max_channels:
            log.info(
                "ssh: {user}: channel refused, {n} already open",
                user=self.username,
                n=len(conn.channels),
            )
            raise ConchError(
                f"too many channels (the limit is {self.max_channels})",
                connection.OPEN_ADMINISTRATIVELY_PROHIBITED,
            )
        return super().lookupChannel(channelType, windowSize, maxPacket, data)

    def lookupSubsystem(self, subsystem: bytes, data: bytes) -> Any:
        klass = self.subsystemLookup.get(subsystem)
        if klass is None:
            log.info("ssh: {user}: subsystem {name!r} refused", user=self.username, name=subsystem)
            return None
        return klass(data, self)


@implementer(ISession)
class ProcessSession:
    """exec and shell requests of one session channel, as local processes."""

    def __init__(self, avatar: Avatar) -> None:
        self.avatar = avatar
        self.pty: tuple[int, int, str] | None = None
        self.window: tuple[int, int, int, int] | None = None
        self.term = "dumb"
        self.process: Any = None

    def _reactor(self) -> Any:
        if self.avatar.reactor is not None:
            return self.avatar.reactor
        from twisted.internet import reactor

        return reactor

    def _environ(self) -> dict[str, str]:
        extra = {}
        conn = getattr(self.avatar, "conn", None)
        if conn is not None:
            peer, host = conn.transport.transport.getPeer(), conn.transport.transport.getHost()
            extra["SSH_CLIENT"] = f"{peer.host} {peer.port} {host.port}"
        if self.pty is not None:
            extra["SSH_TTY"] = self.pty[2]
        term = self.term if self.pty is not None else None
        return login_environ(self.avatar.username, self.avatar.root, term, **extra)

    def getPty(self, term: bytes, windowSize: Any, modes: Any) -> None:
        if not (self.avatar.features.shell or self.avatar.features.exec):
            raise RefusedError("no terminals in SFTP-only mode")
        self.pty = open_pty()
        self.term = term.decode("ascii", "replace") or "dumb"
        self.window = windowSize

    def _spawn(self, proto: Any, argv: list[str]) -> None:
        self.process = spawn(
            self._reactor(), proto, argv, self._environ(), self.avatar.root, self.pty or False
        )
        if self.pty is not None and self.window is not None:
            self.windowChanged(self.window)

    def openShell(self, proto: Any) -> None:
        if not self.avatar.features.shell:
            log.info("ssh: {user}: shell refused (--no-shell)", user=self.avatar.username)
            raise RefusedError("shell disabled")
        avatar = self.avatar
        if avatar.observatory.enabled:
            avatar.observatory.emit(
                "ssh",
                "ssh.shell",
                avatar.session_id,
                user=avatar.username,
                pty=self.pty is not None,
                term=self.term if self.pty is not None else None,
            )
        self._spawn(proto, [SHELL, "-i"] if self.pty else [SHELL])

    def execCommand(self, proto: Any, command: bytes) -> None:
        if not self.avatar.features.exec:
            log.info("ssh: {user}: exec refused (--no-exec)", user=self.avatar.username)
            raise RefusedError("exec disabled")
        text = command.decode("utf-8", "surrogateescape")
        if self.avatar.observatory.enabled:
            proto = _ReportExit(proto, self.avatar, bounded_text(command, 1024))
        if fault_registry.points:
            text = self._faulted(proto, text)
        self._spawn(proto, [SHELL, "-c", text])

    def _faulted(self, proto: Any, text: str) -> str:
        """The command to run: C{text}, or what a fault at C{ssh:exec} puts instead.

        A value C{N [message]} exits with status N (the message on stderr) without
        running the command; C{hang} never ends; C{drop} and C{reset} close the
        connection.
        """
        avatar = self.avatar
        hit = at(
            None,
            "ssh",
            "exec",
            mailbox=text,
            user=avatar.username,
            service="ssh",
            session=avatar.session_id,
        )
        if hit is None:
            return text
        if hit.action == "hang":
            return "exec sleep 2147483647"
        if hit.action != "reply":
            conn = getattr(avatar, "conn", None)
            if conn is not None and conn.transport is not None:
                hit.perform(conn.transport, lambda v: None)
            return "exec sleep 2147483647"
        status, _, message = (hit.value or "1").partition(" ")
        if not status.isdigit():
            status, message = "1", hit.value or ""
        said = f"printf '%s\\n' {shlex.quote(message)} >&2; " if message else ""
        return f"{said}exit {int(status) % 256}"

    def windowChanged(self, newWindowSize: Any) -> None:
        self.window = newWindowSize
        if self.process is not None and self.pty is not None:
            rows, cols, xpixel, ypixel = newWindowSize
            resize(self.process, rows, cols, xpixel, ypixel)

    def eofReceived(self) -> None:
        if self.process is not None:
            self.process.closeStdin()

    def closed(self) -> None:
        if self.process is not None:
            hang_up(self.process)
            self.process = None
        elif self.pty is not None:
            close_pty(self.pty)
        self.pty = None


class _ReportExit(ProcessProtocol):
    """Passes everything to the channel's process protocol; reports C{ssh.exec} at the end."""

    def __init__(self, inner: Any, avatar: Avatar, command: str) -> None:
        self.inner = inner
        self.avatar = avatar
        self.command = command

    def makeConnection(self, process: Any) -> None:
        self.transport = process
        self.inner.makeConnection(process)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.inner.childDataReceived(childFD, data)

    def childConnectionLost(self, childFD: int) -> None:
        self.inner.childConnectionLost(childFD)

    def processExited(self, reason: Any) -> None:
        self.inner.processExited(reason)

    def processEnded(self, reason: Any) -> None:
        self.inner.processEnded(reason)
        avatar = self.avatar
        if avatar.observatory.enabled:
            avatar.observatory.emit(
                "ssh",
                "ssh.exec",
                avatar.session_id,
                user=avatar.username,
                command=self.command,
                exit_status=getattr(reason.value, "exitCode", None),
                signal=getattr(reason.value, "signal", None),
            )


components.registerAdapter(ProcessSession, Avatar, ISession)
components.registerAdapter(RootedSFTPServer.for_avatar, Avatar, ISFTPServer)


@implementer(IRealm)
class Realm:
    """Give each user an L{Avatar} rooted at C{base/NAME} (created 0700 on first login)."""

    def __init__(self, base: Path, features: Features, reactor: Any = None) -> None:
        self.base = Path(base)
        self.features = features
        self.reactor = reactor

    def root_of(self, name: str) -> Path:
        return home_of(self.base, name)

    def requestAvatar(self, avatarId: Any, mind: Any, *interfaces: Any) -> Any:
        if IConchUser not in interfaces:
            raise NotImplementedError("only SSH users")
        name = avatarId.decode("utf-8")
        avatar = Avatar(name, self.root_of(name), self.features, self.reactor)
        log.info("ssh: {user} logged in", user=name)
        return IConchUser, avatar, lambda: None
