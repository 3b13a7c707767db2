"""zoo-imap's own core in memory: the issue's bugs, folders, and the extensions it advertises."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from test_mail_imap import Session, restart

from zoo.mail.imap import IDLE_POLL
from zoo.mail.imapwire import Command, Framer, TooLong, decode_mutf7, encode_mutf7

MULTI = (
    b"From: a@x\r\nSubject: multi\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
    b"--b1\r\nContent-Type: message/rfc822\r\n\r\n"
    b'From: inner@x\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary="b2"\r\n\r\n'
    b"--b2\r\nContent-Type: text/plain\r\n\r\ninner text\r\n"
    b"--b2\r\nContent-Type: text/html\r\n\r\n<p>inner html</p>\r\n--b2--\r\n"
    b"\r\n--b1--\r\n"
)


def logged_in(tmp_path: Path, select: bytes | None = b"INBOX") -> Session:
    s = Session(tmp_path, plaintext=True)
    restart()
    assert s.send(b"a LOGIN a@x pw\r\n") == [b"a OK LOGIN succeeded"]
    if select:
        assert s.send(b"b SELECT " + select + b"\r\n")[-1].startswith(b"b OK")
    return s


def joined(lines: list[bytes]) -> bytes:
    return b"\r\n".join(lines)


# -- the bugs -----------------------------------------------------------------------


def test_bug1_append_with_and_without_flags_stores_once(tmp_path):
    """APPEND answers OK [APPENDUID], stores exactly one message, with or without flags."""
    s = logged_in(tmp_path)
    msg = b"Subject: appended\r\n\r\nhi\r\n"
    out = s.send(b"c APPEND INBOX (\\Seen) {%d}\r\n" % len(msg))
    assert out == [b"+ Ready for literal data"]
    out = s.send(msg + b"\r\n")
    assert out[-1].startswith(b"c OK [APPENDUID ") and out[-1].endswith(b" 3] APPEND completed")
    assert b"* 3 EXISTS" in out
    out = s.send(b"d APPEND INBOX {%d}\r\n" % len(msg) + msg + b"\r\n")
    assert out[-1].endswith(b" 4] APPEND completed")
    assert s.send(b"e SEARCH SUBJECT appended\r\n")[0] == b"* SEARCH 3 4"
    assert s.send(b"f FETCH 3:4 (FLAGS)\r\n")[:2] == [
        b"* 3 FETCH (FLAGS (\\Seen \\Recent))",
        b"* 4 FETCH (FLAGS (\\Recent))",
    ]


def test_bug2_search_date_keys(tmp_path):
    """SINCE, BEFORE, ON (internal date) and SENT* (Date: header) evaluate, no BAD."""
    s = Session(tmp_path, plaintext=True)
    s.store.write(["a@x"], b"Date: Thu, 15 Feb 2007 23:30:00 -0800\r\nSubject: dated\r\n\r\n")
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    assert s.send(b"c SEARCH SINCE 1-Jan-2000\r\n")[0] == b"* SEARCH 1 2 3"
    assert s.send(b"c SEARCH BEFORE 1-Jan-2000\r\n")[0] == b"* SEARCH"
    assert s.send(b"c SEARCH SINCE 1-Foo-2000\r\n")[0].startswith(b"c BAD")
    s.send(b'c APPEND INBOX "15-Feb-2007 23:30:00 -0800" {4+}\r\nx\r\n\r\n')  # internal date
    assert s.send(b'c SEARCH ON "16-Feb-2007"\r\n')[0] == b"* SEARCH 4"  # in UTC
    assert s.send(b"c FETCH 4 INTERNALDATE\r\n")[0].endswith(b'"16-Feb-2007 07:30:00 +0000")')
    assert s.send(b"c SEARCH SENTON 15-Feb-2007\r\n")[0] == b"* SEARCH 3"  # its own zone's day
    assert s.send(b"c SEARCH SENTBEFORE 16-Feb-2007\r\n")[0] == b"* SEARCH 3"
    assert (
        s.send(b"c SEARCH SENTSINCE 16-Feb-2007 NOT SENTBEFORE 15-Feb-2007\r\n")[0] == b"* SEARCH"
    )


def test_bug3_search_header_keys(tmp_path):
    """FROM, TO, SUBJECT, HEADER search (case-insensitive substrings); SUBJECT NIL is a string."""
    s = Session(tmp_path, plaintext=True)
    s.store.write(
        ["a@x"],
        b"From: Ann <ann@example.com>\r\nTo: bo@x\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\n",
    )
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    assert s.send(b"c SEARCH FROM ANN\r\n")[0] == b"* SEARCH 3"
    assert s.send(b"c SEARCH TO bo@x\r\n")[0] == b"* SEARCH 3"
    assert s.send(b"c SEARCH SUBJECT two\r\n")[0] == b"* SEARCH 2"
    assert s.send(b"c SEARCH CHARSET UTF-8 SUBJECT {5}\r\ncaf\xc3\xa9\r\n")[1] == b"* SEARCH 3"
    assert s.send(b'c SEARCH HEADER "x-none" ""\r\n')[0] == b"* SEARCH"
    assert s.send(b'c SEARCH HEADER subject ""\r\n')[0] == b"* SEARCH 1 2 3"
    assert s.send(b"c SEARCH SUBJECT NIL\r\n") == [b"* SEARCH", b"c OK SEARCH completed"]
    assert s.send(b"c SEARCH OR FROM ann NOT SUBJECT one\r\n")[0] == b"* SEARCH 2 3"


def test_bug4_lower_case_flags_count(tmp_path):
    """STORE +FLAGS (\\deleted) sets \\Deleted, so EXPUNGE removes the message."""
    s = logged_in(tmp_path)
    assert s.send(b"c STORE 1 +FLAGS (\\deleted \\SEEN)\r\n")[0] == (
        b"* 1 FETCH (FLAGS (\\Deleted \\Seen \\Recent))"
    )
    assert s.send(b"d EXPUNGE\r\n") == [b"* 1 EXPUNGE", b"d OK EXPUNGE completed"]


def test_bug5_select_after_close(tmp_path):
    """SELECT, CLOSE, SELECT again on one connection: all OK."""
    s = logged_in(tmp_path)
    assert s.send(b"c CLOSE\r\n") == [b"c OK CLOSE completed"]
    assert s.send(b"d SELECT INBOX\r\n")[-1] == b"d OK [READ-WRITE] SELECT completed"
    assert s.send(b"e EXAMINE INBOX\r\n")[-1] == b"e OK [READ-ONLY] EXAMINE completed"
    assert s.send(b"f SELECT INBOX\r\n")[0] == b"* OK [CLOSED] Previous mailbox closed"


def test_bug6_multipart_without_boundary_served(tmp_path):
    """A multipart whose body never meets its boundary is served as one text part."""
    s = Session(tmp_path, plaintext=True)
    bad = b'Content-Type: multipart/mixed; boundary="nowhere"\r\n\r\njust text\r\n'
    s.store.write(["a@x"], bad)
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    out = s.send(b"c FETCH 3 (BODYSTRUCTURE BODY[1])\r\n")
    assert out[0].startswith(b'* 3 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ("BOUNDARY" "nowhere")')
    assert out[-1] == b"c OK FETCH completed" and not s.transport.disconnecting


def test_bug7_sections_inside_message_rfc822(tmp_path):
    """BODY[2.1], BODY[2.2], BODY[2.HEADER.FIELDS] address parts of the attached message."""
    s = Session(tmp_path, plaintext=True)
    s.store.write(["a@x"], MULTI)
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    out = joined(s.send(b"c FETCH 3 (BODY.PEEK[2.1] BODY.PEEK[2.2] BODY.PEEK[1])\r\n"))
    assert b"BODY[2.1] {10}\r\ninner text" in out
    assert b"BODY[2.2] {17}\r\n<p>inner html</p>" in out
    assert b"BODY[1] {10}\r\nfirst part" in out
    out = joined(s.send(b"d FETCH 3 (BODY.PEEK[2.HEADER.FIELDS (SUBJECT)])\r\n"))
    assert b"BODY[2.HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: inner\r\n\r\n)" in out


def test_bug7_bodystructure_sizes_are_bodies(tmp_path):
    """BODYSTRUCTURE gives each part's body size and lines, not counting its headers."""
    s = Session(tmp_path, plaintext=True)
    s.store.write(["a@x"], MULTI)
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    out = s.send(b"c FETCH 3 (BODYSTRUCTURE)\r\n")[0]
    assert b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 0 ' in out
    assert b'("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 17 0 ' in out
    assert b'"MESSAGE" "RFC822" NIL NIL NIL "7BIT" ' in out and b'"MIXED" ("BOUNDARY" "b1")' in out


def test_bug7_envelope_keeps_groups(tmp_path):
    """ENVELOPE writes a group as its start marker, members and end marker."""
    s = Session(tmp_path, plaintext=True)
    s.store.write(
        ["a@x"],
        b"From: A <a@x>\r\nTo: team: b@y, c@z;, d@w\r\nCc: undisclosed-recipients:;\r\n\r\n",
    )
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    out = s.send(b"c FETCH 3 (ENVELOPE)\r\n")[0]
    assert (
        b'((NIL NIL "team" NIL)(NIL NIL "b" "y")(NIL NIL "c" "z")(NIL NIL NIL NIL)(NIL NIL "d" "w"))'
        in out
    )
    assert b'((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))' in out
    assert b'(("A" NIL "a" "x")) (("A" NIL "a" "x")) (("A" NIL "a" "x"))' in out  # sender, reply-to


def test_bug7_search_text_in_encoded_bodies(tmp_path):
    """SEARCH TEXT and BODY find words inside base64 and quoted-printable bodies."""
    s = Session(tmp_path, plaintext=True)
    b64 = base64.b64encode("secret café word".encode())
    s.store.write(
        ["a@x"],
        b"Content-Transfer-Encoding: base64\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + b64
        + b"\r\n",
    )
    s.store.write(
        ["a@x"], b"Content-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbroken\r\n"
    )
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    assert s.send(b"c SEARCH TEXT secret\r\n")[0] == b"* SEARCH 3"
    assert s.send(b"c SEARCH BODY softbroken\r\n")[0] == b"* SEARCH 4"
    assert s.send(b"c SEARCH TEXT Subject\r\n")[0] == b"* SEARCH 1 2"  # headers count for TEXT


def test_bug7_list_delimiter_and_special_patterns(tmp_path):
    """LIST "" "" gives the delimiter; a pattern with regex characters is OK, not NO."""
    s = logged_in(tmp_path, select=None)
    assert s.send(b'c LIST "" ""\r\n') == [b'* LIST (\\Noselect) "." ""', b"c OK LIST completed"]
    assert s.send(b'c LIST "" "a+b(*"\r\n') == [b"c OK LIST completed"]
    assert s.send(b'c LIST "" "[Gmail]%"\r\n') == [b"c OK LIST completed"]


def test_bug7_examine_reports_recent_and_fetch_reports_seen(tmp_path):
    """EXAMINE counts RECENT; a FETCH that sets \\Seen also sends the new FLAGS."""
    s = logged_in(tmp_path, select=None)
    assert b"* 2 RECENT" in s.send(b"c EXAMINE INBOX\r\n")
    s.send(b"d SELECT INBOX\r\n")
    out = joined(s.send(b"e FETCH 1 (BODY[TEXT])\r\n"))
    assert out.endswith(b" FLAGS (\\Seen \\Recent))\r\ne OK FETCH completed")
    out = joined(s.send(b"f FETCH 2 (RFC822.TEXT)\r\n"))
    assert b"FLAGS (\\Seen \\Recent)" in out


def test_bug8_non_reading_client_gets_one_message_at_a_time(tmp_path):
    """While the client's buffer is full no further FETCH response is made; reading resumes it."""
    s = logged_in(tmp_path)
    write = s.transport.write

    def fill_up(data):
        write(data)
        if data.startswith(b"* 1 FETCH"):
            s.proto.gate.pauseProducing()  # the transport: write buffer full

    s.transport.write = fill_up
    s.proto.dataReceived(b"c FETCH 1:* (BODY.PEEK[])\r\n")
    out = s.take()
    assert len(out) == 5 and out[0].startswith(b"* 1 FETCH")  # the first message only
    s.proto.gate.resumeProducing()
    out = s.take()
    assert out[0].startswith(b"* 2 FETCH") and out[-1] == b"c OK FETCH completed"


def test_bug9_failed_search_does_not_stall_the_pipeline(tmp_path):
    """A SEARCH that fails is answered and the commands pipelined behind it run."""
    s = logged_in(tmp_path)
    out = s.send(b"c SEARCH BOGUS\r\nd SEARCH TEXT body\r\ne NOOP\r\n")
    assert out == [
        b"c BAD SEARCH key not supported or malformed",
        b"* SEARCH 1 2",
        b"d OK SEARCH completed",
        b"e OK NOOP completed",
    ]


# -- folders --------------------------------------------------------------------------------


def test_special_use_folders_made_once(tmp_path):
    """The first login makes Sent, Drafts, Trash, Junk (subscribed); a deleted one stays deleted."""
    s = logged_in(tmp_path, select=None)
    out = s.send(b'c LIST "" "*"\r\n')
    assert b'* LIST (\\HasNoChildren \\Trash) "." "Trash"' in out
    assert (s.store.path("a@x") / ".Sent" / "maildirfolder").exists()
    assert s.send(b"d DELETE Trash\r\n") == [b"d OK DELETE completed"]
    again = logged_in(tmp_path / "x", select=None)  # another login's first time
    del again
    s2 = Session(tmp_path, plaintext=True)
    s2.send(b"a LOGIN a@x pw\r\n")
    assert b"Trash" not in joined(s2.send(b'c LIST "" "*"\r\n'))
    lsub = s2.send(b'e LSUB "" "*"\r\n')
    assert b'* LSUB () "." "Sent"' in lsub and b'* LSUB () "." "INBOX"' in lsub


def test_create_list_rename_delete_hierarchy(tmp_path):
    """CREATE makes parents; LIST %/* honour the delimiter; RENAME moves children; DELETE refuses a parent."""
    s = logged_in(tmp_path, select=None)
    assert s.send(b"c CREATE Work.2026.Q1\r\n") == [b"c OK CREATE completed"]
    assert s.send(b'c LIST "" Work.%\r\n') == [
        b'* LIST (\\HasChildren) "." "Work.2026"',
        b"c OK LIST completed",
    ]
    assert s.send(b"c LIST Work. *\r\n")[:2] == [
        b'* LIST (\\HasChildren) "." "Work.2026"',
        b'* LIST (\\HasNoChildren) "." "Work.2026.Q1"',
    ]
    assert s.send(b"c CREATE Work\r\n") == [b"c NO [ALREADYEXISTS] Mailbox already exists"]
    assert s.send(b"c DELETE Work\r\n")[0].startswith(b"c NO [INUSE]")
    assert s.send(b"c RENAME Work Play\r\n") == [b"c OK RENAME completed"]
    assert b'"Play.2026.Q1"' in joined(s.send(b'c LIST "" *\r\n'))
    assert (s.store.path("a@x") / ".Play.2026.Q1" / "cur").is_dir()
    assert s.send(b"c SELECT Work\r\n") == [b"c NO [NONEXISTENT] Mailbox does not exist"]
    for bad in (b"../x", b"a..b", b".hidden", b"x/y"):
        assert s.send(b'c CREATE "' + bad + b'"\r\n')[0].startswith(b"c NO [CANNOT]")


def test_status_subscribe_and_modified_utf7(tmp_path):
    """STATUS counts a folder; names are modified UTF-7 on the wire and on disk; a new name must be valid."""
    s = logged_in(tmp_path, select=None)
    name = encode_mutf7("Entwürfe & Co")
    assert name == b"Entw&APw-rfe &- Co"
    assert decode_mutf7(name) == "Entwürfe & Co"
    assert s.send(b'c CREATE "' + name + b'"\r\n') == [b"c OK CREATE completed"]
    assert (s.store.path("a@x") / ".Entw&APw-rfe &- Co").is_dir()
    assert s.send(b'c SUBSCRIBE "' + name + b'"\r\n') == [b"c OK SUBSCRIBE completed"]
    assert b'* LSUB () "." "Entw&APw-rfe &- Co"' in s.send(b'c LSUB "" Entw*\r\n')
    assert s.send(b"c STATUS INBOX (MESSAGES UNSEEN UIDNEXT RECENT)\r\n")[0] == (
        b'* STATUS "INBOX" (MESSAGES 2 UNSEEN 2 UIDNEXT 3 RECENT 2)'
    )
    bad = b"c NO [CANNOT] Mailbox name is not valid modified UTF-7"
    assert s.send(b"c CREATE &Jjo\r\n") == [bad]
    assert s.send(b"c CREATE &AGE-\r\n") == [bad]  # "a" must not be encoded
    assert s.send(b"c SELECT &Jjo\r\n") == [b"c NO [NONEXISTENT] Mailbox does not exist"]


def test_uidvalidity_stable_and_new_after_recreate(tmp_path):
    """A folder keeps its UIDVALIDITY across restarts; deleted and created again, it gets a new one."""
    s = logged_in(tmp_path, select=None)
    s.send(b"c CREATE Box\r\n")
    first = s.send(b"c STATUS Box (UIDVALIDITY)\r\n")[0]
    restart()
    assert s.send(b"c STATUS Box (UIDVALIDITY)\r\n")[0] == first
    s.send(b"c DELETE Box\r\nd CREATE Box\r\n")
    assert s.send(b"c STATUS Box (UIDVALIDITY)\r\n")[0] != first


def test_pop3_inbox_is_the_maildir_root(tmp_path):
    """A message appended to a folder is not in INBOX's Maildir (what zoo-pop3 reads)."""
    s = logged_in(tmp_path, select=None)
    s.send(b"c APPEND Sent {4+}\r\nx\r\n\r\n")
    assert s.store.mailboxes() == ["a@x"]
    root = s.store.path("a@x")
    assert len(list((root / "cur").iterdir())) + len(list((root / "new").iterdir())) == 2
    assert len(list((root / ".Sent" / "cur").iterdir())) == 1


# -- extensions -----------------------------------------------------------------------------


def test_capabilities_advertised(tmp_path):
    """CAPABILITY lists exactly the extensions implemented."""
    s = logged_in(tmp_path, select=None)
    caps = s.send(b"c CAPABILITY\r\n")[0].split()[2:]
    assert set(caps) == {
        b"IMAP4rev1", b"LITERAL+", b"ID", b"ENABLE", b"IDLE", b"NAMESPACE", b"UIDPLUS",
        b"MOVE", b"UNSELECT", b"CHILDREN", b"SPECIAL-USE", b"ESEARCH", b"SORT", b"LIST-EXTENDED",
    }  # fmt: skip


def test_uidplus_copy_and_uid_expunge(tmp_path):
    """COPY answers COPYUID; UID EXPUNGE removes only the listed deleted messages."""
    s = logged_in(tmp_path)
    out = s.send(b"c COPY 1:2 Trash\r\n")
    assert out[-1].startswith(b"c OK [COPYUID ") and out[-1].endswith(b" 1:2 1:2] COPY completed")
    s.send(b"d STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\n")
    assert s.send(b"e UID EXPUNGE 2\r\n") == [b"* 2 EXPUNGE", b"e OK EXPUNGE completed"]
    assert s.send(b"f UID SEARCH DELETED\r\n")[0] == b"* SEARCH 1"


def test_move_to_trash(tmp_path):
    """UID MOVE: untagged COPYUID, EXPUNGE, then OK; the message is in the target."""
    s = logged_in(tmp_path)
    out = s.send(b"c UID MOVE 2 Trash\r\n")
    assert out[0].startswith(b"* OK [COPYUID ") and out[0].endswith(b" 2 1] Moved")
    assert out[1:] == [b"* 2 EXPUNGE", b"c OK MOVE completed"]
    assert s.send(b"d STATUS Trash (MESSAGES)\r\n")[0] == b'* STATUS "Trash" (MESSAGES 1)'
    assert s.send(b"e MOVE 1 Nowhere\r\n") == [b"e NO [TRYCREATE] Mailbox does not exist"]


def test_idle_reports_new_mail(tmp_path):
    """During IDLE, mail delivered to the Maildir is announced within one poll; DONE ends it."""
    s = logged_in(tmp_path)
    assert s.send(b"c IDLE\r\n") == [b"+ idling"]
    s.clock.advance(IDLE_POLL)
    assert s.take() == []
    s.store.write(["a@x"], b"Subject: new\r\n\r\n")
    s.clock.advance(IDLE_POLL)
    assert s.take() == [b"* 3 EXISTS", b"* 3 RECENT"]
    assert s.send(b"DONE\r\n") == [b"c OK IDLE terminated"]
    assert s.send(b"d NOOP\r\n") == [b"d OK NOOP completed"]


def test_other_sessions_changes_reported(tmp_path):
    """A second session's flag change and expunge reach the first at its next command."""
    s = logged_in(tmp_path)
    t = s.second()
    t.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    t.send(b"c STORE 1 +FLAGS (\\Flagged \\Deleted)\r\nd EXPUNGE\r\n")
    t.send(b"e STORE 1 +FLAGS (\\Answered)\r\n")
    assert s.send(b"z NOOP\r\n") == [
        b"* 1 EXPUNGE",
        b"* 1 FETCH (FLAGS (\\Answered \\Recent))",
        b"z OK NOOP completed",
    ]


def test_id_namespace_enable_unselect(tmp_path):
    """ID, NAMESPACE and ENABLE answer; UNSELECT leaves \\Deleted messages in place."""
    s = logged_in(tmp_path)
    assert s.send(b'c ID ("name" "Thunderbird" "version" "115")\r\n')[0].startswith(
        b'* ID ("name" "zoo-imap"'
    )
    assert s.send(b"c NAMESPACE\r\n")[0] == b'* NAMESPACE (("" ".")) NIL NIL'
    assert s.send(b"c ENABLE CONDSTORE\r\n") == [b"* ENABLED", b"c OK ENABLE completed"]
    s.send(b"c STORE 1 +FLAGS (\\Deleted)\r\n")
    assert s.send(b"c UNSELECT\r\n") == [b"c OK UNSELECT completed"]
    assert s.send(b"c FETCH 1 FLAGS\r\n") == [b"c BAD FETCH not allowed now"]
    assert s.send(b"c STATUS INBOX (MESSAGES)\r\n")[0].endswith(b"(MESSAGES 2)")


def test_literal_plus_needs_no_continuation(tmp_path):
    """A LITERAL+ literal ({n+}) gets no "+" continuation; a synchronising one does."""
    s = Session(tmp_path, plaintext=True)
    assert s.send(b"a LOGIN {3+}\r\na@x {2+}\r\npw\r\n") == [b"a OK LOGIN succeeded"]
    t = Session(tmp_path / "2", plaintext=True)
    assert t.send(b"a LOGIN {3}\r\n") == [b"+ Ready for literal data"]


def test_list_return_special_use_and_children(tmp_path):
    """LIST (SPECIAL-USE) selects special-use folders; \\HasChildren follows the tree."""
    s = logged_in(tmp_path, select=None)
    s.send(b"c CREATE Sent.2025\r\n")
    out = s.send(b'c LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)\r\n')
    assert out[:4] == [
        b'* LIST (\\HasNoChildren \\Drafts) "." "Drafts"',
        b'* LIST (\\HasNoChildren \\Junk) "." "Junk"',
        b'* LIST (\\HasChildren \\Sent) "." "Sent"',
        b'* LIST (\\HasNoChildren \\Trash) "." "Trash"',
    ]


def test_authenticate_login_mechanism(tmp_path):
    """AUTHENTICATE LOGIN asks for the user name and password in base64."""
    s = Session(tmp_path, plaintext=True)
    assert s.send(b"a AUTHENTICATE LOGIN\r\n") == [b"+ VXNlcm5hbWU6"]
    assert s.send(base64.b64encode(b"a@x") + b"\r\n") == [b"+ UGFzc3dvcmQ6"]
    assert s.send(base64.b64encode(b"pw") + b"\r\n") == [b"a OK Authentication succeeded"]


# -- the wire -------------------------------------------------------------------------------


def test_framer_limits():
    """Over-long lines and oversized non-synchronising literals raise; a big synchronising one is refused."""
    f = Framer(max_literal=10)
    assert f.feed(b"a APPEND x {11}\r\n") == ([Command([b"a APPEND x "], too_big=True)], 0)
    with pytest.raises(TooLong):
        Framer(max_literal=10).feed(b"a APPEND x {11+}\r\n")
    with pytest.raises(TooLong):
        Framer().feed(b"a" * 70000)


def test_append_too_big_refused_without_reading(tmp_path):
    """An APPEND whose literal is over the limit gets NO [TOOBIG] and no continuation."""
    s = logged_in(tmp_path, select=None)
    s.proto.framer.max_literal = 100
    assert s.send(b"c APPEND INBOX {101}\r\n") == [b"c NO [TOOBIG] Literal too large"]
    assert s.send(b"d NOOP\r\n") == [b"d OK NOOP completed"]


def test_bug7_sections_of_a_message_rfc822_message(tmp_path):
    """A message whose own type is message/rfc822: BODY[1] is the attached message, 1.HEADER its header, 1.1 its body."""
    s = Session(tmp_path, plaintext=True)
    s.store.write(
        ["a@x"],
        b"From: a@x\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: sub@x\r\nSubject: submsg\r\n\r\nHello world\r\n",
    )
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    out = joined(s.send(b"c FETCH 3 (BODY.PEEK[1.HEADER] BODY.PEEK[1.1] BODY.PEEK[1.TEXT])\r\n"))
    assert b"BODY[1.HEADER] {32}\r\nFrom: sub@x\r\nSubject: submsg\r\n\r\n" in out
    assert b"BODY[1.1] {13}\r\nHello world\r\n" in out
    assert b"BODY[1.TEXT] {13}\r\nHello world\r\n" in out
    assert joined(s.send(b"d FETCH 3 (BODY.PEEK[1])\r\n")).startswith(
        b"* 3 FETCH (BODY[1] {45}\r\nFrom: sub@x"
    )


def test_search_addresses_ignore_comments_and_find_comment_names(tmp_path):
    """FROM matches an address written with comments inside it, and a name given as a comment."""
    s = Session(tmp_path, plaintext=True)
    s.store.write(["a@x"], b"From: <user-from (c)@ (c) domain.org>\r\n\r\n")
    s.store.write(["a@x"], b"From: user-from@domain.org (RealFrom)\r\n\r\n")
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    assert s.send(b"c SEARCH FROM user-from@domain.org\r\n")[0] == b"* SEARCH 3 4"
    assert s.send(b"c SEARCH FROM realfrom\r\n")[0] == b"* SEARCH 4"
    assert s.send(b"c FETCH 4 ENVELOPE\r\n")[0].endswith(
        b'(("RealFrom" NIL "user-from" "domain.org")) NIL NIL NIL NIL NIL))'
    )


def test_new_keywords_announced_before_use(tmp_path):
    """A new keyword brings FLAGS and PERMANENTFLAGS before the FETCH that uses it, in both sessions."""
    s = logged_in(tmp_path)
    t = s.second()
    t.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    out = s.send(b"c STORE 1 +FLAGS ($Forwarded)\r\n")
    assert out[:3] == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)]"
        b" Flags permitted",
        b"* 1 FETCH (FLAGS ($Forwarded \\Recent))",
    ]
    out = t.send(b"d NOOP\r\n")
    assert out[0].startswith(b"* FLAGS (") and out[2] == b"* 1 FETCH (FLAGS ($Forwarded))"
    assert (s.store.path("a@x") / "zoo-keywords").read_text() == "$Forwarded\n"


def test_messages_expunged_by_another_session(tmp_path):
    """STORE still answers FETCH FLAGS for them; FETCH and COPY say NO [EXPUNGEISSUED]."""
    s = logged_in(tmp_path)
    t = s.second()
    t.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    t.send(b"c STORE 2 +FLAGS (\\Deleted)\r\nd EXPUNGE\r\n")
    assert s.send(b"e STORE 1:2 +FLAGS (\\Flagged)\r\n") == [
        b"* 1 FETCH (FLAGS (\\Flagged \\Recent))",
        b"* 2 FETCH (FLAGS (\\Flagged \\Recent))",  # what this session knew, plus the change
        b"e OK STORE completed",
    ]
    gone = b" NO [EXPUNGEISSUED] Some of the requested messages no longer exist"
    assert s.send(b"f FETCH 1:2 (UID)\r\n") == [b"* 1 FETCH (UID 1)", b"f" + gone]
    assert s.send(b"g COPY 2 Trash\r\n") == [b"* 2 EXPUNGE", b"g" + gone]
    assert s.send(b"h STATUS Trash (MESSAGES)\r\n")[0].endswith(b"(MESSAGES 0)")


def test_star_set_in_an_empty_folder(tmp_path):
    """FETCH 1:* in an empty folder answers OK with nothing; a number past the end is BAD."""
    s = logged_in(tmp_path, select=b"Trash")
    assert s.send(b"c FETCH 1:* FLAGS\r\n") == [b"c OK FETCH completed"]
    assert s.send(b"d FETCH 1 FLAGS\r\n") == [b"d BAD Invalid message sequence number"]


def test_mail_deleted_only_for_messages_leaving_inbox(tmp_path):
    """MOVE out of INBOX emits mail.deleted (as EXPUNGE does); removing a copy in Trash emits nothing."""
    from zoo.events import Filter, Observatory

    s = logged_in(tmp_path)
    obs = s.proto.factory.observatory = Observatory(s.clock, enabled=True)
    s.send(b"c COPY 1 Trash\r\nd MOVE 2 Trash\r\n")
    [event] = obs.events(Filter.of(kind="mail.deleted"))
    assert event.fields["mailbox"] == "a@x" and event.fields["via"] == "imap"
    s.send(b"e SELECT Trash\r\nf STORE 1:* +FLAGS (\\Deleted)\r\ng EXPUNGE\r\nh DELETE Junk\r\n")
    assert len(obs.events(Filter.of(kind="mail.deleted"))) == 1


def test_esearch_return_options(tmp_path):
    """SEARCH RETURN (MIN MAX COUNT ALL) answers ESEARCH; nothing found leaves out all but COUNT."""
    s = logged_in(tmp_path)
    s.send(b"c APPEND INBOX {4+}\r\nx\r\n\r\n")
    assert s.send(b"d SEARCH RETURN (MIN MAX COUNT ALL) 1,3\r\n")[0] == (
        b'* ESEARCH (TAG "d") MIN 1 MAX 3 COUNT 2 ALL 1,3'
    )
    assert s.send(b"e UID SEARCH RETURN () ALL\r\n")[0] == b'* ESEARCH (TAG "e") UID ALL 1:3'
    assert s.send(b"f SEARCH RETURN (MIN COUNT) 1000\r\n")[0] == b'* ESEARCH (TAG "f") COUNT 0'
    assert s.send(b"g SEARCH RETURN (SAVE) ALL\r\n")[0].startswith(b"g BAD")


def test_base_subject_rfc5256():
    """Re:, Fwd:, [blob] leaders, (fwd) trailers and [fwd: ...] wrappers are stripped."""
    from zoo.mail.imapmime import base_subject

    assert base_subject(b"[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)") == "b"
    assert base_subject(b"re: [fwd: [fwd: re: [fwd: babylon]]]") == "babylon"
    assert base_subject(b"=?us-ascii?b?UmU6IGM=?=") == "c"
    assert base_subject(b"[xyz]") == "[xyz]"  # a blob alone is the subject
    assert base_subject(b"Ad: Re: x") == "Ad: Re: x"
    assert base_subject(None) == ""


def test_sort_keys_reverse_and_ties(tmp_path):
    """SORT by SUBJECT, FROM (group name first), SIZE, REVERSE ARRIVAL; ties in sequence order."""
    s = Session(tmp_path, plaintext=True)
    s.store.write(["a@x"], b"From: zed@x\r\nSubject: Re: alpha\r\n\r\nlonger body here\r\n")
    s.store.write(["a@x"], b"From: grp: bob@x;\r\nSubject: [list] beta\r\n\r\n")
    s.send(b"a LOGIN a@x pw\r\nb SELECT INBOX\r\n")
    # subjects: one, two, alpha, beta; senders: none, none, zed, grp
    assert s.send(b"c SORT (SUBJECT) UTF-8 ALL\r\n")[0] == b"* SORT 3 4 1 2"
    assert s.send(b"c SORT (FROM) US-ASCII ALL\r\n")[0] == b"* SORT 1 2 4 3"
    assert s.send(b"c SORT (REVERSE FROM) US-ASCII ALL\r\n")[0] == b"* SORT 3 4 1 2"
    assert s.send(b"c SORT (REVERSE SIZE) UTF-8 1:3\r\n")[0] == b"* SORT 3 1 2"
    assert s.send(b"c UID SORT (SUBJECT) UTF-8 UID 2:4\r\n")[0] == b"* SORT 3 4 2"
    assert s.send(b"c SORT (REVERSE) UTF-8 ALL\r\n")[0].startswith(b"c BAD")
    assert s.send(b"c SORT (SUBJECT) KOI8-R ALL\r\n")[0].startswith(b"c NO [BADCHARSET")


def test_only_append_takes_big_literals(tmp_path):
    """A LOGIN or SEARCH literal over 64 KiB is refused; an APPEND's may be larger."""
    s = Session(tmp_path, plaintext=True)
    assert s.send(b"a LOGIN {70000}\r\n") == [b"a NO [TOOBIG] Literal too large"]
    assert Framer().feed(b"a APPEND INBOX {70000}\r\n")[1] == 1  # go ahead


def test_disk_errors_are_a_no(tmp_path):
    """An APPEND the disk refuses (here tmp/ is a file) gets NO [UNAVAILABLE]; the session goes on."""
    s = logged_in(tmp_path, select=None)
    tmp = s.store.path("a@x") / ".Sent" / "tmp"
    tmp.rmdir()
    tmp.write_bytes(b"")
    out = s.send(b"c APPEND Sent {4+}\r\nx\r\n\r\n")
    assert out[0].startswith(b"c NO [UNAVAILABLE] APPEND failed: ")
    assert s.send(b"d NOOP\r\n") == [b"d OK NOOP completed"]


def test_list_extended_subscribed_recursivematch(tmp_path):
    """LIST (SUBSCRIBED) shows deleted-but-subscribed folders; RECURSIVEMATCH adds CHILDINFO parents."""
    s = logged_in(tmp_path, select=None)
    s.send(b"c CREATE a.b\r\nc CREATE a.c\r\nc CREATE gone\r\n")
    s.send(b"c SUBSCRIBE a.b\r\nc SUBSCRIBE gone\r\nc DELETE gone\r\n")
    assert s.send(b'd LIST (SUBSCRIBED) "" "*"\r\n')[-3:] == [
        b'* LIST (\\HasNoChildren \\Subscribed) "." "a.b"',
        b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "." "gone"',
        b"d OK LIST completed",
    ]
    assert s.send(b'e LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"\r\n')[-2:] == [
        b'* LIST (\\HasChildren) "." "a" ("CHILDINFO" ("SUBSCRIBED"))',
        b"e OK LIST completed",
    ]
    out = s.send(b'f LIST "" ("a" "a.%") RETURN (CHILDREN SUBSCRIBED)\r\n')
    assert out == [
        b'* LIST (\\HasChildren) "." "a"',
        b'* LIST (\\HasNoChildren \\Subscribed) "." "a.b"',
        b'* LIST (\\HasNoChildren) "." "a.c"',
        b"f OK LIST completed",
    ]
    assert s.send(b'g LIST (RECURSIVEMATCH) "" "*"\r\n')[0].startswith(b"g BAD")
    assert s.send(b'h LIST "" "*" RETURN (STATUS (MESSAGES))\r\n')[0].startswith(b"h BAD")


def test_lsub_percent_shows_an_unsubscribed_parent_as_noselect(tmp_path):
    """LSUB with % lists the unsubscribed parent of a subscribed folder as \\Noselect (RFC 3501 6.3.9)."""
    s = logged_in(tmp_path, select=None)
    for name in (b"box", b"box.a", b"box.b", b"box.b.c"):
        s.send(b"c CREATE " + name + b"\r\n")
    s.send(b"c SUBSCRIBE box.a\r\n")
    s.send(b"c SUBSCRIBE box.b.c\r\n")
    got = s.send(b'c LSUB "" box.%\r\n')
    assert b'* LSUB () "." "box.a"' in got
    assert b'* LSUB (\\Noselect) "." "box.b"' in got
    assert not any(b"box.b.c" in line for line in got)


def test_fetch_announces_a_keyword_another_session_made_before_using_it(tmp_path):
    """A keyword set by another session reaches FETCH only after a FLAGS response naming it (imaptest)."""
    one = logged_in(tmp_path)
    two = Session(tmp_path, plaintext=True)
    two.send(b"a LOGIN a@x pw\r\n")
    two.send(b"b SELECT INBOX\r\n")
    one.send(b"c STORE 1 +FLAGS ($Label3)\r\n")
    out = two.send(b"d FETCH 1 (FLAGS)\r\n")
    flags = next(i for i, line in enumerate(out) if line.startswith(b"* FLAGS ("))
    fetch = next(i for i, line in enumerate(out) if b"FETCH" in line and b"$Label3" in line)
    assert b"$Label3" in out[flags] and flags < fetch


def test_search_with_an_unknown_charset_is_badcharset(tmp_path):
    """SEARCH CHARSET names one zoo cannot search in: NO [BADCHARSET ...]; UTF-8 is searched."""
    s = logged_in(tmp_path)
    assert s.send(b"c SEARCH CHARSET KOI8-R ALL\r\n")[-1].startswith(b"c NO [BADCHARSET")
    assert s.send(b"d SEARCH CHARSET UTF-8 ALL\r\n")[-1] == b"d OK SEARCH completed"
