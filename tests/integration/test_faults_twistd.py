"""Faults seen by real clients: set from the TOML config, from --fault and from the control plane."""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tool

from zoo.faults import parse
from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

CONFIG = """
[smtp]
port = 0
fault = ["smtp:RCPT=451 first=1 mailbox=bob@"]

[ftp]
port = 0
root = "{root}"
user = "alice:pw:{home}"

[xmlrpc]
port = 0

[[echo]]
port = 0
udp = 0

[[echo]]
port = 0
tls = true

[[echo]]
port = {upstream}

[tls]
port = 0
connect = "127.0.0.1:{upstream}"

[http]
port = 0

[pop3]
port = 0
allow-plaintext-auth = true

[imap]
port = 0
allow-plaintext-auth = true

[ssh]
port = 0
user = "zoo:{password}"
"""
PASSWORD = "fault-tolerant-0"


class Zoo:
    """The running zoo and a small client for its control plane."""

    def __init__(self, zoo: TwistdProcess, work: Path) -> None:
        self.zoo = zoo
        self.work = work
        self.base, self.token = zoo.admin()

    def call(self, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = {"Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def fault(self, spec: str, service: str) -> dict[str, Any]:
        status, body = self.call("/api/faults", "POST", {"spec": spec, "service": service})
        assert status == 200, body
        return dict(body["fault"])

    def delete(self, fault_id: str) -> dict[str, Any]:
        status, body = self.call(f"/api/faults/{fault_id}", "DELETE")
        assert status == 200, body
        return dict(body["deleted"])

    def port(self, service: str, type: str = "TCP", index: int = 0) -> int:
        return self.zoo.port(service, type, index)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    work = tmp_path_factory.mktemp("faults")
    root, home = work / "root", work / "alice"
    root.mkdir()
    home.mkdir()
    (home / "big.bin").write_bytes(bytes(range(256)) * 1024)
    config = work / "zoo.toml"
    with socket.socket() as probe:  # a free port for the echo behind zoo-tls
        probe.bind(("127.0.0.1", 0))
        upstream = probe.getsockname()[1]
    config.write_text(CONFIG.format(root=root, home=home, password=PASSWORD, upstream=upstream))
    pubsub = "pubsub --port 0 --fault 'resp:DELIVER=drop first=1 channel=news'"
    with TwistdProcess(["zoo", "--config", str(config), "--with", pubsub], work) as z:
        yield Zoo(z, work)


def test_smtplib_sees_451_then_retries(zoo: Zoo) -> None:
    """smtplib gets the configured 451 on RCPT; its retry succeeds (first=1)."""
    port = zoo.port("smtp")
    message = "Subject: retry\r\n\r\nagain\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("a@example.com", ["bob@example.com"], message)
        assert refused.value.recipients["bob@example.com"][0] == 451
        assert client.sendmail("a@example.com", ["bob@example.com"], message) == {}
    status, body = zoo.call("/api/faults")
    (listed,) = [f for f in body["faults"] if f["point"] == "smtp.RCPT"]
    assert (listed["seen"], listed["fired"]) == (2, 1)
    status, events = zoo.call("/api/events?service=smtp&kind=fault.fired")
    (event,) = events["events"]
    assert event["fields"]["fault"] == listed["id"]
    request = urllib.request.Request(
        f"{zoo.base}/api/sessions/{event['session']}/transcript.txt",
        headers={"Authorization": f"Bearer {zoo.token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    rcpt = text.index("C: rcpt TO:<bob@example.com>")
    fired = text.index(f"-- fault {listed['id']} fired: smtp:RCPT=451 first=1 mailbox=bob@ --")
    assert rcpt < fired < text.index("S: 451 ")


def test_curl_sees_a_reset(zoo: Zoo) -> None:
    """curl sees the connection reset by peer; with first=1 its next request works."""
    curl = require_tool("curl")
    url = f"http://127.0.0.1:{zoo.port('xmlrpc')}/"
    f = zoo.fault("tcp:reset=1 dir=in first=1", "xmlrpc")  # once the request starts
    try:
        first = subprocess.run([curl, "-sS", url], capture_output=True, text=True, timeout=30)
        second = subprocess.run([curl, "-sS", url], capture_output=True, text=True, timeout=30)
    finally:
        zoo.delete(f["id"])
    assert first.returncode == 56, first
    assert "reset by peer" in first.stderr, first.stderr
    assert second.returncode == 0, second.stderr


def test_curl_ftp_stor_452_then_normal(zoo: Zoo) -> None:
    """curl's FTP upload fails with the injected 452; deleted, the next upload works."""
    curl = require_tool("curl")
    src = zoo.work / "up.txt"
    src.write_bytes(b"payload\n")
    url = f"ftp://alice:pw@127.0.0.1:{zoo.port('ftp')}/up.txt"
    f = zoo.fault("ftp:STOR='452 Insufficient storage space'", "ftp")
    try:
        failed = subprocess.run([curl, "-sS", "-T", str(src), url], capture_output=True, text=True)
    finally:
        deleted = zoo.delete(f["id"])
    assert failed.returncode == 25, failed
    assert "452" in failed.stderr
    assert deleted["fired"] == 1
    ok = subprocess.run([curl, "-sS", "-T", str(src), url], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (zoo.work / "alice" / "up.txt").read_bytes() == b"payload\n"


def test_redis_py_misses_a_dropped_delivery(zoo: Zoo) -> None:
    """redis-py's subscriber never gets the message whose delivery the fault dropped."""
    import redis

    port = zoo.port("pubsub")
    sub = redis.Redis(port=port, socket_timeout=10).pubsub(ignore_subscribe_messages=True)
    sub.subscribe("news")
    pub = redis.Redis(port=port, socket_timeout=10)
    assert pub.publish("news", "lost") == 1  # the publisher cannot tell
    assert pub.publish("news", "kept") == 1
    got = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(got) < 1:
        m = sub.get_message(timeout=0.5)
        if m is not None:
            got.append(m["data"])
    assert got == [b"kept"]
    assert sub.get_message(timeout=0.3) is None
    sub.close()
    pub.close()


def test_xmlrpc_client_sees_a_fault(zoo: Zoo) -> None:
    """xmlrpc.client raises the injected Fault for the chosen method only, until deleted."""
    proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{zoo.port('xmlrpc')}/")
    f = zoo.fault("rpc:double='fault 42 server busy'", "xmlrpc")
    try:
        with pytest.raises(xmlrpc.client.Fault) as fault:
            proxy.double(2)
        assert (fault.value.faultCode, fault.value.faultString) == (42, "server busy")
        assert proxy.quadratic(1, -3, 2) in ([1, 2], [2, 1], [1.0, 2.0], [2.0, 1.0])
    finally:
        zoo.delete(f["id"])
    assert proxy.double(2) == 4


def _udp_answers(port: int, n: int) -> list[bool]:
    """Send n numbered datagrams, one after the other's answer or a wait; which were answered."""
    answered: set[bytes] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(n):
            s.sendto(b"%d" % i, ("127.0.0.1", port))
            s.settimeout(0.3)
            try:
                while True:  # late answers to earlier datagrams count for them
                    got = s.recv(100)
                    answered.add(got)
                    if got == b"%d" % i:
                        break
            except TimeoutError:
                pass
        s.settimeout(1.0)
        try:
            while True:
                answered.add(s.recv(100))
        except TimeoutError:
            pass
    return [b"%d" % i in answered for i in range(n)]


def test_udp_loss_follows_the_seed(zoo: Zoo) -> None:
    """A UDP client loses exactly the datagrams the seed says, run after run."""
    spec = "udp:loss p=0.4 seed=11"
    model = parse(spec)
    expected = [not model.decide() for _ in range(16)]
    port = zoo.port("echo", "UDP")
    runs = []
    for _ in range(2):
        f = zoo.fault(spec, "echo")
        try:
            runs.append(_udp_answers(port, 16))
        finally:
            zoo.delete(f["id"])
    assert runs == [expected, expected]
    assert 0 < expected.count(False) < 16


def test_api_fault_deleted_service_back_at_once(zoo: Zoo) -> None:
    """A hang created over the API stops the echo; deleted, the next connection echoes."""
    port = zoo.port("echo")
    f = zoo.fault("tcp:hang", "echo")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"ping")
            with pytest.raises(TimeoutError):
                s.recv(10)
        assert zoo.call(f"/api/faults/{f['id']}")[1]["fault"]["fired"] == 1
    finally:
        zoo.delete(f["id"])
    assert zoo.call("/api/faults")[1]["faults"] == [
        x for x in zoo.call("/api/faults")[1]["faults"] if x["id"] != f["id"]
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"ping")
        assert s.recv(10) == b"ping"


def _tls_echo(port: int, data: bytes) -> bytes:
    """Send C{data} over TLS and read until the server closes."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(data)
            got = b""
            while True:
                chunk = s.recv(100)
                if not chunk:
                    return got
                got += chunk


def test_close_after_n_bytes_under_tls(zoo: Zoo) -> None:
    """Under TLS the byte fault counts plaintext: the client reads 5 bytes and a clean close."""
    port = zoo.port("echo", index=1)
    f = zoo.fault(f"tcp:close=5 listener={port}", "echo")
    try:
        got = _tls_echo(port, b"hello world")
    finally:
        zoo.delete(f["id"])
    assert got == b"hello"


def test_zoo_tls_client_side_plaintext(zoo: Zoo) -> None:
    """On zoo-tls the byte fault acts on the client's plaintext, in front of the upstream."""
    port = zoo.port("tls")
    f = zoo.fault("tcp:close=5", "tls")
    try:
        got = _tls_echo(port, b"hello world")
    finally:
        zoo.delete(f["id"])
    assert got == b"hello"


def test_latency_holds_the_greeting(zoo: Zoo) -> None:
    """Latency delays even replies zoo's fast writer sends straight to the socket (SMTP's)."""
    port = zoo.port("smtp")
    f = zoo.fault("tcp:latency=0.4", "smtp")
    try:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            assert s.recv(100).startswith(b"220 ")
            waited = time.monotonic() - started
    finally:
        zoo.delete(f["id"])
    assert waited >= 0.4


def _generated(zoo: Zoo) -> str:
    return (zoo.work / "state" / "generated-password").read_text().strip().partition(":")[2]


def test_poplib_sees_err_on_retr(zoo: Zoo) -> None:
    """poplib gets the injected -ERR for RETR, in POP3's words; other commands answer."""
    import poplib

    f = zoo.fault("pop3:RETR='-ERR [SYS/TEMP] mailbox busy'", "pop3")
    try:
        client = poplib.POP3("127.0.0.1", zoo.port("pop3"), timeout=10)
        client.user("carol@example.com")
        client.pass_(_generated(zoo))
        assert client.stat()[0] >= 0
        with pytest.raises(poplib.error_proto, match="mailbox busy"):
            client.retr(1)
        client.quit()
    finally:
        zoo.delete(f["id"])


def test_imaplib_sees_no(zoo: Zoo) -> None:
    """imaplib gets the injected NO for APPEND, and for SELECT once (first=1), then OK."""
    import imaplib

    append = zoo.fault("imap:APPEND='NO [OVERQUOTA] quota exceeded'", "imap")
    select = zoo.fault("imap:SELECT='NO [UNAVAILABLE] try later' first=1", "imap")
    try:
        client = imaplib.IMAP4("127.0.0.1", zoo.port("imap"), timeout=10)
        client.login("carol@example.com", _generated(zoo))
        got = client.append("INBOX", None, None, b"Subject: hi\r\n\r\nbody\r\n")
        assert got == ("NO", [b"[OVERQUOTA] quota exceeded"])
        assert client.select("INBOX") == ("NO", [b"[UNAVAILABLE] try later"])
        assert client.select("INBOX")[0] == "OK"
        client.logout()
    finally:
        zoo.delete(append["id"])
        zoo.delete(select["id"])


def _paramiko(zoo: Zoo) -> Any:
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        "127.0.0.1",
        port=zoo.port("ssh"),
        username="zoo",
        password=PASSWORD,
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


def test_paramiko_sees_a_truncated_sftp_read(zoo: Zoo, tmp_path: Path) -> None:
    """paramiko's SFTP read ends early, short of the stat size (first=1); the next is whole."""
    data = bytes(range(256)) * 400
    f = zoo.fault("sftp:READ=1000 first=1", "ssh")
    try:
        client = _paramiko(zoo)
        sftp = client.open_sftp()
        with sftp.open("whole.bin", "wb") as out:
            out.write(data)
        assert sftp.stat("whole.bin").st_size == len(data)
        sftp.get("whole.bin", str(tmp_path / "cut.bin"))  # paramiko does not compare
        assert (tmp_path / "cut.bin").read_bytes() == data[:1000]
        sftp.get("whole.bin", str(tmp_path / "whole.bin"))
        assert (tmp_path / "whole.bin").read_bytes() == data
        client.close()
    finally:
        zoo.delete(f["id"])


def test_paramiko_exec_gets_the_injected_exit_status(zoo: Zoo) -> None:
    """An exec hits the injected exit status and message instead of running."""
    f = zoo.fault("ssh:exec='3 quota exceeded' mailbox=touch", "ssh")
    try:
        client = _paramiko(zoo)
        _, out, err = client.exec_command("touch ran.txt")
        assert out.channel.recv_exit_status() == 3
        assert err.read() == b"quota exceeded\n"
        _, out, err = client.exec_command("echo fine")
        assert out.read() == b"fine\n" and out.channel.recv_exit_status() == 0
        client.close()
    finally:
        zoo.delete(f["id"])


def test_redis_py_gets_a_delayed_delivery_late(zoo: Zoo) -> None:
    """A delivery delayed on a channel arrives that much later; other channels at once."""
    import redis

    f = zoo.fault("resp:DELIVER=0.6 channel=slow", "pubsub")
    port = zoo.port("pubsub")
    try:
        sub = redis.Redis(port=port, socket_timeout=10).pubsub(ignore_subscribe_messages=True)
        sub.subscribe("slow", "fast")
        pub = redis.Redis(port=port, socket_timeout=10)
        started = time.monotonic()
        pub.publish("slow", "late")
        pub.publish("fast", "now")
        got = []
        while len(got) < 2 and time.monotonic() - started < 5:
            m = sub.get_message(timeout=0.1)
            if m is not None:
                got.append((m["data"], time.monotonic() - started))
        sub.close()
        pub.close()
    finally:
        zoo.delete(f["id"])
    assert [data for data, _ in got] == [b"now", b"late"]
    assert got[0][1] < 0.5 <= got[1][1]


def test_ftplib_login_refused_then_delayed(zoo: Zoo) -> None:
    """ftplib's first login is refused (530), the next is answered half a second late."""
    import ftplib

    refused = zoo.fault("ftp:LOGIN=fail first=1", "ftp")
    slow = zoo.fault("ftp:LOGIN=0.5", "ftp")
    try:
        client = ftplib.FTP()
        client.connect("127.0.0.1", zoo.port("ftp"), timeout=10)
        with pytest.raises(ftplib.error_perm, match="530"):
            client.login("alice", "pw")
        started = time.monotonic()
        assert client.login("alice", "pw").startswith("230")
        assert time.monotonic() - started >= 0.5
        client.quit()
    finally:
        zoo.delete(refused["id"])
        zoo.delete(slow["id"])


def test_curl_ftp_download_cut_mid_transfer(zoo: Zoo) -> None:
    """curl's FTP download is cut after 1000 bytes (first=1); the next one is whole."""
    curl = require_tool("curl")
    url = f"ftp://alice:pw@127.0.0.1:{zoo.port('ftp')}/big.bin"
    whole = (zoo.work / "alice" / "big.bin").read_bytes()
    f = zoo.fault("ftp:DATA=1000 first=1", "ftp")
    try:
        cut = subprocess.run([curl, "-sS", url], capture_output=True, timeout=30)
        again = subprocess.run([curl, "-sS", url], capture_output=True, timeout=30)
    finally:
        zoo.delete(f["id"])
    assert cut.returncode in (18, 56), cut
    assert cut.stdout == whole[:1000]
    assert again.returncode == 0 and again.stdout == whole


def test_urllib_sees_an_http_503_then_200(zoo: Zoo) -> None:
    """An HTTP client gets the injected 503 for one endpoint once (first=1), then the real one."""
    url = f"http://127.0.0.1:{zoo.port('http')}/get"
    f = zoo.fault("http:get='503 try later' first=1", "http")
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=10)
        assert e.value.code == 503 and e.value.read() == b"503 try later\n"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200 and json.loads(answer.read())["url"].endswith("/get")
    finally:
        zoo.delete(f["id"])


def test_smtplib_sees_552_after_the_data(zoo: Zoo) -> None:
    """smtp:BODY answers after DATA's data, instead of storing, for the recipient in scope."""
    port = zoo.port("smtp")
    f = zoo.fault("smtp:BODY='552 5.3.4 message too fat' mailbox=fat@", "smtp")
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPDataError) as e:
                client.sendmail("a@example.com", ["fat@example.com"], "Subject: x\r\n\r\nx\r\n")
            assert e.value.smtp_code == 552 and b"too fat" in e.value.smtp_error
            assert (
                client.sendmail("a@example.com", ["thin@example.com"], "Subject: y\r\n\r\n") == {}
            )
    finally:
        assert zoo.delete(f["id"])["fired"] == 1


def test_json_rpc_error_from_a_fault(zoo: Zoo) -> None:
    """A JSON-RPC call gets the injected error: its code and text when the fault names
    a code, else JSON-RPC's server-error code, as for any method's failure."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "double", "params": [3]}).encode()
    got = []
    for spec in ("rpc:double='fault 42 busy'", "rpc:double='fault'"):
        f = zoo.fault(spec, "xmlrpc")
        request = urllib.request.Request(
            f"http://127.0.0.1:{zoo.port('xmlrpc')}/jsonrpc",
            body,
            {"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                got.append(json.loads(answer.read())["error"])
        finally:
            zoo.delete(f["id"])
    assert got == [
        {"code": 42, "message": "busy"},
        {"code": -32000, "message": "fault injected by zoo"},
    ]


def test_user_scope_follows_the_login(zoo: Zoo) -> None:
    """A fault scoped to one user hits that user's session only (POP3 logins)."""
    import poplib

    f = zoo.fault("pop3:STAT='-ERR not you' user=dave@example.com", "pop3")
    try:
        for name, fails in (("carol@example.com", False), ("dave@example.com", True)):
            client = poplib.POP3("127.0.0.1", zoo.port("pop3"), timeout=10)
            client.user(name)
            client.pass_(_generated(zoo))
            if fails:
                with pytest.raises(poplib.error_proto, match="not you"):
                    client.stat()
            else:
                assert client.stat()[0] >= 0
            client.quit()
    finally:
        zoo.delete(f["id"])
