"""One probe per zoo service: talk to a listener and assert it speaks its protocol.

Used by the .tac test (every service in every example must answer). Add an entry to
PROBES with each new service.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any


def _recv_until(s: socket.socket, suffix: bytes, count: int = 1, limit: int = 65536) -> bytes:
    """Read until C{suffix} has arrived C{count} times, EOF, or C{limit} bytes."""
    out = b""
    while out.count(suffix) < count and len(out) < limit:
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    return out


def lancelot(entry: dict[str, Any]) -> None:
    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
        s.sendall(b"What is your favorite color?Beautiful is better than?")
        got = _recv_until(s, b".", count=2)
    assert got in (b"Blue.Error: unknown question.", b"Error: unknown aphorism.Ugly."), got


def _udp_ask(entry: dict[str, Any], data: bytes) -> bytes:
    with socket.socket(
        socket.AF_INET6 if ":" in entry["host"] else socket.AF_INET, socket.SOCK_DGRAM
    ) as s:
        s.settimeout(5)
        s.sendto(data, (entry["host"], entry["port"]))
        return s.recv(65536)


def echo(entry: dict[str, Any]) -> None:
    message = b"Hey! " + bytes(range(256))
    if entry["type"] == "UDP":
        got = _udp_ask(entry, message)
    else:
        with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
            s.sendall(message)
            s.shutdown(socket.SHUT_WR)
            got = _recv_until(s, b"\x00never", limit=1 << 20)
    assert got in (message, message.upper()), got


def blocks(entry: dict[str, Any]) -> None:
    sent = b"\x00\x00\x00\x1eBeautiful is better than ugly.\x00\x00\x00\x00"
    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
        s.sendall(sent)
        s.shutdown(socket.SHUT_WR)
        got = _recv_until(s, b"\x00never")
    assert got in (b"", sent), got  # sink mode sends nothing; echo mode sends it back


def _check_time(reply: bytes) -> None:
    """Accept any of the three time formats, if it is within a minute of our clock."""
    import struct
    import time
    from datetime import UTC, datetime

    now = time.time()
    if len(reply) == 4:
        when = struct.unpack("!I", reply)[0] - 2_208_988_800
    elif reply.endswith(b"-UTC\r\n"):
        parsed = datetime.strptime(reply.decode(), "%A, %B %d, %Y %H:%M:%S-UTC\r\n")
        when = parsed.replace(tzinfo=UTC).timestamp()
    else:
        when = datetime.fromisoformat(reply.decode().strip()).timestamp()
    assert abs(when - now) < 60, (reply, now)


def time_service(entry: dict[str, Any]) -> None:
    if entry["type"] == "UDP":
        _check_time(_udp_ask(entry, b"time"))
        return
    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
        s.settimeout(0.5)
        try:
            first = s.recv(100)  # RFC 868 and daytime speak first
        except TimeoutError:
            first = b""
        s.settimeout(5)
        if first:
            _check_time(first + _recv_until(s, b"\x00never"))
            return
        s.sendall(b"time\n")
        _check_time(_recv_until(s, b"\n"))


def xmlrpc(entry: dict[str, Any]) -> None:
    import ssl
    import xmlrpc.client

    scheme = "https" if entry.get("tls") else "http"
    context = ssl._create_unverified_context() if entry.get("tls") else None
    proxy = xmlrpc.client.ServerProxy(
        f"{scheme}://{entry['host']}:{entry['port']}/RPC2", context=context
    )
    assert proxy.system.listMethods(), "no methods"
    if "double" in proxy.system.listMethods():
        assert proxy.double(7) == 14


def tls(entry: dict[str, Any]) -> None:
    """A TLS handshake succeeds; then a Lancelot question (the default upstream) is relayed,
    or, if nothing listens upstream, the wrapper closes the connection cleanly."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the probe has no CA path; the tests verify properly
    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()
            s.sendall(b"What is your favorite color?")
            try:
                got = _recv_until(s, b".")
            except (ssl.SSLEOFError, ConnectionResetError):
                got = b""
    assert got in (b"Blue.", b"Error: unknown aphorism.", b""), got


PROBES: dict[str, Callable[[dict[str, Any]], None]] = {
    "lancelot": lancelot,
    "echo": echo,
    "blocks": blocks,
    "time": time_service,
    "xmlrpc": xmlrpc,
    "tls": tls,
}


def probe(entry: dict[str, Any]) -> None:
    """Probe one ready-file listener entry; fail if its service has no probe."""
    check = PROBES.get(entry["service"])
    assert check is not None, f"no probe for service {entry['service']!r}: add one to probes.py"
    check(entry)
