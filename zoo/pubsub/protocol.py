"""The thin Twisted adapter: bytes in through the parser, commands through a Session, output out.

Each connection is a push producer for its transport: when Twisted's write buffer
fills, L{PubSubProtocol.pauseProducing} tells the L{Client} to queue output itself
(where its output limits apply) instead of growing the transport's buffer.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from zoo.events import hub, session_of
from zoo.policies import command_done, fast_writer, watch_of
from zoo.pubsub import codec
from zoo.pubsub.commands import Session
from zoo.pubsub.core import Broker, Client, Limits
from zoo.transcript import Resp

log = Logger()


@implementer(IPushProducer)
class PubSubProtocol(Protocol):
    """One client connection."""

    factory: PubSubFactory
    transport: Any  # a TCP, TLS or UNIX transport under zoo's policy wrapper
    client: Client
    session: Session
    #: L{zoo.transcript.Resp.parsed} when this connection's transcript follows the parser.
    _parsed: Any = None

    def connectionMade(self) -> None:
        f = self.factory
        self.parser = codec.RequestParser(f.max_bulk, f.max_args, f.max_request)
        write = fast_writer(self.transport) if f.fast_write else self.transport.write
        self.client = Client(f.broker, write, self._kill, f.clock, f.broker.limits)
        self.session = Session(
            f.broker, self.client, f.publish, f.observatory, session_of(self.transport)
        )
        self.session.on_hold = self._hold
        self.client.on_resume = self._resume
        self.session.transport = self.transport
        self.transport.registerProducer(self, True)
        # With transcripts on, the RESP transcriber takes this connection's reads
        # whole on the word of this parser (L{zoo.transcript.Resp.follow}).
        watch = watch_of(self.transport)
        transcript = watch.transcript if watch is not None else None
        self._parsed = transcript.follow() if isinstance(transcript, Resp) else None

    def _resume(self) -> None:
        """The client was blocked (BLPOP) and is not now: run what it sent meanwhile."""
        session = self.session
        session.resume()
        if session.closing:
            self._close()

    def _hold(self, hold: bool) -> None:
        """Stop reading a blocked client with too many commands waiting; read again after."""
        if hold:
            self.transport.pauseProducing()
        elif not self.transport.disconnecting:
            self.transport.resumeProducing()

    def dataReceived(self, data: bytes) -> None:
        parser = self.parser
        session = self.session
        cmds = parser.feed(data)
        if cmds:
            session.execute_all(cmds)
        if self._parsed is not None:
            self._parsed(parser.at_boundary)
        if cmds:
            command_done(self.transport)
        if parser.error is not None and not session.closing:
            self.client.reply(codec.error(f"Protocol error: {parser.error}"))
            log.info(
                "closing {peer}: protocol error: {error}",
                peer=self.transport.getPeer(),
                error=parser.error,
            )
            session.closing = True
        self.factory.broker.flush()
        if session.closing:
            self._close()

    def _close(self) -> None:
        """Send everything still pending, then close (QUIT, protocol errors)."""
        self.transport.unregisterProducer()
        pending = self.client.drain()
        self.factory.broker.drop(self.client)
        if pending:
            self.transport.write(pending)
        self.transport.loseConnection()
        self.dataReceived = lambda data: None  # type: ignore[method-assign]

    def _kill(self, reason: str) -> None:
        self.factory.broker.killed += 1
        log.warn(
            "disconnecting slow subscriber {peer}: {reason}",
            peer=self.transport.getPeer(),
            reason=reason,
        )
        self.transport.abortConnection()

    # IPushProducer: the transport tells us when its buffer is full or drained.
    def pauseProducing(self) -> None:
        self.client.pause()

    def resumeProducing(self) -> None:
        self.client.resume()

    def stopProducing(self) -> None:
        self.client.pause()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.killed = True
            client.drain()
            self.session.gone()
            self.factory.broker.drop(client)


class PubSubFactory(Factory):
    """All connections of one broker.

    @param broker: the shared L{Broker} (a new one if omitted).
    @param bridge: a L{zoo.pubsub.bridge.RedisBridge} to publish through, or C{None}.
    @param clock: an C{IReactorTime} for the soft-limit timers (the reactor if omitted).
    @param fast_write: send replies and messages at once instead of a reactor turn later.
    @param observatory: where publishes and subscriptions are reported (L{zoo.events.hub}).
    """

    protocol = PubSubProtocol  # type: ignore[assignment]

    def __init__(
        self,
        broker: Broker | None = None,
        *,
        limits: Limits | None = None,
        max_bulk: int = codec.DEFAULT_MAX_BULK,
        max_args: int = codec.DEFAULT_MAX_ARGS,
        max_request: int = codec.DEFAULT_MAX_REQUEST,
        clock: Any = None,
        bridge: Any = None,
        fast_write: bool = True,
        observatory: Any = None,
    ) -> None:
        self.observatory = observatory if observatory is not None else hub
        self.broker = broker or Broker(limits)
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        self.max_bulk = max_bulk
        self.max_args = max_args
        self.max_request = max_request
        self.bridge = bridge
        self.publish = bridge.publish if bridge is not None else self.broker.publish
        self.fast_write = fast_write
