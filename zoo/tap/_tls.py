"""The one place a tap module gets its server TLS context.

Every TLS use in the zoo needs the same choice: the user's certificate
(C{--tls-cert}/C{--tls-key}, with C{--tls-client-ca} for mutual TLS) or, when none is
given, the zoo development certificate, made under C{<state dir>/tls/} on first use and
reused afterwards. L{tls_context} makes that choice for each C{purpose}:

- C{"implicit"}: TLS from the first byte on every TCP listener (C{--tls});
  C{None} unless C{--tls} is on.
- C{"starttls"}: the upgrade offered by SMTP STARTTLS, POP3 STLS and IMAP STARTTLS;
  C{None} when the listeners already speak TLS (C{--tls}) or with C{--no-starttls}.
- C{"auth-tls"}: FTP's C{AUTH TLS} and C{PROT P} data connections; always a context,
  since FTP's data connections need one even under implicit TLS.

The user's files are loaded once, while the options are parsed, so a bad file is one
usage error naming it; that context is then reused here rather than built again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from twisted.logger import Logger
from twisted.python import usage

from zoo.tap._options import ServerOptions

log = Logger()

Purpose = Literal["implicit", "starttls", "auth-tls"]
PURPOSES: tuple[Purpose, ...] = ("implicit", "starttls", "auth-tls")


def user_context(cert: str, key: str, client_ca: str | None) -> Any:
    """A L{zoo.tls.ServerTLS} from the user's files, or a usage error naming the bad one."""
    from zoo.tls import ServerTLS, TLSConfigError

    try:
        return ServerTLS(
            Path(cert).expanduser(),
            Path(key).expanduser(),
            Path(client_ca).expanduser() if client_ca else None,
        )
    except TLSConfigError as e:
        raise usage.UsageError(str(e)) from None


def _wanted(options: ServerOptions, purpose: Purpose) -> bool:
    if purpose == "implicit":
        return bool(options["tls"])
    if purpose == "starttls":
        return not options["tls"] and not options.get("no-starttls")
    if purpose == "auth-tls":
        return True
    raise ValueError(f"unknown TLS purpose {purpose!r}; expected one of {PURPOSES}")


def tls_context(options: ServerOptions, purpose: Purpose) -> Any:
    """The server TLS context factory C{options} ask for, for C{purpose}, or C{None}.

    One context per options object: asking for several purposes (FTP's implicit
    listeners and its AUTH TLS) returns the same L{zoo.tls.ServerTLS}.

    @raise usage.UsageError: a certificate, key or CA file is unusable, or the
        development certificate cannot be written in the state directory.
    """
    if not _wanted(options, purpose):
        return None
    if options.chosen_tls is not None:
        return options.chosen_tls
    from zoo.tls import ServerTLS, TLSConfigError

    if options["tls-cert"]:
        options.chosen_tls = user_context(
            options["tls-cert"], options["tls-key"], options["tls-client-ca"]
        )
        return options.chosen_tls
    from zoo.certs import ensure_dev_certificates

    try:
        paths = ensure_dev_certificates(options.state_dir(), options["tls-names"])
        options.chosen_tls = ServerTLS(paths.cert, paths.key, client_ca=options["tls-client-ca"])
    except OSError as e:
        raise usage.UsageError(
            f"cannot make the development certificate in {options.state_dir() / 'tls'}: "
            f"{e.strerror or e}"
        ) from None
    except TLSConfigError as e:
        raise usage.UsageError(str(e)) from None
    log.info("TLS with the zoo development certificate; CA: {ca}", ca=paths.ca_cert)
    return options.chosen_tls
