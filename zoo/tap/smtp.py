"""twistd zoo-smtp: an ESMTP development mail sink storing to Maildirs (default port 8025)."""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.application.service import IService

from zoo.mail import smtp
from zoo.tap._mail import MailOptions, checker, mail_root
from zoo.tap._options import named, positive_int
from zoo.tap._service import build
from zoo.tap._tls import tls_context


class Options(MailOptions):
    name = "smtp"
    default_port = smtp.PORT
    synopsis = "[--port 8025] [--user NAME:PASSWORD ...] [--require-tls] [--require-auth]"
    longdesc = (
        "Accepts mail for any recipient and stores one copy per recipient in "
        "<state dir>/mail/<address>/ (a Maildir). Never relays."
    )

    optParameters: ClassVar[list[list[Any]]] = [
        [
            "max-size",
            None,
            smtp.DEFAULT_MAX_SIZE,
            "Largest message in bytes (advertised as SIZE).",
            named("--max-size", positive_int),
        ],
        [
            "max-recipients",
            None,
            smtp.DEFAULT_MAX_RECIPIENTS,
            "Most recipients per message.",
            named("--max-recipients", positive_int),
        ],
        [
            "max-line",
            None,
            smtp.DEFAULT_MAX_LINE,
            "Longest command line in bytes; longer gets 500 and is discarded.",
            named("--max-line", positive_int),
        ],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["require-tls", None, "Refuse MAIL and AUTH before STARTTLS (or use --tls)."],
        ["require-auth", None, "Refuse MAIL before a successful AUTH."],
        ["no-fsync", None, "Do not fsync messages (faster, may lose mail on power loss)."],
    ]


def makeService(options: Options) -> IService:
    from zoo.mail.maildir import MaildirStore, SyncWriter, ThreadWriter

    policy = smtp.Policy(
        hostname=options["hostname"],
        max_size=options["max-size"],
        max_recipients=options["max-recipients"],
        max_line=options["max-line"],
        require_tls=options["require-tls"],
        require_auth=options["require-auth"],
        allow_plaintext_auth=options["allow-plaintext-auth"],
        timeout=options["idle-timeout"] or None,
    )
    store = MaildirStore(mail_root(options), fsync=not options["no-fsync"])
    store.clean_tmp()
    # fsync waits for the disk, so it runs in threads; without it a write is a copy
    # into the page cache, cheaper than handing it to a thread and back.
    writer = SyncWriter(store) if options["no-fsync"] else ThreadWriter(store)
    factory = smtp.SMTPFactory(
        writer,
        checker(options),
        policy,
        starttls=tls_context(options, "starttls"),
        max_login_attempts=options["max-login-attempts"],
    )
    from zoo.mail.inspector import register

    register(store, writer, options["hostname"])
    return build(options, factory)
