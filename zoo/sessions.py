"""Sessions and transcripts: what each observed connection reports to the observatory.

When observation is on (L{zoo.events.Observatory.enabled}), zoo's connection layer
(L{zoo.policies.ZooPolicyFactory}) gives each accepted connection a L{Session}, which
emits:

- C{session.opened} {peer, listener, tls}: at once, or for a connection that is TLS
  from its first byte once the handshake is done (C{tls} is then
  {version, cipher, client_cert}, else C{None});
- C{session.tls} {version, cipher, client_cert}: STARTTLS, STLS or AUTH TLS finished;
- C{session.user} {user}: a login succeeded (reported by L{zoo.cred.LoginGuard});
- C{session.closed} {bytes_in, bytes_out, duration, reason}.

With transcripts on as well (L{zoo.events.Observatory.transcripts}), every chunk each
side sent is a C{wire.in} (client to server) or C{wire.out} event {data, size,
redacted, command or reply}: C{data} is what L{zoo.transcript} shows of it (at most
4 KiB, secrets hidden) decoded as latin-1, C{size} the chunk's real size. Bytes are
counted and recorded between TLS and the protocol, so they are the plaintext.

A session is chosen when the connection is built: with observation off nothing here
runs at all. L{DatagramSessions} does the same for UDP services, one session per
datagram answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure

from zoo._twisted.connection import addresses
from zoo._twisted.speedups import speedups as _speedups
from zoo.events import Observatory
from zoo.faults.model import Registry
from zoo.faults.model import registry as fault_registry
from zoo.transcript import LIMIT, Hidden, Lines, Resp, Transcriber, tag_of, transcriber


def where(addr: Any) -> str:
    """C{host:port} of an address (a UNIX path as it is)."""
    if hasattr(addr, "port"):
        return f"{addr.host}:{addr.port}"
    if isinstance(addr, tuple) and len(addr) >= 2:  # a datagram's (host, port)
        return f"{addr[0]}:{addr[1]}"
    name = getattr(addr, "name", None)
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return str(name if name is not None else addr)


def tls_info(handle: Any) -> dict[str, Any] | None:
    """{version, cipher, client_cert} of a finished handshake (an OpenSSL connection)."""
    try:
        version = handle.get_protocol_version_name()
        cipher = handle.get_cipher_name()
        cert = handle.get_peer_certificate()
    except Exception:  # not an OpenSSL connection (a test's fake)
        return None
    subject = None
    if cert is not None:
        try:
            subject = cert.to_cryptography().subject.rfc4514_string()
        except Exception:
            subject = str(cert.get_subject())
    return {"version": version, "cipher": cipher, "client_cert": subject}


class SessionCounts:
    """A session's byte counts and transcript sides: the base of L{Session}.

    Its C twin, C{zoo._twisted._speedups.Counts} (used where it is built), keeps
    the four as C fields, so that the read relay and the fast writer of
    L{zoo._twisted._speedups} count a session's bytes and find its transcript with
    no attribute lookup and no int object.
    """

    __slots__ = ("bytes_in", "bytes_out", "record_in", "record_out")

    bytes_in: int
    bytes_out: int
    record_in: Callable[[bytes], None] | None
    record_out: Callable[[bytes], None] | None


if TYPE_CHECKING:
    _CountsBase = SessionCounts
else:  # L{Session}'s base: the C twin where zoo's speedups are built and on
    _CountsBase = _speedups.Counts if _speedups is not None else SessionCounts


class Session(_CountsBase):
    """One observed connection of one service.

    @ivar id: the session id (C{"smtp-12"}), unique in the process.
    @ivar bytes_in: bytes the client sent (after TLS); @ivar bytes_out: bytes sent to it.
    @ivar why: why the connection is closing, when the layer knows better than the
        close reason (C{"idle timeout"}, C{"server closed"}, ...).
    @ivar peer: the client's address; @ivar listener: the server's (address objects,
        formatted by L{where} only when an event is read).

    C{session.opened} and C{session.closed}, one each per connection, are recorded
    raw (L{zoo.events.Recorder}): a connection costs no event objects while nobody
    reads them.
    """

    __slots__ = (
        "observatory",
        "service",
        "id",
        "started",
        "transcript",
        "why",
        "peer",
        "listener",
        "opened",
        "closed",
    )

    def __init__(self, observatory: Observatory, service: str) -> None:
        self.observatory = observatory
        self.service = service
        self.id = observatory.session_id(service)
        self.started = observatory.now()
        self.bytes_in = 0
        self.bytes_out = 0
        self.transcript: Transcriber | None = (
            transcriber(service) if observatory.transcripts else None
        )
        self.why: str | None = None
        self.peer: Any = ""
        self.listener: Any = ""
        self.opened = False
        self.closed = False
        #: With transcripts on: C{record_in(data)} records what the client sent in the
        #: transcript, C{record_out(data)} what the server sent (neither counts it).
        self.record_in = None
        self.record_out = None
        if self.transcript is not None:
            kind = type(self.transcript)
            self.record_in = self._side(
                "wire.in", kind.client is Transcriber.client, self.transcript.client, _wire_in
            )
            self.record_out = self._side(
                "wire.out", kind.server is Transcriber.server, self.transcript.server, _wire_out
            )

    def _side(
        self,
        kind: str,
        plain: bool,
        transcribe: Callable[[bytes], Any],
        build: Callable[..., dict[str, Any]],
    ) -> Callable[[bytes], None]:
        """What records one side's chunks (a closure: one call a chunk, on hot paths).

        A side whose transcriber recognises nothing (a byte stream; a RESP server's
        replies) is kept as the bytes themselves, without a Chunk.
        """
        obs, sid = self.observatory, self.id
        if type(self.transcript) is Lines:
            # Each chunk kept as its shown bytes and its tag (transcript.tag_of), not
            # as a Chunk: one object fewer to make, keep and free per chunk.
            line = _line_in if kind == "wire.in" else _line_out
            record = obs.recorder(self.service, kind, line).record
            if _speedups is not None:
                # The closure below, with the transcriber's short ways, in C (a
                # command line read, a reply written, a message body read: most of a
                # mail session's chunks).
                return _speedups.LineSide(  # type: ignore[no-any-return]
                    obs, record, sid, self.transcript, kind == "wire.in", Hidden
                )

            def line_chunk(data: bytes) -> None:
                if obs.enabled and data:
                    seen = transcribe(data)
                    record(sid, len(seen.shown), seen.shown, tag_of(seen), len(data))

            return line_chunk
        record = obs.recorder(self.service, kind, _plain if plain else build).record
        if plain:
            return PLAIN_CHUNKS(obs, record, sid, LIMIT)  # type: ignore[no-any-return]
        if type(self.transcript) is Resp and kind == "wire.in":
            return self.transcript.client_side(obs, record, sid)

        def chunk(data: bytes) -> None:
            if obs.enabled and data:
                seen = transcribe(data)
                record(sid, len(seen.shown), seen, len(data))

        return chunk

    def _emit(self, kind: str, **fields: Any) -> None:
        self.observatory.emit(self.service, kind, self.id, **fields)

    def connected(self, transport: Any) -> None:
        """Remember the connection's addresses."""
        try:
            self.peer, self.listener = addresses(transport)
        except Exception:
            pass

    def open(self, tls: dict[str, Any] | None = None) -> None:
        """Emit C{session.opened} (once)."""
        if not self.opened:
            self.opened = True
            obs = self.observatory
            if obs.enabled:
                recorders = obs.session_recorders.get(self.service) or _recorders(obs, self.service)
                recorders[0].record(self.id, _SESSION_EVENT, self.peer, self.listener, tls)

    def handshake_done(self, handle: Any) -> None:
        """A TLS handshake finished: the implicit one, or STARTTLS's."""
        info = tls_info(handle)
        if not self.opened:
            self.open(info)
        else:
            self._emit("session.tls", **(info or {}))

    def user(self, name: str) -> None:
        """Emit C{session.user}: C{name} logged in."""
        self._emit("session.user", user=name)

    def close(self, reason: Failure | None) -> None:
        """Emit C{session.closed} (and C{session.opened} first if it never was)."""
        if self.closed:
            return
        self.closed = True
        if not self.opened:
            self.open()
        why = self.why
        if why is None:
            if reason is None or reason.check(ConnectionDone):
                why = "client closed"
            else:
                why = f"connection lost: {reason.getErrorMessage()}"
        obs = self.observatory
        if obs.enabled:
            recorders = obs.session_recorders.get(self.service) or _recorders(obs, self.service)
            recorders[1].record(
                self.id,
                _SESSION_EVENT,
                (self.bytes_in, self.bytes_out),  # three values: the C recorder's shape
                obs.now() - self.started,  # rounded when read
                why,
            )

    def data_connection(self, received: int, sent: int, tls: bool, active: bool) -> None:
        """An FTP data connection of this session ended: one C{wire.data} summary.

        Data connections are summarised rather than transcribed (a 100 MB transfer
        would be 25,000 chunks): C{bytes_in} (uploaded), C{bytes_out} (downloaded or
        listed), C{tls} (C{PROT P}), C{active} (C{PORT}/C{EPRT} rather than passive).
        """
        if self.transcript is None:
            return
        self._emit(
            "wire.data",
            data="",
            size=received + sent,
            redacted=False,
            bytes_in=received,
            bytes_out=sent,
            tls=tls,
            active=active,
        )

    # -- bytes ----------------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        """The client sent C{data}."""
        self.bytes_in += len(data)
        if self.record_in is not None:
            self.record_in(data)

    def sent(self, data: bytes) -> None:
        """The server sent C{data}."""
        self.bytes_out += len(data)
        if self.record_out is not None:
            self.record_out(data)


def plain_chunks(
    obs: Observatory, record: Callable[..., None], sid: str, limit: int
) -> Callable[[bytes], None]:
    """What records a byte stream's chunks: C{record(sid, kept, data[:limit], size)},
    or for a bytes object of at most twice C{limit}, C{record(sid, size, data, size)}
    (kept whole, no copy: L{zoo.transcript.KEEP_WHOLE}).

    Nothing while the observatory is off, nothing for an empty chunk. Its C twin,
    C{zoo._twisted._speedups.Chunks}, is used where it is built (this runs twice a
    request on a transcribed Lancelot or echo connection).
    """

    def plain_chunk(data: bytes) -> None:
        if obs.enabled and data:
            n = len(data)
            if n <= limit or (n <= 2 * limit and type(data) is bytes):
                record(sid, n, data, n)
            elif data is _cut[0] and limit == _cut[2]:
                record(sid, limit, _cut[1], n)  # the same bytes sent again: one copy
            else:
                kept = data[:limit]
                if type(data) is bytes and n <= CUT_KEEP:
                    _cut[:] = [data, kept, limit]
                record(sid, limit, kept, n)

    return plain_chunk


#: The last bytes object a chunk was cut from, its cut and the limit: subscribers of a
#: channel are sent the same bytes object in a row (L{zoo.pubsub.core.Client.send_now}),
#: and their transcripts keep one copy of its first C{limit} bytes.
_cut: list[Any] = [None, b"", -1]
#: The largest bytes object kept for that: a pub-sub batch is a few KiB, and holding
#: the last one costs little; a large write (a 64 MiB block) is not held.
CUT_KEEP = 65536


#: The plain-chunk recorder in use: the C twin where zoo's speedups are built and on.
PLAIN_CHUNKS: Callable[..., Any] = _speedups.Chunks if _speedups is not None else plain_chunks


#: What a C{session.opened} or C{session.closed} event holds, counted as bytes
#: (L{zoo.events.Recorder} adds the event's own overhead).
_SESSION_EVENT = 64


def _recorders(obs: Observatory, service: str) -> tuple[Any, Any]:
    """The recorders of C{service}'s C{session.opened} and C{session.closed}, made once
    and kept in C{obs.session_recorders} (which the callers read first)."""
    got = obs.session_recorders[service] = (
        obs.recorder(service, "session.opened", _opened),
        obs.recorder(service, "session.closed", _closed),
    )
    return got


def _opened(peer: Any, listener: Any, tls: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of a C{session.opened} event (built when read)."""
    return {"peer": where(peer), "listener": where(listener), "tls": tls}


def _closed(counts: tuple[int, int], duration: float, reason: str) -> dict[str, Any]:
    """The fields of a C{session.closed} event (built when read)."""
    bytes_in, bytes_out = counts
    return {
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "duration": round(duration, 6),
        "reason": reason,
    }


def _chunk_fields(chunk: Any, size: int, name: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "data": chunk.shown[:LIMIT].decode("latin-1"),
        "size": size,
        "redacted": chunk.redacted,
    }
    if chunk.label is not None:
        fields[name] = chunk.label
    return fields


def _plain(shown: bytes, size: int) -> dict[str, Any]:
    """A C{wire.*} event's fields from a byte stream's chunk (no commands to recognise)."""
    return {"data": shown[:LIMIT].decode("latin-1"), "size": size, "redacted": False}


def _line_fields(shown: bytes, tag: Any, size: int, name: str) -> dict[str, Any]:
    hidden = type(tag) is Hidden
    label = tag.label if hidden else tag
    fields: dict[str, Any] = {
        "data": shown[:LIMIT].decode("latin-1"),
        "size": size,
        "redacted": hidden,
    }
    if label is not None:
        fields[name] = label
    return fields


def _line_in(shown: bytes, tag: Any, size: int) -> dict[str, Any]:
    """A line protocol's C{wire.in} fields, from its shown bytes and tag (built when read)."""
    return _line_fields(shown, tag, size, "command")


def _line_out(shown: bytes, tag: Any, size: int) -> dict[str, Any]:
    """A line protocol's C{wire.out} fields, from its shown bytes and tag (built when read)."""
    return _line_fields(shown, tag, size, "reply")


def _wire_in(chunk: Any, size: int) -> dict[str, Any]:
    """The fields of a C{wire.in} event, from its transcript chunk (built when read)."""
    return _chunk_fields(chunk, size, "command")


def _wire_out(chunk: Any, size: int) -> dict[str, Any]:
    """The fields of a C{wire.out} event, from its transcript chunk (built when read)."""
    return _chunk_fields(chunk, size, "reply")


class _Recorder:
    """A UDP port as one datagram exchange's protocol sees it: replies are recorded."""

    def __init__(self, port: Any, session: Session) -> None:
        self._port = port
        self._session = session

    def write(self, data: bytes, addr: Any = None) -> Any:
        self._session.sent(data)
        return self._port.write(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)


class DatagramSessions(DatagramProtocol):
    """Runs a UDP service's protocol; when observing, each datagram is a session.

    Datagram faults (C{udp:...}, L{zoo.faults.datagram}) are applied here, before
    anything else, while any are in force.

    Off, each datagram costs one attribute check more. On, a datagram and the
    replies sent while it is handled are one session: opened, C{wire.in},
    C{wire.out}, closed (C{"answered"}).
    """

    noisy = False

    def __init__(
        self,
        protocol: Any,
        service: str,
        observatory: Observatory,
        faults: Registry | None = None,
    ) -> None:
        self.protocol = protocol
        self.service = service
        self.observatory = observatory
        self.faults = faults if faults is not None else fault_registry
        self._faulted: Any = None

    def makeConnection(self, transport: Any) -> None:
        super().makeConnection(transport)
        self.protocol.makeConnection(transport)

    def doStop(self) -> None:
        self.protocol.doStop()
        super().doStop()

    def connectionRefused(self) -> None:
        self.protocol.connectionRefused()

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        if self.faults.points and "udp" in self.faults.points:
            self._through_faults(data, addr)
            return
        self.handle(data, addr)

    def _through_faults(self, data: bytes, addr: Any) -> None:
        """Datagram faults are in force: L{zoo.faults.datagram} decides what to handle."""
        if self._faulted is None:
            from zoo.faults.datagram import DatagramFaults

            self._faulted = DatagramFaults(self.faults, self.service)
        try:
            listener: str | None = where(self.transport.getHost())  # type: ignore[union-attr]
        except Exception:
            listener = None
        self._faulted.receive(data, addr, listener, self.handle)

    def handle(self, data: bytes, addr: Any) -> None:
        """Handle one datagram (in a session of its own when observing)."""
        if self.transport is None:  # a delayed datagram after the port closed
            return
        if not self.observatory.enabled:
            self.protocol.datagramReceived(data, addr)
            return
        session = Session(self.observatory, self.service)
        session.peer = addr
        port: Any = self.transport
        try:
            session.listener = port.getHost()
        except Exception:
            pass
        session.open()
        session.received(data)
        self.protocol.transport = _Recorder(port, session)
        try:
            self.protocol.datagramReceived(data, addr)
        finally:
            self.protocol.transport = port
            session.why = "answered" if session.bytes_out else "not answered"
            session.close(None)


__all__ = ["DatagramSessions", "Session", "tls_info", "where"]
