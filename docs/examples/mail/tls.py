#!/usr/bin/env python3
# tls.py, from "Foundations of Python Network Programming": STARTTLS when offered.
# Like the book, it does not verify the certificate (pass a context to starttls()
# with cafile=<state dir>/tls/ca.pem to do so).
import smtplib
import socket
import sys

if len(sys.argv) < 4:
    print(f"Syntax: {sys.argv[0]} server fromaddr toaddr [toaddr...]")
    sys.exit(2)

server, fromaddr, toaddrs = sys.argv[1], sys.argv[2], sys.argv[3:]
message = "To: {}\nFrom: {}\nSubject: Test Message from tls.py\n\nHello over TLS.\n".format(
    ", ".join(toaddrs), fromaddr
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

    if uses_esmtp and s.has_extn("starttls"):
        print("Negotiating TLS....")
        s.starttls()
        code = s.ehlo()[0]
        if not (200 <= code <= 299):
            print("Couldn't EHLO after STARTTLS")
            sys.exit(5)
        print("Using TLS connection.")
    else:
        print("Server does not support TLS; using normal connection.")
    s.sendmail(fromaddr, toaddrs, message)
except (OSError, socket.gaierror, socket.herror, smtplib.SMTPException) as e:
    print(" *** Your message may not have been sent!")
    print(e)
    sys.exit(1)
else:
    print(f"Message successfully sent to {len(toaddrs)} recipient(s)")
