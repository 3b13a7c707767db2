"""DNS: an authoritative server for one small zone, on C{twisted.names}, for FOPNP's C{dns_basic.py}.

The book's C{dns_basic.py} asks a name server for the A, AAAA, CNAME, MX and NS
records of a name and prints each answer. zoo-dns answers those questions (and
TXT) for one zone, over UDP and TCP, from records given as zone-file lines.

- L{Zone} is the pure part: it parses zone-file lines (C{NAME [TTL] [IN] TYPE
  DATA}, with C{$ORIGIN}, C{$TTL}, C{@} and C{;} comments) into
  C{twisted.names} records, and says which line is wrong and why.
- L{ZoneAuthority} serves a L{Zone} with Twisted's authoritative lookup logic
  (C{FileAuthority}: NXDOMAIN inside the zone, CNAME chasing, additional records).
- L{server_factory} puts it in a C{DNSServerFactory}, with an optional forwarder
  for names outside the zone (off by default: zoo-dns is not an open resolver).
- L{DNSDatagram} is Twisted's UDP protocol, made to log one line, never a
  traceback, for a datagram it cannot parse.

Each reply is reported to the observatory as one C{dns.query} event
(L{query_fields}): the name and type asked, the reply's rcode, its answers as
text and the transport (C{udp} or C{tcp}).

Twisted's own C{BindAuthority} is not used: it cannot read a parenthesised SOA
record, the first line of most zone files.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from twisted.logger import Logger
from twisted.names import authority, client, dns, server

from zoo.events import bounded_text, hub, session_of
from zoo.policies import command_done

log = Logger()

PORT = 8053
DEFAULT_ORIGIN = "zoo.test"
DEFAULT_TTL = 300

#: The zone served when none is given: every record type dns_basic.py asks for.
DEFAULT_RECORDS = (
    "@ NS ns",
    "@ A 127.0.0.1",
    "@ AAAA ::1",
    "@ MX 10 mail",
    '@ TXT "zoo-dns: a Twisted protocol zoo"',
    "www CNAME @",
    "ns A 127.0.0.1",
    "mail A 127.0.0.1",
)

TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA")

#: Answers listed in one C{dns.query} event at most (the count is always whole).
MAX_EVENT_ANSWERS = 16


class ZoneError(ValueError):
    """A zone line that cannot be served; the message names the line and the problem."""


def _name(text: str, origin: str) -> str:
    """An owner or target name, absolute and without the final dot."""
    if text == "@":
        return origin
    if text.endswith("."):
        return text[:-1].lower()
    return f"{text}.{origin}".lower()


def _u16(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not 0 <= n <= 65535:
        raise ValueError(f"{what} {n} is out of range 0-65535")
    return n


@dataclass
class Zone:
    """The records of one zone, built from zone-file lines.

    @ivar origin: the zone's name, lower case, without the final dot.
    @ivar records: owner name (lower-case bytes) to its records, as
        C{twisted.names.authority.FileAuthority} keeps them.
    @ivar soa: the zone's SOA record (made up from its NS record if no line gives one).
    """

    origin: str = DEFAULT_ORIGIN
    ttl: int = DEFAULT_TTL
    records: dict[bytes, list[Any]] = field(default_factory=dict)
    soa: dns.Record_SOA | None = None
    _owner: str | None = None

    def __post_init__(self) -> None:
        self.origin = self.origin.rstrip(".").lower()

    def add_lines(self, lines: Iterable[str], source: str = "zone") -> Zone:
        """Add each line; raise L{ZoneError} naming C{source} and the line number."""
        for number, line in enumerate(lines, 1):
            try:
                self.add_line(line)
            except ValueError as e:
                raise ZoneError(f"{source} line {number}: {e}: {line.strip()!r}") from None
        return self

    def add_line(self, line: str) -> None:
        """Add one zone-file line (a record, C{$ORIGIN}, C{$TTL}, a comment or nothing)."""
        lexer = shlex.shlex(line, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ";"
        try:
            words = list(lexer)
        except ValueError as e:  # an unclosed quote
            raise ValueError(str(e).lower()) from None
        if not words:
            return
        if words[0].upper() == "$ORIGIN" and len(words) == 2:
            self.origin = words[1].rstrip(".").lower()
            return
        if words[0].upper() == "$TTL" and len(words) == 2:
            self.ttl = _ttl(words[1])
            return
        if words[0].startswith("$"):
            raise ValueError(f"unsupported directive {words[0]}")
        if line[:1].isspace():  # no owner: the previous line's, as in BIND
            if self._owner is None:
                raise ValueError("no owner name")
            owner = self._owner
        else:
            owner = _name(words.pop(0), self.origin)
        ttl = self.ttl
        if words and words[0].isdigit():
            ttl = _ttl(words.pop(0))
        if words and words[0].upper() == "IN":
            words.pop(0)
        if not words:
            raise ValueError("no record type")
        kind, data = words[0].upper(), words[1:]
        if kind not in TYPES:
            raise ValueError(f"unsupported record type {words[0]} (use one of {', '.join(TYPES)})")
        record = self._record(kind, data, ttl)
        self._owner = owner
        if kind == "SOA":
            if owner != self.origin:
                raise ValueError(f"SOA for {owner}, not the zone {self.origin}")
            self.soa = record
            return
        if kind == "CNAME" and any(True for _ in self.records.get(owner.encode(), ())):
            raise ValueError(f"{owner} has other records; a CNAME must stand alone")
        self.records.setdefault(owner.encode(), []).append(record)

    def _record(self, kind: str, data: list[str], ttl: int) -> Any:
        want = {"A": 1, "AAAA": 1, "CNAME": 1, "NS": 1, "MX": 2, "SOA": 7}
        if kind in want and len(data) != want[kind]:
            raise ValueError(f"{kind} takes {want[kind]} values, not {len(data)}")
        if kind == "A":
            return dns.Record_A(str(ipaddress.IPv4Address(data[0])), ttl)
        if kind == "AAAA":
            return dns.Record_AAAA(str(ipaddress.IPv6Address(data[0])), ttl)
        if kind == "CNAME":
            return dns.Record_CNAME(_name(data[0], self.origin), ttl)
        if kind == "NS":
            return dns.Record_NS(_name(data[0], self.origin), ttl)
        if kind == "MX":
            return dns.Record_MX(_u16(data[0], "preference"), _name(data[1], self.origin), ttl)
        if kind == "TXT":
            if not data:
                raise ValueError("TXT needs at least one string")
            if any(len(s.encode()) > 255 for s in data):
                raise ValueError("a TXT string is at most 255 bytes")
            return dns.Record_TXT(*(s.encode() for s in data), ttl=ttl)
        mname, rname, *numbers = data
        serial, refresh, retry, expire, minimum = (_ttl(n) for n in numbers)
        return dns.Record_SOA(
            _name(mname, self.origin),
            _name(rname, self.origin),
            serial,
            refresh,
            retry,
            expire,
            minimum,
            ttl,
        )

    def start_of_authority(self) -> dns.Record_SOA:
        """The SOA record given, or one made from the zone's first NS record."""
        if self.soa is not None:
            return self.soa
        ns = [r for r in self.records.get(self.origin.encode(), []) if r.TYPE == dns.NS]
        mname = ns[0].name.name.decode() if ns else f"ns.{self.origin}"
        return dns.Record_SOA(
            mname, f"hostmaster.{self.origin}", 1, 3600, 600, 86400, self.ttl, self.ttl
        )


def _ttl(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 <= n < 2**31:
        raise ValueError(f"{n} is out of range")
    return n


def default_zone(origin: str = DEFAULT_ORIGIN) -> Zone:
    """The zone served when no zone file and no record is given."""
    return Zone(origin).add_lines(DEFAULT_RECORDS, "default zone")


class ZoneAuthority(authority.FileAuthority):
    """Serves a L{Zone} with Twisted's authoritative lookup (C{FileAuthority})."""

    def __init__(self, zone: Zone) -> None:
        super().__init__(zone)

    def loadFile(self, zone: Zone) -> None:
        origin, soa = zone.origin.encode(), zone.start_of_authority()
        records = {name.lower(): list(rs) for name, rs in zone.records.items()}
        records.setdefault(origin, []).insert(0, soa)  # so "dig zoo.test SOA" finds it
        self.soa: tuple[bytes, dns.Record_SOA] = (origin, soa)  # type: ignore[assignment]
        self.records: dict[bytes, list[Any]] = records  # type: ignore[assignment]


class DNSDatagram(dns.DNSDatagramProtocol):
    """Twisted's DNS-over-UDP protocol; a datagram it cannot handle costs one log line."""

    noisy = False

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        try:
            super().datagramReceived(data, addr)
        except Exception as e:
            log.info(
                "Invalid packet from {addr} ({n} bytes): {error}", addr=addr, n=len(data), error=e
            )


def rdata_text(payload: Any) -> str:
    """A record's data as a zone file writes it: C{127.0.0.1}, C{10 mail.zoo.test}, ..."""
    kind = getattr(payload, "TYPE", None)
    if kind == dns.A:
        return str(payload.dottedQuad())
    if kind == dns.AAAA:
        return socket.inet_ntop(socket.AF_INET6, payload.address)
    if kind in (dns.CNAME, dns.NS):
        return bytes(payload.name.name).decode("ascii", "replace")
    if kind == dns.MX:
        return f"{payload.preference} {payload.name.name.decode('ascii', 'replace')}"
    if kind == dns.TXT:
        return " ".join('"' + bytes(d).decode("utf-8", "replace") + '"' for d in payload.data)
    return str(payload)


def query_fields(message: Any, transport: str, peer: Any) -> dict[str, Any]:
    """The fields of a C{dns.query} event for the reply C{message}, built when it is read."""
    query = message.queries[0] if message.queries else None
    answers = [
        bounded_text(
            f"{r.name.name.decode('ascii', 'replace')} "
            f"{dns.QUERY_TYPES.get(r.type, r.type)} {rdata_text(r.payload)}",
            256,
        )
        for r in message.answers[:MAX_EVENT_ANSWERS]
    ]
    fields: dict[str, Any] = {
        "name": query.name.name.decode("ascii", "replace") if query is not None else None,
        "type": (
            dns.QUERY_TYPES.get(query.type, dns.EXT_QUERIES.get(query.type, str(query.type)))
            if query is not None
            else None
        ),
        "rcode": _RCODES.get(message.rCode, str(message.rCode)),
        "answers": answers,
        "answer_count": len(message.answers),
        "transport": transport,
    }
    if peer is not None:
        fields["peer"] = f"{peer[0]}:{peer[1]}"
    return fields


_RCODES = {
    dns.OK: "NOERROR",
    dns.EFORMAT: "FORMERR",
    dns.ESERVER: "SERVFAIL",
    dns.ENAME: "NXDOMAIN",
    dns.ENOTIMP: "NOTIMP",
    dns.EREFUSED: "REFUSED",
}


class ZoneServerFactory(server.DNSServerFactory):
    """Twisted's DNS server, with the answer section holding what was asked for.

    Asked for any type at a name that has a CNAME, Twisted's C{FileAuthority}
    answers with the CNAME I{and} the target's A and AAAA records, all in the
    answer section: C{dig alias CNAME} would get an address, and an MX question
    an AAAA answer. Here the answer section keeps the CNAME and the records of
    the type asked for; the rest move to the additional section. A question for
    another type than A or AAAA at an alias is asked again at the target (one
    step, as RFC 1034 section 4.3.2 has a server do), so C{alias MX} gets the
    CNAME and the target's MX.

    Each whole message over TCP ends a command for the shared command deadline
    (L{zoo.policies.command_done}), so a connection carrying many queries stays
    open while one that stops in the middle of a message is closed.
    """

    noisy = False
    #: Where C{dns.query} events go (L{zoo.events.hub} unless a test gives its own).
    observatory: Any = hub

    def sendReply(self, protocol: Any, message: Any, address: Any) -> None:
        """Send the reply, and report it as one C{dns.query} event."""
        super().sendReply(protocol, message, address)
        observatory = self.observatory
        if observatory.enabled:
            tcp = address is None
            observatory.record(
                "dns",
                "dns.query",
                session_of(protocol.transport) if tcp else None,
                query_fields,
                message,
                "tcp" if tcp else "udp",
                address,
            )

    def messageReceived(self, message: Any, proto: Any, address: Any = None) -> None:
        if address is None and proto.transport is not None:  # TCP: one whole message
            command_done(proto.transport)
        super().messageReceived(message, proto, address)

    def gotResolverResponse(
        self,
        response: tuple[list[Any], list[Any], list[Any]],
        protocol: Any,
        message: Any,
        address: Any,
    ) -> Any:
        answers, authority, additional = response
        asked = message.queries[0].type if message.queries else dns.ALL_RECORDS
        if asked == dns.ALL_RECORDS:
            return super().gotResolverResponse(response, protocol, message, address)
        wanted = {asked, dns.CNAME}
        keep = [r for r in answers if r.type in wanted]
        additional = [*additional, *(r for r in answers if r.type not in wanted)]
        aliases = [r for r in keep if r.type == dns.CNAME]
        if asked == dns.CNAME or not aliases or any(r.type == asked for r in keep):
            return super().gotResolverResponse(
                (keep, authority, additional), protocol, message, address
            )

        def send(more: tuple[list[Any], list[Any], list[Any]]) -> Any:
            answers2, authority2, additional2 = more
            return super(ZoneServerFactory, self).gotResolverResponse(
                (keep + list(answers2), list(authority2), additional + list(additional2)),
                protocol,
                message,
                address,
            )

        def send_alias_only(reason: Any) -> Any:
            return super(ZoneServerFactory, self).gotResolverResponse(
                (keep, authority, additional), protocol, message, address
            )

        target = aliases[-1].payload.name.name
        d = self.resolver.query(dns.Query(target, asked, dns.IN))
        d.addCallbacks(send, send_alias_only)
        return d


def server_factory(
    zone: Zone,
    forward: list[tuple[str, int]] | None = None,
    reactor: Any = None,
    observatory: Any = None,
) -> ZoneServerFactory:
    """A L{ZoneServerFactory} authoritative for C{zone}, forwarding other names to C{forward}.

    @param forward: upstream servers as C{(host, port)}; with C{None} or none, a
        name outside the zone gets NXDOMAIN (without the authoritative flag).
    """
    clients = []
    if forward:
        kw = {} if reactor is None else {"reactor": reactor}
        clients.append(client.Resolver(servers=forward, **kw))
    factory = ZoneServerFactory(authorities=[ZoneAuthority(zone)], clients=clients)
    if observatory is not None:
        factory.observatory = observatory
    return factory


__all__ = [
    "DEFAULT_ORIGIN",
    "DEFAULT_RECORDS",
    "DNSDatagram",
    "PORT",
    "TYPES",
    "Zone",
    "ZoneAuthority",
    "ZoneError",
    "ZoneServerFactory",
    "default_zone",
    "query_fields",
    "rdata_text",
    "server_factory",
]
