#!/usr/bin/env python3
# login.py, from "Foundations of Python Network Programming": SMTP AUTH.
# The book logs in over plain text; zoo-smtp refuses that unless started with
# --allow-plaintext-auth (pass --tls to this script to STARTTLS first).
import getpass
import smtplib
import socket
import sys

args = [a for a in sys.argv[1:] if a != "--tls"]
if len(args) < 3:
    print(f"usage: {sys.argv[0]} [--tls] server fromaddr toaddr [toaddr...]")
    sys.exit(2)

server, fromaddr, toaddrs = args[0], args[1], args[2:]
message = "To: {}\nFrom: {}\nSubject: Test Message from login.py\n\nHello,\n".format(
    ", ".join(toaddrs), fromaddr
)

sys.stdout.write("Enter username: ")
sys.stdout.flush()
username = sys.stdin.readline().strip()
password = (
    getpass.getpass("Enter password: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
)

try:
    s = smtplib.SMTP(server)
    if "--tls" in sys.argv:
        s.starttls()
    try:
        s.login(username, password)
    except smtplib.SMTPException as e:
        print("Authentication failed:", e)
        sys.exit(1)
    s.sendmail(fromaddr, toaddrs, message)
except (OSError, socket.gaierror, socket.herror, smtplib.SMTPException) as e:
    print(" *** Your message may not have been sent!")
    print(e)
    sys.exit(1)
else:
    print(f"Message successfully sent to {len(toaddrs)} recipient(s)")
