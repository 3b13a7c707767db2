# Introducing Python, example 17-10, zmq_sub.py, as printed; the port comes from
# ZOO_PORT (the book's 6789). It runs forever, as in the book: the test stops it.
import os
import zmq
host = '127.0.0.1'
port = int(os.environ.get('ZOO_PORT', 6789))
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.connect('tcp://%s:%s' % (host, port))
topics = ['maine coon', 'persian']
for topic in topics:
    sub.setsockopt(zmq.SUBSCRIBE, topic.encode('utf-8'))
while True:
    cat_bytes, hat_bytes = sub.recv_multipart()
    cat = cat_bytes.decode('utf-8')
    hat = hat_bytes.decode('utf-8')
    print('Subscribe: %s wears a %s' % (cat, hat), flush=True)
