# Introducing Python, exercise 17.2 ("Use ZeroMQ REQ and REP sockets to do the same
# thing": send 'time', get the ISO date and time). The book prints no listing; this
# is the client in the style of zmq_client.py. The port comes from ZOO_PORT.
import os
import zmq

host = '127.0.0.1'
port = int(os.environ.get('ZOO_PORT', 6789))
context = zmq.Context()
client = context.socket(zmq.REQ)
client.connect("tcp://%s:%s" % (host, port))
client.send(b'time')
print(client.recv().decode('utf-8'))
