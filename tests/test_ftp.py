"""zoo-ftp in memory: the jail, line endings, and the control session with fake data connections."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from zoo._twisted.sendfile import SENDFILE_CHUNK, SENDFILE_TURN, SendfileSender
from zoo.ftp import FTPConfig, FTPFactory, User
from zoo.ftp.data import DataChannel, LineEndings
from zoo.ftp.jail import FTPFileError, Jail, Refused, split_path

CLIENT = IPv4Address("TCP", "127.0.0.1", 40000)
SERVER = IPv4Address("TCP", "127.0.0.1", 2121)


# -- the jail ---------------------------------------------------------------------------


def test_split_path_refuses_dotdot_above_root() -> None:
    """`..` past the virtual root is refused, inside it is resolved."""
    assert split_path(["a", "b"], "../c") == ["a", "c"]
    assert split_path(["a"], "/x/./y/") == ["x", "y"]
    with pytest.raises(Refused):
        split_path([], "..")
    with pytest.raises(Refused):
        split_path(["a"], "/../etc/passwd")


def test_jail_refuses_symlink_outside(tmp_path: Path) -> None:
    """A symlink pointing outside the root is refused; one pointing inside works."""
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_text("no")
    (root / "inside.txt").write_text("yes")
    (root / "out").symlink_to(tmp_path / "secret")
    (root / "in").symlink_to(root / "inside.txt")
    jail = Jail(root)
    with pytest.raises(Refused):
        jail.open_read(["out"])
    f, size = jail.open_read(["in"])
    with f:
        assert f.read() == b"yes" and size == 3
    assert [e.name for e in jail.entries([])] == ["in", "inside.txt"]


def test_jail_containment_property(tmp_path: Path) -> None:
    """Whatever path a client names (.., ., symlinks in and out), the real path stays in the root."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "out").symlink_to(tmp_path / "outside")
    (root / "a" / "up").symlink_to("../..")
    (root / "in").symlink_to(root / "a")
    jail = Jail(root)
    real_root = os.path.realpath(root)

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(st.sampled_from(["..", ".", "a", "b", "out", "in", "up", "x", ""]), max_size=8),
        st.lists(st.sampled_from(["a", "in", "b"]), max_size=3),
    )
    def check(parts: list[str], cwd: list[str]) -> None:
        try:
            path = jail.real(split_path(cwd, "/".join(parts)))
        except Refused:
            return
        assert path == real_root or path.startswith(real_root + os.sep), path

    check()


def test_jail_read_only_refuses_changes(tmp_path: Path) -> None:
    """A read-only jail refuses store, delete, mkdir and rename."""
    (tmp_path / "f").write_text("x")
    jail = Jail(tmp_path)
    for op in (
        lambda: jail.open_write(["g"]),
        lambda: jail.remove(["f"]),
        lambda: jail.mkdir(["d"]),
        lambda: jail.rename(["f"], ["g"]),
    ):
        with pytest.raises(Refused):
            op()
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_upload_only_folder_never_overwrites(tmp_path: Path) -> None:
    """The anonymous upload folder takes new files only, and nothing elsewhere."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "old").write_text("keep")
    jail = Jail(tmp_path, upload_dir=["in"])
    up = jail.open_write(["in", "new"])
    up.write(b"data")
    up.publish()
    assert (tmp_path / "in" / "new").read_bytes() == b"data"
    with pytest.raises(Refused):
        jail.open_write(["in", "old"])
    with pytest.raises(Refused):
        jail.open_write(["elsewhere"])
    with pytest.raises(Refused):
        jail.open_write(["in", "new"], offset=-1)


def test_upload_writes_temp_then_renames(tmp_path: Path) -> None:
    """A store writes a hidden temporary file; publish renames it, discard removes it."""
    (tmp_path / "f").write_text("old")
    jail = Jail(tmp_path, writable=True)
    up = jail.open_write(["f"])
    up.write(b"new")
    assert (tmp_path / "f").read_text() == "old"
    assert [e.name for e in jail.entries([])] == ["f"]  # the temp file is hidden
    up.publish()
    assert (tmp_path / "f").read_text() == "new"
    up = jail.open_write(["f"])
    up.write(b"partial")
    up.discard()
    assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f").read_text() == "new"


def test_resume_offset_past_end_refused(tmp_path: Path) -> None:
    """REST beyond the file's end before STOR is refused with 554."""
    (tmp_path / "f").write_text("abc")
    with pytest.raises(FTPFileError) as e:
        Jail(tmp_path, writable=True).open_write(["f"], offset=10)
    assert e.value.code == "554"


# -- line endings -------------------------------------------------------------------------


def test_line_endings_to_network_across_chunks() -> None:
    """TYPE A downloads turn LF into CRLF, keep CRLF, even when CR and LF are split."""
    conv = LineEndings(to_network=True)
    out = conv.convert(b"a\nb\r") + conv.convert(b"\nc\n") + conv.flush()
    assert out == b"a\r\nb\r\nc\r\n"


def test_line_endings_from_network() -> None:
    """TYPE A uploads turn CRLF into LF; a lone trailing CR is kept."""
    conv = LineEndings(to_network=False)
    assert conv.convert(b"a\r") + conv.convert(b"\nb\r\n") + conv.flush() == b"a\nb\n"
    conv = LineEndings(to_network=False)
    assert conv.convert(b"x\r") + conv.flush() == b"x\r"


# -- the control session ------------------------------------------------------------------


class Client:
    """An in-memory FTP client: control over StringTransport, data over fake connections."""

    def __init__(self, root: Path, peer: IPv4Address = CLIENT, **config: object) -> None:
        root.mkdir(exist_ok=True)
        self.reactor = MemoryReactorClock()
        self.factory = FTPFactory(FTPConfig(root=root, **config), self.reactor)  # type: ignore[arg-type]
        self.proto = self.factory.buildProtocol(peer)
        self.transport = StringTransport(hostAddress=SERVER, peerAddress=peer)
        self.proto.makeConnection(self.transport)
        self.welcome = self.read()

    def read(self) -> str:
        out = self.transport.value().decode()
        self.transport.clear()
        return out

    def cmd(self, line: str) -> str:
        self.proto.dataReceived(line.encode() + b"\r\n")
        self.settle()
        return self.read()

    def settle(self) -> None:
        """Let a failed login's throttle delay run out (the reactor's clock, in steps)."""
        while self.proto._guard.pending is not None:
            self.reactor.advance(0.05)

    def login(self, user: str = "anonymous", password: str = "a@b") -> None:
        self.cmd(f"USER {user}")
        assert self.cmd(f"PASS {password}").startswith("230"), "login failed"

    def passive(self, peer: IPv4Address = CLIENT) -> tuple[DataChannel | None, StringTransport]:
        """PASV, then connect to the listener from C{peer}."""
        assert self.cmd("PASV").startswith("227")
        _, factory, _, interface = self.reactor.tcpServers[-1]
        assert interface == SERVER.host
        channel = factory.buildProtocol(peer)
        data = StringTransport(hostAddress=SERVER, peerAddress=peer)
        if channel is not None:
            channel.makeConnection(data)
        return channel, data

    def download(self, command: str) -> tuple[str, bytes]:
        """Run a download command over a passive connection; return replies and bytes."""
        channel, data = self.passive()
        assert channel is not None
        self.proto.dataReceived(command.encode() + b"\r\n")
        while data.producer is not None:
            data.producer.resumeProducing()
        assert data.disconnecting, "the server should close the data connection"
        channel.connectionLost(Failure(ConnectionDone()))
        return self.read(), data.value()

    def upload(self, command: str, payload: bytes, reason: Exception | None = None) -> str:
        channel, _ = self.passive()
        assert channel is not None
        self.proto.dataReceived(command.encode() + b"\r\n")
        channel.dataReceived(payload)
        channel.connectionLost(Failure(reason or ConnectionDone()))
        self.reactor.advance(1)
        return self.read()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    (r / "README").write_bytes(b"line one\nline two\n")
    (r / "sub").mkdir()
    (r / "sub" / "deep.bin").write_bytes(bytes(range(256)) * 4)
    return r


def test_welcome_and_anonymous_login(root: Path) -> None:
    """The server greets with 220; anonymous login gets 230 and PWD is '/'."""
    c = Client(root)
    assert c.welcome.startswith("220 ")
    assert c.cmd("USER anonymous").startswith("331")
    assert c.cmd("PASS me@example.com").startswith("230")
    assert c.cmd("PWD") == '257 "/" is the current directory.\r\n'


def test_commands_need_login(root: Path) -> None:
    """File commands before login get 530; FEAT works before login."""
    c = Client(root)
    assert c.cmd("LIST").startswith("530")
    assert c.cmd("FEAT").startswith("211-")


def test_feat_lists_supported_features(root: Path) -> None:
    """FEAT lists EPSV, EPRT, MLST, REST STREAM, SIZE, MDTM, UTF8 (and AUTH TLS when configured)."""
    c = Client(root, tls=object())
    feat = c.cmd("FEAT")
    for f in ("EPSV", "EPRT", "MLST type*", "REST STREAM", "SIZE", "MDTM", "UTF8", "AUTH TLS"):
        assert f"\r\n {f}" in feat, f
    assert feat.endswith("211 End\r\n")
    assert "AUTH TLS" not in Client(root).cmd("FEAT")


def test_wrong_password_then_close(root: Path) -> None:
    """Wrong passwords get 530; the third closes the connection with 421."""
    c = Client(root, users={"alice": User("secret", root)}, max_login_attempts=3)
    for _ in range(2):
        c.cmd("USER alice")
        assert c.cmd("PASS nope") == "530 Login incorrect.\r\n"
    c.cmd("USER alice")
    assert c.cmd("PASS nope").endswith("421 Too many failed logins; closing.\r\n")
    assert c.transport.disconnecting


def test_login_through_portal_with_hash_and_delay(root: Path) -> None:
    """A bcrypt-hashed user logs in; a wrong password's 530 waits for the throttle's delay."""
    from twisted.cred import credentials
    from twisted.internet import defer

    from zoo import cred

    c = Client(root, users={"alice": User(cred.hash_password("secret", rounds=4), root)})
    checker = c.factory.logins.portal.checkers[credentials.IUsernamePassword]
    checker.run_hash = lambda f, *a: defer.maybeDeferred(f, *a)  # no thread pool in memory
    c.cmd("USER alice")
    c.proto.dataReceived(b"PASS nope\r\n")
    c.reactor.advance(0.099)
    assert c.read() == ""
    c.reactor.advance(0.002)
    assert c.read() == "530 Login incorrect.\r\n"
    c.cmd("USER alice")
    assert c.cmd("PASS secret") == "230 User alice logged in.\r\n"
    assert c.factory.logins.throttle.failures(CLIENT.host) == 0


def test_non_utf8_password_is_refused_unchecked(root: Path) -> None:
    """PASS with bytes that are not UTF-8 gets 501 (RFC 2640) without a check; a real login follows."""
    c = Client(root, users={"alice": User("secret", root)})
    c.cmd("USER alice")
    c.proto.dataReceived(b"PASS \xff\xfe\r\n")
    c.settle()
    assert c.read() == "501 Syntax error: the argument is not UTF-8.\r\n"
    c.cmd("USER alice")
    assert c.cmd("PASS secret").startswith("230")


def test_unknown_user_gets_same_331(root: Path) -> None:
    """USER gives the same 331 whether or not the user exists (no user enumeration)."""
    c = Client(root, users={"alice": User("secret", root)})
    assert c.cmd("USER alice") == "331 Password required for alice.\r\n"
    assert c.cmd("USER mallory") == "331 Password required for mallory.\r\n"


def test_no_anonymous(root: Path) -> None:
    """With anonymous disabled, 'anonymous' is just an unknown user."""
    c = Client(root, anonymous=False)
    c.cmd("USER anonymous")
    assert c.cmd("PASS x").startswith("530")


def test_nlst_without_argument(root: Path) -> None:
    """NLST with no argument lists the current directory's bare names (Twisted #4258)."""
    c = Client(root)
    c.login()
    replies, body = c.download("NLST")
    assert body == b"README\r\nsub\r\n"
    assert replies.startswith("150") and replies.endswith("226 Directory send OK.\r\n")


def test_list_is_ls_style(root: Path) -> None:
    """LIST sends ls -l lines with owner 'ftp' (no local user names), options ignored."""
    c = Client(root)
    c.login()
    _, body = c.download("LIST -la")
    lines = body.decode().splitlines()
    assert lines[0].startswith("-rw") and lines[0].endswith(" README")
    assert lines[1].startswith("d") and " ftp      ftp " in lines[1]


def test_ascii_retr_converts_line_endings(root: Path) -> None:
    """TYPE A RETR sends CRLF line endings instead of failing (Twisted #9555)."""
    c = Client(root)
    c.login()
    assert c.cmd("TYPE A").startswith("200")
    replies, body = c.download("RETR README")
    assert body == b"line one\r\nline two\r\n"
    assert replies.endswith("226 Transfer complete.\r\n")


def test_binary_retr_with_size_and_rest(root: Path) -> None:
    """TYPE I RETR sends exact bytes, says '(N bytes)', and honours REST."""
    c = Client(root)
    c.login()
    c.cmd("TYPE I")
    replies, body = c.download("RETR sub/deep.bin")
    assert body == bytes(range(256)) * 4
    assert "(1024 bytes)" in replies
    assert c.cmd("REST 1000").startswith("350")
    replies, body = c.download("RETR /sub/deep.bin")
    assert body == (bytes(range(256)) * 4)[1000:] and "(24 bytes)" in replies


def test_retr_missing_file_fails_before_data(root: Path) -> None:
    """RETR of a missing file answers 550 without a 150 (clients avoid empty files)."""
    c = Client(root)
    c.login()
    c.cmd("PASV")
    reply = c.cmd("RETR nope")
    assert reply.startswith("550") and "150" not in reply


def test_transfer_without_pasv(root: Path) -> None:
    """RETR with no PASV/PORT first gets 425."""
    c = Client(root)
    c.login()
    assert c.cmd("RETR README").startswith("425")


def test_size_mdtm_mlst(root: Path) -> None:
    """SIZE (binary only), MDTM and MLST describe a file; a directory has no SIZE."""
    c = Client(root)
    c.login()
    assert c.cmd("SIZE README").startswith("550")  # TYPE A by default
    c.cmd("TYPE I")
    assert c.cmd("SIZE README") == "213 18\r\n"
    assert c.cmd("SIZE sub").startswith("550")
    assert len(c.cmd("MDTM README").split()[1]) == 14
    mlst = c.cmd("MLST README")
    assert "type=file;size=18;" in mlst and "perm=r;" in mlst and mlst.endswith("250 End.\r\n")


def test_mlsd(root: Path) -> None:
    """MLSD lists facts for the directory and each entry."""
    c = Client(root)
    c.login()
    _, body = c.download("MLSD")
    lines = body.decode().splitlines()
    assert lines[0].startswith("type=cdir;") and lines[0].endswith(" .")
    assert any(x.startswith("type=file;size=18;") and x.endswith(" README") for x in lines)
    assert any(x.startswith("type=dir;") and x.endswith(" sub") for x in lines)


def test_cwd_traversal_refused(root: Path) -> None:
    """CWD out of the root, into a file, or to a missing folder gets 550; CWD/CDUP work inside."""
    c = Client(root)
    c.login()
    assert c.cmd("CWD ../..").startswith("550")
    assert c.cmd("CWD /../etc").startswith("550")
    assert c.cmd("CWD README").startswith("550")
    assert c.cmd("CWD nope").startswith("550")
    assert c.cmd("CWD sub").startswith("250")
    assert c.cmd("PWD").startswith('257 "/sub"')
    assert c.cmd("CDUP").startswith("250")
    assert c.cmd("CDUP").startswith("550")


def test_symlink_escape_refused_over_ftp(root: Path, tmp_path: Path) -> None:
    """RETR and CWD through a symlink that points outside the root get 550."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("s")
    (root / "link").symlink_to(tmp_path / "outside")
    c = Client(root)
    c.login()
    assert c.cmd("CWD link").startswith("550")
    c.cmd("PASV")
    assert c.cmd("RETR link/secret").startswith("550")
    assert c.cmd("SIZE link/secret").startswith("550")


def test_anonymous_cannot_write(root: Path) -> None:
    """Anonymous STOR, DELE, MKD and RNFR are refused with 550 and change nothing."""
    c = Client(root)
    c.login()
    c.cmd("PASV")
    assert c.cmd("STOR x").startswith("550")
    assert c.cmd("DELE README").startswith("550")
    assert c.cmd("MKD d").startswith("550")
    assert c.cmd("RNFR README").startswith("550")
    assert sorted(os.listdir(root)) == ["README", "sub"]


def test_user_store_append_resume(root: Path, tmp_path: Path) -> None:
    """A user stores a file, appends to it, and resumes it with REST + STOR."""
    home = tmp_path / "home"
    home.mkdir()
    c = Client(root, users={"alice": User("pw", home)})
    c.login("alice", "pw")
    c.cmd("TYPE I")
    assert c.upload("STOR f.bin", b"hello").endswith("226 Transfer complete.\r\n")
    assert (home / "f.bin").read_bytes() == b"hello"
    c.upload("APPE f.bin", b" world")
    assert (home / "f.bin").read_bytes() == b"hello world"
    c.cmd("REST 5")
    c.upload("STOR f.bin", b"!")
    assert (home / "f.bin").read_bytes() == b"hello!"


def test_ascii_store_converts(root: Path, tmp_path: Path) -> None:
    """TYPE A STOR stores CRLF lines as LF."""
    c = Client(root, users={"alice": User("pw", tmp_path)})
    c.login("alice", "pw")
    c.upload("STOR t.txt", b"a\r\nb\r\n")
    assert (tmp_path / "t.txt").read_bytes() == b"a\nb\n"


def test_aborted_upload_leaves_nothing(root: Path, tmp_path: Path) -> None:
    """An upload whose data connection is reset leaves no file and no temp file; 426."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "keep").write_bytes(b"original")
    c = Client(root, users={"alice": User("pw", home)})
    c.login("alice", "pw")
    reply = c.upload("STOR keep", b"trunc", reason=ConnectionLost())
    assert reply.endswith("426 Connection closed; transfer aborted.\r\n")
    assert os.listdir(home) == ["keep"] and (home / "keep").read_bytes() == b"original"


def test_upload_discarded_when_control_closes(root: Path, tmp_path: Path) -> None:
    """If the control connection is gone when the data ends, the upload is not kept."""
    c = Client(root, users={"alice": User("pw", tmp_path)})
    c.login("alice", "pw")
    channel, _ = c.passive()
    assert channel is not None
    c.proto.dataReceived(b"STOR new\r\n")
    channel.dataReceived(b"half")
    c.proto.connectionLost(Failure(ConnectionDone()))
    channel.connectionLost(Failure(ConnectionDone()))
    c.reactor.advance(1)
    assert os.listdir(tmp_path) == ["root"]


def test_rename_mkdir_delete(root: Path, tmp_path: Path) -> None:
    """A user can MKD, RNFR/RNTO across folders, DELE and RMD (non-empty RMD fails)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "a").write_text("x")
    c = Client(root, users={"alice": User("pw", home)})
    c.login("alice", "pw")
    assert c.cmd("MKD d") == '257 "/d" created.\r\n'
    assert c.cmd("RNFR a").startswith("350")
    assert c.cmd("RNTO d/b").startswith("250")
    assert c.cmd("RMD d").startswith("550")
    assert c.cmd("DELE d/b").startswith("250")
    assert c.cmd("RMD d").startswith("250")
    assert os.listdir(home) == []


def test_pasv_refuses_other_hosts(root: Path) -> None:
    """The passive listener accepts only the control connection's peer address."""
    c = Client(root)
    c.login()
    channel, _ = c.passive(peer=IPv4Address("TCP", "10.9.9.9", 5000))
    assert channel is None


def test_pasv_advertised_address_and_range(root: Path) -> None:
    """PASV advertises --passive-address and listens on a port from the range."""
    c = Client(root, passive_address="203.0.113.7", passive_ports=range(50000, 50010))
    c.login()
    reply = c.cmd("PASV")
    assert reply.startswith("227 Entering Passive Mode (203,0,113,7,")
    port = c.reactor.tcpServers[-1][0]
    assert 50000 <= port < 50010


def test_port_bounce_refused(root: Path) -> None:
    """PORT/EPRT to any address but the client's own, or to a port below 1024, get 501."""
    c = Client(root)
    c.login()
    assert c.cmd("PORT 10,0,0,1,4,1").startswith("501")
    assert c.cmd("EPRT |1|192.0.2.1|2000|").startswith("501")
    assert c.cmd("PORT 127,0,0,1,0,25").startswith("501")
    assert c.cmd("PORT garbage").startswith("501")
    assert c.reactor.tcpClients == []
    assert c.cmd("PORT 127,0,0,1,4,1") == "200 PORT command successful.\r\n"
    assert c.reactor.tcpClients[0][:2] == ("127.0.0.1", 1025)


def test_active_download(root: Path) -> None:
    """After PORT, the server dials out and RETR sends the file over that connection."""
    c = Client(root)
    c.login()
    c.cmd("TYPE I")
    c.cmd("EPRT |1|127.0.0.1|3000|")
    factory = c.reactor.tcpClients[0][2]
    channel = factory.buildProtocol(CLIENT)
    data = StringTransport()
    channel.makeConnection(data)
    c.proto.dataReceived(b"RETR README\r\n")
    while data.producer is not None:
        data.producer.resumeProducing()
    channel.connectionLost(Failure(ConnectionDone()))
    assert data.value() == b"line one\nline two\n"
    assert c.read().endswith("226 Transfer complete.\r\n")


def test_data_connection_timeout(root: Path) -> None:
    """A client that never opens the data connection gets 425 after the data timeout."""
    c = Client(root, data_timeout=5.0)
    c.login()
    c.cmd("PASV")
    assert c.cmd("LIST").startswith("150")
    c.reactor.advance(5)
    assert c.read().startswith("425")


def test_commands_wait_during_transfer(root: Path) -> None:
    """Commands other than ABOR/STAT/NOOP sent during a transfer are answered after its 226."""
    c = Client(root)
    c.login()
    channel, data = c.passive()
    assert channel is not None
    c.proto.dataReceived(b"RETR README\r\nPWD\r\nNOOP\r\n")
    assert "257" not in c.transport.value().decode()
    channel.connectionLost(Failure(ConnectionDone()))
    replies = c.read()
    assert replies.index("226") < replies.index("257") < replies.index("200")


def test_reading_stops_while_replies_back_up_or_a_command_waits(root: Path) -> None:
    """The control connection is read only when replies are not backed up and no command waits."""
    c = Client(root)
    backpressure = c.transport.producer
    assert backpressure is not None and c.transport.streaming
    backpressure.pauseProducing()  # the client stopped reading our replies
    assert c.transport.producerState == "paused"
    backpressure.resumeProducing()
    assert c.transport.producerState == "producing"
    c.login()
    channel, data = c.passive()
    assert channel is not None
    c.proto.dataReceived(b"RETR README\r\nPWD\r\n")  # PWD waits for the transfer
    assert c.transport.producerState == "paused"
    backpressure.pauseProducing()
    backpressure.resumeProducing()  # replies flow again, but PWD still waits
    assert c.transport.producerState == "paused"
    backpressure.pauseProducing()
    channel.connectionLost(Failure(ConnectionDone()))  # 226, then PWD runs
    assert "257" in c.read()
    assert c.transport.producerState == "paused"  # replies are still backed up
    backpressure.resumeProducing()
    assert c.transport.producerState == "producing"


def big_download(root: Path) -> tuple[Client, DataChannel, StringTransport]:
    """A session in the middle of sending a file larger than one chunk."""
    (root / "big").write_bytes(b"x" * (600 * 1024))
    c = Client(root)
    c.login()
    c.cmd("TYPE I")
    channel, data = c.passive()
    assert channel is not None
    assert c.cmd("RETR big").startswith("150")
    data.producer.resumeProducing()
    return c, channel, data


def test_abor_during_download(root: Path) -> None:
    """ABOR mid-transfer closes the data connection: 426 for the transfer, then 226."""
    c, channel, data = big_download(root)
    assert c.cmd("STAT") == "211 A transfer is in progress.\r\n"
    assert c.cmd("NOOP") == "200 NOOP ok.\r\n"
    assert c.cmd("ABOR") == ""
    assert data.disconnecting
    data.producer.stopProducing()
    channel.connectionLost(Failure(ConnectionLost()))
    assert c.read().endswith("426 Connection closed; transfer aborted.\r\n226 ABOR successful.\r\n")
    assert c.cmd("PWD").startswith("257")


def test_abor_without_transfer(root: Path) -> None:
    """ABOR with nothing running answers 225."""
    c = Client(root)
    c.login()
    assert c.cmd("ABOR") == "225 No transfer to abort.\r\n"


def test_require_tls(root: Path) -> None:
    """With require_tls, USER before AUTH TLS gets 530."""
    c = Client(root, require_tls=True, tls=object())
    assert c.cmd("USER anonymous").startswith("530")
    assert c.cmd("PBSZ 0").startswith("503")
    assert c.cmd("PROT P").startswith("503")


def test_bad_commands_limit(root: Path) -> None:
    """Unknown commands get 502; too many in a row close the connection with 421."""
    c = Client(root, max_bad_commands=3)
    assert c.cmd("XYZZY").startswith("502")
    assert c.cmd("NOOP").startswith("200")  # resets the count
    c.cmd("BOGUS")
    c.cmd("BOGUS")
    assert c.cmd("BOGUS").startswith("421")
    assert c.transport.disconnecting


def test_overlong_line(root: Path) -> None:
    """A command line over the limit gets 500 and the connection is closed."""
    c = Client(root)
    c.proto.dataReceived(b"USER " + b"x" * 10000)
    assert c.read().startswith("500")
    assert c.transport.disconnecting


def test_garbage_bytes(root: Path) -> None:
    """Non-UTF-8 bytes are an unknown command, not a crash."""
    c = Client(root)
    c.proto.dataReceived(b"\xff\xfe\x00\x80 junk\r\n")
    assert c.read().startswith("502")


def test_per_address_limit(root: Path) -> None:
    """Connections beyond the per-address limit get 421; other addresses are unaffected."""
    c1 = Client(root, max_per_address=1)
    proto = c1.factory.buildProtocol(CLIENT)
    t = StringTransport(hostAddress=SERVER, peerAddress=CLIENT)
    proto.makeConnection(t)
    assert t.value().startswith(b"421") and t.disconnecting
    proto.connectionLost(Failure(ConnectionDone()))
    other = IPv4Address("TCP", "127.0.0.2", 1)
    proto = c1.factory.buildProtocol(other)
    t = StringTransport(hostAddress=SERVER, peerAddress=other)
    proto.makeConnection(t)
    assert t.value().startswith(b"220")
    c1.proto.connectionLost(Failure(ConnectionDone()))
    assert c1.factory.per_address == {"127.0.0.2": 1}


def test_quit(root: Path) -> None:
    """QUIT answers 221 and closes."""
    c = Client(root)
    assert c.cmd("QUIT") == "221 Goodbye.\r\n"
    assert c.transport.disconnecting


# -- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "alice"], "NAME:PASSWORD"),
        (["--user", "anonymous:x"], "cannot be a user name"),
        (["--user", "a:1", "--user", "a:2"], "given twice"),
        (["--no-anonymous"], "nobody could log in"),
        (["--passive-ports", "80-90"], "--passive-ports"),
        (["--passive-ports", "60000-50000"], "--passive-ports"),
        (["--passive-address", "example.com"], "--passive-address"),
        (["--anonymous-upload", "../up"], "inside the root"),
        (["--users-file", "/nonexistent/users"], "--users-file"),
        (["--upload-grace", "-1"], "--upload-grace"),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    """Bad zoo-ftp options are refused with a message naming the option."""
    from twisted.python import usage

    from zoo.tap.ftp import Options

    with pytest.raises(usage.UsageError, match=message):
        Options().parseOptions(args)


def test_options_users_file_and_defaults(tmp_path: Path) -> None:
    """A users file adds users; defaults are port 2121, anonymous on, passive ports any."""
    from zoo.tap.ftp import Options

    users = tmp_path / "users"
    users.write_text("# comment\nbob:pw\ncarol:pw2:/srv/carol\n")
    o = Options()
    o.parseOptions(["--users-file", str(users), "--passive-ports", "50000-50009"])
    assert o["users"] == [("bob", "pw", None), ("carol", "pw2", "/srv/carol")]
    assert o["passive-ports"] == range(50000, 50010)
    assert o.endpoints == ["tcp:2121:interface=127.0.0.1"]
    assert not o["no-anonymous"]
    assert o["upload-grace"] == 0.02


def test_make_service_creates_root_with_readme(tmp_path: Path) -> None:
    """With no options, the root is STATE_DIR/ftp with a README, and user homes are made."""
    from zoo.tap.ftp import Options, makeService

    o = Options()
    o.parseOptions(["--state-dir", str(tmp_path / "st"), "--user", "dan:pw", "--port", "0"])
    makeService(o)
    assert (tmp_path / "st" / "ftp" / "README").read_text().startswith("Welcome to zoo-ftp.")
    assert (tmp_path / "st" / "ftp-users" / "dan").is_dir()


def test_download_cut_short_is_426(root: Path) -> None:
    """A client closing the data connection mid-file gets 426, not 226."""
    c, channel, data = big_download(root)
    data.producer.stopProducing()
    channel.connectionLost(Failure(ConnectionLost()))
    assert c.read().endswith("426 Connection closed; transfer aborted.\r\n")


def test_data_traffic_counts_as_control_activity(root: Path) -> None:
    """Data-connection traffic bumps the control connection's idle counter (long transfers live)."""
    from zoo.policies import ZooPolicyFactory

    factory = FTPFactory(FTPConfig(root=root), MemoryReactorClock())
    wrapper = ZooPolicyFactory(factory).buildProtocol(CLIENT)
    wrapper.makeConnection(StringTransport(hostAddress=SERVER, peerAddress=CLIENT))
    before = wrapper.activity
    wrapper.wrappedProtocol.touch()
    assert wrapper.activity == before + 1


def test_certificate_alone_means_explicit_ftps(tmp_path: Path) -> None:
    """--tls-cert/--tls-key alone keep the listener plain (AUTH TLS uses them); --tls makes it implicit."""
    from zoo.tap.ftp import Options
    from zoo.testing import dev_ca, issue

    leaf = issue(dev_ca(), ["localhost"])
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_bytes(leaf.cert_pem)
    key.write_bytes(leaf.key_pem)
    o = Options()
    o.parseOptions(["--tls-cert", str(cert), "--tls-key", str(key)])
    assert not o["tls"]
    o = Options()
    o.parseOptions(["--tls", "--tls-cert", str(cert), "--tls-key", str(key)])
    assert o["tls"]


class FakeSocketTransport:
    """Just what SendfileSender uses of a TCP transport, with a socket that takes `room` bytes."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.calls: list[int] = []
        self.writing = 0
        self.producer: object = None
        self.aborted = False

    def sendfile(self, out: int, src: int, offset: int, count: int) -> int:
        self.calls.append(count)
        if self.room == 0:
            raise BlockingIOError()
        n = min(count, self.room, os.fstat(src).st_size - offset)
        self.room -= n
        return n

    # the transport
    socket = property(lambda self: self)

    def fileno(self) -> int:
        return -1

    def registerProducer(self, producer: object, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def startWriting(self) -> None:
        self.writing += 1

    def abortConnection(self) -> None:
        self.aborted = True


def sendfile_sender(
    tmp_path: Path, size: int, room: int
) -> tuple[SendfileSender, FakeSocketTransport]:
    (tmp_path / "f").write_bytes(b"x" * size)
    transport = FakeSocketTransport(room)
    sender = SendfileSender((tmp_path / "f").open("rb"), transport, lambda: None)
    sender.sendfile = transport.sendfile  # type: ignore[method-assign]
    sender.start()
    return sender, transport


def test_sendfile_sends_64k_calls_up_to_a_turn(tmp_path: Path) -> None:
    """sendfile goes in 64 KiB calls, about 1 MiB per reactor turn, then waits for writability."""
    sender, transport = sendfile_sender(tmp_path, 3 * SENDFILE_TURN, room=10 * SENDFILE_TURN)
    sender.resumeProducing()
    assert set(transport.calls) == {SENDFILE_CHUNK}
    assert sender.sent == SENDFILE_TURN + SENDFILE_CHUNK
    assert transport.writing == 1 and transport.producer is sender


def test_sendfile_stops_when_socket_full_and_ends_in_the_same_turn(tmp_path: Path) -> None:
    """A full socket ends the turn; a file's end found in a turn completes the transfer at once."""
    sender, transport = sendfile_sender(tmp_path, 1024 * 1024, room=100_000)
    sender.resumeProducing()
    assert sender.sent == 100_000 and transport.writing == 1
    done: list[object] = []
    sender.done.addCallback(done.append)
    transport.room = 10 * 1024 * 1024
    transport.calls.clear()
    sender.resumeProducing()
    assert sender.sent == 1024 * 1024 and sender.complete
    assert done == [None] and transport.producer is None and transport.writing == 1
    assert (
        transport.calls[-1] == SENDFILE_CHUNK and len(transport.calls) == 16
    )  # 14 full, the rest, EOF


def test_send_file_does_not_read_a_big_file_twice(tmp_path: Path) -> None:
    """A file of several chunks goes straight to its sender: no head read to size it up."""
    import io

    from zoo.ftp.data import CHUNK

    class Counting(io.BufferedReader):
        taken = 0

        def read(self, n: int | None = -1) -> bytes:
            data = super().read(n)
            self.taken += len(data)
            return data

    class Session:
        def data_connected(self, channel: DataChannel) -> None:
            pass

        def touch(self) -> None:
            pass

    (tmp_path / "big").write_bytes(b"x" * (3 * CHUNK))
    f = Counting(io.FileIO(tmp_path / "big"))
    channel = DataChannel(Session())
    transport = StringTransport()
    channel.makeConnection(transport)
    channel.send_file(f, ascii=False)
    transport.producer.resumeProducing()
    assert f.taken == CHUNK and len(transport.value()) == CHUNK


def test_anonymous_logins_under_load_are_summed_up(root: Path) -> None:
    """The first anonymous login is logged; those within a second follow as one line by address."""
    from twisted.logger import capturedLogs, formatEvent

    c = Client(root, users={"alice": User("pw", root)})

    def login(host: str, user: str = "anonymous", password: str = "a@b") -> None:
        peer = IPv4Address("TCP", host, 40000)
        session = c.factory.buildProtocol(peer)
        transport = StringTransport(hostAddress=SERVER, peerAddress=peer)
        session.makeConnection(transport)
        session.dataReceived(f"USER {user}\r\nPASS {password}\r\n".encode())
        assert b"\r\n230 " in transport.value()

    with capturedLogs() as events:
        for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.2"):
            login(host)
        login("127.0.0.1", "alice", "pw")
        assert [formatEvent(e) for e in events] == [
            "FTP anonymous login from 127.0.0.1",
            "FTP user alice logged in from 127.0.0.1",
        ]
        c.reactor.advance(FTPFactory.SUMMARY_SECONDS)
        assert [formatEvent(e) for e in events][2:] == [
            "FTP 3 more anonymous logins in the last 1 s from 127.0.0.2 (2), 127.0.0.3 (1)"
        ]
        c.reactor.advance(FTPFactory.SUMMARY_SECONDS)
        login("127.0.0.1")
        assert [formatEvent(e) for e in events][3:] == ["FTP anonymous login from 127.0.0.1"]


@pytest.mark.parametrize(
    "line", [b"PASS \xff\xfe\x80", b"USER \xc3\x28", b"TYPE \xff", b"OPTS UTF8 \xfe"]
)
def test_non_utf8_argument_gets_501(root: Path, line: bytes) -> None:
    """A non-UTF-8 argument to a command that does not name a file gets 501; the session lives."""
    c = Client(root)
    if line.startswith(b"PASS"):
        assert c.cmd("USER joe").startswith("331")
    c.proto.dataReceived(line + b"\r\n")
    assert c.read().startswith("501")
    assert not c.transport.disconnecting
    assert c.cmd("NOOP").startswith("200")
