# FOPNP (2nd edition) udp_local.py, ported to Python 3 (print(), bytes); the port
# comes from ZOO_PORT (the book's PORT = 1060).
import os
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
MAX = 65535
PORT = int(os.environ.get('ZOO_PORT', 1060))
if sys.argv[1:] == ['server']:
    s.bind(('127.0.0.1', PORT))
    print('Listening at', s.getsockname())
    while True:
        data, address = s.recvfrom(MAX)
        print('The client at', address, 'says', repr(data))
        s.sendto(('Your data was %d bytes' % len(data)).encode('ascii'), address)
elif sys.argv[1:] == ['client']:
    print('Address before sending:', s.getsockname())
    s.sendto(b'This is my message', ('127.0.0.1', PORT))
    print('Address after sending', s.getsockname())
    data, address = s.recvfrom(MAX) # overly promiscuous - see text!
    print('The server', address, 'says', repr(data))
else:
    print('usage: udp_local.py server|client', file=sys.stderr)
