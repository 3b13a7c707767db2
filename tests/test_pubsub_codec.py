"""zoo-pubsub wire format: Redis globs and the RESP2 request parser, without sockets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.pubsub import codec
from zoo.pubsub.codec import RequestParser, split_args
from zoo.pubsub.glob import compile_glob, stringmatch


@pytest.mark.parametrize(
    "pattern, name, expected",
    [
        (b"h?llo", b"hello", True),
        (b"h?llo", b"hllo", False),
        (b"h*llo", b"hllo", True),
        (b"h*llo", b"heeeello", True),
        (b"h[ae]llo", b"hallo", True),
        (b"h[ae]llo", b"hillo", False),
        (b"h[^e]llo", b"hallo", True),
        (b"h[^e]llo", b"hello", False),
        (b"h[a-b]llo", b"hbllo", True),
        (b"h[b-a]llo", b"hallo", True),  # a range may be written backwards
        (b"h\\*llo", b"h*llo", True),
        (b"h\\*llo", b"hello", False),
        (b"news.*", b"news.art.figurative", True),
        (b"*", b"", False),  # Redis: an empty name matches only the empty pattern
        (b"", b"", True),
        (b"a[bc", b"ab", True),  # an unclosed [ takes the rest of the pattern as its set
        (b"a\\", b"a\\", True),  # a lone trailing backslash is a literal
        (b"[\\]]", b"]", True),
        (b"*\xff", b"caf\xff", True),  # bytes, not text
        (b"maine*", b"maine coon", True),
    ],
)
def test_glob_examples(pattern: bytes, name: bytes, expected: bool) -> None:
    """Patterns match as Redis's stringmatchlen does, quirks included."""
    assert stringmatch(pattern, name) is expected
    assert compile_glob(pattern)(name) is expected


def test_glob_signed_ranges() -> None:
    """Byte ranges compare as signed C chars, as in Redis: [a-\\xff] does not contain b."""
    assert not stringmatch(b"[a-\xff]", b"b")
    assert stringmatch(b"[a-\xff]", b"\x00")  # the range is really [-1, 97]
    assert not stringmatch(b"[a-\xff]", b"\x80")


_glob_bytes = st.binary(max_size=8).map(lambda b: bytes(b"ab*?\\"[x % 5] for x in b))


@given(_glob_bytes, st.binary(max_size=8).map(lambda b: bytes(b"ab*?\\"[x % 5] for x in b)))
@settings(max_examples=500)
def test_compiled_glob_agrees_with_port(pattern: bytes, name: bytes) -> None:
    """The regex fast path decides exactly as the port of Redis's matcher."""
    assert compile_glob(pattern)(name) is stringmatch(pattern, name)


def test_glob_many_stars_terminates() -> None:
    """A pathological pattern answers at once (Redis's skip-longer-matches cut-off)."""
    assert not stringmatch(b"a*" * 40 + b"b", b"a" * 60)


# Parser ------------------------------------------------------------------------------


def test_multibulk_and_inline_mixed() -> None:
    """Multibulk and inline commands on one connection come out as argument lists."""
    p = RequestParser()
    data = codec.command(b"PUBLISH", b"maine coon", b"stovepipe") + b"PING\r\nsubscribe a  b\n"
    assert p.feed(data) == [
        [b"PUBLISH", b"maine coon", b"stovepipe"],
        [b"PING"],
        [b"subscribe", b"a", b"b"],
    ]
    assert p.error is None


def test_binary_safe_arguments() -> None:
    """Arguments may hold CR, LF, NUL, non-UTF-8 bytes or nothing at all."""
    p = RequestParser()
    args = [b"PUBLISH", b"a\r\nb\x00\xff", b""]
    assert p.feed(codec.command(*args)) == [args]


@pytest.mark.parametrize(
    "line, argv",
    [
        (b'SUBSCRIBE "maine coon" persian', [b"SUBSCRIBE", b"maine coon", b"persian"]),
        (b"PUBLISH 'it''s' x", None),  # closing quote must be followed by a space
        (b"PUBLISH 'it\\'s' x", [b"PUBLISH", b"it's", b"x"]),
        (b'PUBLISH "a\\x41\\n\\t" b', [b"PUBLISH", b"aA\n\t", b"b"]),
        (b'PUBLISH "unterminated', None),
        (b'ab"cd ef"', [b"abcd ef"]),
        (b"   ", []),
        (b"a\x00b c", [b"a"]),  # Redis reads the line as a C string
    ],
)
def test_split_args_like_redis(line: bytes, argv: list[bytes] | None) -> None:
    """Inline commands split as Redis's sdssplitargs splits them."""
    assert split_args(line) == argv


@pytest.mark.parametrize(
    "data, error",
    [
        (b"*abc\r\n", "invalid multibulk length"),
        (b"*01\r\n", "invalid multibulk length"),
        (b"*1\r\n$-1\r\n", "invalid bulk length"),
        (b"*1\r\n$99999999999\r\n", "invalid bulk length"),
        (b"*1\r\n:1\r\n", "expected '$', got ':'"),
        (b'PUBLISH "x\r\n', "unbalanced quotes in request"),
        (b"x" * (64 * 1024 + 1), "too big inline request"),
        (b"*" + b"1" * (64 * 1024 + 1), "too big mbulk count string"),
    ],
)
def test_malformed_input(data: bytes, error: str) -> None:
    """Malformed requests set Redis's error text and stop the parser."""
    p = RequestParser()
    assert p.feed(data) == []
    assert p.error == error
    assert p.feed(b"PING\r\n") == []


def test_argument_count_limit() -> None:
    """More arguments than max_args is an invalid multibulk length."""
    p = RequestParser(max_args=3)
    assert p.feed(b"*4\r\n") == []
    assert p.error == "invalid multibulk length"


def test_request_size_limit() -> None:
    """A command whose arguments together pass max_request is refused while it arrives."""
    p = RequestParser(max_bulk=1000, max_request=2500)
    p.feed(b"*5\r\n")
    for _ in range(3):
        p.feed(b"$1000\r\n" + b"x" * 1000 + b"\r\n")
    assert p.error == "query buffer limit exceeded"


def test_empty_multibulk_is_skipped() -> None:
    """*0 and *-1 are empty commands and are ignored, as in Redis."""
    assert RequestParser().feed(b"*0\r\n*-1\r\nPING\r\n") == [[b"PING"]]


def test_large_bulk_in_pieces_is_linear() -> None:
    """A big argument arriving in small reads is assembled once, not re-parsed per read."""
    p = RequestParser()
    body = b"x" * 1_000_000
    data = codec.command(b"PUBLISH", b"c", body)
    out = []
    for i in range(0, len(data), 4096):
        out += p.feed(data[i : i + 4096])
    assert out == [[b"PUBLISH", b"c", body]]


_arg = st.binary(max_size=20)
_commands = st.lists(st.lists(_arg, min_size=1, max_size=4), min_size=1, max_size=6)


@given(_commands, st.lists(st.integers(min_value=0, max_value=400), max_size=8))
@settings(max_examples=300)
def test_any_split_same_commands(commands: list[list[bytes]], cuts: list[int]) -> None:
    """However the stream is cut into reads, the parser returns the same commands."""
    data = b"".join(codec.command(*argv) for argv in commands)
    points = sorted({c % (len(data) + 1) for c in cuts})
    p = RequestParser()
    out = []
    prev = 0
    for c in [*points, len(data)]:
        out += p.feed(data[prev:c])
        prev = c
    assert out == commands
    assert p.buffered == 0


_word = st.binary(min_size=1, max_size=6).map(lambda b: bytes(97 + x % 26 for x in b))


@given(st.lists(st.lists(_word, min_size=1, max_size=3), min_size=1, max_size=5), st.data())
def test_inline_any_split(commands: list[list[bytes]], data: st.DataObject) -> None:
    """Inline commands also parse the same under any split."""
    stream = b"".join(b" ".join(argv) + b"\r\n" for argv in commands)
    cut = data.draw(st.integers(min_value=0, max_value=len(stream)))
    p = RequestParser()
    assert p.feed(stream[:cut]) + p.feed(stream[cut:]) == commands


def test_reply_encoders() -> None:
    """Replies and pushed frames have Redis's exact bytes."""
    assert codec.message(b"maine coon", b"stovepipe") == (
        b"*3\r\n$7\r\nmessage\r\n$10\r\nmaine coon\r\n$9\r\nstovepipe\r\n"
    )
    assert codec.subscription(b"subscribe", b"maine coon", 1) == (
        b"*3\r\n$9\r\nsubscribe\r\n$10\r\nmaine coon\r\n:1\r\n"
    )
    assert (
        codec.subscription(b"unsubscribe", None, 0) == b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    )
    assert (
        codec.pmessage(b"m*", b"mc", b"")
        == b"*4\r\n$8\r\npmessage\r\n$2\r\nm*\r\n$2\r\nmc\r\n$0\r\n\r\n"
    )
    assert codec.error("bad\r\nthing") == b"-ERR bad  thing\r\n"
    assert codec.error("-NOPROTO x") == b"-NOPROTO x\r\n"
