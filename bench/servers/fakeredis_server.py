"""fakeredis's TCP server: a Python Redis implementation with pub/sub (for bench/pubsub.py).

python bench/servers/fakeredis_server.py --port 0 --ready-file ready.json
"""

from __future__ import annotations

from _ready import announce, parse_args
from fakeredis import TcpFakeServer

args = parse_args(__doc__.splitlines()[0])
server = TcpFakeServer((args.host, args.port), server_type="redis")
announce(args.ready_file, "fakeredis", args.host, server.server_address[1])
server.serve_forever()
