"""fakeredis's TCP server (a Python Redis implementation with pub/sub) on PORT, for bench/pubsub.py."""

import sys

from fakeredis import TcpFakeServer

server = TcpFakeServer(("127.0.0.1", int(sys.argv[1])), server_type="redis")
server.serve_forever()
