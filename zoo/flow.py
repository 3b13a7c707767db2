"""One read gate: stop reading a connection while any reason to wait holds.

Twisted writes whatever a protocol writes, however slowly the peer reads, so a
client that sends requests and never reads the answers grows the server without
bound. Twisted's answer is the push producer: a transport whose write buffer
passes its C{bufferSize} (64 KiB for TCP) calls C{pauseProducing} on the producer
registered with it, and C{resumeProducing} once the buffer has drained.

A L{ReadGate} is that producer, one per connection. It keeps a set of named
I{pause reasons} and reads from the connection only while the set is empty:

- L{REPLIES}: the transport's write buffer is backed up (set and cleared by the
  transport itself, through L{ReadGate.pauseProducing}/L{ReadGate.resumeProducing});
- any reason of the protocol's own, such as C{"held command"} (a command waits for
  a running transfer), C{"queue full"} (too many pipelined commands queued) or
  C{"delivery"}: L{ReadGate.pause} and L{ReadGate.resume} take the name.

It also handles, once for every protocol, three cases Twisted leaves to each:

- B{implicit TLS}: Twisted's TLS layer pauses its producer while it holds the
  greeting until the handshake is done; registered then, the gate would stop
  reading and the handshake would never finish. Over TLS the gate registers only
  once L{ReadGate.ready} is called (at the first application data, which only a
  finished handshake delivers, or from C{handshakeCompleted}).
- B{drained while closing}: a transport that drains its buffer while a close is
  pending resumes a paused producer instead of finishing the close (C{doWrite}),
  and the connection would hang; the gate unregisters instead, which lets the
  close finish.
- B{a borrowed slot}: a transport has one producer slot. A file transfer (POP3
  C{RETR}, IMAP C{FETCH}, a web response producer) borrows it with L{ReadGate.lend}
  and the protocol gives it back with L{ReadGate.take}.

The gate pauses the reading of one transport and may be registered on another:
a relay (L{zoo.tunnel}) stops reading one side while the other side's send buffer
is full.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IPushProducer, ISSLTransport
from twisted.internet.protocol import Protocol
from zope.interface import implementer

from zoo._twisted.fastwrite import tcp_connection

#: The pause reason set by the transport while its write buffer is backed up.
REPLIES = "replies"


@implementer(IPushProducer)
class ReadGate:
    """Reads from C{transport} only while no pause reason holds.

    @param transport: the transport whose reading is gated (an C{IPushProducer}:
        TCP, TLS, Twisted's protocol wrappers, C{StringTransport}).
    @param consumer: the transport to register on, whose backed-up write buffer
        pauses the reading (the reason L{REPLIES}); by default C{transport} itself.
    @ivar reasons: the names of the reasons to wait that hold now.
    """

    def __init__(self, transport: Any, consumer: Any = None) -> None:
        self.transport = transport
        self.consumer = transport if consumer is None else consumer
        self.reasons: set[str] = set()
        self.registered = False
        self._reading = True
        self._started = False
        self._handshaking = False
        self._stopped = False
        #: Called with C{True} when the consumer's buffer backs up and C{False} when it
        #: drains: for a connection whose writers are not only its own replies (SSH
        #: channels fed by processes pause those too).
        self.on_backed_up: Callable[[bool], None] | None = None

    # -- the protocol's side -----------------------------------------------------

    def start(self, after_handshake: bool | None = None, consumer: Any = None) -> ReadGate:
        """Register as the consumer's producer; over TLS, at L{ready} instead.

        @param after_handshake: wait for L{ready} before registering; by default,
            when the consumer is a TLS transport (implicit TLS).
        @param consumer: register on this transport instead of the one given
            when the gate was made (a relay knows its other side only later).
        @return: the gate, so that C{self.gate = ReadGate(t).start()} reads well.
        """
        if consumer is not None:
            self.consumer = consumer
        if after_handshake is None:
            after_handshake = ISSLTransport.providedBy(self.consumer)
        self._started = True
        self._handshaking = bool(after_handshake)
        self.take()
        return self

    def ready(self) -> None:
        """The TLS handshake is done (or application data arrived): register now if waiting.

        Cheap enough to call at the start of every C{dataReceived}.
        """
        if self._handshaking:
            self._handshaking = False
            self.take()

    def pause(self, reason: str) -> None:
        """Stop reading for C{reason} (until L{resume} with the same name)."""
        if reason not in self.reasons:
            self.reasons.add(reason)
            self._sync()

    def resume(self, reason: str) -> None:
        """C{reason} no longer holds; read again if no other reason does."""
        if reason in self.reasons:
            self.reasons.discard(reason)
            self._sync()

    def hold(self, reason: str, holds: bool) -> None:
        """L{pause} or L{resume} C{reason}, as C{holds} says."""
        if holds:
            self.pause(reason)
        else:
            self.resume(reason)

    @property
    def reading(self) -> bool:
        """Whether the gate lets the transport read now."""
        return not self.reasons

    def lend(self) -> None:
        """Free the consumer's producer slot for a transfer's own producer.

        While lent the transport pauses the transfer, not the gate, so L{REPLIES}
        is cleared; the protocol's own reasons still hold.
        """
        if self.registered:
            self.consumer.unregisterProducer()
            self.registered = False
        self.resume(REPLIES)

    def take(self) -> None:
        """Register (again) as the consumer's producer, if its slot is free.

        Does nothing before L{start}, during an implicit-TLS handshake, while the
        connection closes, or while a transfer still holds the slot.
        """
        consumer = self.consumer
        if (
            self.registered
            or not self._started
            or self._handshaking
            or self._stopped
            or consumer.disconnecting
            or getattr(consumer, "producer", None) is not None
        ):
            return
        consumer.registerProducer(self, True)
        self.registered = True

    def release(self) -> None:
        """Unregister for good (the protocol closes the connection itself, or half-closes)."""
        if self.registered:
            self.registered = False
            self.consumer.unregisterProducer()
        self._started = False

    def consumer_closing(self) -> None:
        """The consumer was told to close: let go of the slot unless replies are backed up.

        A TLS layer (Twisted's, after STARTTLS) finishes a close only once its
        producer unregisters, where TCP waits only for a paused one;
        L{zoo.policies.ZooProtocolWrapper} calls this from C{loseConnection}.
        Backed-up replies are still sent first: the gate then lets go when they
        drain (L{resumeProducing}).
        """
        if self.registered and REPLIES not in self.reasons:
            self.registered = False
            self.consumer.unregisterProducer()

    # -- IPushProducer: the consumer's side ----------------------------------------

    def pauseProducing(self) -> None:
        """The consumer's write buffer is full."""
        self.pause(REPLIES)
        if self.on_backed_up is not None:
            self.on_backed_up(True)

    def resumeProducing(self) -> None:
        """The consumer's write buffer drained."""
        if self.consumer.disconnecting and self.registered:
            # Drained while a close is pending: Twisted resumes the producer instead
            # of finishing the close. Unregistering lets the close finish; reading
            # again lets a TLS layer see the peer's close_notify (a closing TCP
            # transport ignores the resume).
            self.registered = False
            self.consumer.unregisterProducer()
            self.reasons.clear()
            if not self._reading and self.transport is not None:
                self._reading = True
                self.transport.resumeProducing()
            return
        self.resume(REPLIES)
        if self.on_backed_up is not None:
            self.on_backed_up(False)

    def stopProducing(self) -> None:
        """The consumer is gone; the gate never closes anything itself."""
        self._stopped = True
        self.registered = False

    # -- internals -----------------------------------------------------------------

    def _sync(self) -> None:
        want = not self.reasons
        if want == self._reading or self._stopped:
            return
        transport = self.transport
        if transport is None or getattr(transport, "disconnecting", False):
            return
        self._reading = want
        if want:
            transport.resumeProducing()
        else:
            transport.pauseProducing()

    def __repr__(self) -> str:
        state = ", ".join(sorted(self.reasons)) or "reading"
        return f"<ReadGate {state}{'' if self.registered else ', unregistered'}>"


@implementer(IPushProducer)
class GateReason:
    """A producer standing for one reason of a L{ReadGate}, to register on another consumer.

    Where a connection's input goes on to a second consumer (twisted.web's channel,
    a shell process's stdin), that consumer pauses this producer when its buffer
    backs up: the gate stops reading the connection for C{reason} until it drains.
    """

    def __init__(self, gate: ReadGate, reason: str) -> None:
        self.gate = gate
        self.reason = reason

    def pauseProducing(self) -> None:
        self.gate.pause(self.reason)

    def resumeProducing(self) -> None:
        self.gate.resume(self.reason)

    def stopProducing(self) -> None:
        pass

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        pass  # the gate is registered already

    def unregisterProducer(self) -> None:
        pass  # the gate lets a pending close finish by itself


class GatedStream(Protocol):
    """A byte-stream protocol whose reading waits for its writes (echo, blocks).

    On connection it starts a L{ReadGate}, so a peer that sends and never reads
    stops being read once the write buffer is full; TCP flow control then stops
    the peer. After the peer half-closes it sends what is buffered and closes
    (L{finish}); when the peer stops reading (C{writeConnectionLost}) it aborts.

    @cvar stream_read_size: bytes per C{recv()} once the connection streams.
        Twisted reads 64 KiB at a time; when a read comes back full,
        L{read_more} raises the read size to this (a 1 MiB echo costs 30% less
        CPU), while small-message connections keep small reads.
    @ivar gate: this connection's L{ReadGate}.
    """

    stream_read_size = 1 << 18
    _grow_at: float = float("inf")
    gate: ReadGate

    def connectionMade(self) -> None:
        self.gate = ReadGate(self.transport).start(after_handshake=False)
        self._conn = tcp_connection(self.transport)
        if self._conn is not None and self._conn.bufferSize < self.stream_read_size:
            self._grow_at = self._conn.bufferSize

    def read_more(self) -> None:
        """Called by subclasses when a read filled the read size: read bigger chunks."""
        self._conn.bufferSize = self.stream_read_size
        self._grow_at = float("inf")
        step = getattr(self, "_step", None)
        if step is not None:  # a read step declines reads this long: not any more
            step.grow_at = sys.maxsize

    @property
    def grow_at(self) -> int:
        """L{_grow_at} as an int for a read step (C{sys.maxsize}: never)."""
        return sys.maxsize if self._grow_at == float("inf") else int(self._grow_at)

    # IHalfCloseableProtocol (subclasses declare the interface)
    def readConnectionLost(self) -> None:
        self.finish()

    def writeConnectionLost(self) -> None:
        # The peer stopped reading: nothing we send can arrive. Give up at once.
        self.transport.abortConnection()  # type: ignore[union-attr]

    def finish(self) -> None:
        """Send what is buffered, then close."""
        transport = self.transport
        assert transport is not None  # only called once connected
        self.gate.release()  # the peer sends no more: nothing left to gate
        transport.loseConnection()


__all__ = ["REPLIES", "GateReason", "GatedStream", "ReadGate"]
