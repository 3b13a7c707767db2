# Introducing Python, Example 17-2 udp_client.py, as printed; only the address is
# taken from ZOO_PORT (the book uses ('localhost', 6789)).
import os
import socket
from datetime import datetime

server_address = ('localhost', int(os.environ.get('ZOO_PORT', 6789)))
max_size = 4096

print('Starting the client at', datetime.now())
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.sendto(b'Hey!', server_address)
data, server = client.recvfrom(max_size)
print('At', datetime.now(), server, 'said', data)
client.close()
