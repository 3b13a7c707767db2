"""Lancelot: the pure session, the server and client protocols, in memory."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from zoo import lancelot
from zoo.events import Observatory
from zoo.lancelot import LANCELOT, TOO_LONG, ZEN, LancelotClient, LancelotFactory, Session
from zoo.testing import connected

NAME = b"What is your name?"
QUEST = b"What is your quest?"
COLOR = b"What is your favorite color?"


class SessionTests(SynchronousTestCase):
    def test_book_answers(self) -> None:
        """Each of the book's questions gets the book's exact answer, nothing more."""
        s = Session()
        self.assertEqual(s.feed(NAME), b"My name is Sir Lancelot of Camelot.")
        self.assertEqual(s.feed(QUEST), b"To seek the Holy Grail.")
        self.assertEqual(s.feed(COLOR), b"Blue.")
        self.assertFalse(s.closing)

    def test_split_question(self) -> None:
        """A question split across writes is answered only when its '?' arrives."""
        s = Session()
        self.assertEqual(s.feed(b"What is your "), b"")
        self.assertEqual(s.feed(b"quest"), b"")
        self.assertEqual(s.feed(b"?"), b"To seek the Holy Grail.")

    def test_one_byte_at_a_time(self) -> None:
        """A question sent one byte per write produces exactly one answer, at the end."""
        s = Session()
        out = [s.feed(COLOR[i : i + 1]) for i in range(len(COLOR))]
        self.assertEqual(out[:-1], [b""] * (len(COLOR) - 1))
        self.assertEqual(out[-1], b"Blue.")

    def test_pipelined(self) -> None:
        """Two questions in one write get both answers, in order."""
        s = Session()
        self.assertEqual(
            s.feed(NAME + QUEST), b"My name is Sir Lancelot of Camelot.To seek the Holy Grail."
        )
        self.assertEqual(s.answered, 2)

    def test_unknown_question(self) -> None:
        """An unknown question gets an error sentence ending in '.', and the session goes on."""
        s = Session()
        self.assertEqual(s.feed(b"What is the capital of Assyria?"), b"Error: unknown question.")
        self.assertFalse(s.closing)
        self.assertEqual(s.feed(COLOR), b"Blue.")

    def test_case_sensitive(self) -> None:
        """Matching is exact and case-sensitive, as the book's dict lookup is."""
        self.assertEqual(Session().feed(b"what is your name?"), b"Error: unknown question.")

    def test_whitespace_tolerated(self) -> None:
        """Line endings and spaces around a question (telnet users) are ignored."""
        s = Session()
        self.assertEqual(s.feed(b"What is your name?\r\n"), b"My name is Sir Lancelot of Camelot.")
        self.assertEqual(s.feed(b"What is your quest?\r\n"), b"To seek the Holy Grail.")

    def test_too_long(self) -> None:
        """More than max_length bytes without '?' gets an error and marks the session closing."""
        s = Session(max_length=50)
        self.assertEqual(s.feed(b"x" * 30), b"")
        self.assertEqual(s.feed(b"x" * 30), TOO_LONG)
        self.assertTrue(s.closing)
        self.assertEqual(s.feed(NAME), b"")
        self.assertEqual(s.pending, b"")

    def test_too_long_after_answer(self) -> None:
        """An over-long tail after an answered question: answer, then the error."""
        s = Session(max_length=10)
        self.assertEqual(
            s.feed(NAME + b"y" * 11), b"My name is Sir Lancelot of Camelot." + TOO_LONG
        )
        self.assertTrue(s.closing)

    def test_zen_book(self) -> None:
        """The 3rd edition's aphorisms and its exact error for unknown ones."""
        s = Session("zen")
        for q, a in ZEN.items():
            self.assertEqual(s.feed(q), a)
        self.assertEqual(s.feed(b"Ugly is better than?"), b"Error: unknown aphorism.")

    @given(
        st.lists(st.sampled_from([*LANCELOT, b"Who are you?"]), min_size=1, max_size=8), st.data()
    )
    def test_split_independence(self, questions: list[bytes], data: st.DataObject) -> None:
        """However the bytes are split, the answers are the same and in order."""
        stream = b"".join(questions)
        cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=20)))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        s = Session()
        got = b"".join(s.feed(c) for c in chunks)
        expected = b"".join(LANCELOT.get(q, b"Error: unknown question.") for q in questions)
        self.assertEqual(got, expected)
        self.assertEqual(s.answered, len(questions))


class ServerProtocolTests(SynchronousTestCase):
    def _server(self, **kw: object) -> tuple[object, StringTransport]:
        proto = LancelotFactory(**kw).buildProtocol(None)  # type: ignore[arg-type]
        transport = StringTransport()
        proto.makeConnection(transport)
        return proto, transport

    def test_answers_and_stays_open(self) -> None:
        """The server writes the answer and keeps the connection open."""
        proto, transport = self._server()
        proto.dataReceived(NAME)
        self.assertEqual(transport.value(), b"My name is Sir Lancelot of Camelot.")
        self.assertFalse(transport.disconnecting)

    def test_too_long_closes(self) -> None:
        """An over-long question gets the error and the connection is closed."""
        proto, transport = self._server(max_length=16)
        proto.dataReceived(b"z" * 17)
        self.assertEqual(transport.value(), TOO_LONG)
        self.assertTrue(transport.disconnecting)

    def test_unknown_book(self) -> None:
        """Asking for an answer book that does not exist is a ValueError naming the choices."""
        with self.assertRaises(ValueError) as e:
            LancelotFactory("klingon")
        self.assertIn("lancelot, zen", str(e.exception))


class ClientTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        """The client protocol asks pipelined questions and gets each answer in order."""
        client, server, pump = connected(LancelotFactory(), LancelotClient())
        answers: list[bytes] = []
        for q in ("What is your name?", "What is your quest", COLOR):
            client.ask(q).addCallback(answers.append)
        pump.flush()
        self.assertEqual(answers, [LANCELOT[NAME], LANCELOT[QUEST], LANCELOT[COLOR]])

    def test_lost_connection_fails_waiters(self) -> None:
        """Questions outstanding when the connection drops fail instead of hanging."""
        client = LancelotClient()
        client.makeConnection(StringTransport())
        d = client.ask("What is your name")
        client.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(d, ConnectionDone)
        self.failureResultOf(client.ask("What is your quest"), ConnectionDone)

    def test_main_port_default(self) -> None:
        """The command-line client defaults to the book's port 1060."""
        self.assertEqual(lancelot.PORT, 1060)


# The usual read's step (zoo.lancelot.QuickAnswer) and its C twin (where built) must
# answer, count, record and stop the clock exactly as Session.feed does alone.


def _quicks() -> list[Any]:
    from zoo._twisted.speedups import built, speedups

    kinds: list[Any] = [lancelot.QuickAnswer]
    if built is not None and speedups is not None:  # the C one needs the C session base
        kinds.append(built.QuickAnswer)
    return kinds


QUICKS = _quicks()


class _FeedOnly:
    """No quick step: every read goes to Session.feed (the reference)."""

    def __init__(self, session: Any, observatory: Any, done: Any) -> None:
        self.transport = self.write = None

    def ask(self, data: bytes) -> bool:
        return False


_QUESTIONS = [
    *(q[:-1] for q in LANCELOT),
    b"  What is your quest\r\n",
    b"What is your quest ",
    b"Who goes there?",
    b"",
    b"x" * 30,
]


@given(
    st.lists(st.sampled_from(_QUESTIONS), max_size=8),
    st.lists(st.integers(0, 200), max_size=4),
    st.sampled_from(["off", "on", "turned on", "turned off"]),
    st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_quick_answer_twins_agree(
    questions: list[bytes], cuts: list[int], observing: str, one_per_read: bool
) -> None:
    """Whole questions a read each, or a stream cut anywhere; observed or not, or
    observing switched half way: the quick step (Python, C) leaves the same answers,
    counts, events and closing as Session.feed alone."""
    stream = b"?".join(questions) + b"?" if questions else b""
    if one_per_read:
        reads = [q + b"?" for q in questions]
    else:
        marks = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
        reads = [stream[a:b] for a, b in zip(marks, marks[1:], strict=False)]
    results = []
    for kind in [_FeedOnly, *QUICKS]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(lancelot, "_Quick", kind)
            obs = Observatory(Clock(), enabled=observing in ("on", "turned off"))
            server = LancelotFactory(observatory=obs, max_length=100).buildProtocol(None)
            transport = StringTransport()
            transport.session = "s-1"  # type: ignore[attr-defined]
            server.makeConnection(transport)
            for i, read in enumerate(reads):
                if i == len(reads) // 2 and observing.startswith("turned"):
                    obs.enabled = not obs.enabled
                if not transport.disconnecting:
                    server.dataReceived(read)
            events = [(e.fields["question"], e.fields["answer"], e.size) for e in obs.events()]
            results.append(
                (transport.value(), server.session.answered, events, transport.disconnecting)
            )
    assert all(r == results[0] for r in results[1:])


def test_quick_answer_takes_the_usual_read() -> None:
    """The quick step (each twin) answers a whole question as the book spells it, and
    declines a spaced one, a split one and one after a buffered fragment."""
    for kind in QUICKS:
        session = lancelot.Session()
        sent: list[bytes] = []
        quick = kind(session, Observatory(Clock()), lambda transport: None)
        assert quick.ask(b"What is your quest?") is False  # no writer yet
        quick.write = sent.append
        assert quick.ask(b"What is your quest?") is True
        assert sent == [b"To seek the Holy Grail."] and session.answered == 1
        for declined in (b" What is your quest?", b"What?is your quest?", b"Blue?"):
            assert quick.ask(declined) is False
        session.feed(b"What is")  # a fragment is buffered: feed must see what follows
        assert quick.ask(b"What is your quest?") is False
        assert sent == [b"To seek the Holy Grail."] and session.answered == 1


def test_quick_answer_stops_a_zoo_wrappers_clock() -> None:
    """Through the policy layer, a quick answer stops the wrapper's command clock
    (command_sweeps back to None): in place in C, through command_done in Python."""
    from twisted.internet.address import IPv4Address

    from zoo.policies import ZooPolicyFactory, ZooProtocolWrapper

    for kind in QUICKS:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(lancelot, "_Quick", kind)
            policy = ZooPolicyFactory(LancelotFactory(), clock=Clock(), command_timeout=5)
            wrapper = policy.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5555))
            assert isinstance(wrapper, ZooProtocolWrapper)
            transport = StringTransport()
            wrapper.makeConnection(transport)
            wrapper.command_sweeps = 3  # a question under way
            wrapper.wrappedProtocol.dataReceived(b"What is your name?")
            assert wrapper.command_sweeps is None
            assert transport.value() == b"My name is Sir Lancelot of Camelot."
