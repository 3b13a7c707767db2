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
