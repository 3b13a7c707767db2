"""Code that reads mail with poplib and imaplib, tested against zoo_pop3 and zoo_imap."""

import imaplib
import poplib
import ssl


def count_pop3(host, port, user, password, cafile):
    """The code under test: how many messages wait in a POP3 mailbox."""
    pop = poplib.POP3(host, port, timeout=10)
    try:
        # zoo, like a real server, takes passwords only over TLS
        pop.stls(ssl.create_default_context(cafile=cafile))
        pop.user(user)
        pop.pass_(password)
        return pop.stat()[0]
    finally:
        pop.quit()


def subjects_imap(host, port, user, password, cafile):
    """The code under test: the subjects in an IMAP inbox."""
    with imaplib.IMAP4(host, port, timeout=10) as imap:
        imap.starttls(ssl.create_default_context(cafile=cafile))
        imap.login(user, password)
        imap.select("INBOX")
        _, found = imap.search(None, "ALL")
        subjects = []
        for number in found[0].split():
            _, data = imap.fetch(number, "(BODY[HEADER.FIELDS (SUBJECT)])")
            subjects.append(data[0][1].decode().split(":", 1)[1].strip())
        return subjects


def test_pop3_counts_seeded_mail(zoo_pop3):
    zoo_pop3.seed_message("carol@example.com", "First", "one")
    zoo_pop3.seed_message("carol@example.com", "Second", "two")

    count = count_pop3(
        zoo_pop3.host, zoo_pop3.port, "carol@example.com", zoo_pop3.password, zoo_pop3.ca_file
    )
    assert count == 2


def test_imap_lists_subjects(zoo_imap):
    zoo_imap.seed_message("dave@example.com", "Your order", "shipped")

    subjects = subjects_imap(
        zoo_imap.host, zoo_imap.port, "dave@example.com", zoo_imap.password, zoo_imap.ca_file
    )
    assert subjects == ["Your order"]
