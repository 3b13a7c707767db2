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
to C{doRead} without C{_doReadOrWrite}'s C{fileno()} sanity call. For an accepted
TCP connection (C{tcp.Server}) the loop does what C{tcp.Connection.doRead} and
C{_dataReceived} do, in place: C{recv}, then the protocol's C{dataReceived}, or the
reason the connection ended; two Python calls fewer per read (only while those two
are Twisted's own, as this module checks when imported). What C{dataReceived} returns
is ignored, as Twisted 26.10 ignores it (26.4 disconnected on a value other than
C{None}, deprecated since Twisted 11.0). Only Twisted's own C{EPollReactor} is tuned;
other reactors chosen with C{--reactor} are left alone. Set C{ZOO_TWISTED_POLL=1} in
the environment to keep Twisted's loop unchanged.
"""

from __future__ import annotations

import errno
import os
import select
import sys
from types import MethodType
from typing import Any

from twisted.internet import main, tcp
from twisted.python import log

ENV_OPT_OUT = "ZOO_TWISTED_POLL"
_READABLE = select.EPOLLIN
_DONE, _LOST = main.CONNECTION_DONE, main.CONNECTION_LOST
_AGAIN = errno.EAGAIN  # (EWOULDBLOCK, on Linux)


def _reads_as_twisted(cls: type) -> bool:
    """Whether C{cls} reads as C{tcp.Connection} does (what the loop does in place)."""
    return (
        cls.doRead is tcp.Connection.doRead  # type: ignore[attr-defined]
        and cls._dataReceived is tcp.Connection._dataReceived  # type: ignore[attr-defined]
    )


#: The turn in progress, for L{zoo.events.Observatory.share_turns}: C{None} as each
#: turn begins and ends; the first event recorded in it sets it.
TURN: list[Any] = [None]

#: The class whose reads the loop does itself (C{None}: none, Twisted changed them).
_INLINE: type | None = tcp.Server if _reads_as_twisted(tcp.Server) else None


def _lean_do_poll(self: Any, timeout: float | None) -> None:
    if timeout is None:
        timeout = -1
    try:
        events = self._poller.poll(timeout, len(self._selectables))
    except OSError as err:
        if err.errno == errno.EINTR:
            return
        raise
    TURN[0] = None  # a new turn: its events take a new time
    selectables = self._selectables
    handle = self._doReadOrWrite
    inline: Any = _INLINE
    selectable: Any
    why: Any
    for fd, event in events:
        selectable = selectables.get(fd)
        if selectable is None:
            continue
        if event == _READABLE:
            # The common case, readable and nothing else: what _doReadOrWrite
            # does for it, minus its fileno() sanity call.
            try:
                if type(selectable) is inline:  # doRead and _dataReceived, in place
                    try:
                        data = selectable.socket.recv(selectable.bufferSize)
                    except OSError as e:
                        why = None if e.args[0] == _AGAIN else _LOST
                    else:
                        if data:
                            selectable.protocol.dataReceived(data)
                            why = None
                        else:
                            why = _DONE
                else:
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
    TURN[0] = None  # the timed calls run next take their own


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
