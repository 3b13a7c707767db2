#!/usr/bin/env python3
# folder_info.py, from "Foundations of Python Network Programming": SELECT's summary.
import sys

from _common import host_port, password, ssl_context
from imapclient import IMAPClient

if len(sys.argv) != 4:
    print(f"usage: {sys.argv[0]} hostname username foldername")
    sys.exit(2)

hostname, username, foldername = sys.argv[1:]
host, port = host_port(hostname, 993)
c = IMAPClient(host, port=port, ssl=True, ssl_context=ssl_context())
try:
    c.login(username, password())
except c.Error as e:
    print("Could not log in:", e)
    sys.exit(1)
else:
    select_dict = c.select_folder(foldername, readonly=True)
    for k, v in sorted(select_dict.items()):
        print(f"{k.decode()}: {v!r}")
finally:
    c.logout()
