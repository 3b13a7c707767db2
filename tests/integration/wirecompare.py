"""Play one scripted session against two servers and compare what every connection got.

For the byte-for-byte comparisons with reference servers (redis-server, memcached).
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Sequence


def record(
    port: int,
    session: Sequence[tuple[int, bytes]],
    connections: int,
    normalize: Callable[[bytes], bytes] = lambda got: got,
    quiet: float = 0.15,
) -> list[list[bytes]]:
    """Play C{session} (connection index, bytes to send) against the server on C{port}.

    @return: per step, what each connection received until C{quiet} seconds passed
        without a byte (C{<EOF>} where it closed), passed through C{normalize}.
    """
    conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(connections)]
    for c in conns:
        c.setblocking(False)
    steps = []
    live = list(conns)
    try:
        for who, data in session:
            conns[who].setblocking(True)  # sendall of a large block, then back
            conns[who].sendall(data)
            conns[who].setblocking(False)
            got = [b""] * len(conns)
            quiet_since = time.monotonic()
            while time.monotonic() - quiet_since < quiet:
                for c in select.select(live, [], [], 0.02)[0]:
                    try:
                        chunk = c.recv(1 << 20)
                    except OSError:
                        chunk = b""
                    got[conns.index(c)] += chunk or b"<EOF>"
                    if not chunk:
                        live.remove(c)
                    quiet_since = time.monotonic()
            steps.append([normalize(g) for g in got])
    finally:
        for c in conns:
            c.close()
    return steps
