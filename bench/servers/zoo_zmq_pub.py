"""The zoo side of bench/zmq.py's fan-out: a zoo-zmq Publisher publishing flat out.

    python bench/servers/zoo_zmq_pub.py [--port 0] [--ready-file F]

Publishes 64-byte messages (first frame starting with b"bench") in batches of
BATCH per reactor turn while anyone is subscribed, through zoo's own ZMTP
(L{zoo.zmq.sockets.Publisher}); slow subscribers get at most the high-water
mark (1000) queued, the rest dropped, as with libzmq.
"""

from __future__ import annotations

from _ready import announce, parse_args
from twisted.internet import reactor

from zoo.zmq.protocol import ZMTPFactory
from zoo.zmq.sockets import Publisher

BATCH = 64


def main() -> None:
    args = parse_args(__doc__ or "")
    pub = Publisher("bench")
    message = [b"bench" + b"x" * 59]

    def pump() -> None:
        if pub.pipes:
            for _ in range(BATCH):
                pub.publish(message)
            reactor.callLater(0, pump)  # type: ignore[attr-defined]
        else:
            reactor.callLater(0.01, pump)  # type: ignore[attr-defined]

    port = reactor.listenTCP(args.port, ZMTPFactory(pub), interface=args.host)  # type: ignore[attr-defined]
    announce(args.ready_file, "zmq", args.host, port.getHost().port)
    pump()
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
