#!/usr/bin/env python3
# popconn.py, from "Foundations of Python Network Programming" (ch. "POP").
# HOSTNAME may be HOST:PORT (zoo-pop3 --tls serves POP3 over TLS).
import poplib
import sys

from _common import host_port, password

if len(sys.argv) < 3:
    print(f"usage: {sys.argv[0]} hostname user")
    sys.exit(2)

hostname, user = sys.argv[1:]
passwd = password()

p = poplib.POP3_SSL(*host_port(hostname, 995))  # or "POP3" if SSL is not supported
try:
    p.user(user)
    p.pass_(passwd)
except poplib.error_proto as e:
    print("Login failed:", e)
else:
    status = p.stat()
    print("You have {} messages totaling {} bytes".format(*status))
finally:
    p.quit()
