#!/usr/bin/env python3
# ehlo.py, from "Foundations of Python Network Programming": use ESMTP's SIZE.
import smtplib
import socket
import sys

if len(sys.argv) < 4:
    print(f"usage: {sys.argv[0]} server fromaddr toaddr [toaddr...]")
    sys.exit(2)

server, fromaddr, toaddrs = sys.argv[1], sys.argv[2], sys.argv[3:]
body = sys.stdin.read() if not sys.stdin.isatty() else "Hello from ehlo.py.\n"
message = "To: {}\nFrom: {}\nSubject: Test Message from ehlo.py\n\n{}".format(
    ", ".join(toaddrs), fromaddr, body
)

try:
    s = smtplib.SMTP(server)
    code = s.ehlo()[0]
    uses_esmtp = 200 <= code <= 299
    if not uses_esmtp:
        code = s.helo()[0]
        if not (200 <= code <= 299):
            print("Remote server refused HELO; code:", code)
            sys.exit(1)

    if uses_esmtp and s.has_extn("size"):
        print("Maximum message size is", s.esmtp_features["size"])
        if len(message) > int(s.esmtp_features["size"]):
            print("Message too large; aborting.")
            sys.exit(1)

    s.sendmail(fromaddr, toaddrs, message)
except (OSError, socket.gaierror, socket.herror, smtplib.SMTPException) as e:
    print(" *** Your message may not have been sent!")
    print(e)
    sys.exit(1)
else:
    print(f"Message successfully sent to {len(toaddrs)} recipient(s)")
