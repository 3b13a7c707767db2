"""A comparison for bench/xmlrpc.py: twisted.web.xmlrpc as shipped, serving double(n).

The way Twisted's documentation writes it: an XMLRPC resource with an
xmlrpc_double method, in a plain Site, on the default reactor. --log sends the
access log to stdout through twisted.logger, as twistd would.
"""

import argparse
import json
import os
import sys
import warnings

from twisted.internet import endpoints, reactor
from twisted.web import server

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from twisted.web import xmlrpc


class Example(xmlrpc.XMLRPC):
    def xmlrpc_double(self, num):
        return num * 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--log", action="store_true")
    args = parser.parse_args()
    if args.log:
        from twisted.python import log

        log.startLogging(sys.stdout)
    endpoint = endpoints.TCP4ServerEndpoint(reactor, args.port, interface="127.0.0.1")
    listening = endpoint.listen(server.Site(Example()))

    def ready(port):
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"port": port.getHost().port}, f)
        os.replace(tmp, args.ready_file)

    listening.addCallback(ready)
    reactor.run()


if __name__ == "__main__":
    main()
