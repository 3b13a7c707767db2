# Introducing Python, exercise 17.4 (Lucy's chocolate factory): Lucy, doing blocking
# pops of the list and taking 0.5 s per piece. As community reproductions of the
# book's answer have it; the port comes from ZOO_PORT.
import os
import redis
from datetime import datetime
from time import sleep

conn = redis.Redis(port=int(os.environ.get('ZOO_PORT', 6379)))
timeout = 10
conveyor = 'chocolates'
while True:
    sleep(0.5)
    msg = conn.blpop(conveyor, timeout)
    remaining = conn.llen(conveyor)
    if msg:
        piece = msg[1]
        print('Lucy got a', piece, 'at', datetime.utcnow(),
              ', only', remaining, 'left')
