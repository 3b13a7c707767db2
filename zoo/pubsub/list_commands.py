"""The list commands of zoo-pubsub, with Redis 7's replies and error messages.

DEL, EXISTS, RPUSH, LPUSH, LPOP and RPOP (with a count), BLPOP and BRPOP (with a
timeout in seconds, C{0} for ever), LLEN and LRANGE, over the broker's
L{zoo.pubsub.lists.Keyspace}. Each handler takes the L{zoo.pubsub.commands.Session}
and the command's words, and queues its reply on the session's client.

A blocked client's later commands wait in its session (L{Session.pending}) until
it is served or times out, as Redis holds them; past L{MAX_PENDING} of them the
connection is not read until then.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from zoo.events import bounded_text
from zoo.pubsub import codec
from zoo.pubsub.lists import OOM

if TYPE_CHECKING:
    from zoo.pubsub.commands import Session
    from zoo.pubsub.core import Client

#: Commands a blocked client may have waiting before its connection is not read.
MAX_PENDING = 1024

_NOT_INTEGER = codec.error("value is not an integer or out of range")
_NOT_POSITIVE = codec.error("value is out of range, must be positive")
_BAD_TIMEOUT = codec.error("timeout is not a float or out of range")
_NEGATIVE_TIMEOUT = codec.error("timeout is negative")
_LLONG = re.compile(rb"-?[1-9][0-9]{0,18}|0")
_FLOAT = re.compile(
    rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity)", re.I
)
_HEX_FLOAT = re.compile(
    rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
)


def _long(word: bytes) -> int | None:
    """Redis's C{string2ll}: a signed 64-bit integer, strictly written."""
    if _LLONG.fullmatch(word) is None:
        return None
    n = int(word)
    return n if -(1 << 63) <= n < (1 << 63) else None


def _timeout(word: bytes) -> float | bytes:
    """BLPOP's timeout in seconds (rounded up to milliseconds), or the error reply.

    As Redis 7.0 reads it with C{strtold}: decimal or hexadecimal, C{inf}, no spaces,
    no NaN; a timeout too large for a 64-bit count of milliseconds is "negative".
    """
    if len(word) > 5 * 1024:
        return _BAD_TIMEOUT
    if _FLOAT.fullmatch(word):
        if _too_big(word):
            return _BAD_TIMEOUT
        value = float(word)
    elif _HEX_FLOAT.fullmatch(word):
        value = float.fromhex(word.decode())
    else:
        return _BAD_TIMEOUT
    if value < 0 or math.isinf(value) or value * 1000 >= 2**63:
        return _NEGATIVE_TIMEOUT
    return math.ceil(value * 1000) / 1000


def _too_big(word: bytes) -> bool:
    """Whether a decimal overflows even C{long double} (C{1e5000}: strtold's ERANGE)."""
    _, _, exponent = word.lower().partition(b"e")
    return bool(exponent) and int(exponent) > 4932


def null_array(resp: int) -> bytes:
    return b"*-1\r\n" if resp == 2 else codec.NULL3


def _listed(key: bytes, count: int, length: int) -> dict[str, Any]:
    """The fields of a C{pubsub.pushed} or C{pubsub.popped} event, built when read."""
    return {"key": bounded_text(key, 256), "count": count, "length": length}


def _report(session: Session, kind: str, key: bytes, count: int) -> None:
    obs = session.observatory
    if obs.enabled:
        length = session.broker.keyspace.length(key)
        obs.record("pubsub", kind, session.session_id, _listed, key, count, length)


# -- keys ------------------------------------------------------------------------------


def del_(session: Session, argv: list[bytes]) -> None:
    keyspace = session.broker.keyspace
    n = 0
    for key in argv[1:]:
        if keyspace.delete(key):
            n += 1
            _report(session, "pubsub.deleted", key, 0)
    session.client.reply(codec.integer(n))


def exists(session: Session, argv: list[bytes]) -> None:
    lists = session.broker.keyspace.lists
    session.client.reply(codec.integer(sum(1 for key in argv[1:] if key in lists)))


# -- push and pop ----------------------------------------------------------------------


def _push(session: Session, argv: list[bytes], left: bool) -> None:
    keyspace = session.broker.keyspace
    key = argv[1]
    length = keyspace.push(key, argv[2:], left)
    if length is None:
        session.client.reply(OOM)
        return
    session.client.reply(codec.integer(length))
    _report(session, "pubsub.pushed", key, len(argv) - 2)
    if key in keyspace.waiting:
        served = keyspace.serve(key)
        for client, value in served:
            client.reply(codec.bulk_array([key, value]))
            _report(session, "pubsub.popped", key, 1)
        for client, _ in served:  # now run what each sent while it waited
            if client.on_resume is not None:
                client.on_resume()


def rpush(session: Session, argv: list[bytes]) -> None:
    _push(session, argv, left=False)


def lpush(session: Session, argv: list[bytes]) -> None:
    _push(session, argv, left=True)


def _pop(session: Session, argv: list[bytes], left: bool) -> None:
    client = session.client
    if len(argv) > 3:
        client.reply(
            codec.error(
                f"wrong number of arguments for '{argv[0].decode('latin-1').lower()}' command"
            )
        )
        return
    key = argv[1]
    keyspace = session.broker.keyspace
    if len(argv) == 2:
        popped = keyspace.pop(key, 1, left)
        client.reply(codec.bulk(popped[0] if popped else None, client.resp))
    else:
        count = _long(argv[2])
        if count is None or count < 0:
            client.reply(_NOT_POSITIVE)
            return
        if key not in keyspace.lists:
            client.reply(null_array(client.resp))
            return
        popped = keyspace.pop(key, count, left)
        client.reply(codec.bulk_array(popped))
    if popped:
        _report(session, "pubsub.popped", key, len(popped))


def lpop(session: Session, argv: list[bytes]) -> None:
    _pop(session, argv, left=True)


def rpop(session: Session, argv: list[bytes]) -> None:
    _pop(session, argv, left=False)


def _bpop(session: Session, argv: list[bytes], left: bool) -> None:
    client = session.client
    timeout = _timeout(argv[-1])
    if isinstance(timeout, bytes):
        client.reply(timeout)
        return
    keys = argv[1:-1]
    keyspace = session.broker.keyspace
    for key in keys:
        if key in keyspace.lists:
            (value,) = keyspace.pop(key, 1, left)
            client.reply(codec.bulk_array([key, value]))
            _report(session, "pubsub.popped", key, 1)
            return
    block = keyspace.block(client, keys, left)
    if timeout > 0 and client.clock is not None:
        block.timer = client.clock.callLater(timeout, _timed_out, session, client)


def _timed_out(session: Session, client: Client) -> None:
    block = client.blocked
    if block is None:
        return
    block.timer = None
    session.broker.keyspace.unblock(client)
    client.reply(null_array(client.resp))
    if client.on_resume is not None:
        client.on_resume()
    session.broker.flush()


def blpop(session: Session, argv: list[bytes]) -> None:
    _bpop(session, argv, left=True)


def brpop(session: Session, argv: list[bytes]) -> None:
    _bpop(session, argv, left=False)


# -- reading ---------------------------------------------------------------------------


def llen(session: Session, argv: list[bytes]) -> None:
    session.client.reply(codec.integer(session.broker.keyspace.length(argv[1])))


def lrange(session: Session, argv: list[bytes]) -> None:
    start, stop = _long(argv[2]), _long(argv[3])
    if start is None or stop is None:
        session.client.reply(_NOT_INTEGER)
        return
    session.client.reply(codec.bulk_array(session.broker.keyspace.range(argv[1], start, stop)))
