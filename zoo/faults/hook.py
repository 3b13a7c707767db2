"""The one call a protocol makes at its command dispatch: is there a fault here?

A protocol calls L{at} where it is about to run a command (or deliver a message, or
start a transfer), with its transport and what it knows (the argument, the user)::

    hit = at(self.transport, "smtp", "RCPT", mailbox=recipient, user=self.user)
    if hit is not None:
        hit.perform(self.transport, lambda text: self.sendCode(*smtp_reply(text)))
        return

With no fault at that point, L{at} costs one dictionary lookup and returns C{None}.
A L{Hit} is what fired: C{drop} closes the connection, C{reset} aborts it with an
RST, C{hang} answers nothing (the client's timeout is what is tested), and anything
else is the protocol's reply, written by the C{answer} the protocol gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zoo.events import session_of
from zoo.faults.model import CASELESS, Fault, Registry, registry
from zoo.policies import service_of
from zoo.sessions import where


@dataclass(frozen=True)
class Hit:
    """A protocol fault that fired on this occurrence.

    @ivar value: the fault's value: a reply (C{"451"}, C{"452 Disk full"}), C{drop},
        C{reset}, C{hang}, or C{None} for the protocol's default fault reply.
    """

    fault: Fault
    value: str | None

    @property
    def action(self) -> str:
        """C{drop}, C{reset}, C{hang} or C{reply}."""
        value = (self.value or "").lower()
        return value if value in ("drop", "reset", "hang") else "reply"

    def perform(self, transport: Any, answer: Callable[[str | None], None]) -> None:
        """Do it: C{answer(value)} writes a reply in the protocol's words."""
        action = self.action
        if action == "reply":
            answer(self.value)
        elif action == "drop":
            transport.loseConnection()
        elif action == "reset":
            from zoo.faults.wire import rst

            rst(transport)


def at(
    transport: Any,
    family: str,
    command: str,
    *,
    mailbox: str | None = None,
    user: str | None = None,
    service: str | None = None,
    session: str | None = None,
    faults: Registry | None = None,
    **detail: Any,
) -> Hit | None:
    """The fault that fires at C{family:command} for this connection now, if any.

    @param transport: the connection's transport (for the service, listener, client
        and session scopes); C{None} when the protocol has none at hand.
    @param mailbox: the command's object (a recipient, a mailbox, a path, a channel,
        an RPC method's first parameter) for C{mailbox=} scopes.
    @param user: the logged-in user, for C{user=} scopes.
    @param service: the service name when the transport does not tell it.
    @param session: the session id when the transport does not tell it (SSH channels).
    @param detail: more fields for the C{fault.fired} event.
    """
    reg = faults if faults is not None else registry
    if not reg.points:
        return None
    if family in CASELESS:
        command = command.upper()
    candidates = reg.points.get(f"{family}.{command}")
    if not candidates:
        return None
    if session is None and transport is not None:
        session = session_of(transport)
    listener = client = None
    if transport is not None:
        if service is None:
            service = service_of(transport)
        try:
            listener = where(transport.getHost())
            client = getattr(transport.getPeer(), "host", None)
        except Exception:
            pass
    fault = reg.decide(
        f"{family}.{command}",
        service=service,
        listener=listener,
        client=client,
        user=user,
        mailbox=mailbox,
        session=session,
    )
    if fault is None:
        return None
    reg.report(fault, service or family, session, **detail)
    return Hit(fault, fault.value)


def reply_code(value: str | None, default: int, text: str) -> tuple[int, str]:
    """A numeric reply from a fault's value: C{"451"} or C{"451 text"} (C{None}: C{default}).

    For the protocols whose replies are a code and a text (SMTP, FTP).
    """
    if not value:
        return default, text
    head, _, rest = value.partition(" ")
    if head.isdigit() and len(head) == 3:
        return int(head), rest or text
    return default, value


__all__ = ["Hit", "at", "reply_code"]
