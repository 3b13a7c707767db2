"""Lancelot: the question-and-answer protocol of "Foundations of Python Network Programming".

The client sends an ASCII question ending in C{?}; the server replies with an answer
ending in C{.}; the connection stays open for more questions. No newlines, no length
prefix (chapter 7 of the 2nd edition, C{lancelot.py}; the 3rd edition's C{zen_utils.py}
uses the same framing with Zen-of-Python aphorisms).

What the books' servers get wrong, and this one does not:

- a question split across reads, or several questions in one read, is answered
  exactly once each, in order (the books use the whole buffer as a dict key);
- an unknown question gets C{Error: unknown question.} and the connection stays
  usable (the books raise KeyError and drop the client, or the whole server);
- more than C{max_length} bytes without a C{?} gets C{Error: question too long.}
  and that connection is closed, so memory per client stays bounded.

Leading and trailing ASCII whitespace around a question is ignored, so a telnet user
pressing Enter after each question is understood; matching is otherwise exact.

Layout: L{Session} is the pure protocol (bytes in, bytes out); L{LancelotServer} and
L{LancelotClient} are thin Twisted adapters; L{main} is the C{zoo-ask} command.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from zoo._twisted.speedups import speedups as _speedups
from zoo.events import bounded_text, hub, session_of
from zoo.flow import ReadGate
from zoo.policies import command_done, fast_writer

log = Logger()

PORT = 1060

#: The 2nd edition's answers (the listing's C{'Blue.))} is a typo for C{'Blue.'}).
LANCELOT: Mapping[bytes, bytes] = {
    b"What is your name?": b"My name is Sir Lancelot of Camelot.",
    b"What is your quest?": b"To seek the Holy Grail.",
    b"What is your favorite color?": b"Blue.",
}

#: The 3rd edition's Zen-of-Python answer book (C{zen_utils.aphorisms}).
ZEN: Mapping[bytes, bytes] = {
    b"Beautiful is better than?": b"Ugly.",
    b"Explicit is better than?": b"Implicit.",
    b"Simple is better than?": b"Complex.",
}

BOOKS: Mapping[str, Mapping[bytes, bytes]] = {"lancelot": LANCELOT, "zen": ZEN}
UNKNOWN = {"lancelot": b"Error: unknown question.", "zen": b"Error: unknown aphorism."}
TOO_LONG = b"Error: question too long."
DEFAULT_MAX_LENGTH = 1024

_WS = b" \t\r\n\x0b\x0c"


#: Each book keyed by question with its C{?}, for the usual read (L{QuickAnswer}).
_ASKED: Mapping[str, dict[bytes, bytes]] = {name: dict(book) for name, book in BOOKS.items()}
#: Each book keyed by question without its C{?}, since a buffer is split on it.
_BARE: Mapping[str, dict[bytes, bytes]] = {
    name: {q[:-1]: a for q, a in book.items()} for name, book in BOOKS.items()
}


class SessionState:
    """The fields of a L{Session} that the usual read touches: the base of L{Session}.

    Its C twin, C{zoo._twisted._speedups.LancelotState} (used where it is built),
    keeps them as C fields, so that the C L{QuickAnswer} reads and counts with no
    attribute lookup.
    """

    __slots__ = ("_asked", "_buffer", "closing", "answered", "observe", "observed_as")

    _asked: dict[bytes, bytes]
    _buffer: bytes
    closing: bool
    answered: int
    observe: Callable[..., None] | None
    observed_as: str | None


if TYPE_CHECKING:
    _StateBase = SessionState
else:  # L{Session}'s base: the C twin where zoo's speedups are built and on
    _StateBase = _speedups.LancelotState if _speedups is not None else SessionState


class Session(_StateBase):
    """The server side of one Lancelot conversation, without I/O.

    Feed it the bytes as they arrive; it returns the bytes to send back. After it
    returns with L{closing} set, the caller must send the reply and close.

    @ivar closing: C{True} once the client exceeded C{max_length} without a C{?}.
    """

    __slots__ = ("_answers", "_unknown", "_max")

    def __init__(
        self,
        book: str = "lancelot",
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        self._asked = _ASKED[book]
        self._answers = _BARE[book]
        self._unknown = UNKNOWN[book]
        self._max = max_length
        self._buffer = b""
        self.closing = False
        self.answered = 0
        #: When set (a L{zoo.events.Recorder}'s C{record}), L{feed} records each
        #: question and its answer with it, as session L{observed_as}.
        self.observe = None
        self.observed_as = None

    @property
    def pending(self) -> bytes:
        """Bytes received after the last C{?} (an unfinished question)."""
        return self._buffer

    def feed(self, data: bytes) -> bytes:
        """Take C{data} from the client; return the answers it completes (maybe C{b""})."""
        if self.closing:
            return b""
        if self._buffer:
            data = self._buffer + data
        elif data[-1:] == b"?" and data.count(b"?") == 1:
            # The usual read: one whole question. No split, no list, no join.
            a = self._asked.get(data)
            if a is None:
                a = self._answers.get(data[:-1].strip(_WS), self._unknown)
            self.answered += 1
            if self.observe is not None:
                self.observe(self.observed_as, len(data) + len(a), data, a)
            return a
        if b"?" not in data:
            self._buffer = data
            if len(data) > self._max:
                return self._too_long()
            return b""
        *questions, rest = data.split(b"?")
        answers = self._answers
        unknown = self._unknown
        out = []
        for q in questions:
            a = answers.get(q)
            if a is None:
                a = answers.get(q.strip(_WS), unknown)
            out.append(a)
        self.answered += len(out)
        observe = self.observe
        if observe is not None:
            session = self.observed_as
            for q, a in zip(questions, out, strict=True):
                observe(session, len(q) + len(a), q, a)
        self._buffer = rest
        if len(rest) > self._max:
            out.append(self._too_long())
        return b"".join(out)

    def _too_long(self) -> bytes:
        self.closing = True
        self._buffer = b""
        return TOO_LONG


def _answered(question: bytes, answer: bytes) -> dict[str, str]:
    """The fields of a C{lancelot.answered} event, built when it is read.

    C{question} is as it came, with its C{?} (a read of one question) or without it
    (one of several questions split from a buffer).
    """
    question = question.strip(_WS)
    if question[-1:] != b"?":
        question += b"?"
    return {
        "question": bounded_text(question, 256),
        "answer": bounded_text(answer, 256),
    }


class QuickAnswer:
    """A Lancelot connection's usual read, answered in one step.

    C{ask(data)}: when C{data} is one whole question exactly as the book spells it
    (it ends in the only C{?}, and is a key of the book) and the session has nothing
    buffered and is not closing, record it if the observatory is on (with the
    session's C{observe}, set up already), count it, stop the command clock
    (C{done(transport)}), write the answer and return C{True}. Anything else (a
    split or spaced question, an unknown one, observing just turned on or off)
    changes nothing and returns C{False}: the caller hands the read to
    L{Session.feed}, which answers it the same way.

    C{zoo._twisted._speedups.QuickAnswer} is its C twin, used where it is built: one
    call with no Python frame for the read every benchmark and most clients send.
    """

    __slots__ = ("session", "observatory", "done", "transport", "write")

    def __init__(self, session: Session, observatory: Any, done: Callable[[Any], None]) -> None:
        self.session = session
        self.observatory = observatory
        self.done = done
        self.transport: Any = None
        self.write: Callable[[bytes], object] | None = None

    def ask(self, data: bytes) -> bool:
        s = self.session
        if s.closing or self.write is None or s.pending:
            return False
        if data[-1:] != b"?" or data.count(b"?") != 1:
            return False
        a = s._asked.get(data)
        if a is None:
            return False
        enabled = bool(self.observatory.enabled)
        if enabled != (s.observe is not None):
            return False  # observing starts or stops: the server sets it up
        if s.observe is not None:
            s.observe(s.observed_as, len(data) + len(a), data, a)
        s.answered += 1
        if self.transport is not None:
            self.done(self.transport)
        self.write(a)
        return True


if TYPE_CHECKING:
    _Quick = QuickAnswer
else:  # the C twin where zoo's speedups are built and on
    _Quick = _speedups.QuickAnswer if _speedups is not None else QuickAnswer


class LancelotServer(Protocol):
    """A thin adapter from a TCP connection to a L{Session}.

    A read that is one whole question goes through L{QuickAnswer} (in C where zoo's
    speedups are built); any other through L{Session.feed}.
    """

    def __init__(self, book: str = "lancelot", max_length: int = DEFAULT_MAX_LENGTH) -> None:
        self.session = Session(book, max_length)

    def connectionMade(self) -> None:
        self._write = fast_writer(self.transport)
        self.observatory = getattr(getattr(self, "factory", None), "observatory", hub)
        # Stop reading while answers back up unread. Nothing is written before the
        # client asks, so under TLS the gate can register before the handshake.
        self.gate = ReadGate(self.transport).start(after_handshake=False)
        quick = _Quick(self.session, self.observatory, command_done)
        quick.transport = self.transport
        quick.write = self._write
        self._step = quick  # the C dispatch runs the C one itself
        self._ask = quick.ask

    def dataReceived(self, data: bytes) -> None:
        if self._ask(data):
            return  # one whole question, answered
        if self.observatory.enabled:
            if self.session.observe is None:
                self.session.observed_as = session_of(self.transport)
                self.session.observe = self.observatory.recorder(
                    "lancelot", "lancelot.answered", _answered
                ).record
        elif self.session.observe is not None:
            self.session.observe = None
        reply = self.session.feed(data)
        if reply:
            command_done(self.transport)  # a question was completed
            self._write(reply)
        if self.session.closing:
            assert self.transport is not None
            log.info(
                "closing {peer}: question longer than the limit", peer=self.transport.getPeer()
            )
            self.transport.loseConnection()

    def command_timed_out(self) -> None:
        """The shared command deadline passed in the middle of a question."""
        assert self.transport is not None
        self._write(b"Error: question not finished in time.")
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.session.pending.strip(_WS):
            log.debug(
                "client closed after {n} bytes of an unfinished question",
                n=len(self.session.pending),
            )


# The poll loop's C dispatch runs a LancelotServer's step (QuickAnswer) itself, while
# this dataReceived is still the class's.
if _speedups is not None:
    _speedups.step(LancelotServer.dataReceived, LancelotServer)


class LancelotFactory(Factory):
    """Builds L{LancelotServer}s sharing one answer book and length limit."""

    def __init__(
        self, book: str = "lancelot", max_length: int = DEFAULT_MAX_LENGTH, observatory: Any = None
    ) -> None:
        self.observatory = observatory if observatory is not None else hub
        if book not in BOOKS:
            raise ValueError(f"unknown answer book {book!r}; choose from {', '.join(BOOKS)}")
        self.book = book
        self.max_length = max_length

    def buildProtocol(self, addr: Any) -> LancelotServer:
        p = LancelotServer(self.book, self.max_length)
        p.factory = self
        return p


class LancelotClient(Protocol):
    """Ask questions and get answers; questions may be pipelined.

    L{ask} returns a Deferred firing with the answer (C{bytes}, including its C{.}).
    If the connection closes first, outstanding Deferreds fail with the reason.
    """

    def __init__(self) -> None:
        self._waiting: deque[Deferred[bytes]] = deque()
        self._buffer = b""
        self._lost: Failure | None = None

    def ask(self, question: bytes | str) -> Deferred[bytes]:
        if isinstance(question, str):
            question = question.encode("ascii")
        if self._lost is not None:
            return fail(self._lost)
        if not question.endswith(b"?"):
            question += b"?"
        d: Deferred[bytes] = Deferred()
        self._waiting.append(d)
        assert self.transport is not None
        self.transport.write(question)
        return d

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while self._waiting and b"." in self._buffer:
            answer, _, self._buffer = self._buffer.partition(b".")
            self._waiting.popleft().callback(answer + b".")

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._lost = reason
        while self._waiting:
            self._waiting.popleft().errback(reason)


def main(argv: Sequence[str] | None = None) -> int:
    """C{zoo-ask}: ask a Lancelot server questions, as the book's C{client.py} does."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="zoo-ask",
        description="Ask a Lancelot server questions and print its answers.",
    )
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=PORT, help="TCP port (default 1060)")
    parser.add_argument("--zen", action="store_true", help="ask the 3rd edition's aphorisms")
    parser.add_argument("questions", nargs="*", help="questions to ask (default: the book's)")
    args = parser.parse_args(argv)
    questions = args.questions or [q.decode() for q in (ZEN if args.zen else LANCELOT)]

    from twisted.internet import endpoints, task

    async def run(reactor: Any) -> None:
        endpoint = endpoints.TCP4ClientEndpoint(reactor, args.host, args.port, timeout=10)
        proto = await endpoints.connectProtocol(endpoint, LancelotClient())
        for q in questions:
            answer = await proto.ask(q)
            print(answer.decode("ascii", "replace"))
        proto.transport.loseConnection()

    try:
        task.react(lambda reactor: Deferred.fromCoroutine(run(reactor)))
    except SystemExit as e:
        return int(e.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
