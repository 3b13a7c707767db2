"""UDP options shared by the classic inetd-style plugins (echo, time).

UDP listeners are opt-in (an explicit C{--udp PORT}), and a UDP listener on an
interface that is not loopback also needs C{--udp-public}: a UDP service answers
forged source addresses, so echo, time and friends are classic reflection and
amplification vectors.
"""

from __future__ import annotations

import ipaddress

from twisted.python import usage

PUBLIC_FLAG = [
    "udp-public",
    None,
    "Allow UDP listeners on a non-loopback --interface (UDP services reflect traffic "
    "to forged sources).",
]


def is_loopback(interface: str) -> bool:
    """C{True} for 127.0.0.0/8, ::1 and C{localhost}; C{False} for wildcards and the rest."""
    if interface == "localhost":
        return True
    try:
        return ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return False


def check_udp(options: dict, flags: list[str]) -> None:
    """Refuse UDP on a public interface unless C{--udp-public} was given.

    @param flags: the option names that each enable a UDP listener.
    """
    asked = [f"--{f}" for f in flags if options[f] is not None]
    interface = options["interface"]
    if asked and not is_loopback(interface) and not options["udp-public"]:
        raise usage.UsageError(
            f"{', '.join(asked)} on non-loopback interface {interface}: UDP services "
            "reflect traffic to forged sources; add --udp-public if you mean it"
        )
