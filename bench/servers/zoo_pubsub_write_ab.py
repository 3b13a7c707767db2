"""zoo-pubsub's factory on PORT with fast_writer on or off (A/B for bench/pubsub.py --write-ab).

    python zoo_pubsub_write_ab.py PORT fast|twisted

Same policies and reactor tuning as twistd zoo-pubsub; only how bytes reach the socket
differs: "fast" sends at once (zoo.policies.fast_writer), "twisted" uses
transport.write, which sends on the next reactor turn.
"""

import sys

from twisted.internet import reactor

from zoo._reactor import tune
from zoo.policies import ZooPolicyFactory
from zoo.pubsub.protocol import PubSubFactory

port, mode = int(sys.argv[1]), sys.argv[2]
tune(reactor)
factory = ZooPolicyFactory(PubSubFactory(fast_write=mode == "fast"), clock=reactor)
reactor.listenTCP(port, factory, interface="127.0.0.1")
reactor.run()
