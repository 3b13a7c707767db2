"""--workers: endpoint parsing and the worker command line, in memory."""

from __future__ import annotations

import socket
import sys

from zoo.tap import _workers


def test_tcp_endpoints_are_parsed_for_sharing() -> None:
    """tcp: and tcp6: endpoint strings give family, interface, port and backlog; others None."""
    assert _workers.tcp_address("tcp:8025:interface=127.0.0.1:backlog=1024") == (
        socket.AF_INET,
        "127.0.0.1",
        8025,
        1024,
    )
    assert _workers.tcp_address(r"tcp6:port=0:interface=\:\:1") == (socket.AF_INET6, "::1", 0, 50)
    assert _workers.tcp_address("unix:/tmp/x.sock") is None
    assert _workers.tcp_address("ssl:443:privateKey=k.pem") is None


def test_worker_command_line_runs_in_the_foreground_without_a_pid_file() -> None:
    """A worker reruns twistd's own options, then --nodaemon --pidfile=, then the plugin's."""
    argv = _workers.worker_argv(
        ["twistd", "--logfile", "z.log", "zoo", "--with", "echo", "--workers", "2"]
    )
    assert argv[0] == sys.executable
    at = argv.index("zoo")
    assert argv[at - 2 : at] == ["--nodaemon", "--pidfile="]
    assert argv[at - 4 : at - 2] == ["--logfile", "z.log"]
    assert argv[at:] == ["zoo", "--with", "echo", "--workers", "2"]
    assert _workers.worker_argv(["twistd", "-n", "zoo-smtp", "--port", "0"])[-4:] == [
        "--pidfile=",
        "zoo-smtp",
        "--port",
        "0",
    ]
