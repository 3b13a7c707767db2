"""Bad bytes against `twistd -n zoo`: answers in each protocol's words, no traceback in the log.

(The garbage sweep over every listener is tests/integration/test_torture.py.)
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
import xmlrpc.client
from collections.abc import Iterator

import pytest

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

#: Every service on a free port; extra time listeners on free ports too.
SERVICES = {
    "lancelot": "",
    "echo": "",
    "blocks": "",
    "time": "--rfc868-port 0 --daytime-port 0",
    "xmlrpc": "",
    "tls": "",
    "ssh": "",
    "pubsub": "",
    "ftp": "",
    "smtp": "",
    "pop3": "",
    "imap": "--allow-plaintext-auth",
}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwistdProcess]:
    args = ["zoo"]
    for name, extra in SERVICES.items():
        args += ["--with", f"{name} --port 0 {extra}".strip()]
    with TwistdProcess(args, tmp_path_factory.mktemp("badbytes"), timeout=60) as zoo:
        yield zoo
        assert zoo.proc is not None and zoo.proc.poll() is None, "the server died"
        assert "Traceback" not in zoo.output, zoo.output


def exchange(port: int, data: bytes, *, greeting: bool = True, wait: float = 3.0) -> bytes:
    """Read the greeting (if any), send C{data}, and read what comes back until quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        if greeting:
            s.recv(4096)
        s.sendall(data)
        got = b""
        s.settimeout(0.5)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                if got:
                    break
                continue
            if not chunk:
                break
            got += chunk
        return got


def test_smtp_non_ascii_command_word(zoo: TwistdProcess) -> None:
    """SMTP: a non-ASCII command word is 500 5.5.2, and the pipelined NOOP after it runs."""
    got = exchange(zoo.port("smtp"), b"EHLO x\r\n\xc3\xa9HLO x\r\nNOOP\r\n")
    lines = got.split(b"\r\n")
    assert b"500 5.5.2 Command unrecognized" in lines and lines[-2] == b"250 2.0.0 OK", got


def test_ftp_pass_not_utf8(zoo: TwistdProcess) -> None:
    """FTP: PASS with non-UTF-8 bytes is 501; the session goes on."""
    got = exchange(zoo.port("ftp"), b"USER joe\r\nPASS \xff\xfe\x80\r\nNOOP\r\n")
    lines = got.split(b"\r\n")
    assert lines[1].startswith(b"501 ") and lines[2].startswith(b"200"), got


def test_imap_non_ascii_command(zoo: TwistdProcess) -> None:
    """IMAP: a non-ASCII command is a short tagged BAD, not Python's error text."""
    got = exchange(zoo.port("imap"), b"a1 \xc3\xa9LOGIN x y\r\na2 NOOP\r\n")
    assert got == b"a1 BAD Unknown command\r\na2 OK NOOP completed\r\n", got


def test_rpc_non_finite_results(zoo: TwistdProcess) -> None:
    """double(1e308): a JSON-RPC error and an XML-RPC fault, both saying 'not representable'."""
    url = f"http://127.0.0.1:{zoo.port('xmlrpc')}"
    with pytest.raises(xmlrpc.client.Fault, match="not representable"):
        xmlrpc.client.ServerProxy(url).double(1e308)
    body = json.dumps({"jsonrpc": "2.0", "method": "double", "params": [1e308], "id": 1})
    req = urllib.request.Request(
        url + "/jsonrpc", body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        reply = json.loads(r.read())  # valid JSON: no bare Infinity
    assert "not representable" in reply["error"]["message"]


def test_book_jsonrpc_request_is_answered(zoo: TwistdProcess) -> None:
    """lovely.jsonrpc's request (no jsonrpc member, no id) gets the book's answer, not a 204."""
    body = (
        b'{"version": "1.1", "method": "lengths", '
        b'"params": [[1, 2, 3], 27, {"Sirius": -1.46, "Rigel": 0.12}]}'
    )
    req = urllib.request.Request(
        f"http://127.0.0.1:{zoo.port('xmlrpc')}/jsonrpc",
        body,
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
        reply = json.loads(r.read())
    assert reply["result"] == [[3, [1, 2, 3]], [None, 27], [2, {"Sirius": -1.46, "Rigel": 0.12}]]
