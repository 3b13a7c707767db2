#!/usr/bin/env python3
# simple.py, from "Foundations of Python Network Programming" (ch. "SMTP"),
# in Python 3 with the listing's mismatched quotes fixed. SERVER may be HOST:PORT.
import smtplib
import sys

if len(sys.argv) < 4:
    print(f"usage: {sys.argv[0]} server fromaddr toaddr [toaddr...]")
    sys.exit(2)

server, fromaddr, toaddrs = sys.argv[1], sys.argv[2], sys.argv[3:]

message = """To: {}
From: {}
Subject: Test Message from simple.py

Hello,

This is a test message sent to you from the simple.py program.
""".format(", ".join(toaddrs), fromaddr)

s = smtplib.SMTP(server)
s.sendmail(fromaddr, toaddrs, message)
print(f"Message successfully sent to {len(toaddrs)} recipient(s)")
