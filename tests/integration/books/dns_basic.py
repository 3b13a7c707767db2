# FOPNP (2nd edition) dns_basic.py, ported to Python 3 (print()); PyDNS's Python 3
# release is py3dns, which keeps the DNS module. The book asks the system's name
# servers (DNS.DiscoverNameServers()); here the server and port come from
# ZOO_DNS_SERVER and ZOO_PORT.
import os
import sys, DNS

if len(sys.argv) != 2:
    print('usage: dns_basic.py <hostname>', file=sys.stderr)
    sys.exit(2)

DNS.defaults['server'] = [os.environ.get('ZOO_DNS_SERVER', '127.0.0.1')]
DNS.defaults['port'] = int(os.environ.get('ZOO_PORT', 53))
request = DNS.Request()
for qt in DNS.Type.A, DNS.Type.AAAA, DNS.Type.CNAME, DNS.Type.MX, DNS.Type.NS:
    reply = request.req(name=sys.argv[1], qtype=qt)
    for answer in reply.answers:
        print(answer['name'], answer['classstr'], answer['typename'], \
            repr(answer['data']))
