# FOPNP (2nd edition) telnet_codes.py, ported to Python 3 (print(), bytes); the port
# comes from ZOO_PORT (the book connects to telnetd on port 23), the name and
# password from ZOO_USER and ZOO_PASSWORD (the book types brandon and mypass).
# telnetlib left the standard library in Python 3.13: telnetlib3 carries the same
# module, so the import is the one other change.
import os
from telnetlib3.telnetlib import Telnet, IAC, DO, DONT, WILL, WONT, SB, SE, TTYPE

def process_option(tsocket, command, option):
    if command == DO and option == TTYPE:
        tsocket.sendall(IAC + WILL + TTYPE)
        print('Sending terminal type "mypython"')
        tsocket.sendall(IAC + SB + TTYPE + b'\0' + b'mypython' + IAC + SE)
    elif command in (DO, DONT):
        print('Will not', ord(option))
        tsocket.sendall(IAC + WONT + option)
    elif command in (WILL, WONT):
        print('Do not', ord(option))
        tsocket.sendall(IAC + DONT + option)

t = Telnet('localhost', int(os.environ.get('ZOO_PORT', 23)))
# t.set_debuglevel(1)          # uncomment this for debugging messages

t.set_option_negotiation_callback(process_option)
t.read_until(b'login:', 5)
t.write(os.environ.get('ZOO_USER', 'brandon').encode() + b'\n')
t.read_until(b'assword:', 5) # so P can be capitalized or not
t.write(os.environ.get('ZOO_PASSWORD', 'mypass').encode() + b'\n')
n, match, previous_text = t.expect([br'Login incorrect', br'\$'], 10)
if n == 0:
    print("Username and password failed - giving up")
else:
    t.write(b'exec echo $TERM\n')
    print(t.read_all().decode())
