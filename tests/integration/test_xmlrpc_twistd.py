"""zoo-xmlrpc under twistd, driven by real clients: xmlrpc.client, curl, jsonrpcclient, TLS."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import urllib.request
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool
from jsonrpcclient import Error, Ok, notification, parse, request

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%s;" % (b"%d" % (i - 1) if i > 1 else b"")) * 10)
        for i in range(1, 10)
    )
    + b"]><methodCall><methodName>remote_repr</methodName><params><param><value>"
    b"<string>&lol9;</string></value></param></params></methodCall>"
)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwistdProcess]:
    """One zoo-xmlrpc with the books' methods, shared by the tests that only call it."""
    with TwistdProcess(
        ["zoo-xmlrpc", "--port", "0", "--max-body", "65536"], tmp_path_factory.mktemp("xmlrpc")
    ) as process:
        yield process


def url(zoo: TwistdProcess, path: str = "/") -> str:
    return f"http://127.0.0.1:{zoo.port('xmlrpc')}{path}"


BOOK_CLIENT = """
import xmlrpc.client
proxy = xmlrpc.client.ServerProxy('URL')
print(proxy.addtogether('x', 'ÿ', 'z'))
print(proxy.addtogether(20, 30, 4, 1))
print(proxy.quadratic(2, -4, 0))
print(proxy.quadratic(1, 2, 1))
print(proxy.remote_repr((1, 2.0, 'three')))
print(proxy.remote_repr([1, 2.0, 'three']))
print(proxy.remote_repr({'name': 'Arthur', 'data': {'age': 42, 'sex': 'M'}}))
print(proxy.quadratic(1, 0, 1))
"""


def test_book_client_session(zoo: TwistdProcess) -> None:
    """The book's xmlrpc_client.py prints the book's lines (roots fixed) and then the Fault."""
    script = BOOK_CLIENT.replace("URL", url(zoo))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert out.stdout.splitlines() == [
        "xÿz",
        "55",
        "[0.0, 2.0]",
        "[-1.0]",
        "[1, 2.0, 'three']",
        "[1, 2.0, 'three']",
        "{'name': 'Arthur', 'data': {'age': 42, 'sex': 'M'}}",
    ]
    assert (
        "xmlrpc.client.Fault: <Fault 1: \"<class 'ValueError'>:math domain error\">"
        in out.stderr.splitlines()[-1]
    )


INTROSPECT_CLIENT = """
import xmlrpc.client
proxy = xmlrpc.client.ServerProxy('URL')
print('Here are the functions supported by this server:')
for method_name in proxy.system.listMethods():
    if method_name.startswith('system.'):
        continue
    signatures = proxy.system.methodSignature(method_name)
    if isinstance(signatures, list) and signatures:
        for signature in signatures:
            print('%s(%s)' % (method_name, signature))
    else:
        print('%s(...)' % (method_name,))
    method_help = proxy.system.methodHelp(method_name)
    if method_help:
        print('   ', method_help)
"""


def test_book_introspection_client(zoo: TwistdProcess) -> None:
    """The book's xmlrpc_introspect.py lists each method as name(...) with its docstring."""
    script = INTROSPECT_CLIENT.replace("URL", url(zoo))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    lines = out.stdout.splitlines()
    assert lines[0] == "Here are the functions supported by this server:"
    assert "quadratic(...)" in lines
    assert "    Determine `x` values satisfying: `a` * x*x + `b` * x + c == 0" in lines
    assert "    Return the `repr()` rendering of the supplied `arg`." in lines


def test_multicall(zoo: TwistdProcess) -> None:
    """xmlrpc.client.MultiCall sends one request; a failing call raises only in its own slot."""
    proxy = xmlrpc.client.ServerProxy(url(zoo, "/RPC2"))
    multicall = xmlrpc.client.MultiCall(proxy)
    multicall.addtogether("a", "b", "c")
    multicall.quadratic(2, -4, 0)
    multicall.remote_repr([1, 2.0, "three"])
    multicall.quadratic(1, 0, 1)
    multicall.double(21)
    answers = multicall()
    assert [answers[i] for i in range(3)] == ["abc", [0.0, 2.0], [1, 2.0, "three"]]
    with pytest.raises(xmlrpc.client.Fault, match="math domain error"):
        answers[3]
    assert answers[4] == 42


def test_double_and_time(zoo: TwistdProcess) -> None:
    """Introducing Python's client prints 'Double 7 is 14'; now() is an ISO time near ours."""
    import datetime

    proxy = xmlrpc.client.ServerProxy(url(zoo), allow_none=True, use_builtin_types=True)
    assert f"Double 7 is {proxy.double(7)}" == "Double 7 is 14"
    now = datetime.datetime.fromisoformat(proxy.now())
    assert abs((now - datetime.datetime.now(datetime.UTC)).total_seconds()) < 5
    when = datetime.datetime(2014, 2, 13, 20, 16, 23)
    assert proxy.remote_repr([None, when, b"\x00"]) == [None, when, b"\x00"]
    with pytest.raises(xmlrpc.client.Fault, match="'nope' not found"):
        proxy.nope()
    with pytest.raises(xmlrpc.client.Fault, match=r"double\(num\)"):
        proxy.double()


def curl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run curl quietly with a time limit; C{stdin} is posted for C{--data-binary @-}."""
    return subprocess.run(
        [require_tool("curl"), "-sS", "--max-time", "20", *args],
        input=stdin,
        capture_output=True,
        timeout=30,
    )


def test_curl_raw_xml(zoo: TwistdProcess) -> None:
    """curl posting the book's raw XML gets the <int>14</int> response."""
    body = (
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>double</methodName>\n<params>\n"
        "<param>\n<value><int>7</int></value>\n</param>\n</params>\n</methodCall>\n"
    )
    out = curl("-H", "Content-Type: text/xml", "--data-binary", body, url(zoo))
    assert b"<value><int>14</int></value>" in out.stdout


def test_curl_hostile_bodies(zoo: TwistdProcess) -> None:
    """Billion laughs, garbage and oversized bodies get faults or 413; the server stays up."""
    out = curl("--data-binary", "@-", url(zoo), stdin=BILLION_LAUGHS)
    with pytest.raises(xmlrpc.client.Fault, match="DTD"):
        xmlrpc.client.loads(out.stdout)
    garbage = curl("--data-binary", "<methodCall><oops", "-w", "%{http_code}", url(zoo))
    assert garbage.stdout.endswith(b"200")
    assert b"malformed XML-RPC request" in garbage.stdout
    big = curl("-w", "%{http_code}", "--data-binary", "@-", url(zoo), stdin=b"<" * 200_000)
    assert big.stdout.endswith(b"413"), big
    assert b"request body too large" in big.stdout
    chunked = curl(
        "-w",
        "%{http_code}",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "@-",
        url(zoo),
        stdin=b"<" * 200_000,
    )
    assert chunked.stdout.endswith(b"413"), chunked
    assert xmlrpc.client.ServerProxy(url(zoo)).double(2) == 4


def test_oversized_with_stdlib_client(zoo: TwistdProcess) -> None:
    """xmlrpc.client sending a body over the cap gets ProtocolError 413, not a hang or reset."""
    proxy = xmlrpc.client.ServerProxy(url(zoo))
    with pytest.raises(xmlrpc.client.ProtocolError) as caught:
        proxy.remote_repr("x" * 100_000)
    assert caught.value.errcode == 413


def test_slow_client_does_not_block_others(zoo: TwistdProcess) -> None:
    """A client that sends half a request and stalls does not delay other callers."""
    port = zoo.port("xmlrpc")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as stalled:
        stalled.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<method")
        assert xmlrpc.client.ServerProxy(url(zoo)).double(3) == 6


def post_json(zoo: TwistdProcess, payload: object) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url(zoo, "/jsonrpc"),
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as response:
        return response.status, response.read()


def test_jsonrpc_client(zoo: TwistdProcess) -> None:
    """jsonrpcclient's requests, batches and notifications get spec answers."""
    status, body = post_json(
        zoo, request("lengths", params=([1, 2, 3], 27, {"Sirius": -1.46, "Rigel": 0.12}))
    )
    reply = parse(json.loads(body))
    assert isinstance(reply, Ok)
    assert reply.result == [[3, [1, 2, 3]], [None, 27], [2, {"Sirius": -1.46, "Rigel": 0.12}]]
    status, body = post_json(zoo, request("double", params={"num": 7}))
    assert parse(json.loads(body)).result == 14
    status, body = post_json(
        zoo,
        [
            request("double", params=[1], id=1),
            notification("double", params=[2]),
            request("nope", id=2),
        ],
    )
    replies = list(parse(json.loads(body)))
    assert isinstance(replies[0], Ok) and replies[0].result == 2
    assert isinstance(replies[1], Error) and replies[1].code == -32601
    assert len(replies) == 2
    assert post_json(zoo, notification("double", params=[2])) == (204, b"")


def test_tls_with_zoo_ca(tmp_path: Path) -> None:
    """With --tls, xmlrpc.client and zoo's Twisted client trust the zoo CA and calls work."""
    with TwistdProcess(["zoo-xmlrpc", "--port", "0", "--tls"], tmp_path) as zoo:
        ca = tmp_path / "state" / "tls" / "ca.pem"
        context = ssl.create_default_context(cafile=str(ca))
        proxy = xmlrpc.client.ServerProxy(
            f"https://localhost:{zoo.port('xmlrpc')}/RPC2", context=context
        )
        assert proxy.double(7) == 14
        multicall = xmlrpc.client.MultiCall(proxy)
        multicall.quadratic(2, -4, 0)
        assert list(multicall()) == [[0.0, 2.0]]
        with pytest.raises(ssl.SSLCertVerificationError):
            xmlrpc.client.ServerProxy(
                f"https://localhost:{zoo.port('xmlrpc')}/", context=ssl.create_default_context()
            ).double(1)
        with pytest.raises(xmlrpc.client.ProtocolError) as caught:
            proxy.remote_repr("x" * 2_000_000)
        assert caught.value.errcode == 413
        twisted_client = subprocess.run(
            [
                sys.executable,
                "-c",
                TWISTED_CLIENT,
                f"https://localhost:{zoo.port('xmlrpc')}/",
                str(ca),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert twisted_client.stdout.splitlines() == [
            "42",
            "[2, <Fault 1: \"<class 'ValueError'>:math domain error\">]",
        ], twisted_client.stderr


TWISTED_CLIENT = """
import sys
from twisted.internet import defer, task
from zoo.xmlrpc.client import Proxy

async def main(reactor):
    proxy = Proxy(sys.argv[1], ca_pem=sys.argv[2], reactor=reactor)
    print(await proxy.callRemote("double", 21))
    print(await proxy.multicall([("double", (1,)), ("quadratic", (1, 0, 1))]))

task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
"""


def test_module_option(tmp_path: Path) -> None:
    """--module NAME serves that module's public functions, with their docstrings as help."""
    (tmp_path / "mymethods.py").write_text(
        textwrap.dedent(
            '''
            import os

            def greet(name):
                """Say hello to name."""
                return "Hello, " + name

            def _secret():
                return os.getcwd()
            '''
        )
    )
    with TwistdProcess(
        ["zoo-xmlrpc", "--port", "0", "--module", "mymethods", "--no-book"],
        tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
    ) as zoo:
        proxy = xmlrpc.client.ServerProxy(url(zoo))
        assert proxy.greet("Arthur") == "Hello, Arthur"
        assert proxy.system.methodHelp("greet") == "Say hello to name."
        names = proxy.system.listMethods()
        assert "_secret" not in names and "double" not in names


def test_access_log_line(zoo: TwistdProcess) -> None:
    """Each call is logged as an access line '"POST / HTTP/1.1" 200', as the book's server does."""
    xmlrpc.client.ServerProxy(url(zoo)).double(1)
    assert '"POST / HTTP/1.1" 200' in zoo.output


def test_half_closed_client_gets_answer(zoo: TwistdProcess) -> None:
    """A client that sends its call and shuts down its sending side still gets the answer."""
    body = xmlrpc.client.dumps((5,), "double").encode()
    with socket.create_connection(("127.0.0.1", zoo.port("xmlrpc")), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := s.recv(4096):
            got += chunk
    assert got.startswith(b"HTTP/1.1 200")
    assert b"<int>10</int>" in got


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_non_reading_client_is_bounded(zoo: TwistdProcess) -> None:
    """A client pipelining calls without reading answers is throttled; memory stays bounded."""
    assert zoo.proc is not None
    body = xmlrpc.client.dumps(("x" * 1000,), "remote_repr").encode()
    call = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    before = rss_kib(zoo.proc.pid)
    with socket.create_connection(("127.0.0.1", zoo.port("xmlrpc")), timeout=5) as s:
        s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and sent < 200 * 1024 * 1024:
            try:
                sent += s.send(call * 64)
            except BlockingIOError:
                time.sleep(0.01)
        assert sent < 200 * 1024 * 1024, "the server never pushed back"
        assert xmlrpc.client.ServerProxy(url(zoo)).double(4) == 8
        assert rss_kib(zoo.proc.pid) - before < 64 * 1024


def test_import_has_no_deprecation_warning() -> None:
    """Importing zoo.xmlrpc under -W error::DeprecationWarning works (twisted.web.xmlrpc warns)."""
    out = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-c",
            "import zoo.xmlrpc, zoo.tap.xmlrpc",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr


def test_pipelined_calls_never_read_keep_memory_bounded(zoo: TwistdProcess) -> None:
    """128 MiB of pipelined POSTs whose answers are never read: the server stops reading
    (it grew by 170 MiB before the read gate), and still answers others."""
    from slowclients import flood_without_reading, rss_kib

    assert zoo.proc is not None
    body = xmlrpc.client.dumps(("x" * 1000,), "remote_repr").encode()
    post = b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    before = rss_kib(zoo.proc.pid)
    flood_without_reading(zoo.port("xmlrpc"), post, total=128 * 1024 * 1024)
    grown = rss_kib(zoo.proc.pid) - before
    assert grown < 16 * 1024, f"server grew by {grown} KiB"
    assert xmlrpc.client.ServerProxy(url(zoo)).double(21) == 42
