# Introducing Python, example 17-7, redis_pub.py, as printed; the port comes from
# ZOO_PORT (redis.Redis()'s default is 6379).
import os
import redis
import random

conn = redis.Redis(port=int(os.environ.get('ZOO_PORT', 6379)))
cats = ['siamese', 'persian', 'maine coon', 'norwegian forest']
hats = ['stovepipe', 'bowler', 'tam-o-shanter', 'fedora']
for msg in range(10):
    cat = random.choice(cats)
    hat = random.choice(hats)
    print('Publish: %s wears a %s' % (cat, hat))
    conn.publish(cat, hat)
