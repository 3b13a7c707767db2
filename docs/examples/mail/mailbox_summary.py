#!/usr/bin/env python3
# mailbox_summary.py, from "Foundations of Python Network Programming": each
# message's sender and either its MIME parts or the start of its text.
# IMAPClient 3+ wants message ids, not the book's '1:*' string: search("ALL") gives them.
import email
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
    c.select_folder(foldername, readonly=True)
    msgdict = c.fetch(c.search("ALL"), ["BODY.PEEK[]"])
    for message_id, message in list(msgdict.items()):
        e = email.message_from_bytes(message[b"BODY[]"])
        print(message_id, e["From"])
        payload = e.get_payload()
        if isinstance(payload, list):
            part_content_types = [part.get_content_type() for part in payload]
            print("  Parts:", " ".join(part_content_types))
        else:
            print("  ", " ".join(payload[:60].split()), "...")
finally:
    c.logout()
