"""zoo-pubsub wire format: Redis globs and the RESP2 request parser, without sockets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import example, given, settings
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


# The PUBLISH fast path ---------------------------------------------------------------
#
# Each test runs with the Python scan (codec.scan_publishes) and its C twin
# (_speedups.publishes) where that is built; tests/test_speedups.py fails a CI build
# that lost it. Hypothesis draws the twin in @given tests (pytest-twisted cannot mix
# a parametrized fixture with @given).


def _scans() -> list[Any]:
    from zoo._twisted.speedups import built

    return [codec.scan_publishes] + ([built.publishes] if built is not None else [])


SCANS = _scans()


@contextmanager
def scanning(scan: Any) -> Iterator[None]:
    """Parsers made inside use C{scan} as their PUBLISH fast path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codec, "SCAN_PUBLISHES", scan)
        yield


class GeneralParser(RequestParser):
    """The parser with its PUBLISH fast path turned off: the reference it must agree with."""

    __slots__ = ()

    def _publishes(self, buf: bytes | bytearray, pos: int, out: list[list[bytes]]) -> int:
        return pos


def feed_both(
    data: bytes, cuts: list[int], scan: Any = None, **limits: int
) -> tuple[RequestParser, GeneralParser]:
    """Feed C{data} cut at C{cuts} to both parsers; every read must give the same result."""
    fast, general = RequestParser(**limits), GeneralParser(**limits)
    prev = 0
    with scanning(scan or codec.SCAN_PUBLISHES):
        for c in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
            assert fast.feed(data[prev:c]) == general.feed(data[prev:c])
            assert (fast.error, fast.buffered) == (general.error, general.buffered)
            prev = c
    return fast, general


@pytest.mark.parametrize("scan", SCANS)
def test_fast_path_takes_publish_in_both_spellings(scan: Any) -> None:
    """PUBLISH and publish pipelines come out as the general parser's argument lists."""
    p = RequestParser()
    data = (
        codec.command(b"PUBLISH", b"maine coon", b"stovepipe")
        + codec.command(b"publish", b"", b"a\r\n$3\r\nb")
        + codec.command(b"PuBlIsH", b"c", b"general path")
        + codec.command(b"PUBLISH", b"c", b"x" * 1000)
    )
    with scanning(scan):
        got = p.feed(data)
    assert got == [
        [b"PUBLISH", b"maine coon", b"stovepipe"],
        [b"publish", b"", b"a\r\n$3\r\nb"],
        [b"PuBlIsH", b"c", b"general path"],
        [b"PUBLISH", b"c", b"x" * 1000],
    ]
    assert p.error is None and p.buffered == 0


@pytest.mark.parametrize("scan", SCANS)
def test_fast_path_shares_a_run_s_channel(scan: Any) -> None:
    """PUBLISHes to the same channel in a row share one channel object; another channel
    (even one of the same length, or a prefix) gets its own, with the right bytes."""
    p = RequestParser()
    data = b"".join(
        codec.command(b"PUBLISH", c, b"m")
        for c in (b"news", b"news", b"news", b"newt", b"new", b"news", b"news")
    )
    with scanning(scan):
        got = p.feed(data)
    assert [argv[1] for argv in got] == [
        b"news",
        b"news",
        b"news",
        b"newt",
        b"new",
        b"news",
        b"news",
    ]
    assert got[0][1] is got[1][1] is got[2][1]
    assert got[5][1] is got[6][1] and got[5][1] is not got[0][1]


@pytest.mark.parametrize(
    "data, error",
    [
        (b"*3\r\n$7\r\nPUBLISH\r\n$01\r\nc\r\n$1\r\nx\r\n", "invalid bulk length"),
        (b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$-1\r\n", "invalid bulk length"),
        (b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$\r\n", "invalid bulk length"),
        (b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n:1\r\n", "expected '$', got ':'"),
        (b"*3\r\n$7\r\nPUBLISH\r\n$" + b"9" * 30 + b"\r\n", "invalid bulk length"),
        (b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$2000\r\n", "invalid bulk length"),  # > max_bulk
    ],
)
@pytest.mark.parametrize("scan", SCANS)
def test_fast_path_leaves_malformed_publish_to_the_general_parser(
    data: bytes, error: str, scan: Any
) -> None:
    """A bad PUBLISH gets the general parser's error; the commands before it still count."""
    p = RequestParser(max_bulk=1024)
    good = codec.command(b"PUBLISH", b"c", b"x")
    with scanning(scan):
        assert p.feed(good + data) == [[b"PUBLISH", b"c", b"x"]]
    assert p.error == error


@pytest.mark.parametrize("scan", SCANS)
def test_fast_path_respects_max_args(scan: Any) -> None:
    """With max_args below 3, even a PUBLISH is an invalid multibulk length."""
    p = RequestParser(max_args=2)
    with scanning(scan):
        assert p.feed(codec.command(b"PUBLISH", b"c", b"x")) == []
    assert p.error == "invalid multibulk length"


@pytest.mark.parametrize("scan", SCANS)
def test_fast_path_waits_for_a_publish_cut_anywhere(scan: Any) -> None:
    """A PUBLISH cut at every possible point is returned once, when its last byte arrives."""
    data = codec.command(b"PUBLISH", b"chan", b"payload") * 2
    for cut in range(len(data) + 1):
        fast, _ = feed_both(data, [cut], scan)
        assert fast.buffered == 0


_publish_name = st.sampled_from([b"PUBLISH", b"publish", b"Publish"])
_publish = st.tuples(_publish_name, _arg, st.binary(max_size=40)).map(lambda a: codec.command(*a))
_other = st.one_of(
    _commands.map(lambda cs: b"".join(codec.command(*argv) for argv in cs)),
    st.sampled_from([b"PING\r\n", b"PUBLISH c x\r\n", b"*0\r\n", b"*-1\r\n"]),
)
_stream = st.lists(st.one_of(_publish, _publish, _other), min_size=1, max_size=10).map(b"".join)


@st.composite
def _bad_publish(draw: st.DrawFn) -> bytes:
    """A PUBLISH with one of its channel or payload headers wrong."""
    name = draw(_publish_name)
    args = [draw(_arg), draw(st.binary(max_size=40))]
    which = draw(st.integers(min_value=0, max_value=1))
    n = len(args[which])
    bad = draw(
        st.sampled_from(
            [
                b"$0%d" % n,
                b"$00",
                b"$-%d" % n,
                b"$+%d" % n,
                b"$ %d" % n,
                b"$%dx" % n,
                b"$",
                b"$" + b"9" * 25,
                b"$%d" % (n + 1),
                b"$%d" % max(n - 1, 0),
                b":%d" % n,
                b"*%d" % n,
            ]
        )
    )
    heads = [b"$%d" % len(a) for a in args]
    heads[which] = bad
    return b"*3\r\n$%d\r\n%b\r\n" % (len(name), name) + b"".join(
        h + b"\r\n" + a + b"\r\n" for h, a in zip(heads, args, strict=True)
    )


_bad_stream = st.lists(
    st.one_of(_publish, _publish, _other, _bad_publish()), min_size=1, max_size=10
).map(b"".join)
_cuts = st.lists(st.integers(min_value=0, max_value=2000), max_size=8)
_limits = st.sampled_from([{}, {"max_bulk": 8}, {"max_args": 2}, {"max_request": 40}])
#: Corruptions: bytes overwritten with protocol characters, or something slipped in
#: after a '$' (a leading zero, a sign, a blank, a non-digit), anywhere in the stream.
_junk = st.binary(min_size=1, max_size=3).map(lambda b: bytes(b"*$\r\n0-19Pp:x"[x % 12] for x in b))
_edit = st.one_of(
    st.tuples(st.just("overwrite"), st.integers(min_value=0, max_value=2000), _junk),
    st.tuples(
        st.just("after $"),
        st.integers(min_value=0, max_value=30),
        st.sampled_from([b"0", b"00", b"-", b"+", b" ", b"x", b"\r\n"]),
    ),
)


def corrupt(data: bytes, edit: tuple[str, int, bytes]) -> bytes:
    kind, at, junk = edit
    if kind == "overwrite":
        at %= len(data) + 1
        return data[:at] + junk + data[at + len(junk) :]
    dollars = [i for i, c in enumerate(data) if c == 36]
    if not dollars:
        return data
    at = dollars[at % len(dollars)] + 1
    return data[:at] + junk + data[at:]


@given(_stream, _cuts, _limits, st.sampled_from(SCANS))
@settings(max_examples=500)
def test_fast_path_agrees_with_general_parser(
    data: bytes, cuts: list[int], limits: dict[str, int], scan: Any
) -> None:
    """PUBLISH-heavy pipelines, within and over the limits, cut anywhere: same results, read by read."""
    fast, _ = feed_both(data, cuts, scan, **limits)
    if not limits:
        assert fast.error is None and fast.buffered == 0


_PUB = b"*3\r\n$7\r\nPUBLISH\r\n"


@given(_bad_stream, st.lists(_edit, max_size=3), _cuts, _limits, st.sampled_from(SCANS))
@example(_PUB + b"$1\r\nc\r\n:1\r\nx\r\n", [], [], {}, SCANS[-1])  # not '$' before the payload
@example(_PUB + b"$01\r\nc\r\n$1\r\nx\r\n", [], [], {}, SCANS[-1])  # a leading zero
@example(_PUB + b"$1\r\nc\r\n$-1\r\n", [], [], {}, SCANS[-1])
@example(_PUB + b"$1\r\nc\r\n$9\r\n123456789\r\n", [], [], {"max_bulk": 8}, SCANS[-1])
@example(_PUB + b"$9\r\n123456789\r\n$1\r\nx\r\n", [], [], {"max_bulk": 8}, SCANS[-1])
@example(_PUB + b"$1\r\nc\r\n$1\r\nx\r\n", [], [], {"max_args": 2}, SCANS[-1])
@example(_PUB + b"$1\r\nc\r\n$", [], [], {}, SCANS[-1])  # cut right after the '$'
@settings(max_examples=500)
def test_fast_path_agrees_on_malformed_input(
    data: bytes,
    edits: list[tuple[str, int, bytes]],
    cuts: list[int],
    limits: dict[str, int],
    scan: Any,
) -> None:
    """Corrupted streams, under tight limits, cut anywhere: same commands, errors and state."""
    for edit in edits:
        data = corrupt(data, edit)
    feed_both(data, cuts, scan, **limits)


@pytest.mark.skipif(len(SCANS) < 2, reason="zoo._twisted._speedups not built here")
@given(_bad_stream, st.lists(_edit, max_size=3), st.integers(0, 300), st.sampled_from([8, 1 << 20]))
@settings(max_examples=500)
def test_c_scan_is_the_python_scan(
    data: bytes, edits: list[tuple[str, int, bytes]], pos: int, max_bulk: int
) -> None:
    """The C twin takes the same commands and stops at the same place, from any position."""
    for edit in edits:
        data = corrupt(data, edit)
    python, c = SCANS
    for buf in (data, bytearray(data)):
        got_p: list[list[bytes]] = []
        got_c: list[list[bytes]] = []
        assert python(buf, pos, got_p, max_bulk) == c(
            buf, pos, got_c, max_bulk, codec.PUBLISH_NAMES
        )
        assert got_c == got_p
        assert all(a[0] is codec.PUBLISH_NAMES[a[0] == b"publish"] for a in got_c)
