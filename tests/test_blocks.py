"""Blocks: the parser at every split, oversize and truncation, both modes, in memory."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from zoo import blocks
from zoo.blocks import (
    END,
    BlockParser,
    BlocksFactory,
    BlocksServer,
    BlockTooLarge,
    frame,
)
from zoo.policies import ZooPolicyFactory
from zoo.tap import blocks as tap

#: The book's client, byte for byte.
BOOK = (
    b"\x00\x00\x00\x1eBeautiful is better than ugly."
    b"\x00\x00\x00!Explicit is better than implicit."
    b"\x00\x00\x00\x1eSimple is better than complex."
    b"\x00\x00\x00\x00"
)
MESSAGES = [
    b"Beautiful is better than ugly.",
    b"Explicit is better than implicit.",
    b"Simple is better than complex.",
]


class ParserTests(SynchronousTestCase):
    def test_book_stream(self) -> None:
        """The book's three blocks and terminator in one read: three messages, then END."""
        self.assertEqual(BlockParser().feed(BOOK), [*MESSAGES, END])

    def test_frame_matches_book(self) -> None:
        """frame() produces the book's exact bytes."""
        self.assertEqual(b"".join(frame(m) for m in MESSAGES) + frame(b""), BOOK)

    def test_byte_at_a_time(self) -> None:
        """Fed one byte at a time, the parser yields the same blocks, each once."""
        p = BlockParser()
        out = []
        for i in range(len(BOOK)):
            out += p.feed(BOOK[i : i + 1])
        self.assertEqual(out, [*MESSAGES, END])
        self.assertIsNone(p.pending())

    @given(st.lists(st.binary(min_size=1, max_size=300), max_size=6), st.data())
    def test_any_split(self, messages: list[bytes], data: st.DataObject) -> None:
        """However the stream is cut into reads, the blocks come out whole and in order."""
        stream = b"".join(frame(m) for m in messages) + frame(b"")
        cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=30)))
        p = BlockParser()
        out = []
        for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            out += p.feed(stream[a:b])
        self.assertEqual(out, [*messages, END])

    def test_oversize_header(self) -> None:
        """A header above the limit raises BlockTooLarge naming both sizes."""
        p = BlockParser(max_size=1000)
        with self.assertRaises(BlockTooLarge) as e:
            p.feed(b"\x00\x00\x03\xe9")
        self.assertEqual((e.exception.length, e.exception.limit), (1001, 1000))
        self.assertIn("1001 bytes", str(e.exception))

    def test_limit_is_inclusive(self) -> None:
        """A block of exactly max_size bytes is accepted."""
        self.assertEqual(BlockParser(max_size=5).feed(frame(b"12345")), [b"12345"])

    def test_default_limit_beyond_twisted(self) -> None:
        """The default limit accepts a 1 MiB block (Twisted's Int32StringReceiver stops at 99,999)."""
        big = bytes(1 << 20)
        self.assertEqual(BlockParser().feed(frame(big)), [big])

    def test_large_block_in_small_reads(self) -> None:
        """A 4 MiB block in 64 KiB reads arrives whole, once, at its last read."""
        body = bytes(range(256)) * (1 << 14)
        stream = frame(body)
        p = BlockParser()
        outs = [p.feed(stream[i : i + 65536]) for i in range(0, len(stream), 65536)]
        self.assertEqual([o for o in outs if o], [[body]])

    def test_skim_whole_blocks(self) -> None:
        """skim_blocks() counts whole blocks and ends; partial or oversized reads give None."""
        self.assertEqual(blocks.skim_blocks(BOOK, 40), (3, 1))
        self.assertIsNone(blocks.skim_blocks(BOOK[:-1], 40))
        self.assertIsNone(blocks.skim_blocks(frame(b"x" * 41), 40))

    def test_between_blocks(self) -> None:
        """between() is true only with no partial header or body and no failure."""
        p = BlockParser(max_size=40)
        self.assertTrue(p.between())
        p.feed(BOOK[:2])
        self.assertFalse(p.between())  # inside a header
        p.feed(BOOK[2:10])
        self.assertFalse(p.between())  # inside a body
        p.feed(BOOK[10:])
        self.assertTrue(p.between())
        with self.assertRaises(BlockTooLarge):
            p.feed(frame(b"x" * 41))
        self.assertFalse(p.between())  # failed

    def test_pending_header_and_body(self) -> None:
        """pending() says how far into a header or body the stream stopped."""
        p = BlockParser()
        p.feed(b"\x00\x00")
        self.assertEqual(p.pending(), (2, 4))
        p.feed(b"\x00\x1eBeautiful")
        self.assertEqual(p.pending(), (9, 30))


def server(mode: str = "sink", max_size: int = 1 << 24) -> tuple[BlocksServer, StringTransport]:
    proto = BlocksFactory(mode, max_size).buildProtocol(None)  # type: ignore[arg-type]
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


class ServerTests(SynchronousTestCase):
    def test_sink_logs_like_the_book(self) -> None:
        """Sink mode logs "Message says: '...'" per block and sends nothing back."""
        with capturedLogs() as events:
            proto, transport = server()
            proto.dataReceived(BOOK)
        texts = [e["log_format"].format(**e) for e in events]
        self.assertIn("Message says: 'Beautiful is better than ugly.'", texts)
        self.assertIn("Message says: 'Simple is better than complex.'", texts)
        self.assertEqual(transport.value(), b"")
        self.assertEqual((proto.blocks, proto.series), (3, 1))

    def test_echo_frames_back(self) -> None:
        """Echo mode sends every block back framed, terminator included."""
        proto, transport = server("echo")
        proto.dataReceived(BOOK[:20])
        proto.dataReceived(BOOK[20:])
        self.assertEqual(transport.value(), BOOK)
        self.assertFalse(transport.disconnecting)

    def test_echo_counts_whole_reads(self) -> None:
        """Echo mode sends a read of whole blocks back unchanged and still counts blocks and series."""
        proto, transport = server("echo")
        proto.dataReceived(BOOK)
        proto.dataReceived(BOOK[:7])
        proto.dataReceived(BOOK[7:])
        self.assertEqual(transport.value(), BOOK * 2)
        self.assertEqual((proto.blocks, proto.series), (6, 2))

    def test_oversize_error_and_close(self) -> None:
        """An oversized header gets a framed error naming the limit, and the connection closes."""
        proto, transport = server("echo", max_size=100)
        proto.dataReceived(frame(b"ok") + b"\x00\x00\x01\x00" + b"x" * 50)
        out = transport.value()
        self.assertTrue(out.startswith(frame(b"ok")))
        error = out[len(frame(b"ok")) :]
        self.assertEqual(
            error, frame(b"error: block of 256 bytes is larger than the limit of 100 bytes")
        )
        self.assertTrue(transport.disconnecting)
        proto.dataReceived(frame(b"more"))  # whatever follows is ignored
        self.assertEqual(transport.value(), out)

    def test_eof_mid_header_logged_as_book(self) -> None:
        """EOF two bytes into a header is logged as the book's recvall EOFError."""
        proto, _ = server()
        proto.dataReceived(b"\x00\x00")
        with capturedLogs() as events:
            proto.connectionLost(Failure(ConnectionDone()))
        texts = [e["log_format"].format(**e) for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(texts), 1)
        self.assertIn("EOFError: socket closed 2 bytes into a 4-byte message", texts[0])

    def test_eof_mid_body_logged(self) -> None:
        """EOF inside a body names the bytes received and the block's length."""
        proto, _ = server()
        proto.dataReceived(BOOK[:14])
        with capturedLogs() as events:
            proto.connectionLost(Failure(ConnectionDone()))
        texts = [e["log_format"].format(**e) for e in events]
        self.assertTrue(any("socket closed 10 bytes into a 30-byte message" in t for t in texts))

    def test_sink_log_is_bounded(self) -> None:
        """Sink mode logs at most LOG_LIMIT blocks per connection, then only counts."""
        from zoo.blocks import LOG_LIMIT

        with capturedLogs() as events:
            proto, _ = server()
            proto.dataReceived(frame(b"x") * (LOG_LIMIT + 50))
        says = [e for e in events if e["log_format"].startswith("Message says")]
        self.assertEqual(len(says), LOG_LIMIT)
        self.assertEqual(proto.blocks, LOG_LIMIT + 50)

    def test_unknown_mode(self) -> None:
        """An unknown mode is a ValueError naming the choices."""
        with self.assertRaises(ValueError) as e:
            BlocksFactory("shred")
        self.assertIn("sink, echo", str(e.exception))


class OptionsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """Defaults: tcp 1061 on loopback, sink mode, 16 MiB limit."""
        o = tap.Options()
        o.parseOptions([])
        self.assertEqual(o.endpoints, ["tcp:1061:interface=127.0.0.1"])
        self.assertEqual((o["mode"], o["max-block"]), ("sink", 16 * 1024 * 1024))

    def test_bad_mode_and_size(self) -> None:
        """A bad --mode or --max-block is a usage error naming the flag."""
        for args, flag in (
            (["--mode", "loud"], "--mode"),
            (["--max-block", "0"], "--max-block"),
            (["--max-block", str(2**32)], "--max-block"),
        ):
            with self.assertRaises(usage.UsageError) as e:
                tap.Options().parseOptions(args)
            self.assertIn(flag, str(e.exception))


# Echo mode's step for whole blocks (zoo.blocks.WholeBlocks) and its C twin
# (_speedups.WholeBlocks, where built; tests/test_speedups.py fails a CI build that
# lost the extension) must agree on every read.


def _wholes() -> list[Any]:
    from zoo._twisted.speedups import built

    return [blocks.WholeBlocks] + ([built.WholeBlocks] if built is not None else [])


WHOLES = _wholes()

_block_stream = st.lists(
    st.one_of(st.binary(max_size=70).map(frame), st.just(b"\x00\x00\x00\x00")), max_size=6
).map(b"".join)


class _Clock:
    """A transport that is not a zoo wrapper: echo() stops its clock through done."""

    def __init__(self) -> None:
        self.done = 0


def _done(transport: _Clock) -> None:
    transport.done += 1


@given(_block_stream, st.integers(0, 80), st.integers(0, 8), st.sampled_from([0, 1, 40, 1 << 24]))
@settings(max_examples=400)
def test_whole_blocks_twins_agree(data: bytes, cut: int, junk: int, limit: int) -> None:
    """Whole streams, cut ones, ones with garbage after them, tight limits: the C twin
    sends, counts and stops the clock as the Python one does, which is what feed() finds."""
    for read in (data, data[: len(data) - cut], data + b"\xff" * junk, bytearray(data)):
        want = blocks.skim_blocks(bytes(read), limit)
        for kind in WHOLES:
            tally, sent, clock = kind(limit, _done), [], _Clock()
            tally.transport, tally.write = clock, sent.append
            tally.blocks, tally.series = 5, 7
            assert tally.echo(read) is (want is not None)
            if want is None:
                assert (sent, clock.done, tally.blocks, tally.series) == ([], 0, 5, 7)
            else:
                assert sent == [read] and clock.done == 1
                assert (tally.blocks - 5, tally.series - 7) == want
            tally.clean = False  # the parser is inside a block: never echo as it came
            assert tally.echo(read) is False
            assert len(sent) == (want is not None)
        if want is not None:
            found = BlockParser(limit).feed(bytes(read))
            assert (sum(e is not END for e in found), sum(e is END for e in found)) == want


def test_whole_blocks_without_a_writer_or_transport() -> None:
    """Before connectionMade (no write) nothing is echoed; with no transport the clock is
    left alone and the read still goes back."""
    for kind in WHOLES:
        tally = kind(100, _done)
        assert (tally.blocks, tally.series, tally.clean, tally.limit) == (0, 0, True, 100)
        assert tally.echo(BOOK) is False
        sent: list[bytes] = []
        tally.write = sent.append
        tally.grow_at = len(BOOK)  # a read this long: the server grows its reads first
        assert tally.echo(BOOK) is False and sent == []
        tally.grow_at = sys.maxsize
        assert tally.echo(BOOK) is True
        assert sent == [BOOK] and (tally.blocks, tally.series) == (3, 1)


def test_whole_blocks_stop_a_zoo_wrappers_clock() -> None:
    """Through the policy layer, echoing whole blocks stops the wrapper's command clock
    (command_sweeps back to None), in place in C and through command_done in Python."""
    from zoo.policies import ZooProtocolWrapper

    for kind in WHOLES:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(blocks, "WHOLE_BLOCKS", kind)
            policy = ZooPolicyFactory(BlocksFactory("echo"), clock=Clock(), command_timeout=5)
            wrapper = policy.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5555))
            assert isinstance(wrapper, ZooProtocolWrapper)
            transport = StringTransport()
            wrapper.makeConnection(transport)
            wrapper.command_sweeps = 3  # a command under way
            server = wrapper.wrappedProtocol
            assert isinstance(server.tally, kind)
            server.dataReceived(BOOK)
            assert wrapper.command_sweeps is None
            assert transport.value() == BOOK


def test_whole_blocks_in_use_serve_echo() -> None:
    """Echo mode with either step sends whole reads back, counts their blocks, and
    after a read that ends inside a block parses rather than echoing as it came."""
    for kind in WHOLES:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(blocks, "WHOLE_BLOCKS", kind)
            server = BlocksFactory("echo").buildProtocol(None)
            transport = StringTransport()
            server.makeConnection(transport)
            assert isinstance(server.tally, kind)
            server.dataReceived(BOOK + BOOK)
            assert transport.value() == BOOK + BOOK
            assert (server.blocks, server.series) == (6, 2)
            server.dataReceived(BOOK[:5])  # a header and one byte: parsed
            assert server.tally.clean is False
            server.dataReceived(BOOK[5:] + BOOK)  # the rest, then whole blocks: parsed
            assert transport.value() == BOOK * 4
            assert (server.blocks, server.series) == (12, 4)
            assert server.tally.clean is True


def test_a_whole_oversized_block_is_refused_not_echoed() -> None:
    """Echo mode with either step: a read holding a whole block over the limit is not
    sent back as it came; the client gets the framed error and the connection closes,
    and nothing that follows is echoed."""
    for kind in WHOLES:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(blocks, "WHOLE_BLOCKS", kind)
            server = BlocksFactory("echo", max_size=100).buildProtocol(None)
            transport = StringTransport()
            server.makeConnection(transport)
            server.dataReceived(frame(b"ok") + frame(b"x" * 256))
            refused = frame(b"ok") + frame(
                b"error: block of 256 bytes is larger than the limit of 100 bytes"
            )
            assert transport.value() == refused
            assert transport.disconnecting
            server.dataReceived(frame(b"later"))
            assert transport.value() == refused
