"""zoo-zmq: ZeroMQ's wire protocol, ZMTP 3.0 and 3.1, written for Twisted (no libzmq).

pyzmq, libzmq and the books' programs (I{Introducing Python} ch. 17, FOPNP's
C{queuecrazy.py}) talk to it as to any ZeroMQ peer.

The parts, each readable on its own:

- L{zoo.zmq.codec}: the greeting, frames, commands and READY metadata, no I/O;
- L{zoo.zmq.core}: one connection's state machine (greeting, handshake, traffic);
- L{zoo.zmq.sockets}: REP, PUB, PUSH and ROUTER over many connections;
- L{zoo.zmq.protocol}: the thin Twisted Protocol and Factory;
- L{zoo.zmq.books}: the books' endpoints (replies, cats and hats, the poem, the fountain);
- L{zoo.zmq.zerorpc}: zerorpc on a ROUTER;
- L{zoo.zmq.bridge}: zoo-pubsub (or Redis) channels republished on a PUB endpoint.
"""

from __future__ import annotations

#: Each endpoint: (socket type, default port, what it serves).
ENDPOINTS: dict[str, tuple[str, int, str]] = {
    "reply": ("REP", 6780, "zmq_client.py: answers 'Stop saying: ...' as zmq_server.py does"),
    "time": ("REP", 6781, "exercise 17.2: answers 'time' with the ISO date and time"),
    "cats": ("PUB", 6782, "zmq_sub.py: cats wearing hats, [cat, hat]"),
    "poem": ("PUB", 6783, "exercise 17.5: the poem word by word, [vowels|five, word]"),
    "bridge": ("PUB", 6784, "zoo-pubsub channels republished as [channel, message]"),
    "fountain": ("PUSH", 6700, "queuecrazy.py: a fountain of built-in names"),
    "upper": ("REP", 6701, "queuecrazy.py: the upper-casing responder"),
    "lower": ("REP", 6702, "queuecrazy.py: the lower-casing responder"),
    "zerorpc": ("ROUTER", 4242, "zerorpc_client.py: the RPC methods over zerorpc"),
}

__all__ = ["ENDPOINTS"]
