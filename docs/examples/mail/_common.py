# Shared by the book's POP and IMAP programs here: "host[:port]" and the password.
import getpass
import sys


def host_port(text, default):
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    return (host, int(port)) if port else (text, default)


def password():
    if sys.stdin.isatty():
        return getpass.getpass()
    return sys.stdin.readline().rstrip("\n")


def ssl_context():
    """Verify against the zoo's development CA when $ZOO_CA names it."""
    import os
    import ssl

    return ssl.create_default_context(cafile=os.environ.get("ZOO_CA"))
