# Introducing Python, example 17-16, msgpack_client.py. The book's library,
# msgpack-rpc-python, installs on Python 3.11 but needs msgpack-python 0.5 (and
# tornado 4), which installs the same `msgpack` module as msgpack 1.x and so cannot
# live beside zoo (msgpack_client_book.py runs it from a folder of its own). This is
# the same client written against the raw protocol (msgpack-rpc's spec) with
# msgpack, sending strings the old way (raw, as msgpack-rpc-python does). The port
# comes from ZOO_PORT (the book's 6789).
import os
import socket
import msgpack


class Address:
    def __init__(self, host, port):
        self.host, self.port = host, port


class Client:
    def __init__(self, address):
        self.sock = socket.create_connection((address.host, address.port), timeout=10)
        self.unpacker = msgpack.Unpacker(raw=True)
        self.msgid = 0

    def call(self, method, *args):
        self.msgid += 1
        self.sock.sendall(msgpack.packb([0, self.msgid, method, list(args)], use_bin_type=False))
        while True:
            for kind, msgid, error, result in self.unpacker:
                if error is not None:
                    raise RuntimeError(error)
                return result
            self.unpacker.feed(self.sock.recv(65536))


client = Client(Address("localhost", int(os.environ.get('ZOO_PORT', 6789))))
num = 8
result = client.call('double', num)
print("Double %s is %s" % (num, result))
