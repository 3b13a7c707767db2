# FOPNP (2nd edition) telnet_login.py, ported to Python 3 (print(), bytes); the port
# comes from ZOO_PORT (the book connects to telnetd on port 23), the name and
# password from ZOO_USER and ZOO_PASSWORD (the book types brandon and mypass).
# telnetlib left the standard library in Python 3.13: telnetlib3 carries the same
# module, so the import is the one other change.
import os
from telnetlib3 import telnetlib

t = telnetlib.Telnet('localhost', int(os.environ.get('ZOO_PORT', 23)))
# t.set_debuglevel(1)          # uncomment this for debugging messages

t.read_until(b'login:')
t.write(os.environ.get('ZOO_USER', 'brandon').encode() + b'\n')
t.read_until(b'assword:')      # let "P" be capitalized or not
t.write(os.environ.get('ZOO_PASSWORD', 'mypass').encode() + b'\n')
n, match, previous_text = t.expect([br'Login incorrect', br'\$'], 10)
if n == 0:
    print("Username and password failed - giving up")
else:
    t.write(b'exec uptime\n')
    print(t.read_all().decode())        # keep reading until the connection closes
