#!/usr/bin/env python3
# mailbox.py, from "Foundations of Python Network Programming": list a POP mailbox.
import poplib
import sys

from _common import host_port, password

if len(sys.argv) < 3:
    print(f"usage: {sys.argv[0]} hostname user")
    sys.exit(2)

hostname, user = sys.argv[1:]
passwd = password()

p = poplib.POP3_SSL(*host_port(hostname, 995))
try:
    p.user(user)
    p.pass_(passwd)
except poplib.error_proto as e:
    print("Login failed:", e)
else:
    response, listings, octet_count = p.list()
    for listing in listings:
        number, size = listing.decode("ascii").split()
        print(f"Message {number} has {size} bytes")
finally:
    p.quit()
