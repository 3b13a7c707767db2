"""twistd zoo-pop3: read the zoo-smtp Maildirs over POP3 (default port 8110)."""

from __future__ import annotations

from twisted.application.service import IService

from zoo.mail import pop3
from zoo.tap._mail import MailOptions, reader_service


class Options(MailOptions):
    name = "pop3"
    default_port = pop3.PORT
    synopsis = "[--port 8110] [--user NAME:PASSWORD ...] [--allow-plaintext-auth]"
    longdesc = "Serves <state dir>/mail/<address>/ over POP3; log in as the address."


def makeService(options: Options) -> IService:
    return reader_service(options, pop3.POP3Factory)
