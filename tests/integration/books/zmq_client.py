# Introducing Python, example 17-6, zmq_client.py, as printed; the port comes from
# ZOO_PORT (the book's 6789).
import os
import zmq

host = '127.0.0.1'
port = int(os.environ.get('ZOO_PORT', 6789))
context = zmq.Context()
client = context.socket(zmq.REQ)
client.connect("tcp://%s:%s" % (host, port))
for num in range(1, 6):
    request_str = "message #%s" % num
    request_bytes = request_str.encode('utf-8')
    client.send(request_bytes)
    reply_bytes = client.recv()
    reply_str = reply_bytes.decode('utf-8')
    print("Sent %s, received %s" % (request_str, reply_str))
