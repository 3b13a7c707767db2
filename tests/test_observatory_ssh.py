"""SSH in the observatory: ssh.login, ssh.exec, ssh.shell and SFTP's file events (in memory)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from twisted.conch.ssh import filetransfer
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from zoo.events import Filter, Observatory
from zoo.ssh import Features
from zoo.ssh.session import Avatar, ProcessSession
from zoo.ssh.sftp import RootedSFTPServer
from zoo.ssh.transport import ZooServerTransport


def avatar(root: Path, enabled: bool = True) -> tuple[Avatar, Observatory]:
    obs = Observatory(Clock(), enabled=enabled)
    a = Avatar("alice", root, Features())
    a.observatory, a.session_id = obs, "ssh-4"
    return a, obs


class Spawner:
    """A reactor that records spawnProcess and hands back a fake process."""

    def __init__(self) -> None:
        self.spawned: list[tuple] = []

    def spawnProcess(self, proto, executable, argv, env, path, usePTY=False):
        process = SimpleNamespace(pid=1)
        proto.makeConnection(process)
        self.spawned.append((proto, argv))
        return process


class Recorder(ProcessProtocol):
    def __init__(self) -> None:
        self.seen: list = []

    def makeConnection(self, transport) -> None:
        self.seen.append(("connected", transport))

    def childDataReceived(self, fd, data) -> None:
        self.seen.append(("data", fd, data))

    def processEnded(self, reason) -> None:
        self.seen.append(("ended", reason.value.exitCode))


def test_exec_reports_command_and_exit_status(tmp_path):
    """An exec is reported when its process ends, with the command and exit status; output passes."""
    a, obs = avatar(tmp_path)
    a.reactor = Spawner()
    inner = Recorder()
    ProcessSession(a).execCommand(inner, b"exit 3")
    proto, argv = a.reactor.spawned[0]
    assert argv[-1] == "exit 3"
    proto.childDataReceived(1, b"out")
    assert obs.events() == []  # nothing until it ends
    proto.processEnded(Failure(ProcessTerminated(exitCode=3)))
    assert [s[0] for s in inner.seen] == ["connected", "data", "ended"]
    [event] = obs.events()
    assert (event.kind, event.session) == ("ssh.exec", "ssh-4")
    assert event.fields == {"user": "alice", "command": "exit 3", "exit_status": 3, "signal": None}


def test_exec_not_reported_when_off(tmp_path):
    """With the observatory off the channel's own protocol is spawned and nothing is emitted."""
    a, obs = avatar(tmp_path, enabled=False)
    a.reactor = Spawner()
    inner = Recorder()
    ProcessSession(a).execCommand(inner, b"true")
    assert a.reactor.spawned[0][0] is inner
    inner.processEnded(Failure(ProcessDone(0)))
    obs.enable()
    assert obs.events() == []


def test_shell_is_reported(tmp_path):
    """A shell request gives ssh.shell with the user and whether it has a terminal."""
    a, obs = avatar(tmp_path)
    a.reactor = Spawner()
    ProcessSession(a).openShell(Recorder())
    [event] = obs.events()
    assert event.kind == "ssh.shell"
    assert event.fields == {"user": "alice", "pty": False, "term": None}


def test_login_reported_when_the_connection_service_starts(tmp_path):
    """After user-auth the transport reports ssh.login (user, method) and hands the avatar its observatory."""
    obs = Observatory(Clock(), enabled=True)
    t = ZooServerTransport()
    t.factory = SimpleNamespace(observatory=obs)
    t.login_guard = SimpleNamespace(session="ssh-9")
    t.avatar = Avatar("bob", tmp_path, Features())
    started = []
    t.service = SimpleNamespace(method=b"publickey", serviceStopped=lambda: None)
    t.setService(SimpleNamespace(serviceStarted=lambda: started.append(1), name=b"ssh-connection"))
    [event] = obs.events()
    assert (event.kind, event.session, event.fields) == (
        "ssh.login",
        "ssh-9",
        {"user": "bob", "method": "publickey"},
    )
    assert started == [1] and t.avatar.observatory is obs and t.avatar.session_id == "ssh-9"


def test_sftp_file_events(tmp_path):
    """SFTP upload, download, rename, delete, mkdir and rmdir each give one event (virtual paths)."""
    a, obs = avatar(tmp_path)
    server = RootedSFTPServer.for_avatar(a)
    flags = filetransfer.FXF_WRITE | filetransfer.FXF_CREAT | filetransfer.FXF_TRUNC
    f = server.openFile(b"up.txt", flags, {})
    f.writeChunk(0, b"abc")
    f.writeChunk(3, b"de")
    f.close()
    f = server.openFile(b"/up.txt", filetransfer.FXF_READ, {})
    assert f.readChunk(0, 100) == b"abcde"
    f.close()
    server.openFile(b"/up.txt", filetransfer.FXF_READ, {}).close()  # opened, not read: nothing
    server.makeDirectory(b"/d", {})
    server.renameFile(b"/up.txt", b"/d/x.txt")
    server.posix_rename(b"/d/x.txt", b"/d/y.txt")
    server.removeFile(b"/d/y.txt")
    server.removeDirectory(b"/d")
    seen = [(e.kind, e.fields["path"]) for e in obs.events(Filter.of("ssh"))]
    assert seen == [
        ("file.uploaded", "/up.txt"),
        ("file.downloaded", "/up.txt"),
        ("dir.created", "/d"),
        ("file.renamed", "/d/x.txt"),
        ("file.renamed", "/d/y.txt"),
        ("file.deleted", "/d/y.txt"),
        ("dir.removed", "/d"),
    ]
    up = obs.events()[0]
    assert up.fields == {
        "protocol": "sftp",
        "user": "alice",
        "root": "home",
        "path": "/up.txt",
        "stored": "/alice/up.txt",
        "size": 5,
        "received": 5,
    }
    assert up.session == "ssh-4" and obs.events()[3].fields["from"] == "/up.txt"


def test_sftp_emits_nothing_when_off(tmp_path):
    """With the observatory off SFTP operations leave no event."""
    a, obs = avatar(tmp_path, enabled=False)
    server = RootedSFTPServer.for_avatar(a)
    f = server.openFile(b"x", filetransfer.FXF_WRITE | filetransfer.FXF_CREAT, {})
    f.writeChunk(0, b"1")
    f.close()
    server.removeFile(b"x")
    obs.enable()
    assert obs.events() == []
