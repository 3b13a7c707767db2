"""zoo.mail.imapmime against malformed mail: nothing a sender writes makes FETCH or SEARCH fail."""

from __future__ import annotations

import random

import pytest

from zoo.mail import imapmime

NASTY = [
    b"",
    b"\r\n",
    b"no header at all",
    b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter\r\n",
    b'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\nx\r\n----\r\n',
    b'Content-Type: multipart/mixed; boundary="b\r\n\r\n--b\r\nunterminated quote\r\n',
    b"Content-Type: /\r\nContent-Disposition: ;;;\r\nContent-Language: ,,\r\n\r\nx",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain; charset=nonsense-42\r\n\r\n=ZZ=\r\n",
    b'From: <<<@@@>>>\r\nTo: ((unbalanced comment\r\nCc: group: a@b, c@d\r\nBcc: "unterminated\r\n\r\n',
    b"Subject: =?bogus?Q?=ZZ?= =?utf-8?B?!!!?=\r\nFrom: =?utf-8?q?caf=C3=A9?= <a@b>\r\n\r\n",
    b"Header without colon\r\n: empty name\r\n\r\nbody",
    b"Date: not a date at all\r\n\r\n",
    b"X: " + b"a" * 200000 + b"\r\n\r\n" + b"b" * 200000,
    b"\x00\x01\xff\xfe: \x00\r\n\r\n\x00\xff",
]


def nested(depth: int) -> bytes:
    """A multipart nested C{depth} levels deep."""
    out = b"leaf\r\n"
    for i in range(depth):
        out = b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n%s\r\n--b%d--\r\n' % (
            i,
            i,
            out,
            i,
        )
    return out


def exercise(raw: bytes) -> None:
    tree = imapmime.parse(raw)
    structure = imapmime.bodystructure(tree)
    assert structure.startswith(b"(") and structure.endswith(b")")
    imapmime.bodystructure(tree, extended=False)
    imapmime.envelope(tree)
    imapmime.decoded_text(tree)
    for name in ("from", "to", "cc", "bcc"):
        value = tree.get(name)
        if value is not None:
            imapmime.address_text(value)
    for spec in ("", "TEXT", "HEADER", "1", "1.MIME", "2.1", "1.1.1.HEADER", "3.TEXT"):
        imapmime.section(tree, spec, ["FROM"])
    imapmime.section(tree, "HEADER.FIELDS.NOT", ["SUBJECT"])


@pytest.mark.parametrize("raw", NASTY + [nested(5), nested(500)])
def test_malformed_messages_are_served(raw):
    """BODYSTRUCTURE, ENVELOPE, sections and SEARCH text of malformed mail never raise."""
    exercise(raw)


def test_mutated_messages_are_served():
    """500 random mutations of a nested MIME message: nothing raises."""
    from test_imap_core import MULTI

    rng = random.Random(18)
    for _ in range(500):
        data = bytearray(MULTI)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            op = rng.random()
            if op < 0.4:
                data[i] = rng.choice(b'\r\n-"=;:<>()@,\\\x00\xff ')
            elif op < 0.7:
                del data[i : i + rng.randint(1, 20)]
            else:
                data[i:i] = data[rng.randrange(len(data)) :][: rng.randint(1, 40)]
        exercise(bytes(data))


def test_deep_nesting_is_flattened():
    """Past 20 levels a part is served as text, so BODYSTRUCTURE stays small."""
    tree = imapmime.parse(nested(500))
    assert len(imapmime.bodystructure(tree)) < 20000
