"""Lancelot: the pure session, the server and client protocols, in memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from zoo import lancelot
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
