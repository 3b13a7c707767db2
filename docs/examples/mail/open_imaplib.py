#!/usr/bin/env python3
# open_imaplib.py, the imaplib version the book meant to print: capabilities and LIST.
import getpass
import imaplib
import sys

from _common import host_port, password, ssl_context

if len(sys.argv) != 3:
    print(f"usage: {sys.argv[0]} hostname username")
    sys.exit(2)

hostname, username = sys.argv[1:]
m = imaplib.IMAP4_SSL(*host_port(hostname, 993), ssl_context=ssl_context())
m.login(username, password() if not sys.stdin.isatty() else getpass.getpass())
try:
    print("Capabilities:", m.capabilities)
    print("Listing mailboxes")
    status, data = m.list()
    print("Status:", repr(status))
    print("Data:")
    for datum in data:
        print(repr(datum))
finally:
    m.logout()
