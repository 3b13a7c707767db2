"""Login throttling on every protocol, measured with real clients against twistd.

For each of FTP (ftplib), POP3 (poplib), IMAP (imaplib), SMTP AUTH (smtplib) and SSH
(paramiko), against a fresh server process:

1. one connection's third wrong password gets the protocol's closing words and the
   connection closes (C{--max-login-attempts}, default 3);
2. eight parallel connections from 127.0.0.1 guess for two seconds (reconnecting when
   closed); the wrong guesses the server checked, counted from its log (one line each,
   naming protocol, user and address and never the password), stay at or under 20/s;
3. once the last failure's delay has run out, a correct login is answered at once.

(They run in the order 2, 3, 1: the attack starts from a clean slate, and the correct
login resets the address's count for the last step.)
"""

from __future__ import annotations

import ftplib
import imaplib
import poplib
import re
import smtplib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zoo.cred import LoginThrottle, hash_password
from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
USER = "alice"
RIGHT = "right-pw"
ATTACKERS = 8
WINDOW = 2.0
MOST_PER_SECOND = 20.0
TIMEOUT = 30.0


class Closed(Exception):
    """The server closed the connection (no guess was answered by it)."""


@dataclass
class Protocol:
    """How a real client connects, guesses once, and hears the closing words."""

    plugin: list[str]
    connect: Callable[[int], Any]
    #: "refused", "refused-closed" (the close answered it) or "ok"; raises L{Closed}.
    guess: Callable[[Any, str], str]
    #: Makes the last allowed wrong guess; returns the protocol's words before it closes.
    third: Callable[[Any], str]
    closing: str
    close: Callable[[Any], None]


# -- FTP (ftplib) -----------------------------------------------------------------------


def ftp_connect(port: int) -> ftplib.FTP:
    f = ftplib.FTP()
    f.connect(HOST, port, timeout=TIMEOUT)
    return f


def ftp_guess(f: ftplib.FTP, password: str) -> str:
    try:
        f.sendcmd(f"USER {USER}")
    except (ftplib.Error, EOFError, OSError):
        raise Closed from None
    try:
        f.sendcmd(f"PASS {password}")
    except ftplib.error_perm as e:
        if str(e).startswith("530"):
            return "refused"
        raise Closed from None
    except (ftplib.Error, EOFError, OSError):
        raise Closed from None
    return "ok"


def ftp_third(f: ftplib.FTP) -> str:
    assert ftp_guess(f, "wrong-third") == "refused"
    return f.getline()  # the line after the 530


# -- POP3 (poplib) ----------------------------------------------------------------------


def pop3_guess(p: poplib.POP3, password: str) -> str:
    try:
        p.user(USER)
    except (poplib.error_proto, EOFError, OSError):
        raise Closed from None
    try:
        p.pass_(password)
    except poplib.error_proto as e:
        reply = e.args[0]
        if isinstance(reply, bytes) and reply.startswith(b"-ERR"):  # not poplib's "-ERR EOF"
            return "refused-closed" if b"Too many" in reply else "refused"
        raise Closed from None
    except (EOFError, OSError):
        raise Closed from None
    return "ok"


def pop3_third(p: poplib.POP3) -> str:
    p.user(USER)
    try:
        p.pass_("wrong-third")
    except poplib.error_proto as e:
        return e.args[0].decode()
    return "+OK"


# -- IMAP (imaplib) ---------------------------------------------------------------------


def imap_guess(m: imaplib.IMAP4, password: str) -> str:
    try:
        m.login(USER, password)
    except imaplib.IMAP4.abort:
        raise Closed from None
    except imaplib.IMAP4.error as e:
        if "LOGIN failed" in str(e):
            return "refused"
        raise Closed from None
    except (EOFError, OSError):
        raise Closed from None
    return "ok"


def imap_third(m: imaplib.IMAP4) -> str:
    assert imap_guess(m, "wrong-third") == "refused"
    return m.readline().decode().strip()  # the line after the tagged NO


# -- SMTP AUTH (smtplib) ----------------------------------------------------------------


def smtp_connect(port: int) -> smtplib.SMTP:
    s = smtplib.SMTP(HOST, port, timeout=TIMEOUT)
    s.ehlo()
    return s


def smtp_guess(s: smtplib.SMTP, password: str) -> str:
    s.user, s.password = USER, password
    try:
        s.auth("PLAIN", s.auth_plain)  # one mechanism: smtplib.login would try two
    except smtplib.SMTPAuthenticationError as e:
        if e.smtp_code == 535:
            return "refused"
        raise Closed from None
    except (smtplib.SMTPException, EOFError, OSError):
        raise Closed from None
    return "ok"


def smtp_third(s: smtplib.SMTP) -> str:
    assert smtp_guess(s, "wrong-third") == "refused"
    code, text = s.getreply()  # the reply after the 535
    return f"{code} {text.decode()}"


# -- SSH (paramiko) ---------------------------------------------------------------------


def ssh_connect(port: int) -> Any:
    import paramiko

    t = paramiko.Transport((HOST, port))
    t.start_client(timeout=TIMEOUT)
    return t


def ssh_guess(t: Any, password: str) -> str:
    import paramiko

    if not t.is_active():
        raise Closed
    try:
        t.auth_password(USER, password)
    except paramiko.AuthenticationException:
        return "refused" if t.is_active() else "refused-closed"
    except (paramiko.SSHException, EOFError, OSError):
        raise Closed from None
    return "ok"


def ssh_third(t: Any) -> str:
    assert ssh_guess(t, "wrong-third") == "refused-closed"
    deadline = time.monotonic() + 5
    while t.is_active() and time.monotonic() < deadline:
        time.sleep(0.02)
    return "closed" if not t.is_active() else "still open"


def _quietly(close: Callable[[], Any]) -> None:
    try:
        close()
    except Exception:
        pass


MAIL = ["--allow-plaintext-auth", "--user", f"{USER}:{RIGHT}"]
PROTOCOLS = {
    "ftp": Protocol(
        ["zoo-ftp", "--port", "0", "--user", f"{USER}:{hash_password(RIGHT, rounds=10)}"],
        ftp_connect,
        ftp_guess,
        ftp_third,
        "421 Too many failed logins; closing.",
        lambda f: _quietly(f.close),
    ),
    "pop3": Protocol(
        ["zoo-pop3", "--port", "0", *MAIL],
        lambda port: poplib.POP3(HOST, port, timeout=TIMEOUT),
        pop3_guess,
        pop3_third,
        "-ERR [AUTH] Too many failed logins; closing",
        lambda p: _quietly(p.close),
    ),
    "imap": Protocol(
        ["zoo-imap", "--port", "0", *MAIL],
        lambda port: imaplib.IMAP4(HOST, port, timeout=TIMEOUT),
        imap_guess,
        imap_third,
        "* BYE Too many failed logins",
        lambda m: _quietly(m.shutdown),
    ),
    "smtp": Protocol(
        ["zoo-smtp", "--port", "0", *MAIL],
        smtp_connect,
        smtp_guess,
        smtp_third,
        "421 4.7.0 Too many authentication failures; closing",
        lambda s: _quietly(s.close),
    ),
    "ssh": Protocol(
        ["zoo-ssh", "--port", "0", "--user", f"{USER}:{RIGHT}"],
        ssh_connect,
        ssh_guess,
        ssh_third,
        "closed",
        lambda t: _quietly(t.close),
    ),
}


def failure_lines(output: str, name: str) -> list[str]:
    """The server's failed-login lines for C{name} that name a checked password."""
    pattern = re.compile(rf"\b{name}: failed login for '{USER}' from {re.escape(HOST)}$")
    return [line for line in output.splitlines() if pattern.search(line)]


def hang_up(conn: Any) -> None:
    """Close a client's socket under it (a close() would wait for the blocked reader)."""
    try:
        conn.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def attack(proto: Protocol, port: int) -> tuple[int, float]:
    """ATTACKERS connections guess wrong passwords for WINDOW s; (answered guesses, seconds)."""
    answered = [0] * ATTACKERS
    start = time.monotonic()
    stop_at = start + WINDOW

    def attacker(i: int) -> None:
        n = 0
        while time.monotonic() < stop_at:
            try:
                conn = proto.connect(port)
            except Exception:
                time.sleep(0.01)
                continue
            timer = threading.Timer(max(0.0, stop_at - time.monotonic()), hang_up, [conn])
            timer.start()  # at the deadline, abandon the guess in flight
            try:
                while time.monotonic() < stop_at:
                    n += 1
                    outcome = proto.guess(conn, f"wrong-{i}-{n}")
                    if time.monotonic() > stop_at:
                        break
                    answered[i] += 1
                    if outcome == "refused-closed":
                        break
            except Exception:  # Closed, or the deadline closed the socket under the client
                pass
            finally:
                timer.cancel()
                proto.close(conn)

    threads = [threading.Thread(target=attacker, args=(i,)) for i in range(ATTACKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    return sum(answered), time.monotonic() - start


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_login_throttle(name: str, tmp_path: Path) -> None:
    """Three failures close a connection in the protocol's words; 8 parallel connections get
    at most 20 wrong guesses/s; each is logged once (no password); after the delay a correct
    login is fast."""
    proto = PROTOCOLS[name]
    with TwistdProcess(proto.plugin, tmp_path) as zoo:
        port = zoo.port()

        # 1. Eight connections guessing at once, for two seconds, from a fresh start.
        answered, _ = attack(proto, port)
        time.sleep(0.3)  # let the last lines reach the log
        logged = len(failure_lines(zoo.output, name))
        rate = logged / WINDOW
        print(
            f"{name}: {logged} wrong guesses checked in {WINDOW} s = {rate:.1f}/s ({answered} answered)"
        )
        assert 1 <= logged <= MOST_PER_SECOND * WINDOW, (logged, answered)
        assert answered <= logged <= answered + ATTACKERS  # each checked guess logged once
        assert "wrong-" not in zoo.output  # passwords never reach the log

        # 2. Once the last failure's delay is over, the right password is answered at once.
        time.sleep(LoginThrottle(None).delay(logged + 1) + 0.2)  # type: ignore[arg-type]
        conn = proto.connect(port)
        try:
            started = time.monotonic()
            outcome = proto.guess(conn, RIGHT)
            took = time.monotonic() - started
        finally:
            proto.close(conn)
        print(f"{name}: correct login after the delay took {took * 1000:.0f} ms")
        assert outcome == "ok"
        assert took < (0.6 if name == "ftp" else 0.3), took  # ftp: one bcrypt check (rounds 10)

        # 3. Then one connection, three wrong passwords: the protocol's closing words.
        conn = proto.connect(port)
        try:
            outcomes = [proto.guess(conn, "wrong-first") for _ in range(2)]
            words = proto.third(conn)
        finally:
            proto.close(conn)
        assert outcomes[:2] == ["refused", "refused"]
        assert words.startswith(proto.closing), words
        time.sleep(0.3)
        assert len(failure_lines(zoo.output, name)) == logged + 3  # once each
        assert "wrong-" not in zoo.output
