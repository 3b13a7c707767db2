"""zoo-telnet: a telnet login and shell, on twisted.conch.telnet, for FOPNP's chapter 16.

FOPNP's C{telnet_login.py} (both editions) waits for C{login:}, sends a name, waits
for C{assword:}, sends a password, then expects C{Login incorrect} or a C{$}; once
in, it runs C{exec uptime}. C{telnet_codes.py} answers the server's option
requests itself and sends the terminal type C{mypython}, which C{exec echo $TERM}
prints. zoo-telnet serves both, and the Debian C{telnet} client:

- B{options}: the server asks for C{WILL ECHO}, C{WILL SGA}, C{DO TTYPE} and
  C{DO NAWS}. The terminal type (RFC 1091) becomes the shell's C{$TERM}
  (lower-cased, as BSD telnetd does); the window size (RFC 1073) is the shell
  terminal's, and follows later changes. Every request gets an answer; options
  nobody here knows are refused.
- B{login}: C{login: }, C{Password: } (nothing echoed while it is typed), then
  C{Login incorrect} or the shell. Users, passwords and throttling are
  L{zoo.cred}'s, as for every zoo service with logins: wrong passwords from one
  address are answered more and more slowly, and a connection is closed after
  C{--max-login-attempts} of them.
- B{shell}: C{/bin/sh -i} on a pseudo-terminal, as the zoo's OS user, in the
  user's home folder (L{zoo.shell}, shared with zoo-ssh), with the prompt C{$ }.
  The terminal echoes what the client types if the client let the server echo
  (C{DO ECHO}); a client that refused (telnetlib) sees no echo. When the shell
  ends, the connection closes.

B{Telnet is cleartext}: the name, the password and the whole session cross the
network as they are typed. zoo-telnet listens on loopback unless told otherwise,
and is not started by C{twistd -n zoo} unless asked for.

Bad input: unknown telnet commands (C{IAC} and a byte that is no command) are
dropped (Twisted's parser would raise), at most L{MAX_NEGOTIATIONS} option
requests are answered per connection (then it is closed), subnegotiations are
capped (Twisted's own 4096-byte cap), login lines are capped at L{MAX_LINE}, and a
client that does not read is not read (L{zoo.flow.ReadGate}, and a shell whose
terminal output would pile up is held).

Layout, one idea per module:

- L{zoo.telnet.options}: the telnet layer, Twisted's C{TelnetTransport} bounded
  (L{ZooTelnetTransport}), and its pure parts (L{InputFilter}, L{terminal_type},
  L{window_size});
- L{zoo.telnet.server}: the login and the shell (L{TelnetServer}), the login
  line editor (L{LineEditor}, pure), and L{make_factory}; C{zoo.tap.telnet} is
  its command line.
"""

from __future__ import annotations

from zoo.telnet.options import (
    MAX_NEGOTIATIONS,
    MAX_TERM,
    TTYPE,
    InputFilter,
    ZooTelnetTransport,
    terminal_type,
    window_size,
)
from zoo.telnet.server import (
    BANNER,
    LINE_TOO_LONG,
    LOGIN_INCORRECT,
    LOGIN_PROMPT,
    MAX_LINE,
    PASSWORD_PROMPT,
    TOO_MANY,
    TOO_MANY_OPTIONS,
    WELCOME,
    HomeRealm,
    IShellUser,
    LineEditor,
    TelnetFactory,
    TelnetServer,
    make_factory,
)

PORT = 2323

__all__ = [
    "BANNER",
    "LINE_TOO_LONG",
    "LOGIN_INCORRECT",
    "LOGIN_PROMPT",
    "MAX_LINE",
    "MAX_NEGOTIATIONS",
    "MAX_TERM",
    "PASSWORD_PROMPT",
    "PORT",
    "TOO_MANY",
    "TOO_MANY_OPTIONS",
    "TTYPE",
    "WELCOME",
    "HomeRealm",
    "IShellUser",
    "InputFilter",
    "LineEditor",
    "TelnetFactory",
    "TelnetServer",
    "ZooTelnetTransport",
    "make_factory",
    "terminal_type",
    "window_size",
]
