"""Flow control for the mail protocols: stop reading when the client stops reading."""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import ISSLTransport


class ReplyFlowControl:
    """Stop reading from a client whose replies back up unread, or that queued too much.

    Twisted's SMTP, POP3 and IMAP servers write every reply however slowly the
    client reads, and POP3/IMAP queue commands that arrive during a long reply (in
    C{self.blocked}) without limit. With this mixin the protocol is the transport's
    push producer, so the transport says when its buffer is full; L{must_wait}
    adds the protocol's own reasons to stop reading. A file transfer (POP3 RETR,
    IMAP FETCH) borrows the producer slot via L{lend_producer}; L{take_producer}
    takes it back.
    """

    MAX_QUEUED = 100
    transport: Any
    blocked: Any
    _handshaking = False

    def start_flow_control(self) -> None:
        self._write_blocked = False
        self._reading = True
        self._registered = False
        # Under implicit TLS the greeting is buffered until the handshake is done and
        # the TLS layer pauses its producer meanwhile: registered now, the protocol
        # would stop reading, and the handshake would never finish. It registers at
        # the first application data instead (L{tls_ready}), which only a finished
        # handshake delivers.
        self._handshaking = ISSLTransport.providedBy(self.transport)
        self.take_producer()

    def tls_ready(self) -> None:
        """Call at the start of C{dataReceived}: the first call under implicit TLS registers."""
        if self._handshaking:
            self._handshaking = False
            self.take_producer()

    def take_producer(self) -> None:
        """Register as the transport's producer again if the slot is free."""
        if (
            getattr(self, "_registered", True)
            or self._handshaking
            or self.transport.disconnecting
            or getattr(self.transport, "producer", None) is not None
        ):
            return
        self.transport.registerProducer(self, True)
        self._registered = True
        self._write_blocked = False
        self.flow()

    def lend_producer(self) -> None:
        """Free the producer slot for a file transfer."""
        if getattr(self, "_registered", False):
            self.transport.unregisterProducer()
            self._registered = False

    def must_wait(self) -> bool:
        """Whether to stop reading for the protocol's own reasons (a full queue)."""
        return self.blocked is not None and len(self.blocked) >= self.MAX_QUEUED

    def flow(self) -> None:
        """Read or not, as the reply backlog and L{must_wait} allow."""
        if not hasattr(self, "_reading"):
            return
        want = not (self._write_blocked or self.must_wait())
        if want != self._reading and not self.transport.disconnecting:
            self._reading = want
            if want:
                self.transport.resumeProducing()
            else:
                self.transport.pauseProducing()

    def pauseProducing(self) -> None:  # noqa: N802 (IPushProducer, for our replies)
        self._write_blocked = True
        self.flow()

    def resumeProducing(self) -> None:  # noqa: N802
        self._write_blocked = False
        if self.transport.disconnecting and getattr(self, "_registered", False):
            # A transport that drains its buffer with a paused producer resumes the
            # producer instead of finishing a pending close (a QUIT handled while the
            # replies were backed up): unregister, which lets the close finish.
            self.lend_producer()
            return
        self.flow()

    def stopProducing(self) -> None:  # noqa: N802
        pass
