"""Writes that reach the socket at once, and the plain TCP connection under zoo's wrappers.

Twisted's C{write} always buffers and waits for the next reactor turn to send,
registering and unregistering the socket for writability each time: two extra
C{epoll_ctl} calls and a loop iteration per reply. For a request/response protocol
that is most of the per-message cost (docs/benchmarks.rst, "fast writes").
L{fast_writer} calls C{send()} itself when Twisted's own buffer is empty and hands
anything left, or anything while data is queued (so order is kept), to the
transport's C{write}.

It reads C{tcp.Connection} internals (C{_tempDataBuffer}, C{dataBuffer}, C{offset},
C{_writeDisconnected}, C{TLS}); see the list in L{zoo._twisted}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import tcp
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import TLSMemoryBIOProtocol

from zoo._twisted.speedups import speedups as _speedups


def tcp_connection(transport: Any) -> Any:
    """Find the plain TCP connection under any protocol wrappers, or C{None}.

    C{None} under a TLS layer or a wrapper marked C{zoo_opaque} (bytes must go through
    it) and on UNIX, in-memory and other transports.
    """
    while isinstance(transport, ProtocolWrapper):
        if isinstance(transport, TLSMemoryBIOProtocol) or getattr(transport, "zoo_opaque", False):
            return None  # bytes must go through it (TLS, zoo.faults' byte layer)
        transport = transport.transport
    if isinstance(transport, tcp.Connection) and not getattr(transport, "TLS", False):
        return transport
    return None


def set_nodelay(transport: Any) -> None:
    """Turn Nagle's algorithm off on a TCP transport; other transports are left alone."""
    setter = getattr(transport, "setTcpNoDelay", None)
    if setter is not None:
        try:
            setter(True)
        except OSError:
            pass


def fast_writer(
    transport: Any,
    counter: Any = None,
    slow: Callable[[bytes], None] | None = None,
    tally: Any = None,
    speedups: bool = True,
    record: Callable[[bytes], None] | None = None,
) -> Callable[[bytes], None]:
    """Return a C{write(data)} for C{transport} that sends at once when it can.

    The TLS state is checked on every write, not once: after C{startTLS} (STARTTLS,
    STLS, AUTH TLS) the same writer sends through the TLS layer, so a protocol may
    keep its writer for the whole connection.

    @param counter: an object whose C{activity} count goes up by one per write (the
        idle sweep's wrapper), or C{None}.
    @param slow: what sends when the socket cannot take the bytes now (default
        C{transport.write}).
    @param tally: an object whose C{bytes_out} goes up by the size of every write
        (an observed session's), or C{None}.
    @param record: called with every write's bytes (an observed session's
        transcript, C{Session.record_out}), or C{None}.
    @param speedups: use the C writer (C{_speedups.Writer}) when it is built; C{False}
        for this function's own Python closure, its reference.
    @return: C{transport.write} itself where no raw TCP socket can be used (TLS from
        the start, UNIX, in-memory), else the fast writer.
    """
    if slow is None:
        slow = transport.write  # through the wrappers, so they see the activity
    conn = tcp_connection(transport)
    if conn is None:
        return slow
    sock = conn.socket
    if speedups and _speedups is not None:
        return _speedups.Writer(conn, sock.fileno(), counter, slow, tally, record)  # type: ignore[no-any-return]

    def write(data: bytes) -> None:
        if counter is not None:
            counter.activity += 1
        if tally is not None:
            tally.bytes_out += len(data)
        if record is not None:
            record(data)
        if (
            conn.connected
            and not conn.disconnecting
            and not conn.TLS
            and not conn._tempDataBuffer
            and conn.offset == len(conn.dataBuffer)
            and not conn._writeDisconnected
        ):
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                # Let Twisted notice and report the error in its usual way.
                slow(data)
                return
            if sent == len(data):
                return
            data = data[sent:]
        slow(data)

    return write
