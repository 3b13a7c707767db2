"""Emptying a line protocol's buffer of unparsed bytes.

C{LineReceiver} has a public C{clearLineBuffer()}; C{LineOnlyReceiver} (under
twisted.mail's SMTP and POP3) keeps the same bytes in C{_buffer} and has no public
way to drop them. Listed in L{zoo._twisted}.
"""

from __future__ import annotations

from typing import Any


def clear_line_buffer(protocol: Any) -> bytes:
    """Empty C{protocol}'s buffer of received bytes not yet parsed, and return them.

    A protocol with a C{clearLineBuffer()} method (Twisted's C{LineReceiver}, or one
    with framing of its own) is asked to; otherwise C{LineOnlyReceiver}'s C{_buffer}
    is emptied. A protocol with neither has nothing to drop.
    """
    clear = getattr(protocol, "clearLineBuffer", None)
    if clear is not None:
        return clear()  # type: ignore[no-any-return]
    unparsed = getattr(protocol, "_buffer", None)
    if unparsed is None:
        return b""
    protocol._buffer = b""
    return unparsed  # type: ignore[no-any-return]
