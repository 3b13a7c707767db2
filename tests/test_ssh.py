"""zoo.ssh in memory: keys and users, the transport's algorithm policy, strict KEX and
limits, and the sandboxed SFTP server (no sockets, no real clock)."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from twisted.conch.ssh import filetransfer, keys, transport
from twisted.conch.ssh.common import NS
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python import usage

from zoo.jail import Jail, virtual
from zoo.ssh import Features, Users, make_factory
from zoo.ssh import keys as zkeys
from zoo.ssh.sftp import MAX_PACKET, RootedSFTPServer, SFTPProtocol
from zoo.ssh.transport import (
    CIPHERS,
    KEY_EXCHANGES,
    MACS,
    STRICT_KEX_CLIENT,
    STRICT_KEX_SERVER,
    ZooServerTransport,
)

HOST_KEY = {"ed25519": keys.Key(ed25519.Ed25519PrivateKey.generate())}
ADDR = IPv4Address("TCP", "127.0.0.1", 40000)


# --- keys and users -----------------------------------------------------------------


def test_host_keys_generated_private_and_reused(tmp_path: Path) -> None:
    """Host keys are created 0600 with .pub files on first call and the same keys come back after."""
    first = zkeys.ensure_host_keys(tmp_path / "ssh")
    assert set(first) == {"ed25519", "rsa"}
    for name in zkeys.HOST_KEY_FILES.values():
        assert stat.S_IMODE((tmp_path / "ssh" / name).stat().st_mode) == 0o600
        assert (tmp_path / "ssh" / f"{name}.pub").read_bytes().startswith(b"ssh-")
    again = zkeys.ensure_host_keys(tmp_path / "ssh")
    assert {k: v.public().blob() for k, v in again.items()} == {
        k: v.public().blob() for k, v in first.items()
    }


def test_fingerprint_is_openssh_format() -> None:
    """Fingerprints look like OpenSSH's: 'SHA256:' and 43 base64 characters, no padding."""
    fp = zkeys.fingerprint(HOST_KEY["ed25519"])
    assert fp.startswith("SHA256:") and len(fp) == 7 + 43 and not fp.endswith("=")


def test_authorized_keys_with_options(tmp_path: Path) -> None:
    """authorized_keys lines with options and comments give their keys; junk lines are errors."""
    pub = HOST_KEY["ed25519"].public().toString("openssh").decode()
    path = tmp_path / "ak"
    path.write_text(f'# mine\nfrom="127.0.0.1",no-pty {pub} me@here\n{pub}\n')
    found = zkeys.read_authorized_keys(path)
    assert [k.blob() for k in found] == [HOST_KEY["ed25519"].public().blob()] * 2
    path.write_text("not a key\n")
    with pytest.raises(ValueError, match="not a public key"):
        zkeys.read_authorized_keys(path)


def test_password_checker_gives_bytes_avatar() -> None:
    """Users' password checker (zoo.cred's) logs in with bytes avatar ids, as conch's realm wants."""
    from twisted.cred.credentials import UsernamePassword
    from twisted.cred.error import UnauthorizedLogin

    [checker] = Users(passwords={"alice": "pw"}).checkers()
    ok = checker.requestAvatarId(UsernamePassword(b"alice", b"pw"))
    assert ok.result == b"alice"
    failures: list = []
    checker.requestAvatarId(UsernamePassword(b"alice", b"PW")).addErrback(failures.append)
    assert failures and failures[0].check(UnauthorizedLogin)


def test_options(tmp_path: Path) -> None:
    """Bad --user, user names that are not folder names and missing files are usage errors."""
    from zoo.tap.ssh import Options

    pub = HOST_KEY["ed25519"].public().toString("openssh").decode()
    (tmp_path / "ak").write_text(pub + "\n")

    for args, message in (
        (["--user", "alice"], "--user"),
        (["--authorized-keys", str(tmp_path / "missing")], "--authorized-keys"),
        (["--users-file", str(tmp_path / "missing")], "--users-file"),
        (["--user", "a:b", "--tls"], "--tls"),
        (["--authorized-keys", f"..:{tmp_path / 'ak'}"], "cannot be a user name"),
    ):
        with pytest.raises(usage.UsageError, match=message):
            Options().parseOptions(args)
    o = Options()
    o.parseOptions(["--user", "a:b", "--no-exec"])
    assert o.users.passwords == {"a": "b"} and o["no-exec"]


# --- transport ----------------------------------------------------------------------


def _factory(tmp_path: Path, **limits) -> object:
    users = Users()
    users.add_password("alice", "pw")
    return make_factory(HOST_KEY, users, tmp_path, Features(), clock=Clock(), **limits)


def _server(tmp_path: Path, factory=None):
    factory = factory or _factory(tmp_path)
    proto = factory.buildProtocol(ADDR)
    tr = StringTransport()
    proto.makeConnection(tr)
    return proto, tr


def _packet(payload: bytes) -> bytes:
    pad = 8 - (len(payload) + 5) % 8
    pad = pad + 8 if pad < 4 else pad
    return struct.pack("!LB", len(payload) + pad + 1, pad) + payload + b"\0" * pad


def _kexinit(kex: list[bytes]) -> bytes:
    lists = [b",".join(kex), b"ssh-ed25519", b"aes128-ctr", b"aes128-ctr"]
    lists += [b"hmac-sha2-256", b"hmac-sha2-256", b"none", b"none", b"", b""]
    return bytes([20]) + b"\0" * 16 + b"".join(NS(x) for x in lists) + b"\0" * 5


def _sent_kexinit(tr: StringTransport) -> list[bytes]:
    data = tr.value()
    data = data[data.index(b"\r\n") + 2 :]
    (length,) = struct.unpack("!L", data[:4])
    payload = data[5 : 4 + length]
    return [payload[17:][4 : 4 + struct.unpack("!L", payload[17:21])[0]]]


def test_no_weak_algorithms() -> None:
    """The policy offers no 3DES/CBC, no MD5/SHA-1 MACs, no SHA-1 key exchange, no DSA or SHA-1 RSA."""
    assert CIPHERS and all(c.endswith(b"-ctr") for c in CIPHERS)
    assert MACS == [b"hmac-sha2-512", b"hmac-sha2-256"]
    assert KEY_EXCHANGES and not any(b"sha1" in k for k in KEY_EXCHANGES)
    assert b"curve25519-sha256" in KEY_EXCHANGES


def test_kexinit_advertises_policy_and_strict_kex(tmp_path: Path) -> None:
    """The server's KEXINIT lists strict KEX and only ed25519 (the only host key it has)."""
    proto, tr = _server(tmp_path)
    assert tr.value().startswith(b"SSH-2.0-zoo\r\n")
    kex = _sent_kexinit(tr)[0].split(b",")
    assert STRICT_KEX_SERVER in kex
    assert proto.supportedPublicKeys == [b"ssh-ed25519"]
    assert not any(b"group-exchange" in k for k in kex)  # no moduli file


def _client_hello(kex: list[bytes]) -> bytes:
    return b"SSH-2.0-test\r\n" + _packet(_kexinit(kex))


def test_strict_kex_refuses_messages_during_key_exchange(tmp_path: Path) -> None:
    """With strict KEX negotiated, an IGNORE before NEWKEYS (Terrapin's trick) disconnects."""
    proto, tr = _server(tmp_path)
    proto.dataReceived(_client_hello([b"curve25519-sha256", STRICT_KEX_CLIENT]))
    assert proto.strict_kex
    assert not tr.disconnecting
    proto.dataReceived(_packet(bytes([transport.MSG_IGNORE]) + NS(b"x")))
    assert tr.disconnecting
    assert b"strict KEX" in tr.value()


def test_without_strict_kex_ignore_is_accepted(tmp_path: Path) -> None:
    """A client that does not offer strict KEX keeps RFC 4253 behaviour (IGNORE is fine)."""
    proto, tr = _server(tmp_path)
    proto.dataReceived(_client_hello([b"curve25519-sha256"]))
    proto.dataReceived(_packet(bytes([transport.MSG_IGNORE]) + NS(b"x")))
    assert not proto.strict_kex and not tr.disconnecting


def test_strict_kex_requires_kexinit_first(tmp_path: Path) -> None:
    """Strict KEX only counts when KEXINIT is the client's first packet."""
    proto, tr = _server(tmp_path)
    proto.dataReceived(b"SSH-2.0-test\r\n" + _packet(bytes([transport.MSG_IGNORE]) + NS(b"")))
    proto.dataReceived(_packet(_kexinit([b"curve25519-sha256", STRICT_KEX_CLIENT])))
    assert not proto.strict_kex


def test_strict_kex_resets_sequence_numbers(tmp_path: Path) -> None:
    """After NEWKEYS in strict mode both packet counters restart at zero."""
    proto, tr = _server(tmp_path)
    proto.strict_kex = True
    proto.outgoingPacketSequence = proto.incomingPacketSequence = 5
    proto.sendPacket(transport.MSG_NEWKEYS, b"")
    assert proto.outgoingPacketSequence == 0
    proto.nextEncryptions = proto.currentEncryptions
    proto.outgoingCompressionType = proto.incomingCompressionType = b"none"
    proto._keyExchangeState = proto._KEY_EXCHANGE_REQUESTED
    proto._blockedByKeyExchange = []
    proto.ssh_NEWKEYS(b"")
    assert proto.incomingPacketSequence == 0


@pytest.mark.parametrize(
    "garbage",
    [
        b"x" * 5000,  # no version line within 4 KiB
        b"SSH-2.0-test\r\n" + b"\xff" * 64,  # impossible packet length after the version
        b"SSH-2.0-test\r\n" + _packet(bytes([20]) + b"short"),  # malformed KEXINIT
        b"SSH-1.5-old\r\n",  # SSH-1 only
    ],
)
def test_garbage_closes_cleanly(tmp_path: Path, garbage: bytes) -> None:
    """Garbage before or after the version exchange closes that connection and raises nothing."""
    proto, tr = _server(tmp_path)
    proto.dataReceived(garbage)
    assert tr.disconnecting


def test_connections_per_address(tmp_path: Path) -> None:
    """Over --max-per-address, a connection gets a one-line reason and is closed; closing frees a slot."""
    factory = _factory(tmp_path, max_per_address=2)
    first, _ = _server(tmp_path, factory)
    _server(tmp_path, factory)
    refused, tr = _server(tmp_path, factory)
    assert not isinstance(refused, ZooServerTransport)
    assert b"too many connections" in tr.value() and tr.disconnecting
    first.connectionLost(None)
    again, _ = _server(tmp_path, factory)
    assert isinstance(again, ZooServerTransport)


def test_user_key_sha1_signatures_refused(tmp_path: Path) -> None:
    """User keys signed with ssh-rsa (SHA-1) or ssh-dss are refused before any check."""
    from twisted.cred.error import UnauthorizedLogin

    from zoo.ssh.transport import ZooUserAuthServer

    auth = ZooUserAuthServer()
    d = auth.auth_publickey(b"\0" + NS(b"ssh-rsa") + NS(b"blob"))
    failures = []
    d.addErrback(failures.append)
    assert failures[0].check(UnauthorizedLogin)


# --- SFTP ---------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "sub").mkdir(parents=True)
    (r / "sub" / "f.txt").write_bytes(b"hello")
    (tmp_path / "secret").write_bytes(b"outside")
    os.symlink(tmp_path / "secret", r / "out-link")
    os.symlink(tmp_path, r / "out-dir")
    os.symlink("sub/f.txt", r / "in-link")
    return r


def test_virtual_paths_stay_inside(root: Path) -> None:
    """'..' stops at the root and absolute paths are under the root, like a chroot."""
    v = Jail(root, at_root="stop")
    assert virtual(v.segments(b"../../etc/passwd")) == "/etc/passwd"
    assert v.real(v.segments(b"/../sub/../sub/f.txt")) == str(root.resolve() / "sub" / "f.txt")
    assert v.real(v.segments(b"/etc/passwd")) == str(root.resolve() / "etc" / "passwd")
    assert v.real(v.segments(b".")) == str(root.resolve())


@pytest.mark.parametrize("path", [b"out-link", b"out-dir/secret", b"/out-dir", b"sub/../out-link"])
def test_symlink_escapes_refused(root: Path, path: bytes) -> None:
    """Following a symlink that leads out of the root is refused with permission denied."""
    server = RootedSFTPServer(root)
    with pytest.raises(filetransfer.SFTPError) as e:
        server.openFile(path, filetransfer.FXF_READ, {})
    assert e.value.code == filetransfer.FX_PERMISSION_DENIED
    with pytest.raises(filetransfer.SFTPError) as e:
        server.getAttrs(path, True)
    assert e.value.code == filetransfer.FX_PERMISSION_DENIED


def test_links_inside_work_and_readlink_is_virtual(root: Path) -> None:
    """A link inside the root can be read through; readlink answers virtual paths only."""
    server = RootedSFTPServer(root)
    f = server.openFile(b"in-link", filetransfer.FXF_READ, {})
    assert f.readChunk(0, 100) == b"hello"
    f.close()
    assert server.readLink(b"in-link") == b"/sub/f.txt"
    with pytest.raises(filetransfer.SFTPError) as e:
        server.readLink(b"out-link")
    assert e.value.code == filetransfer.FX_PERMISSION_DENIED
    assert stat.S_ISLNK(server.getAttrs(b"out-link", False)["permissions"])
    with pytest.raises(filetransfer.SFTPError):
        server.makeLink(b"new-link", b"/etc")


def test_write_resume_and_attrs(root: Path) -> None:
    """Files are written at offsets (resume), permissions are masked to 0o777, owners stay."""
    server = RootedSFTPServer(root)
    flags = filetransfer.FXF_WRITE | filetransfer.FXF_CREAT | filetransfer.FXF_TRUNC
    f = server.openFile(b"/new", flags, {"permissions": 0o4755})
    f.writeChunk(0, b"abc")
    f.close()
    f = server.openFile(b"/new", filetransfer.FXF_WRITE, {})
    f.writeChunk(3, b"def")
    f.close()
    assert (root / "new").read_bytes() == b"abcdef"
    assert stat.S_IMODE((root / "new").stat().st_mode) == 0o755
    server.setAttrs(b"new", {"permissions": 0o6777, "atime": 1000, "mtime": 2000})
    attrs = server.getAttrs(b"new", True)
    assert stat.S_IMODE(attrs["permissions"]) == 0o777 and attrs["mtime"] == 2000
    with pytest.raises(filetransfer.SFTPError):
        server.setAttrs(b"new", {"uid": attrs["uid"] + 1, "gid": attrs["gid"]})


def test_rename_remove_directories(root: Path) -> None:
    """rename refuses to overwrite, posix-rename replaces, rmdir/remove work and the root stays."""
    server = RootedSFTPServer(root)
    (root / "a").write_bytes(b"a")
    (root / "b").write_bytes(b"b")
    with pytest.raises(filetransfer.SFTPError):
        server.renameFile(b"a", b"b")
    server.posix_rename(b"a", b"b")
    assert (root / "b").read_bytes() == b"a" and not (root / "a").exists()
    server.makeDirectory(b"d", {})
    server.renameFile(b"b", b"d/b")
    with pytest.raises(OSError):
        server.removeDirectory(b"d")
    server.removeFile(b"d/b")
    server.removeDirectory(b"d")
    server.removeFile(b"out-link")  # removes the link, not its target
    assert (root.parent / "secret").exists()
    with pytest.raises(filetransfer.SFTPError):
        server.removeDirectory(b"/")
    assert server.realPath(b"../sub/./") == b"/sub"


def test_directory_listing(root: Path) -> None:
    """Listing gives names, ls -l lines and attributes; handles are counted and released."""
    server = RootedSFTPServer(root)
    d = server.openDirectory(b"/sub")
    entries = list(d)
    d.close()
    assert [e[0] for e in entries] == [b"f.txt"]
    assert entries[0][1].startswith(b"-") and entries[0][1].endswith(b"f.txt")
    assert server.handles == 0


def _sftp_packet(kind: int, payload: bytes) -> bytes:
    return struct.pack("!LB", len(payload) + 1, kind) + payload


def _sftp(root: Path):
    from twisted.python import components

    from zoo.ssh.session import Avatar

    avatar = Avatar("alice", root, Features())
    assert components.getAdapterFactory(Avatar, filetransfer.ISFTPServer, None)
    proto = SFTPProtocol(avatar=avatar)
    tr = StringTransport()
    proto.makeConnection(tr)
    proto.dataReceived(_sftp_packet(filetransfer.FXP_INIT, struct.pack("!L", 3)))
    return proto, tr


def test_sftp_protocol_version_and_extensions(root: Path) -> None:
    """INIT is answered with version 3 and the OpenSSH extensions zoo implements."""
    _, tr = _sftp(root)
    reply = tr.value()
    assert reply[4] == filetransfer.FXP_VERSION
    assert b"posix-rename@openssh.com" in reply and b"limits@openssh.com" in reply


def test_sftp_oversized_packet_closes(root: Path) -> None:
    """A packet longer than 256 KiB closes the subsystem instead of being buffered."""
    proto, tr = _sftp(root)
    proto.dataReceived(struct.pack("!LB", MAX_PACKET + 1, filetransfer.FXP_WRITE))
    assert tr.disconnecting


def test_sftp_malformed_packet_answered(root: Path) -> None:
    """A malformed request gets a BAD_MESSAGE status and the session keeps working."""
    proto, tr = _sftp(root)
    tr.clear()
    proto.dataReceived(_sftp_packet(filetransfer.FXP_OPEN, b"\0\0\0\x07" + b"\xff\xff"))
    status = tr.value()
    assert status[4] == filetransfer.FXP_STATUS
    assert struct.unpack("!L", status[9:13])[0] == filetransfer.FX_BAD_MESSAGE
    tr.clear()
    proto.dataReceived(_sftp_packet(filetransfer.FXP_REALPATH, b"\0\0\0\x08" + NS(b"..")))
    assert tr.value()[4] == filetransfer.FXP_NAME and b"/" in tr.value()


# --- session channel ----------------------------------------------------------------


class _Conn:
    """Records what a session channel asks its connection to send."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def sendRequest(self, channel, kind, data, wantReply=0):
        self.sent.append(("request", kind, data))

    def sendClose(self, channel):
        self.sent.append(("close",))


def test_subsystem_closes_on_eof_after_env_request(tmp_path: Path) -> None:
    """After an env request (as OpenSSH's sftp sends), EOF still ends SFTP with exit-status 0 and a close."""
    from zoo.ssh.session import Avatar, Session

    avatar = Avatar("alice", tmp_path, Features())
    channel = Session(avatar=avatar, conn=_Conn())
    assert not channel.request_env(NS(b"LANG") + NS(b"C"))  # refused, but creates the ISession
    assert channel.session is not None
    channel.client = object()  # the SFTP subsystem is running
    channel.eofReceived()
    assert channel.conn.sent == [("request", b"exit-status", b"\0\0\0\0"), ("close",)]


def test_exec_and_shell_refused_when_disabled(tmp_path: Path) -> None:
    """--no-exec and --no-shell refuse the requests (the client sees a failure, nothing runs)."""
    from zoo.ssh.session import Avatar, Session

    avatar = Avatar("alice", tmp_path, Features(exec=False, shell=False))
    channel = Session(avatar=avatar, conn=_Conn())
    assert channel.request_exec(NS(b"touch ran")) == 0
    assert channel.request_shell(b"") == 0
    assert not (tmp_path / "ran").exists()
    assert b"sftp" in avatar.subsystemLookup


@pytest.mark.parametrize("mac", [b"hmac-sha2-256", b"hmac-sha2-512"])
def test_cached_mac_matches_conch(mac: bytes) -> None:
    """The prepared-key MACs are byte-identical to conch's and verify the same way."""
    from zoo.ssh.transport import CachedMACCiphers

    def ciphers(klass):
        c = klass(b"aes128-ctr", b"aes128-ctr", mac, mac)
        c.setKeys(b"\1" * 32, b"\2" * 32, b"\1" * 32, b"\2" * 32, b"\3" * 64, b"\3" * 64)
        return c

    conch, cached = ciphers(transport.SSHCiphers), ciphers(CachedMACCiphers)
    for seq, data in ((0, b"x"), (7, b"packet" * 1000), (2**32 - 2, b"")):
        tag = conch.makeMAC(seq, data)
        assert cached.makeMAC(seq, data) == tag
        assert cached.verify(seq, data, tag) and not cached.verify(seq + 1, data, tag)


def test_channel_backlog_keeps_order_and_window() -> None:
    """Output beyond the client's window is queued and sent in order, never past the window."""
    import random

    from zoo.ssh.session import Avatar, Session

    class Conn(_Conn):
        def __init__(self) -> None:
            super().__init__()
            self.data: list[bytes] = []

        def sendData(self, channel, data):
            self.data.append(bytes(data))

    rng = random.Random(9)
    channel = Session(
        avatar=Avatar("a", Path("."), Features()), conn=Conn(), remoteWindow=100, remoteMaxPacket=40
    )
    sent, window = b"", 100
    for i in range(300):
        chunk = bytes([i % 256]) * rng.randint(1, 90)
        sent += chunk
        channel.write(chunk)
        assert sum(map(len, channel.conn.data)) <= window  # never beyond the window
        if rng.random() < 0.3:
            grant = rng.randint(1, 150)
            window += grant
            channel.addWindowBytes(grant)
    channel.addWindowBytes(10**6)
    assert b"".join(channel.conn.data) == sent
    assert max(map(len, channel.conn.data)) <= 40
    channel.loseConnection()
    assert ("close",) in channel.conn.sent


class _DataConn(_Conn):
    def __init__(self) -> None:
        super().__init__()
        self.data: list[bytes] = []
        self.channels: dict[int, object] = {}

    def sendData(self, channel, data):
        self.data.append(bytes(data))


def _process_channel(window: int = 10):
    """A session channel with a process whose transport records pause and resume."""
    from types import SimpleNamespace

    from twisted.internet.interfaces import IProcessTransport
    from zope.interface import directlyProvides

    from zoo.ssh.session import Avatar, Session

    channel = Session(
        avatar=Avatar("a", Path("."), Features()),
        conn=_DataConn(),
        remoteWindow=window,
        remoteMaxPacket=32768,
    )
    process = StringTransport()
    directlyProvides(process, IProcessTransport)
    channel.client = SimpleNamespace(transport=process)
    return channel, process


def test_shut_window_pauses_the_process() -> None:
    """Output past the client's window pauses the process's pipes; a window adjust resumes them."""
    channel, process = _process_channel(window=10)
    channel.write(b"x" * 100)
    assert b"".join(channel.conn.data) == b"x" * 10 and process.producerState == "paused"
    channel.addWindowBytes(1000)
    assert b"".join(channel.conn.data) == b"x" * 100 and process.producerState == "producing"


def test_backed_up_connection_pauses_the_process() -> None:
    """A backed-up connection holds the process whatever the window; draining releases it."""
    channel, process = _process_channel(window=10**9)
    channel.connection_backed_up(True)
    assert process.producerState == "paused"
    channel.connection_backed_up(False)
    assert process.producerState == "producing"


def test_subsystem_channel_is_not_paused() -> None:
    """A subsystem's transport is no process: a shut window queues its output instead."""
    channel, _ = _process_channel(window=10)
    channel.client.transport = object()
    channel.write(b"x" * 100)
    assert channel.process_gate() is None and channel._backlog_size == 90


def test_channels_per_connection_capped(tmp_path: Path) -> None:
    """An avatar refuses a channel once its connection holds MAX_CHANNELS (administratively prohibited)."""
    from twisted.conch.error import ConchError
    from twisted.conch.ssh.connection import OPEN_ADMINISTRATIVELY_PROHIBITED

    from zoo.ssh.session import MAX_CHANNELS, Avatar

    avatar = Avatar("alice", tmp_path, Features())
    avatar.conn = _DataConn()
    avatar.conn.channels = dict.fromkeys(range(MAX_CHANNELS - 1))
    assert avatar.lookupChannel(b"session", 2**20, 32768, b"") is not None
    avatar.conn.channels[MAX_CHANNELS] = None
    with pytest.raises(ConchError) as caught:
        avatar.lookupChannel(b"session", 2**20, 32768, b"")
    assert caught.value.args[1] == OPEN_ADMINISTRATIVELY_PROHIBITED
