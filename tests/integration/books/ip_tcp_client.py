# Introducing Python, Example 17-3 tcp_client.py, as printed; only the address is
# taken from ZOO_PORT (the book uses ('localhost', 6789)).
import os
import socket
from datetime import datetime

address = ('localhost', int(os.environ.get('ZOO_PORT', 6789)))
max_size = 1000

print('Starting the client at', datetime.now())
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(address)
client.sendall(b'Hey!')
data = client.recv(max_size)
print('At', datetime.now(), 'someone replied', data)
client.close()
