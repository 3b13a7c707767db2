# FOPNP (2nd edition), queuecrazy.py, ported to Python 3. The fountain (PUSH) and the
# two responders (REP, upper and lower) are zoo-zmq's endpoints, so this program
# starts only the book's three processors, connected to the addresses in
# ZOO_FOUNTAIN, ZOO_UPPER and ZOO_LOWER (the book's tcp://127.0.0.1:6700, 6701 and
# 6702), and runs for ZOO_SECONDS (the book's 30).
import os
import time, threading
import zmq

zcontext = zmq.Context()

def processor(n, fountain_url, responder_urls):
    zpullsock = zcontext.socket(zmq.PULL)
    zpullsock.connect(fountain_url)

    zreqsock = zcontext.socket(zmq.REQ)
    for url in responder_urls:
        zreqsock.connect(url)

    while True:
        word = zpullsock.recv()
        zreqsock.send(word)
        print(n, zreqsock.recv().decode('ascii'), flush=True)

def start_thread(function, *args):
    thread = threading.Thread(target=function, args=args)
    thread.daemon = True  # so you can easily Control-C the whole program
    thread.start()

fountain = os.environ.get('ZOO_FOUNTAIN', 'tcp://127.0.0.1:6700')
responders = [os.environ.get('ZOO_UPPER', 'tcp://127.0.0.1:6701'),
              os.environ.get('ZOO_LOWER', 'tcp://127.0.0.1:6702')]
for n in range(3):
    start_thread(processor, n + 1, fountain, responders)
time.sleep(float(os.environ.get('ZOO_SECONDS', 30)))
