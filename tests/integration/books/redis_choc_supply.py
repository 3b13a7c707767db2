# Introducing Python, exercise 17.4 (Lucy's chocolate factory): the conveyor belt,
# pushing chocolates onto a Redis list at random intervals. As community
# reproductions of the book's answer have it; the port comes from ZOO_PORT.
import os
import redis
import random
from time import sleep

conn = redis.Redis(port=int(os.environ.get('ZOO_PORT', 6379)))
varieties = ['truffle', 'cherry', 'caramel', 'nougat']
conveyor = 'chocolates'
while True:
    seconds = random.random()
    sleep(seconds)
    piece = random.choice(varieties)
    conn.rpush(conveyor, piece)
