# Introducing Python, example 17-16, msgpack_client.py, as printed (the book's own
# library, msgpack-rpc-python); the port comes from ZOO_PORT (the book's 6789).
import os
from msgpackrpc import Client, Address

client = Client(Address("localhost", int(os.environ.get('ZOO_PORT', 6789))))
num = 8
result = client.call('double', num)
print("Double %s is %s" % (num, result))
