#!/usr/bin/env python3
# open_imap.py, from "Foundations of Python Network Programming" (ch. "IMAP"):
# log in with IMAPClient and list the folders. HOSTNAME may be HOST:PORT.
import sys

from _common import host_port, password, ssl_context
from imapclient import IMAPClient

if len(sys.argv) != 3:
    print(f"usage: {sys.argv[0]} hostname username")
    sys.exit(2)

hostname, username = sys.argv[1:]
host, port = host_port(hostname, 993)
c = IMAPClient(host, port=port, ssl=True, ssl_context=ssl_context())
try:
    c.login(username, password())
except c.Error as e:
    print("Could not log in:", e)
    sys.exit(1)

print("Capabilities:", c.capabilities())
print("Listing mailboxes:")
data = c.list_folders()
for flags, delimiter, folder_name in data:
    names = " ".join(f.decode() for f in flags)
    print(f"  {names:<30}{delimiter.decode()} {folder_name}")
c.logout()
