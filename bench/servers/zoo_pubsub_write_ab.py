"""zoo-pubsub's factory with fast_writer on or off (A/B for bench/pubsub.py --write-ab).

    python bench/servers/zoo_pubsub_write_ab.py --port 0 --ready-file F fast|twisted

Same policies and reactor tuning as twistd zoo-pubsub; only how bytes reach the socket
differs: "fast" sends at once (zoo.policies.fast_writer), "twisted" uses
transport.write, which sends on the next reactor turn.
"""

from __future__ import annotations

import sys

from _ready import announce, parse_args
from twisted.internet import reactor

from zoo._twisted.poll import tune
from zoo.policies import ZooPolicyFactory
from zoo.pubsub.protocol import PubSubFactory

mode = sys.argv.pop()
args = parse_args(__doc__.splitlines()[0])
tune(reactor)
factory = ZooPolicyFactory(PubSubFactory(fast_write=mode == "fast"), clock=reactor)
port = reactor.listenTCP(args.port, factory, interface=args.host)
announce(args.ready_file, "pubsub", args.host, port.getHost().port)
reactor.run()
