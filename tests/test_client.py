"""zoo.client and zoo.launch without a zoo: messages, arguments and light imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from zoo.client import Client, Event, ZooTimeout, _filters
from zoo.launch import Zoo, _given_user, _has

MAIL = {
    "seq": 48,
    "time": 1.0,
    "service": "smtp",
    "kind": "mail.stored",
    "session": "smtp-3",
    "node": "vm:1",
    "fields": {
        "from": "shop@example.com",
        "to": ["bob@example.com"],
        "message_id": "",
        "subject": "oops",
        "paths": ["/very/long/path"],
        "ids": ["bob@example.com~1"],
    },
}

TIMED_OUT = {
    "error": "timeout: no matching event within 0.5 s",
    "filter": {"service": "smtp", "kind": "mail.stored", "match": {"to": "carol@example.com"}},
    "after": 0,
    "cursor": 50,
    "arrived": [MAIL],
    "arrived_count": 1,
    "kinds_after_cursor": {"mail.stored": 1, "session.closed": 1, "session.opened": 1},
}


def test_timeout_lists_what_arrived() -> None:
    """A 408's body becomes a ZooTimeout naming the filter, each arrived event and the counts."""
    error = ZooTimeout(TIMED_OUT, 0.5)
    text = str(error)
    assert isinstance(error, AssertionError)
    assert "match={'to': 'carol@example.com'} within 0.5 s" in text
    assert "what did arrive (1 smtp mail.stored)" in text
    assert "to=['bob@example.com']" in text and "subject='oops'" in text
    assert "mail.stored 1, session.closed 1, session.opened 1" in text
    assert error.arrived[0].fields["subject"] == "oops"
    assert error.kinds["session.opened"] == 1


def test_timeout_with_nothing_arrived() -> None:
    """With nothing of that kind after the cursor, the message says so plainly."""
    body = {**TIMED_OUT, "arrived": [], "arrived_count": 0, "kinds_after_cursor": {}}
    text = str(ZooTimeout(body, 2))
    assert "no smtp mail.stored arrived at all" in text
    assert "meanwhile" not in text


def test_timeout_shows_the_last_ten_and_counts_the_rest() -> None:
    """Past ten arrived events, the message shows the last ten and how many came before."""
    many = [{**MAIL, "seq": n} for n in range(20)]
    body = {**TIMED_OUT, "arrived": many, "arrived_count": 25}
    text = str(ZooTimeout(body, 1))
    assert "... 15 earlier" in text
    assert "#19 smtp" in text and "#9 smtp" not in text


def test_event_summary_leaves_out_noise() -> None:
    """An event's summary shows its useful fields, not paths, ids or empty values."""
    line = Event.from_json(MAIL).summary()
    assert line.startswith("#48 smtp mail.stored [smtp-3] from='shop@example.com'")
    assert "paths" not in line and "ids" not in line and "message_id" not in line


def test_event_fields_by_name() -> None:
    """event["to"] reads the field."""
    assert Event.from_json(MAIL)["to"] == ["bob@example.com"]


def test_filters_become_query_parameters() -> None:
    """match fields become match.FIELD parameters; a zero cursor is left out."""
    params = _filters("ftp", "file.", None, {"path": "/a", "user.name": "zoo"}, 0)
    assert params == {
        "service": "ftp",
        "kind": "file.",
        "session": None,
        "match.path": "/a",
        "match.user.name": "zoo",
    }
    assert _filters(None, None, "s-1", None, 7)["after"] == 7


def test_client_wants_an_http_url() -> None:
    """A URL that is not http://HOST:PORT is refused at once."""
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        Client("127.0.0.1:8900", "token")


def test_client_reads_the_token_file(tmp_path: Path) -> None:
    """from_state_dir reads STATE/admin-token without its line end."""
    (tmp_path / "admin-token").write_text("abc\n")
    assert Client.from_state_dir("http://127.0.0.1:1", tmp_path).token == "abc"


def _args(zoo: Zoo) -> dict[str, list[str]]:
    return {spec.name: spec.args for spec in zoo._specs("pw")}


def test_every_service_on_port_zero(tmp_path: Path) -> None:
    """Each service gets --port 0 (time its other two ports too); smtp gets --no-fsync."""
    made = Zoo(["smtp", "time", "echo"], workdir=tmp_path)
    args = _args(made)
    assert args["smtp"] == ["--no-fsync", "--port", "0"]
    assert args["time"] == ["--port", "0", "--rfc868-port", "0", "--daytime-port", "0"]
    assert args["echo"] == ["--port", "0"]


def test_caller_options_come_last_and_replace_the_port(tmp_path: Path) -> None:
    """The caller's options follow zoo's; a --listen of theirs replaces --port 0."""
    made = Zoo(
        ["echo", "smtp"],
        {"echo": "--listen tcp:0 --upper", "smtp": ["--require-auth"]},
        workdir=tmp_path,
    )
    args = _args(made)
    assert args["echo"] == ["--listen", "tcp:0", "--upper"]
    assert args["smtp"][-1] == "--require-auth"


def test_ftp_gets_a_user_unless_given(tmp_path: Path) -> None:
    """zoo-ftp gets a users file with zoo:PASSWORD (0600); a --user of the caller's replaces it."""
    made = Zoo(["ftp"], workdir=tmp_path)
    args = _args(made)["ftp"]
    users = Path(args[args.index("--users-file") + 1])
    assert users.read_text() == "zoo:pw\n"
    assert users.stat().st_mode & 0o777 == 0o600
    given = Zoo(["ftp"], {"ftp": "--user alice:secret"}, workdir=tmp_path)
    assert "--users-file" not in _args(given)["ftp"]


def test_ftp_gets_a_short_upload_grace(tmp_path: Path) -> None:
    """zoo-ftp publishes uploads after 2 ms under zoo.run; the caller's --upload-grace wins."""
    from zoo.tap.ftp import Options

    args = _args(Zoo(["ftp"], workdir=tmp_path))["ftp"]
    assert args[:2] == ["--upload-grace", "0.002"]
    given = _args(Zoo(["ftp"], {"ftp": "--upload-grace 0.5"}, workdir=tmp_path))["ftp"]
    o = Options()
    o.parseOptions(given)
    assert o["upload-grace"] == 0.5


def test_tls_wrapper_gets_a_backend(tmp_path: Path) -> None:
    """tls forwards to an echo of its own on the port chosen; --tls adds --tls to a service."""
    made = Zoo(["tls", "smtp"], tls=["smtp"], workdir=tmp_path)
    made._backend = 4242
    specs = made._specs("pw")
    assert specs[-1].name == "echo" and specs[-1].args == ["--port", "4242"]
    assert _args(made)["tls"][-2:] == ["--connect", "4242"]
    assert "--tls" in _args(made)["smtp"]


def test_pop3_and_imap_bring_smtp(tmp_path: Path) -> None:
    """pop3 and imap start smtp too (its inspector holds their mail)."""
    assert Zoo(["pop3", "imap"], workdir=tmp_path).services == ["pop3", "imap", "smtp"]


def test_options_for_a_service_not_started() -> None:
    """Options or TLS naming a service that is not started are an error, not ignored."""
    with pytest.raises(ValueError, match="options for services not started: ftp"):
        Zoo(["smtp"], {"ftp": "--no-anonymous"})
    with pytest.raises(ValueError, match="tls for services not started: imap"):
        Zoo(["smtp"], tls=["imap"])


def test_a_zoo_needs_a_service() -> None:
    """zoo.run() with no service is an error."""
    with pytest.raises(ValueError, match="at least one service"):
        Zoo([])


def test_given_user_is_the_login() -> None:
    """The first --user NAME:PASSWORD given is the handle's login; a bcrypt hash is not."""
    assert _given_user(["--user", "alice:pw:/home"]) == ("alice", "pw")
    assert _given_user(["--user=bob:x"]) == ("bob", "x")
    assert _given_user(["--user", "carol:$2b$12$abc"]) is None
    assert _has(["--port=1"], "--port") and not _has(["--ports"], "--port")


def test_client_launch_and_plugin_import_no_twisted() -> None:
    """zoo.client, zoo.launch and the pytest plugin load no Twisted module."""
    code = (
        "import sys, zoo.client, zoo.launch, zoo.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'twisted'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
