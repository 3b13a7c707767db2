# Introducing Python, exercise 17.5: a consumer printing the words that start with a
# vowel ("vowels"), or those with five letters ("five"), as the argument says. The
# book prints no listing; this is a consumer in the style of zmq_sub.py. The port
# comes from ZOO_PORT. It runs forever: the test stops it.
import os
import sys
import zmq
host = '127.0.0.1'
port = int(os.environ.get('ZOO_PORT', 6789))
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.connect('tcp://%s:%s' % (host, port))
sub.setsockopt(zmq.SUBSCRIBE, sys.argv[1].encode('utf-8'))
while True:
    topic, word = sub.recv_multipart()
    print(word.decode('utf-8'), flush=True)
