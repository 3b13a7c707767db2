"""The pytest plugin, run the way a user runs it: pytest in a subprocess on a small suite."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration
pytest_plugins = ["pytester"]

SEND = """
import smtplib

def send(handle, to, subject="hi"):
    with smtplib.SMTP(handle.host, handle.port, timeout=10) as s:
        s.sendmail("shop@example.com", [to], f"Subject: {subject}\\r\\n\\r\\nhello\\r\\n")
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def test_fixtures_reset_between_tests(pytester: pytest.Pytester) -> None:
    """Each fixture serves its service; what one test stored is gone in the next."""
    pytester.makepyfile(
        helpers=SEND,
        test_suite="""
        import ftplib, io, socket
        from helpers import send

        def test_first_stores(zoo_smtp, zoo_ftp):
            send(zoo_smtp, "alice@example.com")
            zoo_smtp.wait_for_message(to="alice@example.com", timeout=5)
            with ftplib.FTP() as f:
                f.connect(zoo_ftp.host, zoo_ftp.port, timeout=10)
                f.login(zoo_ftp.user, zoo_ftp.password)
                f.storbinary("STOR a.txt", io.BytesIO(b"x"))
            zoo_ftp.wait_for_upload("a.txt", timeout=5)
            assert len(zoo_smtp.messages()) == 1

        def test_second_sees_nothing(zoo_smtp, zoo_ftp):
            assert zoo_smtp.messages() == []
            assert zoo_smtp.sessions() == []
            assert [e["name"] for e in zoo_ftp.files()] == []

        def test_every_small_service_answers(zoo_lancelot, zoo_echo, zoo_blocks, zoo_time,
                                             zoo_exercises, zoo_dns, zoo_xmlrpc, zoo_pubsub,
                                             zoo_sftp, zoo_tls, zoo_pop3, zoo_imap, zoo_http,
                                             zoo_telnet, zoo_memcached):
            handles = [zoo_lancelot, zoo_echo, zoo_blocks, zoo_time, zoo_exercises, zoo_xmlrpc,
                       zoo_pubsub, zoo_sftp, zoo_tls, zoo_pop3, zoo_imap, zoo_http, zoo_telnet,
                       zoo_memcached]
            for handle in handles:
                socket.create_connection((handle.host, handle.port), timeout=5).close()
            assert zoo_sftp.name == "ssh" and zoo_sftp.user == "zoo"
            assert zoo_dns.ports("UDP")
            assert zoo_xmlrpc.url.startswith("http://")
            assert zoo_telnet.user == "zoo" and zoo_http.user is None
        """,
    )
    result = _run(pytester, "-v")
    result.assert_outcomes(passed=3)


def test_marker_options_get_their_own_zoo(pytester: pytest.Pytester) -> None:
    """A test marked with smtp options gets a zoo started with them; the others do not.

    A service no test named at collection gets a zoo of its own beside the first.
    A zoo whose options are wrong fails its tests at setup with twistd's message.
    """
    pytester.makepyfile(
        test_marked="""
        import smtplib
        import pytest

        def mail_from(handle):
            with smtplib.SMTP(handle.host, handle.port, timeout=10) as s:
                return s.docmd("MAIL FROM:<a@example.com>")[0]

        def test_plain(zoo_smtp):
            assert mail_from(zoo_smtp) == 250

        @pytest.mark.zoo(smtp="--require-auth")
        def test_auth_required(zoo_smtp):
            assert mail_from(zoo_smtp) == 530

        @pytest.mark.zoo("echo", "lancelot")
        def test_whole_zoo(zoo):
            assert {"echo", "lancelot"} <= set(zoo.services)
            assert zoo.echo.port != zoo.lancelot.port

        def test_service_not_planned(zoo_smtp, request):
            blocks = request.getfixturevalue("zoo_blocks")  # not seen at collection
            assert mail_from(zoo_smtp) == 250  # the handle taken before still works
            assert blocks.port != zoo_smtp.port and blocks.zoo is not zoo_smtp.zoo

        @pytest.mark.zoo(smtp="--no-such-option")
        def test_bad_option(zoo_smtp):
            pass

        @pytest.mark.zoo(smtp="--no-such-option")
        def test_bad_option_again(zoo_smtp):
            pass
        """
    )
    result = _run(pytester, "-rE")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(["ERROR*test_bad_option - Failed: zoo did not start*"])
    assert result.stdout.str().count("no-such-option") >= 2  # twistd's message, each time


def test_ini_options(pytester: pytest.Pytester) -> None:
    """zoo_services, zoo_options and zoo_tls in the ini file shape the session's zoo."""
    pytester.makeini(
        """
        [pytest]
        zoo_services = echo
        zoo_options =
            echo --upper
        zoo_tls = smtp
        """
    )
    pytester.makepyfile(
        test_ini="""
        import socket, smtplib, ssl

        def test_configured(zoo):
            with socket.create_connection((zoo.echo.host, zoo.echo.port), timeout=5) as s:
                s.sendall(b"shout")
                assert s.recv(5) == b"SHOUT"

        def test_smtps(zoo_smtp):
            assert zoo_smtp.url.startswith("smtps://")
            context = ssl.create_default_context(cafile=zoo_smtp.ca_file)
            with smtplib.SMTP_SSL(zoo_smtp.host, zoo_smtp.port, context=context,
                                  timeout=10) as s:
                assert s.noop()[0] == 250
        """
    )
    _run(pytester).assert_outcomes(passed=2)


def test_failure_report_shows_the_transcript(pytester: pytest.Pytester) -> None:
    """A failing test's report has a 'zoo transcripts' section with its SMTP dialogue."""
    pytester.makepyfile(
        helpers=SEND,
        test_fails="""
        from helpers import send

        def test_wrong_address(zoo_smtp):
            send(zoo_smtp, "bob@example.com", "Your order")
            zoo_smtp.wait_for_message(to="carol@example.com", timeout=0.5)

        def test_passes(zoo_smtp):
            send(zoo_smtp, "dave@example.com")
        """,
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ZooTimeout: zoo: no event with service='smtp', kind='mail.stored'*carol@example.com*",
            "*what did arrive (1 smtp mail.stored):*",
            "*to=?'bob@example.com'?*subject='Your order'*",
            "*- zoo transcripts -*",
            "# session smtp-* (smtp)",
            "C: rcpt TO:<bob@example.com>",
            "S: 250 2.0.0 Message accepted for delivery",
        ]
    )
    assert "dave@example.com" not in result.stdout.str()  # the passing test shows nothing


def test_xdist_workers_each_run_a_zoo(pytester: pytest.Pytester) -> None:
    """Under -n 2 each worker has its own zoo, and tests stay isolated in it."""
    pytester.makepyfile(
        helpers=SEND,
        test_parallel="""
        import json, os, pytest
        from helpers import send

        @pytest.mark.parametrize("n", range(8))
        def test_one_mail(zoo_smtp, n, tmp_path_factory):
            send(zoo_smtp, f"user{n}@example.com")
            zoo_smtp.wait_for_message(to=f"user{n}@example.com", timeout=5)
            assert len(zoo_smtp.messages()) == 1
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            with open(f"seen-{n}.json", "w") as f:
                json.dump([worker, zoo_smtp.api.url], f)
        """,
    )
    _run(pytester, "-n", "2").assert_outcomes(passed=8)
    seen = [json.loads((pytester.path / f"seen-{n}.json").read_text()) for n in range(8)]
    workers = {worker: set() for worker, _ in seen}
    for worker, url in seen:
        workers[worker].add(url)
    assert sorted(workers) == ["gw0", "gw1"]
    assert all(len(urls) == 1 for urls in workers.values())  # one zoo per worker
    assert workers["gw0"] != workers["gw1"]


def test_beside_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """An asyncio test (pytest-asyncio) uses zoo_smtp with an asyncio client."""
    pytester.makepyfile(
        test_async="""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_async_client(zoo_smtp):
            reader, writer = await asyncio.open_connection(zoo_smtp.host, zoo_smtp.port)
            for line in [b"HELO me", b"MAIL FROM:<a@example.com>",
                         b"RCPT TO:<async@example.com>", b"DATA"]:
                await reader.readline()
                writer.write(line + b"\\r\\n")
            await reader.readline()
            writer.write(b"Subject: from asyncio\\r\\n\\r\\nhi\\r\\n.\\r\\nQUIT\\r\\n")
            await writer.drain()
            await reader.read()
            writer.close()
            message = await asyncio.to_thread(
                zoo_smtp.wait_for_message, to="async@example.com", timeout=5)
            assert message["subject"] == "from asyncio"
        """
    )
    _run(pytester, "-p", "asyncio").assert_outcomes(passed=1)


def test_nothing_starts_unless_asked(pytester: pytest.Pytester) -> None:
    """A suite using no zoo fixture loads neither Twisted nor zoo.launch, and starts nothing."""
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_light():
            assert "zoo.pytest_plugin" in sys.modules
            assert "zoo.launch" not in sys.modules
            assert not [m for m in sys.modules if m.startswith("twisted")]
        """
    )
    result = _run(pytester, "-p", "no:twisted", "--basetemp", str(pytester.path / "base"))
    result.assert_outcomes(passed=1)
    assert not list((pytester.path / "base").glob("zoo*"))
