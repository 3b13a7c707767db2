"""twistd zoo-exercises: the books' first socket exercises, each on its own port.

hey (TCP and UDP 6789), length (UDP 1060), sixteen (TCP 1062), streamer (TCP 1063);
see L{zoo.exercises}.
"""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService, MultiService
from twisted.internet.protocol import Factory
from twisted.python import usage

from zoo import exercises
from zoo.tap._options import ServerOptions, named, normalize_endpoint, parse_port
from zoo.tap._service import ListenerGroup, listener_group, plugin_root
from zoo.tap._udp import PUBLIC_FLAG, check_udp

EXERCISES = ("hey", "length", "sixteen", "streamer")


def _drop_rate(value: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{value}: not between 0 and 1")
    return rate


def _count(value: str) -> int:
    n = int(value)
    if n < 0:
        raise ValueError(f"{value}: negative")
    return n


class Options(ServerOptions):
    name = "exercises"
    default_port = None  # type: ignore[assignment]  # one port per exercise, below
    default_command_timeout = 60.0  # the hey request and the sixteen bytes
    synopsis = (
        "[--exercise hey|length|sixteen|streamer ...] [--hey-port 6789] [--length-port 1060] "
        "[--sixteen-port 1062] [--streamer-port 1063] [--port 0] [--drop-first N] [--drop-rate R "
        "--drop-seed S] [--udp-public]"
    )
    longdesc = (
        "The servers of the books' first socket programs: Introducing Python's tcp/udp "
        "'Hey!' pair (hey, TCP and UDP), FOPNP's udp_local.py and udp_remote.py (length, "
        "UDP, with repeatable deliberate drops), tcp_sixteen.py (sixteen) and streamer.py "
        "(streamer). All run at once unless --exercise picks some."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "hey-port",
            None,
            exercises.HEY_PORT,
            "TCP and UDP port of the hey exercise.",
            named("--hey-port", parse_port),
        ],
        [
            "length-port",
            None,
            exercises.LENGTH_PORT,
            "UDP port of the length exercise (udp_local.py, udp_remote.py).",
            named("--length-port", parse_port),
        ],
        [
            "sixteen-port",
            None,
            exercises.SIXTEEN_PORT,
            "TCP port of the sixteen exercise (tcp_sixteen.py).",
            named("--sixteen-port", parse_port),
        ],
        [
            "streamer-port",
            None,
            exercises.STREAMER_PORT,
            "TCP port of the streamer exercise (streamer.py).",
            named("--streamer-port", parse_port),
        ],
        [
            "drop-first",
            None,
            0,
            "length: drop the first N datagrams (udp_remote.py's lost packets).",
            named("--drop-first", _count),
        ],
        [
            "drop-rate",
            None,
            0.0,
            "length: then drop each datagram with this probability (0 to 1).",
            named("--drop-rate", _drop_rate),
        ],
        [
            "drop-seed",
            None,
            0,
            "length: seed for --drop-rate, so the same datagrams drop on every run.",
            named("--drop-seed", int),
        ],
        [
            "max-kept",
            None,
            exercises.DEFAULT_MAX_KEPT,
            "streamer: bytes of each message kept for the log (the rest is counted).",
            named("--max-kept", _count),
        ],
    ]
    optFlags: ClassVar[list[list[Any]]] = [PUBLIC_FLAG]

    def __init__(self) -> None:
        super().__init__()
        self["exercise"] = []

    def opt_exercise(self, name: str) -> None:
        """Serve this exercise (repeatable): hey, length, sixteen or streamer [default: all]."""
        if name not in EXERCISES:
            raise usage.UsageError(
                f"--exercise: unknown exercise {name!r}; choose from {', '.join(EXERCISES)}"
            )
        self["exercise"].append(name)

    def check(self) -> None:
        if self["listen"] or self["port"] not in (None, 0):
            raise usage.UsageError(
                "--port/--listen: zoo-exercises listens on one port per exercise; "
                "use --hey-port, --length-port, --sixteen-port or --streamer-port "
                "(or --port 0 for a free port each)"
            )
        if self["port"] == 0:
            for exercise in EXERCISES:
                self[f"{exercise}-port"] = 0
        self["exercise"] = self["exercise"] or list(EXERCISES)
        udp = [f"{e}-port" for e in ("hey", "length") if e in self["exercise"]]
        check_udp(self, udp)

    def tcp(self, exercise: str) -> list[str]:
        """The endpoint of C{exercise}'s TCP listener."""
        return [normalize_endpoint(str(self[f"{exercise}-port"]), self["interface"])]


def makeService(options: Options) -> IService:
    chosen = options["exercise"]
    interface = options["interface"]
    groups: list[ListenerGroup] = []
    if "hey" in chosen:
        hey = listener_group(
            options, exercises.ExerciseFactory(exercises.HeyServer), endpoints=options.tcp("hey")
        )
        hey.listen_udp(options["hey-port"], exercises.HeyDatagram(), interface)
        groups.append(hey)
    if "length" in chosen:
        dropper = exercises.Dropper(
            options["drop-first"], options["drop-rate"], options["drop-seed"]
        )
        length = listener_group(options, Factory(), endpoints=[])  # UDP only
        length.listen_udp(
            options["length-port"],
            exercises.LengthDatagram(dropper),
            interface,
            max_packet_size=exercises.MAX_DATAGRAM,
        )
        groups.append(length)
    if "sixteen" in chosen:
        factory = exercises.ExerciseFactory(exercises.SixteenServer)
        groups.append(listener_group(options, factory, endpoints=options.tcp("sixteen")))
    if "streamer" in chosen:
        factory = exercises.ExerciseFactory(exercises.StreamerSink, max_kept=options["max-kept"])
        groups.append(listener_group(options, factory, endpoints=options.tcp("streamer")))
    root = plugin_root(options)
    for group in groups:
        # The groups share the service name "exercises" (the ready file's); a parent
        # allows one child per name, so each sits in an unnamed holder.
        holder = MultiService()
        group.setServiceParent(holder)
        holder.setServiceParent(root)
    return root
