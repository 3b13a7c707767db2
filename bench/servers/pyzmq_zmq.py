"""The libzmq side of bench/zmq.py: pyzmq REP answering as zmq_server.py, or a PUB publishing flat out.

    python bench/servers/pyzmq_zmq.py --mode rep|pub [--port 0] [--ready-file F] [--size 64]

REP answers each request with b"Stop saying: " + request (the book's
zmq_server.py, without the print). PUB sends SIZE-byte messages whose first
frame starts with b"bench" in a loop, as fast as libzmq takes them (its
send high-water mark, 1000, drops what slow subscribers cannot take).
"""

from __future__ import annotations

import argparse

import zmq
from _ready import announce, parse_args


def main() -> None:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--mode", choices=["rep", "pub"], default="rep")
    own.add_argument("--size", type=int, default=64)
    opts, rest = own.parse_known_args()
    mode, size = opts.mode, opts.size
    args = parse_args(__doc__ or "", rest)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP if mode == "rep" else zmq.PUB)
    if args.port:
        sock.bind(f"tcp://{args.host}:{args.port}")
        port = args.port
    else:
        port = sock.bind_to_random_port(f"tcp://{args.host}")
    announce(args.ready_file, "pyzmq", args.host, port)
    if mode == "rep":
        while True:
            sock.send(b"Stop saying: " + sock.recv())
    message = b"bench" + b"x" * (size - 5)
    while True:
        sock.send(message)


if __name__ == "__main__":
    main()
