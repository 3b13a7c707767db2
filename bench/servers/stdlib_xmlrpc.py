"""The reference for bench/xmlrpc.py: Python's SimpleXMLRPCServer serving double(n).

--threads adds ThreadingMixIn (the issue's reference); --log keeps the stdlib's
per-request access line on stderr (its default).
"""

import argparse
import json
import os
from socketserver import ThreadingMixIn
from xmlrpc.server import SimpleXMLRPCServer


class ThreadingServer(ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True


def double(num):
    return num * 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--threads", action="store_true")
    parser.add_argument("--log", action="store_true")
    args = parser.parse_args()
    cls = ThreadingServer if args.threads else SimpleXMLRPCServer
    server = cls(("127.0.0.1", args.port), logRequests=args.log)
    server.register_function(double)
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"port": server.server_address[1]}, f)
    os.replace(tmp, args.ready_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
