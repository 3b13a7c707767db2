"""zoo-zmq: ZMTP's greeting, frames, commands and one connection's state machine, in memory."""

from __future__ import annotations

import pytest

from zoo.zmq import codec
from zoo.zmq.codec import Decoder, ProtocolError
from zoo.zmq.core import Connection


def test_greeting_is_64_bytes_and_parses_back() -> None:
    """Our greeting is 64 bytes: signature, 3.1, NULL, not as-server; it parses to the same."""
    g = codec.greeting(1)
    assert len(g) == 64 and g[:1] == b"\xff" and g[9:10] == b"\x7f"
    assert codec.parse_greeting(g) == codec.Greeting(3, 1, b"NULL", False)
    assert codec.parse_greeting(codec.greeting(0)).minor == 0


@pytest.mark.parametrize(
    "data, why",
    [
        (b"GET / HTTP/1.1\r\n", "first byte"),
        (b"\xff" + b"\x00" * 8 + b"\x01", "byte 10"),
        (b"\xff" + b"\x00" * 8 + b"\x7f\x02", "ZMTP 2"),
    ],
)
def test_signature_checks_refuse_what_is_not_zmtp3(data: bytes, why: str) -> None:
    """An HTTP request, a bad signature tail and ZMTP 2 are refused from their first bytes."""
    with pytest.raises(ProtocolError, match=why):
        codec.check_signature(data)


def test_short_and_long_frames() -> None:
    """Up to 255 bytes a frame has a one-byte size; from 256 the LONG flag and eight bytes."""
    assert codec.frame(b"x" * 255)[:2] == b"\x00\xff"
    long = codec.frame(b"x" * 256, more=True)
    assert long[:9] == b"\x03" + (256).to_bytes(8, "big") and len(long) == 9 + 256


def test_decoder_gives_the_same_whatever_the_split() -> None:
    """A command, a multipart message and a long frame decode alike fed whole or byte by byte."""
    data = (
        codec.ready(b"REQ")
        + codec.message([b"", b"message #1"])
        + codec.message([b"a" * 300, b"b"])
    )
    whole = Decoder().feed(data)
    dribbled = []
    d = Decoder()
    for i in range(len(data)):
        dribbled += d.feed(data[i : i + 1])
    assert whole == dribbled
    assert whole[1:] == [(False, [b"", b"message #1"]), (False, [b"a" * 300, b"b"])]
    assert whole[0][0] is True and codec.split_command(whole[0][1])[0] == b"READY"  # type: ignore[arg-type]


def test_decoder_refuses_an_oversized_frame_from_its_header() -> None:
    """A frame announcing more than the limit is refused before its body is read."""
    d = Decoder(max_message=1000)
    with pytest.raises(ProtocolError, match="too large"):
        d.feed(b"\x02" + (10**12).to_bytes(8, "big"))


def test_decoder_limits_parts_and_total_size() -> None:
    """Too many parts, or parts adding up past the limit, are refused."""
    with pytest.raises(ProtocolError, match="too many"):
        Decoder(max_parts=3).feed(codec.message([b"x"] * 4))
    with pytest.raises(ProtocolError, match="too large"):
        Decoder(max_message=100).feed(codec.message([b"x" * 60, b"y" * 60]))


@pytest.mark.parametrize(
    "data, why",
    [
        (b"\x08\x01x", "reserved"),
        (b"\x05\x06\x05READY", "MORE"),
        (b"\x01\x01x" + codec.command(b"PING", b"\x00\x00"), "inside a multipart"),
    ],
)
def test_decoder_refuses_malformed_frames(data: bytes, why: str) -> None:
    """Reserved flag bits, a command with MORE, a command inside a message: protocol errors."""
    with pytest.raises(ProtocolError, match=why):
        Decoder().feed(data)


def test_properties_round_trip_and_malformed_metadata() -> None:
    """READY metadata reads back (names lower-cased); a truncated value is refused."""
    data = codec.properties({b"Socket-Type": b"REQ", b"Identity": b"me"})
    assert codec.parse_properties(data) == {b"socket-type": b"REQ", b"identity": b"me"}
    with pytest.raises(ProtocolError):
        codec.parse_properties(data[:-1])


class Recorder:
    """A socket that records what its connection hands it."""

    def __init__(self) -> None:
        self.messages: list[list[bytes]] = []
        self.subs: list[tuple[bytes, bool]] = []

    def message(self, conn: Connection, parts: list[bytes]) -> None:
        self.messages.append(parts)

    def subscribe(self, conn: Connection, topic: bytes, on: bool) -> None:
        self.subs.append((topic, on))


def connection(kind: bytes = b"REP") -> tuple[Connection, list[bytes], list[str], Recorder]:
    out: list[bytes] = []
    closed: list[str] = []
    rec = Recorder()
    conn = Connection(kind, out.append, closed.append, rec)
    conn.start()
    return conn, out, closed, rec


def test_handshake_then_a_message() -> None:
    """Greeting, READY naming REP, then the peer's REQ message reaches the socket."""
    conn, out, closed, rec = connection()
    assert out == [codec.greeting(1)]
    conn.receive(codec.greeting(1) + codec.ready(b"REQ", b"id1"))
    assert out[1] == codec.ready(b"REP") and conn.ready and conn.identity == b"id1"
    conn.receive(codec.message([b"", b"hi"]))
    assert rec.messages == [[b"", b"hi"]] and not closed


def test_greeting_split_anywhere() -> None:
    """A greeting arriving a byte at a time is understood (version 3.0 noted)."""
    conn, out, closed, rec = connection()
    data = codec.greeting(0) + codec.ready(b"REQ")
    for i in range(len(data)):
        conn.receive(data[i : i + 1])
    assert conn.ready and conn.minor == 0 and not closed


def test_bad_signature_closes_without_error_command() -> None:
    """A peer that is not ZMTP 3 is closed at once, with nothing more sent."""
    conn, out, closed, rec = connection()
    conn.receive(b"GET / HTTP/1.1\r\n\r\n")
    assert closed and out == [codec.greeting(1)]


@pytest.mark.parametrize(
    "greeting, ready, why",
    [
        (codec.greeting(1, b"PLAIN"), b"", "mechanism PLAIN"),
        (codec.greeting(1), codec.ready(b"PUB"), "socket type 'PUB' cannot talk to REP"),
        (codec.greeting(1), codec.message([b"hi"]), "before READY"),
        (codec.greeting(1), codec.command(b"HELLO"), "expected READY"),
    ],
)
def test_handshake_errors_send_error_and_close(greeting: bytes, ready: bytes, why: str) -> None:
    """Wrong mechanism, incompatible socket type, traffic before READY: ERROR, then close."""
    conn, out, closed, rec = connection()
    conn.receive(greeting + ready)
    assert closed and why in closed[0]
    assert out[-1].startswith(b"\x04") and b"ERROR" in out[-1]


def test_ping_gets_pong_with_its_context() -> None:
    """PING (TTL and context) is answered with PONG carrying the context."""
    conn, out, closed, rec = connection()
    conn.receive(codec.greeting(1) + codec.ready(b"REQ") + codec.command(b"PING", b"\x00\x0actx"))
    assert out[-1] == codec.command(b"PONG", b"ctx")


def test_publisher_takes_both_subscription_forms() -> None:
    """ZMTP 3.0 subscription messages and 3.1 SUBSCRIBE/CANCEL commands both reach the socket."""
    conn, out, closed, rec = connection(b"PUB")
    conn.receive(codec.greeting(1) + codec.ready(b"SUB"))
    conn.receive(codec.message([b"\x01cats"]) + codec.command(b"SUBSCRIBE", b"hats"))
    conn.receive(codec.message([b"\x00cats"]) + codec.command(b"CANCEL", b"hats"))
    assert rec.subs == [(b"cats", True), (b"hats", True), (b"cats", False), (b"hats", False)]


def test_subscribe_to_a_rep_socket_is_an_error() -> None:
    """SUBSCRIBE sent to a REP endpoint closes the connection."""
    conn, out, closed, rec = connection(b"REP")
    conn.receive(codec.greeting(1) + codec.ready(b"REQ") + codec.command(b"SUBSCRIBE", b"x"))
    assert closed and "SUBSCRIBE" in closed[0]


def test_message_to_push_is_an_error() -> None:
    """A PULL peer that sends a message to a PUSH endpoint is closed."""
    conn, out, closed, rec = connection(b"PUSH")
    conn.receive(codec.greeting(1) + codec.ready(b"PULL") + codec.message([b"x"]))
    assert closed
