"""twistd zoo-imap: read the zoo-smtp Maildirs over IMAP4rev1 (default port 8143)."""

from __future__ import annotations

from twisted.application.service import IService

from zoo.mail import imap
from zoo.tap._mail import MailOptions, reader_service


class Options(MailOptions):
    name = "imap"
    default_port = imap.PORT
    synopsis = "[--port 8143] [--user NAME:PASSWORD ...] [--allow-plaintext-auth]"
    longdesc = "Serves <state dir>/mail/<address>/ as INBOX over IMAP; log in as the address."


def makeService(options: Options) -> IService:
    return reader_service(options, imap.IMAPFactory)
