"""The small helpers every service's events share: session_of and bounded_text."""

from __future__ import annotations

from types import SimpleNamespace

from zoo.events import bounded_text, session_of


def test_session_of_walks_wrapping_transports():
    """The session id is found on the transport or on one it wraps; none gives None."""
    inner = SimpleNamespace(session="smtp-3")
    tls = SimpleNamespace(transport=inner)
    assert session_of(SimpleNamespace(transport=tls)) == "smtp-3"
    assert session_of(SimpleNamespace(session="ftp-1", transport=inner)) == "ftp-1"
    assert session_of(SimpleNamespace(transport=SimpleNamespace())) is None
    assert session_of(None) is None
    loop = SimpleNamespace()
    loop.transport = loop  # a strange chain ends, it does not hang
    assert session_of(loop) is None
    assert session_of(SimpleNamespace(session=object())) is None  # only a string is an id


def test_bounded_text():
    """Bytes become text with bad bytes escaped, cut at the limit with an ellipsis."""
    assert bounded_text(b"caf\xc3\xa9 \xff") == "café \\xff"
    assert bounded_text("x" * 5, 3) == "xxx\u2026"
    assert bounded_text(b"abc", 3) == "abc"
