"""zoo-telnet in memory: option negotiation, the login, the shell, bad input, events, transcripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twisted.conch.telnet import DO, DONT, ECHO, IAC, NAWS, SB, SE, SGA, WILL, WONT
from twisted.cred.portal import Portal
from twisted.internet.address import IPv4Address
from twisted.internet.error import ProcessDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python import usage
from twisted.python.failure import Failure

from zoo import telnet
from zoo.cred import LoginThrottle, PasswordChecker
from zoo.events import Observatory
from zoo.tap import all as runner
from zoo.tap import registry
from zoo.tap import telnet as tap
from zoo.transcript import MARK, transcriber

TTYPE = telnet.TTYPE
ADDR = IPv4Address("TCP", "127.0.0.1", 40000)


class FakeProcess:
    """What the protocol sees of a shell process: writes, producer, pauses, hang-up."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.producer: Any = None
        self.paused = False
        self.signals: list[str] = []
        self.lost = False
        self.disconnecting = False

    def write(self, data: bytes) -> None:
        self.written += data

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def signalProcess(self, signal: str) -> None:
        self.signals.append(signal)

    def loseConnection(self) -> None:
        self.lost = True


class Factory(telnet.TelnetFactory):
    """A telnet factory whose shells are L{FakeProcess}es, recorded with their settings."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.shells: list[dict[str, Any]] = []
        self.resized: list[tuple[int, int]] = []

    def start_shell(self, proto, name, home, term, echo, window):  # type: ignore[no-untyped-def]
        process = FakeProcess()
        self.shells.append(
            dict(proto=proto, name=name, home=home, term=term, echo=echo, window=window)
        )
        proto.makeConnection(process)
        return process

    def resize(self, process: Any, rows: int, cols: int) -> None:
        self.resized.append((cols, rows))


class Conn:
    """One in-memory telnet connection: the server's protocol and what it wrote."""

    def __init__(self, tmp: Path, max_attempts: int = 3, enabled: bool = True) -> None:
        self.clock = Clock()
        self.obs = Observatory(Clock(), enabled=enabled)
        portal = Portal(telnet.HomeRealm(tmp), [PasswordChecker({"brandon": "mypass"})])
        self.factory = Factory(
            portal,
            reactor=self.clock,
            throttle=LoginThrottle(self.clock),
            max_login_attempts=max_attempts,
            observatory=self.obs,
        )
        self.wire = self.factory.buildProtocol(ADDR)
        self.tcp = StringTransport(peerAddress=ADDR, hostAddress=ADDR)
        self.tcp.session = "s-1"  # type: ignore[attr-defined]
        self.wire.makeConnection(self.tcp)
        self.server: telnet.TelnetServer = self.wire.protocol

    def send(self, data: bytes) -> None:
        self.wire.dataReceived(data)

    def out(self) -> bytes:
        data = self.tcp.value()
        self.tcp.clear()
        return data

    def login(self, name: bytes = b"brandon", password: bytes = b"mypass") -> bytes:
        self.send(name + b"\r\n")
        self.send(password + b"\r\n")
        self.clock.advance(20)
        return self.out()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.obs.events()]


@pytest.fixture
def conn(tmp_path: Path) -> Conn:
    return Conn(tmp_path)


# -- the pure parts -------------------------------------------------------------------


def test_filter_drops_iac_garbage_even_across_reads():
    """IAC and a byte that is no command are dropped, whether or not a read splits them."""
    f = telnet.InputFilter()
    assert f.feed(b"ab\xff\x01cd") == b"abcd"
    assert f.feed(b"x\xff") == b"x"
    assert f.feed(b"\x05y") == b"y"
    assert f.feed(b"\xff") == b""
    assert f.feed(b"\xffz") == b"\xff\xffz"  # IAC IAC, a data byte 255
    assert f.feed(b"\xff\xf0q") == b"q"  # SE outside a subnegotiation


def test_filter_passes_negotiation_and_subnegotiation():
    """WILL/DO with their option and a whole subnegotiation (even with a CR inside) pass as they are."""
    f = telnet.InputFilter()
    data = IAC + WILL + TTYPE + IAC + SB + TTYPE + b"\x00A\rB" + IAC + SE + b"ok"
    assert f.feed(data) == data


def test_filter_ends_lines_at_each_cr():
    """CR becomes CR NUL (a line end now); the LF or NUL after it, even in the next read, goes."""
    f = telnet.InputFilter()
    assert f.feed(b"name\r") == b"name\r\x00"
    assert f.feed(b"\nnext\r\x00x\ny") == b"next\r\x00x\ny"


def test_terminal_type_is_bounded_and_lower_cased():
    """TTYPE IS gives the name lower-cased, odd characters dropped, at most 40; else None."""
    assert telnet.terminal_type(b"\x00XTERM-256COLOR") == "xterm-256color"
    assert telnet.terminal_type(b"\x00my;python`\x00") == "mypython"
    assert telnet.terminal_type(b"\x00" + b"a" * 100) == "a" * telnet.MAX_TERM
    assert telnet.terminal_type(b"\x01xterm") is None
    assert telnet.terminal_type(b"\x00;;") is None


def test_window_size_needs_four_bytes():
    """NAWS is (columns, rows) from exactly four bytes; zeros and other lengths are ignored."""
    assert telnet.window_size(b"\x00\x50\x00\x18") == (80, 24)
    assert telnet.window_size(b"\x00\x50\x00") is None
    assert telnet.window_size(b"\x00\x00\x00\x18") is None


def test_line_editor_erases_kills_and_caps():
    """BS and DEL erase, ^U kills, ^D on an empty line ends, and a line over the cap overflows."""
    e = telnet.LineEditor(max_line=8)
    assert e.feed(b"brx\x7fan\x08\x08andon\rmore", echo=True) == (
        b"brandon",
        b"brx\b \ban\b \b\b \bandon\r\n",
        b"more",
    )
    assert e.feed(b"junk\x15ok\n") == (b"ok", b"", b"")
    assert e.feed(b"\x04") == (telnet.LineEditor.END, b"", b"")
    assert e.feed(b"123456789") == (None, b"", b"")
    assert e.overflow


# -- negotiation ----------------------------------------------------------------------


def test_server_asks_for_its_options_then_prompts(conn: Conn):
    """On connect: WILL ECHO, WILL SGA, DO TTYPE, DO NAWS, the cleartext banner, then login:."""
    out = conn.out()
    for request in (IAC + WILL + ECHO, IAC + WILL + SGA, IAC + DO + TTYPE, IAC + DO + NAWS):
        assert request in out
    assert b"cleartext" in out
    assert out.endswith(b"login: ")


def test_ttype_sets_term_and_naws_the_window(conn: Conn):
    """WILL TTYPE gets SB TTYPE SEND; the IS answer becomes $TERM; NAWS the window size."""
    conn.out()
    conn.send(IAC + WILL + TTYPE)
    assert conn.out() == IAC + SB + TTYPE + b"\x01" + IAC + SE
    conn.send(IAC + SB + TTYPE + b"\x00MYPYTHON" + IAC + SE)
    conn.send(IAC + WILL + NAWS + IAC + SB + NAWS + b"\x00\x64\x00\x1e" + IAC + SE)
    conn.login()
    (shell,) = conn.factory.shells
    assert (shell["term"], shell["window"], shell["name"]) == ("mypython", (100, 30), "brandon")
    conn.send(IAC + SB + NAWS + b"\x00\x50\x00\x18" + IAC + SE)
    assert conn.factory.resized == [(80, 24)]


def test_book_client_refusals_get_no_reply_loop(conn: Conn):
    """telnet_codes.py's DONT ECHO, DONT SGA, WONT NAWS are taken quietly; no TTYPE: TERM is dumb."""
    conn.out()
    conn.send(IAC + DONT + ECHO + IAC + DONT + SGA + IAC + WONT + NAWS + IAC + WONT + TTYPE)
    assert conn.out() == b""
    out = conn.login()
    assert b"brandon" not in out.split(b"logged in")[0]  # no echo: the client refused it
    assert conn.factory.shells[0]["term"] == "dumb"
    assert conn.factory.shells[0]["echo"] is False


def test_unknown_options_are_refused(conn: Conn):
    """WILL and DO for options the server does not know get DONT and WONT."""
    conn.out()
    conn.send(IAC + WILL + b"\x27" + IAC + DO + b"\x05")
    assert conn.out() == IAC + DONT + b"\x27" + IAC + WONT + b"\x05"


# -- the login ------------------------------------------------------------------------


def test_login_then_shell(conn: Conn):
    """The right password starts the shell in the user's home, after the logged-in line."""
    conn.out()
    conn.send(b"brandon\r\n")
    assert conn.out() == b"Password: "
    conn.send(b"mypass\r\n")
    out = conn.out()
    assert out.startswith(b"zoo-telnet: logged in as brandon.")
    assert out.startswith(telnet.WELCOME.split(b"%")[0])
    (shell,) = conn.factory.shells
    assert shell["home"].name == "brandon" and shell["home"].is_dir()
    assert conn.server.state == "shell"
    assert "login.succeeded" in conn.kinds() and "telnet.login" in conn.kinds()


def test_echo_of_name_but_never_password(conn: Conn):
    """With DO ECHO the name is echoed; the password is not, even typed ahead in one read."""
    conn.send(IAC + DO + ECHO)
    conn.out()
    conn.send(b"brandon\rmypass\r")
    out = conn.out()
    assert out.startswith(b"brandon\r\nPassword: ")
    assert b"mypass" not in out
    assert conn.factory.shells[0]["echo"] is True


def test_typed_ahead_after_the_password_goes_to_the_shell(conn: Conn):
    """Bytes after the password line wait for the verdict, then reach the shell."""
    conn.out()
    conn.send(b"brandon\r\nmypass\r\nexec uptime\r")
    process = conn.server.process
    assert process is not None and bytes(process.written) == b"exec uptime\r"


def test_wrong_password_is_login_incorrect_after_the_throttle(conn: Conn):
    """A wrong password is answered 'Login incorrect' only after the throttle's delay, then login:."""
    conn.out()
    conn.send(b"brandon\r\nnope\r\n")
    assert b"Login incorrect" not in conn.out()
    conn.clock.advance(0.2)
    assert conn.out() == b"\r\nLogin incorrect\r\nlogin: "
    assert "login.failed" in conn.kinds()


def test_third_failure_closes(conn: Conn):
    """After --max-login-attempts failures the connection says so and closes."""
    conn.out()
    for _ in range(3):
        out = conn.login(password=b"wrong")
    assert out.endswith(telnet.LOGIN_INCORRECT + telnet.TOO_MANY)
    assert conn.tcp.disconnecting
    assert conn.factory.shells == []


def test_blank_name_asks_again(conn: Conn):
    """An empty or blank name line gets login: again, not Password:."""
    conn.out()
    conn.send(b"\r\n  \r\n")
    assert conn.out() == b"login: login: "


def test_control_d_at_login_closes(conn: Conn):
    """^D on an empty login line ends the connection."""
    conn.out()
    conn.send(b"\x04")
    assert conn.tcp.disconnecting


# -- bad input ------------------------------------------------------------------------


def test_option_flood_is_bounded(conn: Conn):
    """A flood of option requests gets at most MAX_NEGOTIATIONS answers, then a message and a close."""
    conn.out()
    conn.send((IAC + WILL + b"\x63" + IAC + WONT + b"\x63") * 2000)
    out = conn.out()
    assert out.count(IAC + DONT + b"\x63") <= telnet.MAX_NEGOTIATIONS
    assert out.endswith(telnet.TOO_MANY_OPTIONS)
    assert conn.tcp.disconnecting
    conn.send(IAC + WILL + b"\x63")
    assert conn.out() == b""


def test_garbage_never_raises_and_login_still_works(conn: Conn):
    """Garbage commands, an empty subnegotiation and odd bytes are ignored; the login still works."""
    conn.out()
    conn.send(IAC + b"\x10" + IAC + SB + IAC + SE + IAC + SB + NAWS + b"\x01" + IAC + SE)
    conn.send(bytes(range(1, 32)).replace(b"\r", b"").replace(b"\n", b"").replace(b"\x04", b""))
    conn.send(b"\x15")  # ^U: forget the control bytes' line (they are ignored anyway)
    out = conn.login()
    assert b"logged in as brandon" in out


def test_long_subnegotiation_closes(conn: Conn):
    """A subnegotiation past MAX_SUBNEGOTIATION closes the connection, whatever Twisted's own cap."""
    conn.send(IAC + SB + TTYPE + b"x" * 5000)
    assert conn.tcp.disconnecting


def test_overlong_login_line_closes(conn: Conn):
    """A login line over MAX_LINE gets 'Line too long.' and a close."""
    conn.out()
    conn.send(b"a" * (telnet.MAX_LINE + 1))
    assert conn.out().endswith(telnet.LINE_TOO_LONG)
    assert conn.tcp.disconnecting


def test_nonreading_client_holds_the_shell(conn: Conn):
    """When the client's buffer backs up the shell's output stops being read; it resumes after."""
    conn.login()
    process = conn.server.process
    conn.server.gate.pauseProducing()  # what the TCP transport does when its buffer is full
    assert process.paused
    conn.server.gate.resumeProducing()
    assert not process.paused


def test_shell_not_reading_stops_the_client(conn: Conn):
    """The shell's stdin backing up pauses reading the connection (its producer on the process)."""
    conn.login()
    producer = conn.server.process.producer
    producer.pauseProducing()
    assert conn.tcp.producerState == "paused"
    producer.resumeProducing()
    assert conn.tcp.producerState == "producing"


# -- the shell ------------------------------------------------------------------------


def test_shell_output_end_and_events(conn: Conn):
    """Output goes out with IAC doubled; each line typed is telnet.command; the end closes."""
    conn.login()
    shell = conn.factory.shells[0]["proto"]
    conn.send(b"echo hi\r\n\r\nexec up")
    conn.send(b"time\r")
    shell.childDataReceived(1, b"hi\r\n\xff$ ")
    assert conn.out() == b"hi\r\n\xff\xff$ "
    shell.processEnded(Failure(ProcessDone(0)))
    assert conn.tcp.disconnecting
    commands = [e.fields["command"] for e in conn.obs.events() if e.kind == "telnet.command"]
    assert commands == ["echo hi", "exec uptime"]
    (logout,) = [e for e in conn.obs.events() if e.kind == "telnet.logout"]
    assert logout.fields == {
        "user": "brandon",
        "exit_status": 0,
        "signal": None,
        "commands": 2,
    }
    assert all(e.session == "s-1" for e in conn.obs.events())


def test_interrupt_reaches_the_shell_and_hangup_on_close(conn: Conn):
    """IAC IP becomes ^C for the shell; the client closing hangs the shell up."""
    conn.login()
    process = conn.server.process
    conn.send(IAC + b"\xf4")
    assert bytes(process.written) == b"\x03"
    conn.wire.connectionLost(Failure(ConnectionError()))
    assert process.signals == ["HUP"] and process.lost


def test_shell_that_cannot_start_closes(conn: Conn):
    """A shell that cannot start (no terminal left) gets a message and a close, not a hang."""

    def fail(*args: Any) -> Any:
        raise OSError(24, "Too many open files")

    conn.factory.start_shell = fail  # type: ignore[method-assign]
    out = conn.login()
    assert out.endswith(b"zoo-telnet: the shell could not be started.\r\n")
    assert conn.tcp.disconnecting


def test_are_you_there_is_answered(conn: Conn):
    """IAC AYT gets a short 'yes' at any time."""
    conn.out()
    conn.send(IAC + b"\xf6")
    assert conn.out() == b"\r\n[zoo-telnet: yes]\r\n"


def test_observatory_off_records_nothing(tmp_path: Path):
    """With the observatory off, a whole session records no event."""
    c = Conn(tmp_path, enabled=False)
    c.login()
    c.send(b"ls\r")
    assert c.obs.events() == []


# -- transcripts ----------------------------------------------------------------------


def test_transcript_hides_the_password_line():
    """The line after a name is hidden, even typed ahead or split; after the login, nothing is."""
    t = transcriber("telnet")
    assert t.client(IAC + WILL + TTYPE + b"bran").shown == IAC + WILL + TTYPE + b"bran"
    assert t.client(b"don\r\x00my").shown == b"don\r\x00" + MARK
    chunk = t.client(b"pass\r\nbrandon\r\nsecret\r\n")
    assert chunk.redacted and b"pass" not in chunk.shown and b"secret" not in chunk.shown
    assert b"brandon" in chunk.shown
    t.server(b"\r\nLogin incorrect\r\nlogin: ")
    assert t.client(b"\r\n").shown == b"\r\n"  # a blank name: asked again, no password
    assert t.client(b"a\x7f\r\n").shown == b"a\x7f\r\n"  # erased to blank: the same
    t.client(b"brandon\r")
    assert t.client(b"\nmypass\r\n").shown == b"\n" + MARK + b"\r\n"
    t.server(b"zoo-telnet: logged in as brandon.\r\n$ ")
    assert t.client(b"echo mypass\r\n").shown == b"echo mypass\r\n"


def test_transcript_logged_in_marker_is_the_servers():
    """The transcript's logged-in marker is how zoo-telnet's welcome line starts."""
    from zoo.transcript import Telnet

    assert (telnet.WELCOME % b"x").startswith(Telnet.LOGGED_IN)


# -- the command line -----------------------------------------------------------------


def test_off_by_default_in_the_runner():
    """twistd -n zoo without --with does not start telnet; --with telnet does."""
    assert "telnet" in registry.names() and "telnet" not in registry.default_names()
    plain = runner.Options()
    plain.parseOptions(["--admin", "off"])
    assert "telnet" not in [name for name, _ in plain.services]
    asked = runner.Options()
    asked.parseOptions(["--admin", "off", "--with", "telnet --port 0"])
    assert [name for name, _ in asked.services] == ["telnet"]


def test_tap_defaults_and_tls_refused():
    """zoo-telnet listens on 127.0.0.1:2323 by default and refuses --tls (cleartext by design)."""
    o = tap.Options()
    o.parseOptions([])
    assert o.endpoints == ["tcp:2323:interface=127.0.0.1"]
    with pytest.raises(usage.UsageError, match="cleartext"):
        tap.Options().parseOptions(["--tls"])
