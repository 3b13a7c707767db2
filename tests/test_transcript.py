"""zoo.transcript: secrets hidden however the bytes are split, commands and replies named."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from zoo._twisted.speedups import built
from zoo.transcript import LIMIT, MARK, TABLE, Hidden, tag_of, transcriber

C, S = "client", "server"

#: Per service: a conversation (side, bytes) and the secrets it must never show.
SCRIPTS: dict[str, tuple[list[tuple[str, bytes]], list[bytes]]] = {
    "smtp": (
        [
            (C, b"EHLO c\r\n"),
            (S, b"250-x\r\n250 AUTH PLAIN LOGIN\r\n"),
            (C, b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
            (S, b"535 no\r\n"),
            (C, b"AUTH LOGIN\r\n"),
            (S, b"334 VXNlcm5hbWU6\r\n"),
            (C, b"dXNlcjE=\r\n"),
            (S, b"334 UGFzc3dvcmQ6\r\n"),
            (C, b"c2VjcmV0MQ==\r\n"),
            (S, b"235 ok\r\n"),
            (C, b"QUIT\r\n"),
        ],
        [b"AGFsaWNlAHNlY3JldA==", b"dXNlcjE=", b"c2VjcmV0MQ=="],
    ),
    "pop3": (
        [
            (C, b"USER bob\r\n"),
            (S, b"+OK\r\n"),
            (C, b"PASS hunter2\r\n"),
            (S, b"-ERR\r\n"),
            (C, b"APOP bob c4c9334bac560ecc979e58001b3e22fb\r\n"),
            (S, b"-ERR\r\n"),
            (C, b"AUTH PLAIN\r\n"),
            (S, b"+ \r\n"),
            (C, b"AGJvYgBodW50ZXIz\r\n"),
            (S, b"+OK\r\n"),
        ],
        [b"hunter2", b"c4c9334bac560ecc979e58001b3e22fb", b"AGJvYgBodW50ZXIz"],
    ),
    "imap": (
        [
            (C, b'a1 LOGIN bob "hunter2"\r\n'),
            (S, b"a1 NO\r\n"),
            (C, b"a2 LOGIN {3}\r\n"),
            (S, b"+ go\r\n"),
            (C, b"bob {8}\r\n"),
            (S, b"+ go\r\n"),
            (C, b"hunter22\r\n"),
            (S, b"a2 NO\r\n"),
            (C, b"a3 AUTHENTICATE PLAIN\r\n"),
            (S, b"+ \r\n"),
            (C, b"AGJvYgBodW50ZXIz\r\n"),
            (S, b"a3 OK\r\n"),
        ],
        [b"hunter22", b"hunter2", b"AGJvYgBodW50ZXIz"],
    ),
    "ftp": (
        [(C, b"USER bob\r\n"), (S, b"331 pw\r\n"), (C, b"PASS hunter2\r\n"), (S, b"230 ok\r\n")],
        [b"hunter2"],
    ),
    "xmlrpc": (
        [
            (C, b"POST / HTTP/1.1\r\nAuthorization: Basic Ym9iOmh1bnRlcjI=\r\n"),
            (C, b"Content-Length: 4\r\n\r\nbody"),
            (S, b"HTTP/1.1 200 OK\r\n\r\n"),
        ],
        [b"Ym9iOmh1bnRlcjI="],
    ),
    "pubsub": (
        [
            (C, b"*2\r\n$4\r\nAUTH\r\n$7\r\nhunter2\r\n"),
            (C, b"AUTH bob hunter3\r\n"),
            (C, b"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$3\r\nbob\r\n$7\r\nhunter4\r\n"),
        ],
        [b"hunter2", b"hunter3", b"hunter4"],
    ),
}


def _play(service: str, script: list[tuple[str, bytes]], split: int | None) -> list:
    t = transcriber(service)
    chunks = []
    for side, data in script:
        feed = t.client if side == C else t.server
        if side == C and split is not None and 0 < split < len(data):
            chunks += [feed(data[:split]), feed(data[split:])]
        elif side == C and split == -1:
            chunks += [feed(data[i : i + 1]) for i in range(len(data))]
        else:
            chunks.append(feed(data))
    return chunks


@pytest.mark.parametrize("service", sorted(SCRIPTS))
def test_secrets_never_shown_whatever_the_split(service: str) -> None:
    """Every split of every client chunk in two, and byte by byte: no secret is ever shown."""
    script, secrets = SCRIPTS[service]
    longest = max(len(d) for _, d in script)
    for split in [None, -1, *range(1, longest)]:
        chunks = _play(service, script, split)
        shown = b"".join(c.shown for c in chunks)
        for secret in secrets:
            assert secret not in shown, (service, split, shown)
        assert MARK in shown and any(c.redacted for c in chunks)


@pytest.mark.parametrize("service", sorted(SCRIPTS))
def test_unsplit_transcript_keeps_everything_but_secrets(service: str) -> None:
    """Unsplit, what is shown is the conversation with exactly the secrets replaced."""
    script, secrets = SCRIPTS[service]
    shown = b"".join(c.shown for c in _play(service, script, None))
    expected = b"".join(d for _, d in script)
    for secret in secrets:
        expected = expected.replace(secret, MARK)
    if service == "imap":  # quotes go with a password; a LOGIN literal hides all of it
        expected = expected.replace(b'"***"', MARK)
        expected = expected.replace(b"{3}\r\n", b"***\r\n").replace(b"bob {8}", b"******")
    if service == "xmlrpc":  # the whole header value, its scheme too
        expected = expected.replace(b"Basic ***", MARK)
    if service == "pubsub":  # every argument after AUTH is hidden
        expected = expected.replace(b"AUTH bob ***", b"AUTH ***").replace(
            b"$3\r\nbob\r\n", b"$3\r\n***\r\n"
        )
    assert shown == expected


def test_commands_and_replies_named() -> None:
    """Commands and replies are named per protocol."""
    smtp = transcriber("smtp")
    assert smtp.client(b"ehlo x\r\n").label == "EHLO"
    assert smtp.server(b"250-a\r\n250 b\r\n").label == 250
    pop = transcriber("pop3")
    assert pop.server(b"-ERR no\r\n").label == "-ERR"
    imap = transcriber("imap")
    assert imap.client(b"a1 select INBOX\r\n").label == "SELECT"
    assert imap.server(b"a1 BAD what\r\n").label == "BAD"
    assert transcriber("ftp").server(b"530 no\r\n").label == 530
    assert transcriber("xmlrpc").client(b"GET / HTTP/1.1\r\n\r\n").label == "GET"


def test_smtp_body_is_not_commands() -> None:
    """Between 354 and the lone dot, lines are a message, even 'AUTH' or 'PASS' lines."""
    t = transcriber("smtp")
    t.client(b"DATA\r\n")
    t.server(b"354 go\r\n")
    body = t.client(b"AUTH PLAIN x\r\nQUIT\r\n")
    assert body.label is None and not body.redacted
    end = t.client(b".\r\nNOOP\r\n")
    assert end.label == "NOOP"
    assert t.server(b"250 ok\r\n").label == 250
    assert t.client(b"HELO x\r\n").label == "HELO"


def test_ssh_version_then_sizes() -> None:
    """SSH: the version line is shown, the encrypted rest never is."""
    t = transcriber("ssh")
    first = t.client(b"SSH-2.0-x\r\n\x00\x00\x01\x0cbinary")
    assert first.shown == b"SSH-2.0-x\r\n" and first.redacted
    assert t.client(b"password-in-a-packet").shown == b""


def test_big_chunk_is_bounded_everywhere() -> None:
    """Every transcriber keeps at most LIMIT bytes of a chunk, both ways."""
    for service in [*TABLE, "echo"]:
        t = transcriber(service)
        assert len(t.server(b"y" * (3 * LIMIT)).shown) <= LIMIT
        if service != "ssh":
            t = transcriber(service)
            assert len(t.client(b"x" * (3 * LIMIT)).shown) <= LIMIT


def _resp_command(words: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)


_RESP_PARTS = [
    _resp_command([b"PUBLISH", b"news", b"hello"]),
    _resp_command([b"publish", b"c", b"x\r\n*2\r\n$4\r\nAUTH"]),  # a payload that looks like RESP
    _resp_command([b"AUTH", b"sekrit"]),
    _resp_command([b"auth", b"bob", b"sekrit"]),
    _resp_command([b"HELLO", b"3", b"AUTH", b"bob", b"sekrit"]),
    _resp_command([b"SUBSCRIBE", b"a", b"b"]),
    _resp_command([b"A" * 40, b"long command name"]),
    b"*0\r\n",
    b"*-1\r\n",
    b"AUTH sekrit\r\n",
    b"PING\r\n",
    b"*2\r\n$4\r\nPING\r\n",  # a count larger than what follows
    b"$3\r\nxyz\r\n",
    b"*x\r\n",
    b"*1\r\n$-1\r\n",
    b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nabc\r\n$1\r\nx\r\n",  # a length that is wrong
    b"*3\r\n$7\r\nPUBLISH\r\n$x\r\n",
    b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$6\r\npublic\r\n",
    _resp_command([b"PUBLISH", b"c", b"*1\r\n$4\r\nPING\r\n"]),  # a payload that is a command
]


@settings(max_examples=300, deadline=None)
@example(  # a stray bulk after "*0" is labelled as a command, as by the full parser
    parts=[_RESP_PARTS[0], b"*0\r\n", b"$3\r\nxyz\r\n", _RESP_PARTS[0]],
    cuts=[len(_RESP_PARTS[0]) + 4],  # the second read starts at the stray bulk
)
@example(  # a run of PUBLISHes stopped by a wrong length in its third command
    parts=[_RESP_PARTS[0], _RESP_PARTS[1], _RESP_PARTS[15], _RESP_PARTS[0]], cuts=[]
)
@example(  # a run cut just after its second command's channel, then an AUTH
    parts=[_RESP_PARTS[0], _RESP_PARTS[17], _RESP_PARTS[2]],
    cuts=[len(_RESP_PARTS[0]) + 25],
)
@given(
    parts=st.lists(st.sampled_from(_RESP_PARTS), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=6),
)
def test_resp_fast_path_matches_the_full_parser(parts: list[bytes], cuts: list[int]) -> None:
    """RESP's pipelining fast path shows, hides and names exactly what the full parser does."""
    from zoo.transcript import Resp

    data = b"".join(parts)
    bounds = sorted({c % len(data) for c in cuts} - {0})
    chunks = [data[a:b] for a, b in zip([0, *bounds], [*bounds, len(data)], strict=True)]
    fast, full = Resp(), Resp()
    shown = b""
    for chunk in chunks:
        seen = fast.client(chunk)
        assert seen == full._parse(chunk), (parts, bounds, chunk)
        shown += seen.shown
    assert b"sekrit" not in shown


class _Enabled:
    enabled = True


def _follow(chunks: list[bytes]) -> tuple[list[object], list[object]]:
    """Each chunk as a follower (told by a real RESP parser) and as the full parser show it.

    The follower is fed as zoo's pub-sub server feeds it: each read before the parser
    sees it, the parser's word after; after a protocol error the server stops reading
    and says nothing more. A second follower is fed through its L{Resp.client_side}
    recorder (what a session records), which must record what the first one shows,
    with the shown size.
    """
    from zoo.pubsub.codec import RequestParser
    from zoo.transcript import Resp

    follower, full, sided, parser = Resp(), Resp(), Resp(), RequestParser()
    parsed, side_parsed = follower.follow(), sided.follow()
    recorded: list[tuple[object, ...]] = []
    side = sided.client_side(_Enabled(), lambda *args: recorded.append(args), "pubsub-1")
    seen, expected = [], []
    for chunk in chunks:
        seen.append(follower.client(chunk))
        side(chunk)
        expected.append(full._parse(chunk))
        if parser.error is None:
            parser.feed(chunk)
            parsed(parser.at_boundary)
            side_parsed(parser.at_boundary)
    assert recorded == [
        ("pubsub-1", len(c.shown), c, len(data))  # type: ignore[attr-defined]
        for c, data in zip(seen, chunks, strict=True)
    ], chunks
    assert all(type(args[2]) is type(c) for args, c in zip(recorded, seen, strict=True))
    return seen, expected


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({c % len(data) for c in cuts} - {0})
    return [data[a:b] for a, b in zip([0, *bounds], [*bounds, len(data)], strict=True)]


@settings(max_examples=400, deadline=None)
@example(  # a HELLO cut just inside "AUTH": the next read is stepped through, and hidden
    parts=[_RESP_PARTS[0], _RESP_PARTS[4]], cuts=[len(_RESP_PARTS[0]) + 26]
)
@example(  # a read cut where a payload looks like a command: not taken as one
    parts=[_RESP_PARTS[0], _RESP_PARTS[18], _RESP_PARTS[0]],
    cuts=[len(_RESP_PARTS[0]) + 29, len(_RESP_PARTS[0]) + len(_RESP_PARTS[18])],
)
@example(  # a stray bulk after whole commands: the last read is stepped through first
    parts=[_RESP_PARTS[0], _RESP_PARTS[12], _RESP_PARTS[0]], cuts=[len(_RESP_PARTS[0])]
)
@given(
    parts=st.lists(st.sampled_from(_RESP_PARTS), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=6),
)
def test_resp_follower_matches_the_full_parser(parts: list[bytes], cuts: list[int]) -> None:
    """Reads taken whole on the server parser's word show, hide and name what the full
    parser does, for any commands and any split (a mismatch names the reads)."""
    chunks = _cut(b"".join(parts), cuts)
    seen, expected = _follow(chunks)
    for chunk, a, b in zip(chunks, seen, expected, strict=True):
        assert a == b, (chunks, chunk)
    assert b"sekrit" not in b"".join(c.shown for c in seen)  # type: ignore[attr-defined]


def test_resp_follower_takes_pipelined_reads_whole() -> None:
    """A run of whole PUBLISH reads is never stepped through; a cut read is, once."""
    from zoo.pubsub.codec import RequestParser
    from zoo.transcript import Resp

    stepped: list[bytes] = []

    class Counting(Resp):
        def _catch_up(self, data: bytes) -> None:
            stepped.append(data)
            super()._catch_up(data)

    follower, parser = Counting(), RequestParser()
    parsed = follower.follow()
    read = _resp_command([b"PUBLISH", b"news", b"hello"]) * 64
    for _ in range(3):
        assert follower.client(read).label == "PUBLISH"
        parser.feed(read)
        parsed(parser.at_boundary)
    assert stepped == []
    cut = read[:-5]
    follower.client(cut)
    parser.feed(cut)
    parsed(parser.at_boundary)
    rest = read[-5:] + _resp_command([b"AUTH", b"sekrit"])
    chunk = follower.client(rest)
    assert stepped == [cut]
    assert chunk.redacted and b"sekrit" not in chunk.shown


def _auth_checks() -> list[object]:
    from zoo import transcript
    from zoo._twisted.speedups import built

    return [transcript.has_auth] + ([built.has_auth] if built is not None else [])


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=12),
            st.sampled_from([b"auth", b"AUTH", b"aUtH", b"AUT", b"uth", b"A\x00UTH", b"\xc1uth"]),
        ),
        max_size=6,
    ).map(b"".join)
)
@settings(max_examples=400)
@example(b"xxAuThxx")
@example(b"\xe1\xf5\xf4\xe8")  # the letters with the top bit set: not auth
@example(b"@UTH")  # '@' | 0x20 is '`', not 'a'
def test_auth_check_twins_agree(data: bytes) -> None:
    """The C check finds auth in any case exactly where lower() and in do, in bytes
    and in a bytearray."""
    want = b"auth" in data.lower()
    for check in _auth_checks():
        assert check(data) is want
        assert check(bytearray(data)) is want


@pytest.mark.parametrize("filler", [b"x", b"h", b"H", b"\xe8", b"t", b"\x00"])
def test_auth_check_finds_the_word_at_every_place(filler: bytes) -> None:
    """The C check steps sixteen places at a time (SSE2), then eight: the word is found
    wherever it starts (both sides of every step, and cut by the end), and a read full
    of h's (every step a candidate) without it is not taken for it."""
    checks = _auth_checks()
    for size in range(0, 72):
        for at in range(0, size + 1):
            data = filler * at + b"aUtH" + filler * (size - at)
            for check in checks:
                assert check(data) is True, (filler, size, at)
        plain = filler * size + b"aUt"
        for check in checks:
            assert check(plain) is (b"auth" in plain.lower())


def _whole_checks() -> list[object]:
    from zoo._twisted.speedups import built
    from zoo.transcript import Resp

    return [Resp._whole] + ([built.resp_whole] if built is not None else [])


_RESP_PIECES = st.sampled_from(
    [
        b"*",
        b"$",
        b"\r\n",
        b"\r",
        b"\n",
        b"0",
        b"3",
        b"7",
        b"12",
        b"99999999999999999999",
        b"PUBLISH",
        b"publish",
        b"ping",
        b"auth",
        b"\xe9t\xe9",
        b"-1",
        b" ",
    ]
)


@given(
    st.one_of(
        st.lists(st.one_of(_RESP_PIECES, st.binary(max_size=6)), max_size=14).map(b"".join),
        st.lists(
            st.one_of(
                st.binary(max_size=20),
                st.sampled_from([b"PUBLISH", b"ping", b"Auth", b"a\r\n", b"\xff" * 20, b""]),
            ),
            min_size=1,
            max_size=4,
        ).map(_resp_command),
    )
)
@settings(max_examples=600)
@example(b"*1\r\n$4\r\nping\r\n")
@example(b"*1\r\n$4\r\nping\r")  # the name's CRLF cut
@example(b"*0\r\n$4\r\nping\r\n")  # no elements
@example(b"*00001\r\n$4\r\nping\r\n")
@example(b"*1\r\n$18446744073709551617\r\nping\r\n")  # a length past any integer
@example(b"*1\r\n$20\r\n" + b"abcdefghijklmnopqrst\r\n")  # a name cut at 16
@example(b"*1\r\n$3\r\nn\r\r\r\n")  # the name's own CRs are stripped too
@example(b"*1\r\n$2\r\n\xe9\xe9\r\n")  # not ASCII: replaced
@example(b"*1\r\n$4\r\nAUTH\r\n")
@example(b"*" + b"1" * 22 + b"\r\n$1\r\nx\r\n")  # the count's CRLF past the 24 bytes looked at
@example(b"*" + b"1" * 21 + b"\r\n$1\r\nx\r\n")
def test_resp_whole_twins_agree(data: bytes) -> None:
    """The C name of a read taken whole is the Python one, for commands and for garbage."""
    want = _whole_checks()[0](data)  # type: ignore[operator]
    for check in _whole_checks()[1:]:
        assert check(data) == want  # type: ignore[operator]


_LINE_WORDS = [
    b"EHLO c", b"MAIL FROM:<a@b>", b"DATA", b"QUIT", b"AUTH PLAIN AGFs", b"AUTH LOGIN",
    b"PASS hunter2", b"APOP bob 0123", b"USER bob", b"ACCT x", b"RETR 1", b"a1 LOGIN bob pw",
    b"a2 AUTHENTICATE PLAIN", b"a3 LOGIN {3}", b"pw", b".", b"", b" ", b"x",
    b"Subject: hi\r\n\r\nbody", b"DATA", b"DATA", b"MAIL FROM:<a@b>", b"QUIT",
]  # fmt: skip
_LINE_ENDS = [b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r\r\n", b"\r", b""]
_REPLIES = [b"250 ok\r\n", b"354 go\r\n", b"334 VXNl\r\n", b"+ \r\n", b"+OK\r\n", b"235 x\r\n",
            b"220-a\r\n220 b\r\n", b"250-x", b"\r\n", b"a1 OK done\r\n"]  # fmt: skip
_LINE = st.tuples(st.sampled_from(_LINE_WORDS), st.sampled_from(_LINE_ENDS)).map(b"".join)
#: A conversation: client reads of one line (the short ways' case, so twice as
#: likely), of two or three lines or pieces of them, and replies in between.
_LINE_READS = st.lists(
    st.one_of(
        st.tuples(st.just(C), _LINE.map(lambda line: [line])),
        st.tuples(st.just(C), _LINE.map(lambda line: [line])),
        st.tuples(st.just(C), st.lists(_LINE, min_size=2, max_size=3)),
        st.tuples(st.just(S), st.lists(st.sampled_from(_REPLIES), min_size=1, max_size=2)),
    ),
    max_size=16,
)


#: The conversations the line tests always try, besides random ones: a mail through
#: DATA and its body, a SASL exchange, a POP3 and an IMAP login.
_LINE_EXAMPLES = [
    ("smtp", [(C, [b"EHLO c\r\n"]), (S, [b"250 ok\r\n"]), (C, [b"DATA\r\n"]),
              (S, [b"354 go\r\n"]), (C, [b"Subject: hi\r\n\r\nbody\r\n"]), (C, [b".\r\n"]),
              (S, [b"250 ok\r\n"]), (C, [b"QUIT\r\r\n"])]),
    ("smtp", [(C, [b"AUTH LOGIN\r\n"]), (S, [b"334 VXNl\r\n"]), (C, [b"pw\r\n"]),
              (S, [b"235 x\r\n"]), (C, [b"mail FROM:<a@b>\n"])]),
    ("smtp", [(C, [b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"]),
              (S, [b"250 ok\r\n250 ok\r\n", b"354 go\r\n"]), (C, [b"y" * 5000 + b"\r\n"]),
              (C, [b"z\r\n.\r"]), (C, [b"\n"]), (S, [b"250 ok\r\n"]), (C, [b"DATA\r\n"]),
              (S, [b"354 go\r\n"]), (C, [b"b\r\n.\r\nQUIT\r\n"]), (S, [b"250 ok\r\n"])]),
    ("pop3", [(C, [b"USER bob\r\n"]), (S, [b"+OK\r\n"]), (C, [b"PASS hunter2\r\n"])]),
    ("imap", [(C, [b"a1 LOGIN bob pw\r\n"]), (S, [b"a1 OK done\r\n"])]),
]  # fmt: skip


def _line_property(test: Any) -> Any:
    """Run C{test(service, reads)} on the examples and on 500 random conversations."""
    for args in _LINE_EXAMPLES:
        test = example(*args)(test)
    return settings(max_examples=500, deadline=None)(
        given(st.sampled_from(["smtp", "pop3", "imap", "ftp"]), _LINE_READS)(test)
    )


@_line_property
def test_line_short_ways_match_the_general_ones(
    service: str, reads: list[tuple[str, list[bytes]]]
) -> None:
    """A line protocol's short ways (a whole line read, a reply written) give the chunks,
    and leave the state, that the general steps do, whatever the reads."""
    short, general = transcriber(service), transcriber(service)
    general._short = False  # type: ignore[attr-defined]
    for side, pieces in reads:
        data = b"".join(pieces)
        if not data:
            continue
        if side == C:
            assert short.client(data) == general.client(data), (side, data)
        else:
            assert short.server(data) == general.server(data), (side, data)
        assert vars(short) == {k: v for k, v in vars(general).items() if k != "_short"}, data


def test_line_short_way_taken() -> None:
    """A whole command line and a reply go the short way (and a secret the general one)."""
    smtp = transcriber("smtp")
    calls = []
    general = type(smtp).__mro__[1].client
    type(smtp).__mro__[1].client = lambda self, data: calls.append(data) or general(self, data)  # type: ignore[method-assign]
    try:
        assert smtp.client(b"MAIL FROM:<a@b>\r\n").label == "MAIL"
        assert calls == []
        assert smtp.client(b"AUTH PLAIN AGFs\r\n").redacted
        assert calls == [b"AUTH PLAIN AGFs\r\n"]
    finally:
        type(smtp).__mro__[1].client = general  # type: ignore[method-assign]


@pytest.mark.skipif(built is None, reason="zoo._twisted._speedups not built")
@_line_property
def test_line_side_in_c_records_what_the_closure_does(
    service: str, reads: list[tuple[str, list[bytes]]]
) -> None:
    """_speedups.LineSide records the chunks zoo.sessions' Python closure records, and
    leaves the transcriber as the closure does."""
    assert built is not None

    class Observatory:
        enabled = True

    def recorder(log: list[tuple]) -> Any:
        return lambda sid, kept, shown, tag, n: log.append((sid, kept, shown, tag, type(tag), n))

    py_log: list[tuple] = []
    c_log: list[tuple] = []
    t_py, t_c = transcriber(service), transcriber(service)

    def closure(transcribe: Any) -> Any:
        record = recorder(py_log)

        def chunk(data: bytes) -> None:
            seen = transcribe(data)
            record("s-1", len(seen.shown), seen.shown, tag_of(seen), len(data))

        return chunk

    py_sides = {C: closure(t_py.client), S: closure(t_py.server)}
    c_sides = {
        side: built.LineSide(Observatory, recorder(c_log), "s-1", t_c, side == C, Hidden)
        for side in (C, S)
    }
    for side, pieces in reads:
        data = b"".join(pieces)
        if not data:
            continue
        py_sides[side](data)
        c_sides[side](data)
        assert c_log == py_log, (side, data)
        assert vars(t_c) == vars(t_py), (side, data)


@pytest.mark.skipif(built is None, reason="zoo._twisted._speedups not built")
def test_line_side_in_c_records_nothing_when_off() -> None:
    """Observation off, or an empty read: nothing recorded, the transcriber untouched."""
    assert built is not None
    log: list[tuple] = []

    class Off:
        enabled = False

    t = transcriber("smtp")
    before = dict(vars(t))
    side = built.LineSide(Off, lambda *a: log.append(a), "s-1", t, True, Hidden)
    side(b"DATA\r\n")
    Off.enabled = True
    side(b"")
    assert log == [] and vars(t) == before
    side(b"DATA\r\n")
    assert [a[3] for a in log] == ["DATA"] and t._want_body is True  # type: ignore[attr-defined]


@pytest.mark.skipif(built is None, reason="zoo._twisted._speedups not built")
def test_line_side_keeps_no_object_per_chunk() -> None:
    """LineSide records a chunk as its shown bytes and a tag: the label itself, one
    object shared by every chunk it labels (a verb's str, a reply code's int, None),
    and a Hidden only where a secret was hidden. No Chunk, nothing the collector
    tracks, nothing per chunk but the bytes."""
    assert built is not None
    log: list[tuple] = []

    class On:
        enabled = True

    t = transcriber("smtp")
    client = built.LineSide(On, lambda *a: log.append(a), "s-1", t, True, Hidden)
    server = built.LineSide(On, lambda *a: log.append(a), "s-1", t, False, Hidden)
    for side, data in [(client, b"MAIL FROM:<a@b>\r\n"), (server, b"354 go\r\n"),
                       (client, b"MAIL FROM:<c@d>\r\n"), (client, b"DATA\r\n"),
                       (server, b"354 go\r\n"), (client, b"body\r\n.\r\n"),
                       (client, b"a\r\nb\r\n"), (client, b"AUTH PLAIN AGFs\r\n")]:  # fmt: skip
        side(data)
    tags = [entry[3] for entry in log]
    assert tags == ["MAIL", 354, "MAIL", "DATA", 354, None, "A", Hidden("AUTH")]
    assert [type(entry[2]) for entry in log] == [bytes] * 8
    assert log[0][2] == b"MAIL FROM:<a@b>\r\n" and log[-1][2] == b"AUTH PLAIN ***\r\n"
    assert tags[0] is tags[2] and tags[1] is tags[4]  # shared, 354 too (past Python's 256)
    assert not any(gc.is_tracked(tag) for tag in tags[:-1])


def test_a_whole_read_is_kept_without_a_copy_up_to_keep_whole() -> None:
    """A pipelined read taken whole is kept as the very bytes object, up to KEEP_WHOLE
    (its event shows the first LIMIT bytes); a larger one is cut to LIMIT."""
    from zoo.pubsub.codec import RequestParser
    from zoo.sessions import _wire_in
    from zoo.transcript import KEEP_WHOLE, Resp

    follower, parser = Resp(), RequestParser()
    parsed = follower.follow()
    read = _resp_command([b"PUBLISH", b"news", b"x" * 100]) * 50
    big = _resp_command([b"PUBLISH", b"news", b"y" * 100]) * 80
    assert LIMIT < len(read) <= KEEP_WHOLE < len(big)
    for data in (read, big):
        chunk = follower.client(data)
        parser.feed(data)
        parsed(parser.at_boundary)
        fields = _wire_in(chunk, len(data))
        assert fields["data"] == data[:LIMIT].decode("latin-1") and fields["size"] == len(data)
        assert chunk.label == "PUBLISH"
        if data is read:
            assert chunk.shown is read
        else:
            assert chunk.shown == big[:LIMIT]
