"""A leaner poll loop for Twisted's epoll reactor.

Profiling zoo-lancelot under load (py-spy, 100 connections) showed that after the
C{send}/C{recv} system calls themselves, the largest per-message cost in Twisted is
not the protocol but the reactor's bookkeeping around each ready socket:
C{EPollReactor.doPoll} calls every handler through C{log.callWithLogger}, which
asks the transport for its C{logPrefix()}, copies a context dictionary and pushes it
on a context stack, only so that old-style C{log.msg} calls made during the handler
carry a "system" prefix. That is about an eighth of the server's CPU per request.

L{tune} replaces C{doPoll} on one reactor instance with the same loop minus that
context: handlers are called directly, exceptions are still caught and logged
exactly as C{_doReadOrWrite} does), and a socket that is only readable goes straight
to C{doRead} without C{_doReadOrWrite}'s C{fileno()} sanity call. Only Twisted's own
C{EPollReactor} is tuned; other reactors chosen with C{--reactor} are left alone.
Set C{ZOO_TWISTED_POLL=1} in the environment to keep Twisted's loop unchanged.
"""

from __future__ import annotations

import errno
import os
import select
import sys
from types import MethodType
from typing import Any

from twisted.python import log

ENV_OPT_OUT = "ZOO_TWISTED_POLL"
_READABLE = select.EPOLLIN


def _lean_do_poll(self: Any, timeout: float | None) -> None:
    if timeout is None:
        timeout = -1
    try:
        events = self._poller.poll(timeout, len(self._selectables))
    except OSError as err:
        if err.errno == errno.EINTR:
            return
        raise
    selectables = self._selectables
    handle = self._doReadOrWrite
    for fd, event in events:
        selectable = selectables.get(fd)
        if selectable is None:
            continue
        if event == _READABLE:
            # The common case, readable and nothing else: what _doReadOrWrite
            # does for it, minus its fileno() sanity call.
            try:
                why = selectable.doRead()
            except BaseException:
                why = sys.exc_info()[1]
                log.err()
            if why:
                self._disconnectSelectable(selectable, why, True)
            continue
        try:
            handle(selectable, fd, event)
        except BaseException:
            log.err(None, "Unhandled error in poll loop")


def tune(reactor: Any) -> bool:
    """Give C{reactor} the lean poll loop if it is Twisted's epoll reactor.

    @return: whether the reactor was tuned.
    """
    if os.environ.get(ENV_OPT_OUT):
        return False
    try:
        from twisted.internet.epollreactor import EPollReactor
    except ImportError:  # pragma: no cover - not Linux
        return False
    if type(reactor) is not EPollReactor:
        return False
    if getattr(reactor, "_zoo_tuned", False):
        return True
    lean = MethodType(_lean_do_poll, reactor)
    reactor.doPoll = reactor.doIteration = lean  # type: ignore[method-assign]
    reactor._zoo_tuned = True  # type: ignore[attr-defined]
    return True
