# FOPNP (2nd edition) chapter 8 squares.py, ported to Python 3 (print()) and
# re-indented (the listing lost its indentation). The server comes from ZOO_PORT
# (the book's is 127.0.0.1:11211).
import os
import memcache, random, time, timeit
mc = memcache.Client(['127.0.0.1:%s' % os.environ.get('ZOO_PORT', 11211)])

def compute_square(n):
    value = mc.get('sq:%d' % n)
    if value is None:
        time.sleep(0.001)  # pretend that computing a square is expensive
        value = n * n
        mc.set('sq:%d' % n, value)
    return value

def make_request():
    compute_square(random.randint(0, 5000))

print('Ten successive runs:', end=' ')
for i in range(1, 11):
    print('%.2fs' % timeit.timeit(make_request, number=2000), end=' ')
print()
