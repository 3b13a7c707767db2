#!/usr/bin/env python3
# Foundations of Python Network Programming, Third Edition
# https://github.com/brandon-rhodes/fopnp/blob/m/py3/chapter16/telnet_login.py
# Connect to localhost, watch for a login prompt, and try logging in
#
# As printed, but: the port comes from ZOO_PORT (the book's is telnet's 23), and
# telnetlib, which left the standard library in Python 3.13, comes from
# telnetlib3 (the same module). getpass reads the password from the terminal, or
# from stdin when there is none, as the book's program does.

import argparse, getpass, os
from telnetlib3 import telnetlib

def main(hostname, username, password):
    t = telnetlib.Telnet(hostname, int(os.environ.get('ZOO_PORT', 23)))
    # t.set_debuglevel(1) # uncomment to get debug messages
    t.read_until(b'login:')
    t.write(username.encode('utf-8'))
    t.write(b'\r')
    t.read_until(b'assword:') # first letter might be 'p' or 'P'
    t.write(password.encode('utf-8'))
    t.write(b'\r')
    n, match, previous_text = t.expect([br'Login incorrect', br'\$'], 10)
    if n == 0:
        print('Username and password failed - giving up')
    else:
        t.write(b'exec uptime\r')
        print(t.read_all().decode('utf-8')) # read until socket closes

if __name__ == '__main__':
    parser = argparse.ArgumentParser(description='Use Telnet to log in')
    parser.add_argument('hostname', help='Remote host to telnet to')
    parser.add_argument('username', help='Remote username')
    args = parser.parse_args()
    password = getpass.getpass('Password: ')
    main(args.hostname, args.username, password)
