"""The pytest plugin's fault helper, run the way a user runs it: pytest in a subprocess."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration
pytest_plugins = ["pytester"]


def test_fault_helper_is_scoped_to_one_test(pytester: pytest.Pytester) -> None:
    """handle.fault() fires in its test, counts, and is gone in the next test."""
    pytester.makepyfile(
        test_suite="""
        import smtplib
        import pytest

        def send(handle, to):
            with smtplib.SMTP(handle.host, handle.port, timeout=10) as s:
                s.sendmail("a@example.com", [to], "Subject: x\\r\\n\\r\\nx\\r\\n")

        def test_retry(zoo_smtp):
            f = zoo_smtp.fault("smtp:RCPT=451 first=1")
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                send(zoo_smtp, "bob@example.com")
            send(zoo_smtp, "bob@example.com")
            assert (f.seen, f.fired) == (2, 1)
            assert zoo_smtp.wait_for("fault.fired", fault=f.id)["spec"] == f.spec

        def test_next_test_has_no_fault(zoo_smtp):
            assert zoo_smtp.api.faults() == []
            send(zoo_smtp, "bob@example.com")

        def test_context_manager(zoo_smtp):
            with zoo_smtp.fault("smtp:MAIL=451") as f:
                with pytest.raises(smtplib.SMTPSenderRefused):
                    send(zoo_smtp, "bob@example.com")
            assert f.id not in [x["id"] for x in zoo_smtp.api.faults()]
            send(zoo_smtp, "bob@example.com")

        def test_bad_spec_says_why(zoo_smtp):
            from zoo.client import ZooError
            with pytest.raises(ZooError, match="colour"):
                zoo_smtp.fault("smtp:RCPT=451 colour=red")
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", timeout=120)
    result.assert_outcomes(passed=4)
