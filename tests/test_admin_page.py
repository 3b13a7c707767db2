"""The web page's server side, in memory: its files and headers, the API's policy, the
mail HTML route and the RPC call route."""

from __future__ import annotations

import json
import xmlrpc.client
from typing import Any

import pytest
from test_admin import TOKEN, Plane
from twisted.internet import defer

from zoo.admin import page
from zoo.admin.rpc import RpcCaller
from zoo.admin.web import API_POLICY
from zoo.inspect import ApiError, Call, register
from zoo.mail.inspector import HTML_POLICY, MailInspector
from zoo.mail.maildir import MaildirStore, SyncWriter
from zoo.tap._service import Bound


@pytest.fixture
def zoo() -> Plane:
    return Plane()


# -- the page's files ----------------------------------------------------------------------


def test_page_is_served_without_the_token_and_holds_none(zoo: Plane) -> None:
    """/ is the page's HTML with no token in it, sent with the strict policy and its headers."""
    answer = zoo.request("/", bearer=None)
    assert answer.status == 200
    assert answer.header("content-type") == "text/html; charset=utf-8"
    assert TOKEN.encode() not in answer.body and b'src="/static/app.js"' in answer.body
    policy = answer.header("content-security-policy") or ""
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.header("x-frame-options") == "DENY"
    assert answer.header("referrer-policy") == "no-referrer"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("app.js", "text/javascript"), ("style.css", "text/css"), ("index.html", "text/html")],
)
def test_assets_are_served_with_their_type(zoo: Plane, name: str, kind: str) -> None:
    """Each shipped file is served under /static/ with its content type and the policy."""
    answer = zoo.request(f"/static/{name}", bearer=None)
    assert answer.status == 200 and (answer.header("content-type") or "").startswith(kind)
    assert answer.body == (page.STATIC / name).read_bytes()
    assert answer.header("content-security-policy") == page.POLICY


@pytest.mark.parametrize(
    "path", ["/static/", "/static/nope.js", "/static/../web.py", "/static/..%2Fweb.py",
             "/static/page.py", "/static/.hidden.js", "/static/sub/app.js"],
)  # fmt: skip
def test_nothing_else_is_served_as_a_page_file(zoo: Plane, path: str) -> None:
    """Unknown names, other extensions, dot files and anything with a slash are 404s."""
    assert zoo.request(path, bearer=None).status == 404


def test_page_files_are_read_only(zoo: Plane) -> None:
    """A POST to the page is a 405 naming GET and HEAD."""
    answer = zoo.request("/", method="POST", bearer=None)
    assert answer.status == 405 and answer.header("allow") == "GET, HEAD"


def test_every_module_the_page_imports_is_shipped() -> None:
    """Each ./NAME.js a module imports is one of the page's files (no missing asset, no CDN)."""
    import re

    shipped = set(page.names())
    for name in shipped:
        if name.endswith(".js"):
            text = (page.STATIC / name).read_text()
            for target in re.findall(r'from "([^"]+)"', text):
                assert target.startswith("./") and target[2:] in shipped, (name, target)
            assert "http://" not in text and "https://" not in text, name
    assert {"index.html", "app.js", "style.css"} <= shipped


# -- the API's own policy --------------------------------------------------------------------


def test_api_answers_are_sandboxed(zoo: Plane) -> None:
    """Every API answer carries a sandbox policy, so a file opened from it runs nothing."""
    answer = zoo.request("/api/services")
    assert answer.header("content-security-policy") == API_POLICY
    assert answer.header("referrer-policy") == "no-referrer"
    assert zoo.request("/api/nope").header("content-security-policy") == API_POLICY


# -- a message's HTML ------------------------------------------------------------------------

HOSTILE = (
    b"From: m@example.com\nTo: alice@example.com\nSubject: x\nMIME-Version: 1.0\n"
    b'Content-Type: multipart/alternative; boundary="b"\n\n--b\nContent-Type: text/plain\n\nhi\n'
    b"--b\nContent-Type: text/html\n\n<script>alert(1)</script><img src=http://x/t.gif>\n--b--\n"
)


@pytest.fixture
def mail(tmp_path: Any, zoo: Plane) -> tuple[Plane, list[str]]:
    store = MaildirStore(tmp_path / "mail", fsync=False)
    inspector = MailInspector(store, SyncWriter(store), observatory=zoo.hub)
    register(zoo.hub, "smtp", inspector)
    call = Call(body=HOSTILE, content_type="message/rfc822")
    ids = inspector.seed(call).result["ids"]
    plain = Call(
        body=b"To: bob@example.com\nSubject: t\n\nno html\n", content_type="message/rfc822"
    )
    return zoo, ids + inspector.seed(plain).result["ids"]


def test_message_html_is_served_in_a_sandbox(mail: tuple[Plane, list[str]]) -> None:
    """The HTML part comes as it is, with a policy that lets no script run and nothing load."""
    zoo, (ident, _) = mail
    answer = zoo.request(f"/api/smtp/messages/{ident}/html")
    assert answer.status == 200 and answer.header("content-type") == "text/html; charset=utf-8"
    assert b"<script>alert(1)</script>" in answer.body
    policy = answer.header("content-security-policy") or ""
    assert policy == HTML_POLICY and policy.startswith("sandbox;")
    assert "script-src" not in policy and "http:" not in policy and "default-src 'none'" in policy


def test_message_html_remote_images_only_when_asked(mail: tuple[Plane, list[str]]) -> None:
    """images=1 adds http: and https: to img-src, and nothing else; other values are refused."""
    zoo, (ident, _) = mail
    policy = zoo.request(f"/api/smtp/messages/{ident}/html", images="1").header(
        "content-security-policy"
    )
    assert policy == HTML_POLICY + " http: https:"
    assert zoo.request(f"/api/smtp/messages/{ident}/html", images="yes").status == 400


def test_message_without_html_is_a_404(mail: tuple[Plane, list[str]]) -> None:
    """A text-only message has no HTML to show."""
    zoo, (_, plain) = mail
    answer = zoo.request(f"/api/smtp/messages/{plain}/html")
    assert answer.status == 404 and "HTML" in answer.json()["error"]


def test_new_routes_are_in_the_openapi_description(mail: tuple[Plane, list[str]]) -> None:
    """The HTML route (with its images parameter) and the RPC call route are described."""
    zoo, _ = mail
    paths = zoo.request("/openapi.json").json()["paths"]
    html = paths["/api/smtp/messages/{id}/html"]["get"]
    assert [p["name"] for p in html["parameters"]] == ["id", "images"]
    assert "post" in paths["/api/rpc/call"]


# -- the RPC form ----------------------------------------------------------------------------


class FakeProxy:
    """Records the URL and calls; answers from a table (a Fault for an unknown method)."""

    def __init__(self, url: str, calls: list[Any]) -> None:
        self.url = url
        self.calls = calls

    def callRemote(self, method: str, *args: Any) -> defer.Deferred[Any]:
        self.calls.append((self.url, method, args))
        if method == "double":
            return defer.succeed(args[0] * 2)
        if method == "down":
            return defer.fail(ConnectionRefusedError("refused"))
        return defer.fail(xmlrpc.client.Fault(1, f"no method {method}"))


def rpc_plane(bound: list[Bound]) -> tuple[Plane, list[Any]]:
    zoo = Plane()
    zoo.bound = bound
    calls: list[Any] = []
    zoo.plane.rpc = RpcCaller(lambda: zoo.bound, lambda url: FakeProxy(url, calls))
    from zoo.admin.web import AdminResource

    zoo.resource = AdminResource(zoo.plane, TOKEN, zoo.clock)
    return zoo, calls


XMLRPC = Bound("xmlrpc", "TCP", "127.0.0.1", 7001, "tcp:7001")


def test_rpc_call_goes_to_the_xmlrpc_listener() -> None:
    """A call is made to the plain-HTTP xmlrpc listener and its result answered."""
    tls = Bound("xmlrpc", "TCP", "127.0.0.1", 7443, "ssl:7443", tls=True)
    zoo, calls = rpc_plane([tls, XMLRPC])
    answer = zoo.request("/api/rpc/call", "POST", body=b'{"method": "double", "params": [21]}')
    assert answer.status == 200 and answer.json() == {"method": "double", "result": 42}
    assert calls == [("http://127.0.0.1:7001/RPC2", "double", (21,))]


def test_rpc_fault_is_an_answer_not_an_error() -> None:
    """A fault is a 200 carrying its code and message; a failed connection is a 502."""
    zoo, _ = rpc_plane([XMLRPC])
    answer = zoo.request("/api/rpc/call", "POST", body=b'{"method": "nope"}')
    assert answer.json()["fault"] == {"code": 1, "message": "no method nope"}
    down = zoo.request("/api/rpc/call", "POST", body=b'{"method": "down"}')
    assert down.status == 502 and "refused" in down.json()["error"]


@pytest.mark.parametrize(
    "body",
    [b"", b"[1]", b'{"method": ""}', b'{"method": "x", "params": {}}', b'{"method": "x", "y": 1}',
     b"not json"],
)  # fmt: skip
def test_rpc_bad_bodies_are_400s(body: bytes) -> None:
    """The body must be {"method": non-empty string, "params": list}; anything else is a 400."""
    zoo, calls = rpc_plane([XMLRPC])
    answer = zoo.request("/api/rpc/call", "POST", body=body)
    assert answer.status == 400 and answer.json()["error"]
    assert calls == []


def test_rpc_without_a_plain_listener_is_a_409() -> None:
    """With no xmlrpc listener (or only a TLS one) the call is refused with a 409 saying why."""
    zoo, calls = rpc_plane([Bound("echo", "TCP", "127.0.0.1", 7, "tcp:7")])
    answer = zoo.request("/api/rpc/call", "POST", body=b'{"method": "double", "params": [1]}')
    assert answer.status == 409 and "xmlrpc" in answer.json()["error"]
    assert calls == []


def test_rpc_caller_names_a_wildcard_listener_by_loopback() -> None:
    """A listener on every interface is called on 127.0.0.1; an IPv6 one in brackets."""
    caller = RpcCaller(lambda: [Bound("xmlrpc", "TCP", "0.0.0.0", 8, "tcp:8")], lambda u: None)
    assert caller.url() == "http://127.0.0.1:8/RPC2"
    caller = RpcCaller(lambda: [Bound("xmlrpc", "TCP6", "::1", 9, "tcp6:9")], lambda u: None)
    assert caller.url() == "http://[::1]:9/RPC2"
    with pytest.raises(ApiError):
        RpcCaller(lambda: [], lambda u: None).url()


def test_rpc_call_json_result_survives_odd_values() -> None:
    """Results that JSON cannot hold as they are (a DateTime) are sent as text, not a 500."""
    calls: list[Any] = []

    class Odd(FakeProxy):
        def callRemote(self, method: str, *args: Any) -> defer.Deferred[Any]:
            return defer.succeed(xmlrpc.client.DateTime("20260101T00:00:00"))

    zoo = Plane()
    zoo.bound = [XMLRPC]
    zoo.plane.rpc = RpcCaller(lambda: zoo.bound, lambda url: Odd(url, calls))
    from zoo.admin.web import AdminResource

    zoo.resource = AdminResource(zoo.plane, TOKEN, zoo.clock)
    answer = zoo.request("/api/rpc/call", "POST", body=json.dumps({"method": "now"}).encode())
    assert answer.status == 200 and answer.json()["result"] == "20260101T00:00:00"
