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

L{mend} corrects, on every poll-like reactor zoo runs on (whether tuned or not), how
Twisted reads an error. C{_doReadOrWrite} takes a reading descriptor's error or
hang-up reported without "readable" for a clean end of input (C{ConnectionDone}),
on the ground that a disconnection always comes with it. Linux's TCP says "error"
as soon as a reset's C{ECONNRESET} is set, a moment before it marks the socket shut
for reading, and a poll on the other core can land in that moment: 21 of 400 reset
FTP uploads on a loaded two-core machine came out as complete files, through events
8 (error) and 24 (error, hang-up). Mended, such an event is read like any other, and
C{recv} itself tells a reset (C{ECONNRESET}) from an end of file (no bytes).
"""

from __future__ import annotations

import errno
import os
import select
from types import MethodType
from typing import Any

from twisted.internet import main, tcp
from twisted.python import log
from twisted.python.failure import Failure

from zoo._twisted.connection import SERVER
from zoo._twisted.speedups import speedups as _speedups

ENV_OPT_OUT = "ZOO_TWISTED_POLL"
_READABLE = select.EPOLLIN
#: An error or hang-up without "readable" (the same bits for poll and epoll).
_ERRORED = select.POLLERR | select.POLLHUP
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

#: The classes whose reads the loop does itself: Twisted's C{tcp.Server} and zoo's
#: (L{zoo._twisted.connection.SERVER}), or none if Twisted changed how they read.
_INLINE: tuple[type, ...] = tuple(
    {cls: None for cls in (tcp.Server, SERVER) if _reads_as_twisted(cls)}
)


def _read_failed(exc: BaseException) -> None:
    """A read handler raised C{exc}: logged as C{_doReadOrWrite} logs it."""
    log.err(Failure(exc))


def _poll_failed(exc: BaseException) -> None:
    log.err(Failure(exc), "Unhandled error in poll loop")


def _dispatch(
    events: list[tuple[int, int]],
    selectables: dict[int, Any],
    inline: Any,
    handle: Any,
    disconnect: Any,
    done: Any,
    lost: Any,
    read_failed: Any,
    poll_failed: Any,
) -> None:
    """Run the handlers of one turn's C{events}; the C{dispatch} of C{_speedups}, in Python.

    C{inline}: the classes whose reads are done here (C{_INLINE}); C{handle}: the
    reactor's C{_doReadOrWrite}; C{disconnect}: its C{_disconnectSelectable}; C{done}
    and C{lost}: the reasons for a clean and a lost connection; C{read_failed(exc)}
    and C{poll_failed(exc)} log what a handler raised.
    """
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
                if type(selectable) in inline:  # doRead and _dataReceived, in place
                    try:
                        data = selectable.socket.recv(selectable.bufferSize)
                    except OSError as e:
                        why = None if e.args[0] == _AGAIN else lost
                    else:
                        if data:
                            selectable.protocol.dataReceived(data)
                            why = None
                        else:
                            why = done
                else:
                    why = selectable.doRead()
            except BaseException as e:
                why = e
                read_failed(e)
            if why:
                disconnect(selectable, why, True)
            continue
        try:
            handle(selectable, fd, event)
        except BaseException as e:
            poll_failed(e)


#: The dispatch in use: C{_speedups.dispatch} when it is built (and not turned off
#: with C{ZOO_NO_SPEEDUPS=1}), else L{_dispatch}.
DISPATCH: Any = _speedups.dispatch if _speedups is not None else _dispatch


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
    DISPATCH(
        events,
        self._selectables,
        _INLINE,
        self._doReadOrWrite,
        self._disconnectSelectable,
        _DONE,
        _LOST,
        _read_failed,
        _poll_failed,
    )
    TURN[0] = None  # the timed calls run next take their own


def _mended_do_read_or_write(self: Any, selectable: Any, fd: int, event: int) -> None:
    if event & _ERRORED and not event & self._POLL_IN and fd in self._reads:
        event |= self._POLL_IN  # read it: recv tells a reset from an end of file
    type(self)._doReadOrWrite(self, selectable, fd, event)


def mend(reactor: Any) -> bool:
    """Make C{reactor} read a reading descriptor's bare error or hang-up (see the module).

    @return: whether C{reactor} is one of Twisted's poll-like reactors (epoll or poll),
        the ones with this defect, and so mended.
    """
    if getattr(reactor, "_zoo_mended", False):
        return True
    try:
        from twisted.internet.posixbase import _PollLikeMixin
    except ImportError:  # pragma: no cover - not POSIX
        return False
    if not isinstance(reactor, _PollLikeMixin):
        return False
    reactor._doReadOrWrite = MethodType(_mended_do_read_or_write, reactor)  # type: ignore[method-assign]
    reactor._zoo_mended = True  # type: ignore[attr-defined]
    return True


def tune(reactor: Any) -> bool:
    """Give C{reactor} the lean poll loop if it is Twisted's epoll reactor (and L{mend} it).

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
    mend(reactor)  # its _doReadOrWrite is the handler the lean loop calls
    lean = MethodType(_lean_do_poll, reactor)
    reactor.doPoll = reactor.doIteration = lean  # type: ignore[method-assign]
    reactor._zoo_tuned = True  # type: ignore[attr-defined]
    return True
