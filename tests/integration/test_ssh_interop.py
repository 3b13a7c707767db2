"""zoo-ssh against real clients: OpenSSH ssh, sftp, scp, ssh-keyscan and paramiko (the book's programs)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import require_tool

from zoo.testing import TwistdProcess

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def keypair(tmp_path_factory) -> Path:
    require_tool("ssh-keygen")
    d = tmp_path_factory.mktemp("client")
    key = d / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30
    )
    other = d / "other"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30
    )
    return key


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, keypair):
    work = tmp_path_factory.mktemp("zoo-ssh")
    args = ["zoo-ssh", "--port", "0", "--user", f"zoo:{PASSWORD}"]
    args += ["--authorized-keys", f"zoo:{keypair}.pub", "--max-per-address", "20"]
    with TwistdProcess(args, work) as proc:
        proc.root = work / "state" / "ssh" / "home" / "zoo"
        proc.known_hosts = work / "known_hosts"
        lines = []
        for pub in sorted((work / "state" / "ssh").glob("*.pub")):
            lines.append(f"[127.0.0.1]:{proc.port()} {pub.read_text().strip()}")
        proc.known_hosts.write_text("\n".join(lines) + "\n")
        yield proc


def _opts(zoo, key: Path | None) -> list[str]:
    opts = ["-o", f"UserKnownHostsFile={zoo.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    opts += ["-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"]
    if key is not None:
        opts += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", str(key)]
    else:
        opts += ["-o", "PubkeyAuthentication=no", "-o", "BatchMode=no"]
    return opts


def ssh(zoo, key, *command: str, extra=(), input=None, password=None, timeout=30):
    require_tool("ssh")
    argv = ["ssh", *extra, *_opts(zoo, key), "-p", str(zoo.port()), "zoo@127.0.0.1", *command]
    if password is not None:
        argv = [require_tool("sshpass"), "-p", password, *argv]
    return subprocess.run(argv, input=input, capture_output=True, timeout=timeout)


def sftp(zoo, key, batch: str, timeout=60):
    require_tool("sftp")
    argv = ["sftp", *_opts(zoo, key), "-P", str(zoo.port()), "-b", "-", "zoo@127.0.0.1"]
    return subprocess.run(argv, input=batch.encode(), capture_output=True, timeout=timeout)


# --- exec and shell -----------------------------------------------------------------


def test_exec_exit_status_stdout_stderr(zoo, keypair) -> None:
    """ssh host CMD: stdout and stderr arrive separately and the exit status is the command's."""
    r = ssh(zoo, keypair, "echo out; echo err >&2; pwd; exit 7")
    assert r.returncode == 7
    assert r.stdout.decode().splitlines() == ["out", str(zoo.root.resolve())]
    assert r.stderr == b"err\n"


def test_exec_streams_stdin(zoo, keypair) -> None:
    """Data piped into ssh reaches the command's stdin, and EOF ends it."""
    data = bytes(range(256)) * 4096  # 1 MiB, binary
    r = ssh(zoo, keypair, "cat; echo done >&2", input=data)
    assert r.returncode == 0 and r.stdout == data and r.stderr == b"done\n"


def test_exec_signal_and_missing_command(zoo, keypair) -> None:
    """A command killed by a signal and a missing command both give OpenSSH's usual results."""
    assert ssh(zoo, keypair, "kill -TERM $$").returncode == 255
    r = ssh(zoo, keypair, "no-such-command-here")
    assert r.returncode == 127 and b"not found" in r.stderr


def test_pty_shell(zoo, keypair) -> None:
    """ssh -tt gets an interactive shell on a pty that echoes, runs commands and exits."""
    r = ssh(zoo, keypair, extra=["-tt"], input=b"tty; echo hel''lo\nexit 0\n")
    out = r.stdout.decode(errors="replace")
    assert "/dev/pts/" in out and "hello" in out and "hel''lo" in out  # echoed, then run
    assert r.returncode == 0


def test_terminal_session_under_script(zoo, keypair) -> None:
    """ssh on a real terminal (driven through script(1)) gets a pty shell with the terminal's size."""
    import shlex

    require_tool("script")
    argv = ["ssh", *_opts(zoo, keypair), "-p", str(zoo.port()), "zoo@127.0.0.1"]
    command = "stty cols 99 rows 33; " + shlex.join(argv)
    r = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        input=b"stty size; echo $TERM\nexit 5\n",
        capture_output=True,
        timeout=30,
        env={**os.environ, "TERM": "xterm"},
    )
    out = r.stdout.decode(errors="replace").replace("\r", "")
    assert "33 99\n" in out and "\nxterm\n" in out, out  # after the "# " prompt
    assert r.returncode == 5


def test_shell_without_pty(zoo, keypair) -> None:
    """ssh -T with no command runs a shell on pipes: no prompt, no echo, just output."""
    r = ssh(zoo, keypair, extra=["-T"], input=b"echo piped\nexit 4\n")
    assert r.stdout == b"piped\n" and r.returncode == 4


def test_password_login(zoo) -> None:
    """Password authentication works with the right password and fails with a wrong one."""
    assert ssh(zoo, None, "echo ok", password=PASSWORD).stdout == b"ok\n"
    r = ssh(zoo, None, "echo ok", password="wrong", extra=["-o", "NumberOfPasswordPrompts=1"])
    assert r.returncode != 0 and r.stdout == b""


def test_wrong_key_refused(zoo, keypair) -> None:
    """A key that is not in the authorized_keys file does not log in."""
    r = ssh(zoo, keypair.with_name("other"), "echo ok")
    assert r.returncode == 255 and b"Permission denied" in r.stderr


@pytest.mark.parametrize(
    "option",
    [
        "Ciphers=3des-cbc",
        "Ciphers=aes128-cbc",
        "MACs=hmac-md5",
        "MACs=hmac-sha1",
        "MACs=hmac-sha1-96",
        "KexAlgorithms=diffie-hellman-group14-sha1",
        "KexAlgorithms=diffie-hellman-group1-sha1",
        "HostKeyAlgorithms=ssh-rsa",
        "HostKeyAlgorithms=ssh-dss",
    ],
)
def test_weak_algorithms_refused(zoo, keypair, option: str) -> None:
    """A client offering only a weak algorithm cannot negotiate with zoo."""
    r = ssh(zoo, keypair, "true", extra=["-o", option, "-o", "LogLevel=INFO"])
    assert r.returncode == 255
    assert b"Unable to negotiate" in r.stderr or b"Bad SSH2" in r.stderr, r.stderr


def test_strict_kex_with_openssh(zoo, keypair) -> None:
    """OpenSSH negotiates strict key exchange (the Terrapin countermeasure) with zoo."""
    r = ssh(zoo, keypair, "true", extra=["-vvv"])
    assert r.returncode == 0
    assert b"will use strict KEX ordering" in r.stderr


def test_keyscan_matches_host_keys(zoo) -> None:
    """ssh-keyscan reads exactly the ed25519 and RSA host keys stored in the state directory."""
    require_tool("ssh-keyscan")
    r = subprocess.run(
        ["ssh-keyscan", "-p", str(zoo.port()), "-t", "ed25519,rsa", "127.0.0.1"],
        capture_output=True,
        timeout=30,
    )
    scanned = sorted(line.split(None, 1)[1] for line in r.stdout.decode().splitlines())
    stored = sorted(line.split(None, 1)[1] for line in zoo.known_hosts.read_text().splitlines())
    assert scanned == stored and len(scanned) == 2


def test_garbage_then_server_still_up(zoo, keypair) -> None:
    """Garbage before and after the version line closes that connection; others still work."""
    for garbage in (b"GET / HTTP/1.0\r\n\r\n" * 300, b"SSH-2.0-x\r\n" + b"\xff" * 100):
        with socket.create_connection(("127.0.0.1", zoo.port()), timeout=10) as s:
            s.sendall(garbage)
            got = b""
            while chunk := s.recv(4096):
                got += chunk
            assert got.startswith(b"SSH-2.0-zoo")
    assert ssh(zoo, keypair, "echo alive").stdout == b"alive\n"


# --- SFTP and scp -------------------------------------------------------------------


def test_sftp_batch(zoo, keypair, tmp_path) -> None:
    """sftp -b: put, ls, get, resume, rename, chmod, mkdir, rmdir, rm all work in the root."""
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 2000)
    partial = tmp_path / "partial.bin"
    partial.write_bytes(src.read_bytes()[:1000])
    batch = f"""
mkdir dir
put {src} dir/a.bin
ls -l dir
get dir/a.bin {tmp_path}/back.bin
reget dir/a.bin {partial}
rename dir/a.bin dir/b.bin
chmod 600 dir/b.bin
put {src} c.bin
rm c.bin
mkdir gone
rmdir gone
pwd
"""
    r = sftp(zoo, keypair, batch)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    assert partial.read_bytes() == src.read_bytes()
    assert (zoo.root / "dir" / "b.bin").stat().st_mode & 0o777 == 0o600
    assert not (zoo.root / "c.bin").exists() and not (zoo.root / "gone").exists()
    assert b"Remote working directory: /" in r.stdout


def test_sftp_reput(zoo, keypair, tmp_path) -> None:
    """reput resumes an interrupted upload from the remote file's size."""
    src = tmp_path / "up.bin"
    src.write_bytes(b"0123456789" * 10000)
    (zoo.root / "up.bin").write_bytes(src.read_bytes()[:12345])
    r = sftp(zoo, keypair, f"reput {src} up.bin\n")
    assert r.returncode == 0, r.stderr
    assert (zoo.root / "up.bin").read_bytes() == src.read_bytes()


def test_sftp_sandbox_escapes_refused(zoo, keypair, tmp_path) -> None:
    """'..', absolute paths and symlinks cannot reach files outside the user's root."""
    secret = zoo.root.parent.parent / "outside-secret"
    secret.write_text("secret")
    ssh(zoo, keypair, f"ln -sfn {secret} link-out; ln -sfn / root-link")
    for path in (
        "../../outside-secret",
        "/../../../outside-secret",
        "link-out",
        "root-link/etc/passwd",
        "/etc/passwd",
    ):
        r = sftp(zoo, keypair, f"get {path} {tmp_path}/stolen\n")
        assert r.returncode != 0, path
        assert not (tmp_path / "stolen").exists(), path
    r = sftp(zoo, keypair, "cd root-link\n")
    assert r.returncode != 0
    r = sftp(zoo, keypair, f"put {tmp_path / 'nothing'} ../../escaped\n")
    assert not (zoo.root.parent.parent / "escaped").exists()
    r = sftp(zoo, keypair, "ln -s /etc/passwd mylink\n")
    assert r.returncode != 0 and not (zoo.root / "mylink").exists()


def test_scp_both_ways(zoo, keypair, tmp_path) -> None:
    """scp (SFTP mode, OpenSSH 9) copies a file up and back byte for byte, with exit status 0."""
    require_tool("scp")
    src = tmp_path / "scp.bin"
    src.write_bytes(bytes(range(256)) * 10000)
    base = ["scp", *_opts(zoo, keypair), "-P", str(zoo.port())]
    up = subprocess.run([*base, str(src), "zoo@127.0.0.1:scp.bin"], capture_output=True, timeout=60)
    assert up.returncode == 0, up.stderr
    down = tmp_path / "down.bin"
    r = subprocess.run([*base, "zoo@127.0.0.1:scp.bin", str(down)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert down.read_bytes() == src.read_bytes() == (zoo.root / "scp.bin").read_bytes()
    r = subprocess.run(
        [*base, "zoo@127.0.0.1:../../../etc/passwd", str(tmp_path)], capture_output=True, timeout=60
    )
    assert r.returncode != 0


# --- the book's paramiko programs (FOPNP ch. 16) ------------------------------------


def _paramiko(zoo, keypair=None, *, known=True, port=None, **auth):
    """A paramiko SSHClient logged in to zoo (password by default), host key loaded if known."""
    import paramiko

    client = paramiko.SSHClient()
    if known:
        client.load_host_keys(str(zoo.known_hosts))
    auth = auth or {"password": PASSWORD}
    client.connect(
        "127.0.0.1",
        port=port or zoo.port(),
        username="zoo",
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
        **auth,
    )
    return client


def test_paramiko_unknown_host_rejected(zoo) -> None:
    """With no known host key, paramiko's default policy refuses the server (the book's SSHException)."""
    import paramiko

    with pytest.raises(paramiko.SSHException, match="not found in known_hosts|Unknown server"):
        _paramiko(zoo, known=False)


def test_paramiko_key_auth(zoo, keypair) -> None:
    """paramiko logs in with the user's key file (key_filename) and runs a command."""
    client = _paramiko(zoo, key_filename=str(keypair))
    _, stdout, _ = client.exec_command("echo key")
    assert stdout.read() == b"key\n"
    client.close()


def test_book_ssh_commands(zoo, keypair) -> None:
    """ssh_commands.py: echo, uname and uptime each give one line through exec_command."""
    client = _paramiko(zoo, keypair)
    out = {}
    for command in ('echo "Hello, world!"', "uname", "uptime"):
        stdin, stdout, stderr = client.exec_command(command)
        stdin.close()
        out[command] = stdout.read()
        assert stdout.channel.recv_exit_status() == 0
    client.close()
    assert out['echo "Hello, world!"'] == b"Hello, world!\n"
    assert out["uname"].count(b"\n") == 1 and out["uptime"].count(b"\n") == 1


def test_book_ssh_threads(zoo, keypair) -> None:
    """ssh_threads.py: two commands on one connection interleave as One, A, B, Two, Three, C."""
    client = _paramiko(zoo, keypair)
    lines: list[str] = []
    lock = threading.Lock()

    def read_until_eof(f) -> None:
        for line in iter(f.readline, ""):
            with lock:
                lines.append(line.strip())

    out1 = client.exec_command("echo One;sleep 2;echo Two;sleep 1;echo Three")[1]
    out2 = client.exec_command("echo A;sleep 1;echo B;sleep 2;echo C")[1]
    threads = [threading.Thread(target=read_until_eof, args=(f,)) for f in (out1, out2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    client.close()
    assert sorted(lines[:2]) == ["A", "One"] and lines[2:] == ["B", "Two", "Three", "C"]


def test_book_ssh_simple_shell(zoo, keypair) -> None:
    """ssh_simple.py: invoke_shell echoes the typed command, runs it, and closes on exit."""
    client = _paramiko(zoo, keypair)
    channel = client.invoke_shell()
    stdin, stdout = channel.makefile("wb"), channel.makefile("rb")
    stdin.write(b"echo Hello, world\nexit\r")
    stdin.flush()
    channel.settimeout(15)
    out = stdout.read()
    client.close()
    lines = out.replace(b"\r", b"").split(b"\n")
    assert lines[0].endswith(b"echo Hello, world")  # the pty echoes what was typed
    assert any(line.endswith(b"Hello, world") and b"echo" not in line for line in lines[1:])


def test_book_sftp(zoo, keypair, tmp_path) -> None:
    """sftp.py: chdir, listdir, and get with a callback in 32 KiB steps give an identical file."""
    (zoo.root / "logs").mkdir(exist_ok=True)
    data = bytes(range(256)) * 502 + b"tail"  # 128,516 bytes, not a multiple of 32 KiB
    (zoo.root / "logs" / "messages.1").write_bytes(data)
    (zoo.root / "logs" / "*").write_bytes(b"literal star")
    client = _paramiko(zoo, keypair)
    sftp_client = client.open_sftp()
    sftp_client.chdir("/logs")
    assert sftp_client.getcwd() == "/logs"
    names = sorted(sftp_client.listdir())
    assert names == ["*", "messages.1"]
    steps = []
    sftp_client.get(
        "messages.1", str(tmp_path / "messages.1"), callback=lambda n, t: steps.append((n, t))
    )
    assert sftp_client.open("*").read() == b"literal star"  # names are not expanded
    client.close()
    assert (tmp_path / "messages.1").read_bytes() == data
    assert steps[-1] == (len(data), len(data)) and steps[0][0] == 32768


# --- SFTP-only mode -----------------------------------------------------------------


def test_sftp_only_mode_and_auth_limit(tmp_path, keypair) -> None:
    """--no-exec --no-shell refuse commands and shells but not SFTP; --max-login-attempts disconnects."""
    args = [
        "zoo-ssh",
        "--port",
        "0",
        "--no-exec",
        "--no-shell",
        "--max-login-attempts",
        "3",
        "--allow-forwarding",
        "--user",
        "zoo:pw",
        "--authorized-keys",
        f"zoo:{keypair}.pub",
    ]
    with TwistdProcess(args, tmp_path / "w") as proc:
        proc.known_hosts = tmp_path / "kh"
        proc.known_hosts.write_text(
            "".join(
                f"[127.0.0.1]:{proc.port()} {p.read_text()}"
                for p in (tmp_path / "w" / "state" / "ssh").glob("*.pub")
            )
        )
        r = ssh(proc, keypair, "echo nope")
        assert r.returncode != 0 and r.stdout == b""
        r = ssh(proc, keypair, extra=["-tt"], input=b"echo nope\nexit\n")
        assert b"nope" not in r.stdout.replace(b"echo nope", b"")
        r = sftp(proc, keypair, "pwd\n")
        assert r.returncode == 0 and b"Remote working directory: /" in r.stdout
        import paramiko

        with paramiko.Transport(("127.0.0.1", proc.port())) as t:
            t.start_client(timeout=10)
            for _ in range(2):
                with pytest.raises(paramiko.AuthenticationException):
                    t.auth_password("zoo", "wrong")
            with pytest.raises((paramiko.AuthenticationException, paramiko.SSHException, EOFError)):
                t.auth_password("zoo", "wrong")
            deadline = time.monotonic() + 5
            while t.is_active() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not t.is_active()  # the third failure closed the connection
        client = _paramiko(proc, password="pw")
        forwarded = client.get_transport().open_channel(
            "direct-tcpip", ("127.0.0.1", proc.port()), ("127.0.0.1", 0), timeout=10
        )
        forwarded.settimeout(10)
        assert forwarded.recv(100).startswith(b"SSH-2.0-zoo")  # --allow-forwarding: ssh -L works
        client.close()


def test_forwarding_refused_by_default(zoo, keypair) -> None:
    """Without --allow-forwarding, a direct-tcpip channel (ssh -L) is refused."""
    import paramiko

    client = _paramiko(zoo, keypair)
    with pytest.raises(paramiko.ChannelException):
        client.get_transport().open_channel(
            "direct-tcpip", ("127.0.0.1", zoo.port()), ("127.0.0.1", 0), timeout=10
        )
    client.close()


def test_generated_password_logged(tmp_path) -> None:
    """With no users configured, a password for 'zoo' is generated, logged, and reused on restart."""
    with TwistdProcess(["zoo-ssh", "--port", "0"], tmp_path / "w") as proc:
        time.sleep(0.2)
        first = proc.output
    stored = (tmp_path / "w" / "state" / "generated-password").read_text().strip()
    name, password = stored.split(":", 1)
    assert name == "zoo" and f"password {password} (generated)" in first
    assert "SHA256:" in first  # host key fingerprints
    with TwistdProcess(["zoo-ssh", "--port", "0"], tmp_path / "w") as proc:
        time.sleep(0.2)
        assert f"password {password} (from" in proc.output


# --- memory under clients that do not read ---------------------------------------


def test_unread_exec_output_keeps_memory_bounded(zoo, keypair) -> None:
    """8 exec channels whose output is never read: the server stops reading the processes
    (it queued 64 MiB per channel, +507 MiB, before) and still serves others."""
    from slowclients import rss_kib

    client = _paramiko(zoo, keypair)
    before = rss_kib(zoo.proc.pid)
    streams = [client.exec_command("cat /dev/zero") for _ in range(8)]
    time.sleep(8)
    grown = rss_kib(zoo.proc.pid) - before
    assert grown < 16 * 1024, f"server grew by {grown} KiB"
    _, stdout, _ = client.exec_command("echo still here")
    assert stdout.read() == b"still here\n"
    for stdin, _, _ in streams:
        stdin.channel.close()
    client.close()


def test_channels_per_connection_capped(zoo, keypair) -> None:
    """A connection may hold 10 channels; the 11th open is refused, and closing one frees a slot."""
    import paramiko

    client = _paramiko(zoo, keypair)
    transport = client.get_transport()
    channels = [transport.open_session() for _ in range(10)]
    with pytest.raises(paramiko.ChannelException, match="prohibited"):
        transport.open_session()
    channels[0].close()
    time.sleep(0.5)
    transport.open_session().close()
    client.close()
