"""The book's Twisted Lancelot server, ported to Python 3 bytes.

This is ``server_twisted.py`` from Foundations of Python Network Programming
(2nd ed., chapter 7), kept naive on purpose: it answers only when the whole
buffer ends with ``?``, so it assumes one question per read, and an unknown
question raises ``KeyError`` (Twisted logs it and drops the connection).  The
only changes are bytes literals, the listening address and port taken from the
command line, and the ready file for the benchmark harness.

    python bench/servers/book_twisted_lancelot.py --port 1060
"""

from __future__ import annotations

from _ready import announce, parse_args
from twisted.internet import reactor
from twisted.internet.protocol import Protocol, ServerFactory

qa = (
    (b"What is your name?", b"My name is Sir Lancelot of Camelot."),
    (b"What is your quest?", b"To seek the Holy Grail."),
    (b"What is your favorite color?", b"Blue."),
)


class Lancelot(Protocol):
    def connectionMade(self):
        self.question = b""

    def dataReceived(self, data):
        self.question += data
        if self.question.endswith(b"?"):
            self.transport.write(dict(qa)[self.question])
            self.question = b""


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    factory = ServerFactory()
    factory.protocol = Lancelot
    port = reactor.listenTCP(args.port, factory, interface=args.host)
    address = port.getHost()
    announce(args.ready_file, "lancelot", address.host, address.port)
    reactor.run()


if __name__ == "__main__":
    main()
