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


def ssh(entry: dict[str, Any]) -> None:
    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
        banner = _recv_until(s, b"\r\n")
    assert banner.startswith(b"SSH-2.0-zoo"), banner


def pubsub(entry: dict[str, Any]) -> None:
    """SUBSCRIBE on one connection, PUBLISH on another, the message arrives (TLS too)."""
    import ssl

    def connect() -> socket.socket:
        s = socket.create_connection((entry["host"], entry["port"]), timeout=5)
        if not entry.get("tls"):
            return s
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the probe has no CA path; the tests verify properly
        return ctx.wrap_socket(s, server_hostname="localhost")

    with connect() as sub, connect() as pub:
        sub.sendall(b"SUBSCRIBE zoo-probe\r\n")
        assert _recv_until(sub, b":1\r\n") == b"*3\r\n$9\r\nsubscribe\r\n$9\r\nzoo-probe\r\n:1\r\n"
        pub.sendall(b"*3\r\n$7\r\nPUBLISH\r\n$9\r\nzoo-probe\r\n$2\r\nhi\r\n")
        assert _recv_until(pub, b"\r\n") == b":1\r\n"
        got = _recv_until(sub, b"\r\n", count=6)
    assert got == b"*3\r\n$7\r\nmessage\r\n$9\r\nzoo-probe\r\n$2\r\nhi\r\n", got


def ftp(entry: dict[str, Any]) -> None:
    """Anonymous login, PWD and QUIT on the control connection (TLS listeners are skipped)."""
    if entry.get("tls"):
        return
    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
        assert _recv_until(s, b"\r\n").startswith(b"220 "), "no FTP welcome"
        s.sendall(b"USER anonymous\r\nPASS probe@zoo\r\nPWD\r\nQUIT\r\n")
        got = _recv_until(s, b"\r\n", count=4)
    assert b"230 " in got and b'257 "/"' in got and b"221 " in got, got


def _unverified() -> Any:
    """A TLS context that accepts any certificate (probes check the protocol, not PKI)."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def smtp(entry: dict[str, Any]) -> None:
    import smtplib

    with smtplib.SMTP(entry["host"], entry["port"], timeout=5) as s:
        code, features = s.ehlo("probe")
        assert code == 250 and b"PIPELINING" in features, features
        assert s.noop()[0] == 250


def pop3(entry: dict[str, Any]) -> None:
    import poplib

    if entry.get("tls"):
        p = poplib.POP3_SSL(entry["host"], entry["port"], context=_unverified(), timeout=5)
    else:
        p = poplib.POP3(entry["host"], entry["port"], timeout=5)
    assert p.getwelcome().startswith(b"+OK")
    assert "UIDL" in p.capa()
    p.quit()


def imap(entry: dict[str, Any]) -> None:
    import imaplib

    if entry.get("tls"):
        c = imaplib.IMAP4_SSL(entry["host"], entry["port"], ssl_context=_unverified(), timeout=5)
    else:
        c = imaplib.IMAP4(entry["host"], entry["port"], timeout=5)
    assert "IMAP4REV1" in c.capabilities
    c.logout()


def admin(entry: dict[str, Any]) -> None:
    """The control plane: /livez answers without a token, /api/services wants one (401)."""
    import http.client

    for path, status in (("/livez", 200), ("/api/services", 401)):
        c = http.client.HTTPConnection(entry["host"], entry["port"], timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        c.close()
        assert r.status == status, (path, r.status)


def exercises(entry: dict[str, Any]) -> None:
    """Whichever exercise a listener serves, its reply is one of the books'."""
    if entry["type"] == "UDP":
        got = _udp_ask(entry, b"Hey!")
        assert got in (b"Are you talking to me?", b"Your data was 4 bytes"), got
        return
    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
        s.sendall(b"Hi there, server")
        got = _recv_until(s, b"\x00never")
    # hey answers any request; sixteen says farewell; the streamer sink sends nothing
    assert got in (b"Are you talking to me?", b"Farewell, client", b""), got


def dns_service(entry: dict[str, Any]) -> None:
    """Ask for the zone's apex (zoo.test unless configured); any well-formed reply passes."""
    import struct

    query = struct.pack("!HHHHHH", 0x2019, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p for p in (b"zoo", b"test")) + b"\x00"
    query += struct.pack("!HH", 1, 1)  # A, IN
    if entry["type"] == "UDP":
        reply = _udp_ask(entry, query)
    else:
        with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
            s.sendall(struct.pack("!H", len(query)) + query)
            reply = b""
            while len(reply) < 2 or len(reply) < 2 + struct.unpack("!H", reply[:2])[0]:
                chunk = s.recv(4096)
                assert chunk, f"closed after {len(reply)} bytes"
                reply += chunk
            reply = reply[2:]
    ident, flags, qdcount = struct.unpack("!HHH", reply[:6])
    assert ident == 0x2019 and flags & 0x8000 and qdcount == 1, reply


def http_service(entry: dict[str, Any]) -> None:
    """FOPNP's 3rd-edition session: GET /ip answers httpbin's JSON with the origin."""
    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
        if entry.get("tls"):
            import ssl

            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            s = context.wrap_socket(s)
        s.sendall(b"GET /ip HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        got = _recv_until(s, b"\x00never")
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), got
    assert b'"origin": "' in body, got


def telnet(entry: dict[str, Any]) -> None:
    """Options asked for and login: prompted; a blank name gets login: again (no guessing)."""
    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
        got = _recv_until(s, b"login: ")
        assert b"\xff\xfd\x18" in got and got.endswith(b"login: "), got  # IAC DO TTYPE
        s.sendall(b"\r\n")
        assert _recv_until(s, b"login: ") == b"login: "


def _zmtp_frames(s: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """Read C{count} ZMTP frames as (flags, body)."""
    frames = []
    for _ in range(count):
        head = _recv_exact(s, 2)
        size = head[1]
        if head[0] & 0x02:
            size = int.from_bytes(head[1:] + _recv_exact(s, 7), "big")
        frames.append((head[0], _recv_exact(s, size)))
    return frames


def _recv_exact(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, f"closed after {len(out)} of {n} bytes"
        out += chunk
    return out


def zmq(entry: dict[str, Any]) -> None:
    """ZMTP 3.1 by hand: greet, read the endpoint's READY, then speak to its socket type.

    REP answers a request; PUSH sends a word; ROUTER answers a zerorpc call of double(7);
    PUB sends two-frame messages once subscribed (the bridge only when zoo-pubsub gets
    some, so silence for 2 s is accepted there)."""
    greeting = b"\xff" + b"\x00" * 8 + b"\x7f\x03\x01" + b"NULL".ljust(20, b"\x00") + b"\x00" * 32

    def ready(kind: bytes) -> bytes:
        body = b"\x05READY\x0bSocket-Type" + len(kind).to_bytes(4, "big") + kind
        return bytes((0x04, len(body))) + body

    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
        s.sendall(greeting)
        assert _recv_exact(s, 64)[:1] == b"\xff"
        [(flags, body)] = _zmtp_frames(s, 1)
        assert flags == 0x04 and body.startswith(b"\x05READY"), body
        kind = body.split(b"Socket-Type", 1)[1][4:]
        peer = {b"REP": b"REQ", b"PUB": b"SUB", b"PUSH": b"PULL", b"ROUTER": b"DEALER"}[kind]
        s.sendall(ready(peer))
        if kind == b"REP":
            s.sendall(b"\x01\x00\x00\x04time")
            frames = _zmtp_frames(s, 2)
            assert frames[0] == (0x01, b"") and frames[1][1], frames
        elif kind == b"PUSH":
            [(flags, word)] = _zmtp_frames(s, 1)
            assert flags == 0 and word.replace(b"_", b"").isalnum(), word
        elif kind == b"ROUTER":
            import msgpack

            call = msgpack.packb(({"message_id": b"probe", "v": 3}, "double", [7]))
            s.sendall(b"\x01\x00" + bytes((0, len(call))) + call)
            frames = _zmtp_frames(s, 2)
            header, name, args = msgpack.unpackb(frames[1][1])
            assert (name, args) == ("OK", [14]), (name, args)
        else:
            s.sendall(b"\x04\x0a\x09SUBSCRIBE")  # everything (3.1 command)
            s.settimeout(2)
            try:
                frames = _zmtp_frames(s, 2)
            except TimeoutError:
                return  # the bridge publishes only what zoo-pubsub gets
            assert frames[0][0] == 0x01 and frames[1][0] == 0x00, frames  # [topic, value]


def msgpackrpc(entry: dict[str, Any]) -> None:
    """A MessagePack-RPC request for double(8) gets [1, msgid, nil, 16]."""
    import msgpack

    with socket.create_connection((entry["host"], entry["port"]), timeout=5) as s:
        s.sendall(msgpack.packb([0, 42, "double", [8]]))
        unpacker = msgpack.Unpacker()
        while True:
            chunk = s.recv(4096)
            assert chunk, "closed without an answer"
            unpacker.feed(chunk)
            answers = list(unpacker)
            if answers:
                break
    assert answers == [[1, 42, None, 16]], answers


def memcached(entry: dict[str, Any]) -> None:
    """set, get (the value and its flags come back) and delete of a key of the probe's own."""
    import os
    import ssl

    key = b"zoo-probe:%d:%s" % (os.getpid(), os.urandom(4).hex().encode())
    s = socket.create_connection((entry["host"], entry["port"]), timeout=5)
    if entry.get("tls"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the probe has no CA path
        s = ctx.wrap_socket(s, server_hostname="localhost")
    with s:
        s.sendall(b"set %b 7 0 5\r\nhello\r\nget %b\r\ndelete %b\r\n" % (key, key, key))
        got = _recv_until(s, b"DELETED\r\n")
    assert got == b"STORED\r\nVALUE %b 7 5\r\nhello\r\nEND\r\nDELETED\r\n" % key, got


PROBES: dict[str, Callable[[dict[str, Any]], None]] = {
    "admin": admin,
    "lancelot": lancelot,
    "echo": echo,
    "blocks": blocks,
    "time": time_service,
    "xmlrpc": xmlrpc,
    "tls": tls,
    "ssh": ssh,
    "pubsub": pubsub,
    "ftp": ftp,
    "smtp": smtp,
    "pop3": pop3,
    "imap": imap,
    "exercises": exercises,
    "dns": dns_service,
    "http": http_service,
    "telnet": telnet,
    "zmq": zmq,
    "msgpackrpc": msgpackrpc,
    "memcached": memcached,
}


def probe(entry: dict[str, Any]) -> None:
    """Probe one ready-file listener entry; fail if its service has no probe."""
    check = PROBES.get(entry["service"])
    assert check is not None, f"no probe for service {entry['service']!r}: add one to probes.py"
    check(entry)
