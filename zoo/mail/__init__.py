"""Mail: an ESMTP sink that never loses a message, and POP3 and IMAP to read it back.

- L{zoo.mail.maildir}: the Maildirs on disk and the all-or-nothing, fsynced writer;
- logins: L{zoo.cred} (users, passwords, throttling), shared by all three services;
- L{zoo.mail.smtp}: zoo-smtp, on twisted.mail's ESMTP, with L{zoo.mail.body} reading DATA;
- L{zoo.mail.pop3}: zoo-pop3, on twisted.mail's POP3, with STLS;
- L{zoo.mail.imap}: zoo-imap, zoo's own IMAP core (L{zoo.mail.imapwire}, L{zoo.mail.imapcore},
  L{zoo.mail.imapmime}) behind a thin Twisted protocol, over the Maildir++ folders of
  L{zoo.mail.imapfolder}.
"""
