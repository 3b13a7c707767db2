# Introducing Python, example 17-18, zerorpc_client.py, as printed; the port comes
# from ZOO_PORT (the book's 4242).
import os
import zerorpc

client = zerorpc.Client()
client.connect("tcp://127.0.0.1:%s" % os.environ.get('ZOO_PORT', 4242))
num = 7
result = client.double(num)
print("Double", num, "is", result)
