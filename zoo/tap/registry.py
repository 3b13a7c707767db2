"""Every zoo service the runner knows: name -> tap module (C{Options} + C{makeService}).

Order is the order of C{twistd -n zoo}'s listening table. Importing this module
imports no tap module; L{load} does, for one name.
"""

from __future__ import annotations

import importlib
from types import ModuleType

SERVICES: dict[str, str] = {
    "lancelot": "zoo.tap.lancelot",
    "echo": "zoo.tap.echo",
    "blocks": "zoo.tap.blocks",
    "time": "zoo.tap.time",
    "xmlrpc": "zoo.tap.xmlrpc",
    "tls": "zoo.tap.tls",
    "ssh": "zoo.tap.ssh",
    "pubsub": "zoo.tap.pubsub",
    "ftp": "zoo.tap.ftp",
    "smtp": "zoo.tap.smtp",
    "pop3": "zoo.tap.pop3",
    "imap": "zoo.tap.imap",
    "exercises": "zoo.tap.exercises",
    "dns": "zoo.tap.dns",
    "http": "zoo.tap.http",
    "telnet": "zoo.tap.telnet",
    "zmq": "zoo.tap.zmq",
    "msgpackrpc": "zoo.tap.msgpackrpc",
    "memcached": "zoo.tap.memcached",
}

#: Services C{twistd -n zoo} starts only when asked (C{--with NAME} or a config
#: table): zoo-telnet sends passwords in cleartext.
OFF_BY_DEFAULT: frozenset[str] = frozenset({"telnet"})


def names() -> list[str]:
    return list(SERVICES)


def default_names() -> list[str]:
    """The services C{twistd -n zoo} runs when none is named: all but L{OFF_BY_DEFAULT}."""
    return [name for name in SERVICES if name not in OFF_BY_DEFAULT]


def load(name: str) -> ModuleType:
    """Import the tap module of service C{name}.

    @raise KeyError: for an unknown name, with the known names in the message.
    """
    try:
        module = SERVICES[name]
    except KeyError:
        raise KeyError(f"unknown service {name!r}; available: {', '.join(SERVICES)}") from None
    return importlib.import_module(module)
