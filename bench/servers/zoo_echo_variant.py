"""zoo-echo (or zoo-blocks --mode echo) with one knob changed, for the benchmark.

    python bench/servers/zoo_echo_variant.py --port 0 --ready-file r.json [--slow] [--nagle] [--blocks]

--slow   write with Twisted's transport.write, not zoo.policies.fast_writer (the default)
--nagle  turn TCP_NODELAY back off (zoo's policy wrapper turns it on for every listener)
--small-reads  keep Twisted's 64 KiB reads when a connection streams
--blocks run zoo-blocks in echo mode instead of zoo-echo

Everything else is exactly what `twistd -n zoo-echo` builds (the same tap module, the
same policy wrapper and reactor tuning).
"""

from __future__ import annotations

import argparse
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--slow", action="store_true")
    parser.add_argument("--nagle", action="store_true")
    parser.add_argument("--blocks", action="store_true")
    parser.add_argument("--small-reads", action="store_true")
    args = parser.parse_args()

    from twisted.internet import reactor

    from zoo import blocks, echo
    from zoo.tap import blocks as blocks_tap
    from zoo.tap import echo as echo_tap

    tap = blocks_tap if args.blocks else echo_tap
    options = tap.Options()
    argv = ["--port", str(args.port), "--interface", args.host, "--ready-file", args.ready_file]
    options.parseOptions(argv + (["--mode", "echo"] if args.blocks else []))
    root = tap.makeService(options)
    group = next(iter(root))
    base: Any = blocks.BlocksServer if args.blocks else echo.EchoServer

    class Variant(base):  # type: ignore[misc, valid-type]
        fast = not args.slow
        if args.small_reads:
            stream_read_size = 1 << 16

        def connectionMade(self) -> None:
            super().connectionMade()
            if args.nagle:
                self.transport.setTcpNoDelay(False)

    factory = group.protocol_factory
    if args.blocks:
        factory.buildProtocol = lambda addr: Variant(factory.mode, factory.max_size)
    else:
        factory.protocol = Variant
    root.privilegedStartService()
    root.startService()
    reactor.run()


if __name__ == "__main__":
    main()
