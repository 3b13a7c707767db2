# FOPNP dns_basic.py with dnspython instead of PyDNS (the 3rd edition's choice):
# the same five questions, the same printed fields; the resolver is pointed at
# ZOO_DNS_SERVER:ZOO_PORT instead of the system's name servers.
import os
import sys

import dns.resolver

if len(sys.argv) != 2:
    print('usage: dns_basic.py <hostname>', file=sys.stderr)
    sys.exit(2)

resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = [os.environ.get('ZOO_DNS_SERVER', '127.0.0.1')]
resolver.port = int(os.environ.get('ZOO_PORT', 53))
for qt in 'A', 'AAAA', 'CNAME', 'MX', 'NS':
    try:
        answers = resolver.resolve(sys.argv[1], qt, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        continue
    for rrset in answers.response.answer:
        for rdata in rrset:
            print(rrset.name.to_text(omit_final_dot=True), 'IN',
                  dns.rdatatype.to_text(rrset.rdtype), repr(rdata.to_text()))
