"""FTP data-connection commands: PASV/EPSV/PORT/EPRT and the transfers over them.

L{TransferCommands} is a mixin of L{zoo.ftp.server.FTPSession}, split out to keep each
module readable: it sets up one data connection per transfer (passive listeners bound
to the control connection's address and accepting only its client; active connections
only to the client's own address), and runs LIST, NLST, MLSD, RETR, STOR and APPE over
it, replying 150 before and 226 (or 4xx) after. An upload is published under its name
only just before its 226 (L{zoo.ftp.uploads}).
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING, Any, cast

from twisted.internet import defer, error
from twisted.internet.interfaces import ITCPTransport
from twisted.logger import Logger
from twisted.python.failure import Failure

from zoo.ftp.data import (
    ActiveFactory,
    DataChannel,
    LineEndings,
    PassiveFactory,
    TransferAborted,
    _plain,
    listen_passive,
)
from zoo.ftp.jail import Entry, FTPFileError, list_line, mlsx_facts, split_path, virtual
from zoo.ftp.uploads import NameTaken, Upload

log = Logger()


class TransferCommands:
    """The data-connection half of an FTP session.

    Uses the session's attributes below and its C{peer_host}, C{local_host},
    C{sendLine}, C{_segs} and C{_control_gone}.
    """

    # Set by FTPSession.connectionMade.
    config: Any
    reactor: Any
    factory: Any
    transport: Any
    jail: Any
    cwd: list[str]
    binary: bool
    rest: int
    epsv_all: bool
    prot_private: bool
    _data_port: Any
    _data: DataChannel | None
    _data_wait: defer.Deferred[DataChannel] | None
    _data_timer: Any
    _data_error: Failure | None
    #: The upload in progress, if any (discarded when the data connection is closed early).
    _upload: Upload | None = None

    if TYPE_CHECKING:
        # Provided by FTPSession (and its base, for sendLine).
        def peer_host(self) -> str: ...
        def local_host(self) -> str: ...
        def sendLine(self, line: str | bytes) -> None: ...
        def _segs(self, arg: str, command: str, required: bool = True) -> list[str]: ...
        def _control_gone(self) -> bool: ...
        def file_event(self, kind: str, segs: list[str], **fields: Any) -> None: ...

    # -- data connection setup --------------------------------------------------------

    def ftp_PASV(self) -> str:
        if self.epsv_all:
            return "503 PASV not allowed after EPSV ALL."
        advertised = _plain(self.config.passive_address or self.local_host())
        try:
            ipaddress.IPv4Address(advertised)
        except ValueError:
            return "425 PASV needs an IPv4 address; use EPSV."
        port = self._listen_passive()
        h = advertised.replace(".", ",")
        return f"227 Entering Passive Mode ({h},{port >> 8},{port & 255})."

    def ftp_EPSV(self, arg: str = "") -> str:
        if arg.upper() == "ALL":
            self.epsv_all = True
            return "200 EPSV ALL ok."
        if arg and arg not in ("1", "2"):
            return "522 Network protocol not supported, use (1,2)"
        return f"229 Entering Extended Passive Mode (|||{self._listen_passive()}|)"

    def _listen_passive(self) -> int:
        self._close_data()
        factory = PassiveFactory(self, self.peer_host())
        ports = self.config.passive_ports or range(0, 1)
        start = self.factory.next_passive()
        for i in range(len(ports)):
            port = ports[(start + i) % len(ports)]
            try:
                self._data_port = listen_passive(self.reactor, factory, self.local_host(), port)
            except error.CannotListenError:
                continue
            return int(self._data_port.getHost().port)
        raise FTPFileError("No passive port available; try again.", "425")

    def ftp_PORT(self, arg: str) -> str:
        if self.epsv_all:
            return "503 PORT not allowed after EPSV ALL."
        parts = arg.split(",")
        if len(parts) != 6 or not all(p.strip().isdigit() and int(p) < 256 for p in parts):
            return "501 Syntax error: PORT h1,h2,h3,h4,p1,p2"
        nums = [int(p) for p in parts]
        return self._connect_active(".".join(parts[:4]), nums[4] * 256 + nums[5])

    def ftp_EPRT(self, arg: str) -> str:
        if self.epsv_all:
            return "503 EPRT not allowed after EPSV ALL."
        fields = arg[1:].split(arg[:1]) if arg else []
        if len(fields) != 4 or fields[0] not in ("1", "2") or not fields[2].isdigit():
            return "501 Syntax error: EPRT |proto|address|port|"
        try:
            ip = str(ipaddress.ip_address(fields[1]))
        except ValueError:
            return "501 Syntax error: EPRT |proto|address|port|"
        return self._connect_active(ip, int(fields[2]))

    def _connect_active(self, ip: str, port: int) -> str:
        peer = self.peer_host()
        if _plain(ip) != peer:
            log.warn("FTP bounce refused: {peer} asked for {ip}", peer=peer, ip=ip)
            return f"501 Refused: data connections go only to your own address ({peer})."
        if not 1024 <= port <= 65535:
            return "501 Refused: data port must be 1024-65535."
        self._close_data()
        bind = _plain(self.local_host())
        self._data_port = self.reactor.connectTCP(
            _plain(ip), port, ActiveFactory(self), self.config.data_timeout, (bind, 0)
        )
        return "200 PORT command successful."

    # -- data connection life (called by the data channel and its factories) ----------

    def data_connected(self, channel: DataChannel) -> None:
        self._data = channel
        if hasattr(self._data_port, "stopListening"):
            self._data_port.stopListening()  # one connection per PASV
        self._data_port = None
        self._fire_wait(channel)

    def data_failed(self, reason: Failure) -> None:
        self._data_port = None
        self._data_error = reason
        self._fire_wait(Failure(FTPFileError("Cannot open data connection.", "425")))

    def data_lost(self, channel: DataChannel) -> None:
        pass  # the transfer that owns it watches when_lost()

    def _fire_wait(self, result: Any) -> None:
        d, self._data_wait = self._data_wait, None
        if self._data_timer is not None and self._data_timer.active():
            self._data_timer.cancel()
        self._data_timer = None
        if d is not None:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)

    def _await_data(self) -> defer.Deferred[DataChannel]:
        if self._data is not None and self._data.reason is None:
            return defer.succeed(self._data)
        if self._data_port is None:
            return defer.fail(FTPFileError("Cannot open data connection.", "425"))
        d: defer.Deferred[DataChannel] = defer.Deferred()
        self._data_wait = d
        self._data_timer = self.reactor.callLater(
            self.config.data_timeout,
            lambda: self._fire_wait(Failure(FTPFileError("Data connection timed out.", "425"))),
        )
        return d

    def _close_data(self) -> None:
        self._fire_wait(Failure(FTPFileError("Data connection closed.", "426")))
        port, self._data_port = self._data_port, None
        if port is not None:
            if hasattr(port, "stopListening"):
                port.stopListening()
            else:
                port.disconnect()
        data, self._data = self._data, None
        if data is not None and data.reason is None and data.transport is not None:
            data.transport.loseConnection()
        self._data_error = None
        upload, self._upload = self._upload, None
        if upload is not None:
            upload.discard()  # nothing once published; else the transfer was cut short

    def _check_data_setup(self) -> None:
        if self.config.require_tls and not self.prot_private:
            raise FTPFileError("Data connections must be encrypted: send PROT P.", "522")
        if self._data_error is not None:
            why, self._data_error = self._data_error, None
            raise FTPFileError(f"Cannot open data connection: {why.getErrorMessage()}", "425")
        if self._data_port is None and self._data is None:
            raise FTPFileError("Use PASV, EPSV, PORT or EPRT first.", "425")

    def _transfer(self, opening: str, run: Any, done: str, cleanup: Any = None) -> Any:
        """Reply C{opening}, wait for the data connection, C{run(channel)}, reply C{done}."""
        self.sendLine(opening)

        def failed(f: Failure) -> Any:
            if f.check(FTPFileError):
                return f
            if f.check(TransferAborted):
                return "426 Connection closed; transfer aborted."
            log.failure("FTP transfer failed", f)
            return "451 Transfer aborted: local error."

        def finish(result: Any) -> Any:
            if cleanup is not None:
                cleanup()
            self._close_data()
            return result

        d = self._await_data()
        d.addCallback(run)
        d.addCallbacks(lambda _: done, failed)
        d.addBoth(finish)
        return d

    # -- transfers --------------------------------------------------------------------

    def _listing(self, arg: str) -> tuple[list[str], list[Entry]]:
        assert self.jail is not None
        words = arg.split(" ")
        while words and words[0].startswith("-"):
            words.pop(0)  # ls options some clients send (LIST -la)
        segs = split_path(self.cwd, " ".join(words))
        self._check_data_setup()
        return segs, self.jail.entries(segs)

    def _send_text(self, lines: list[str]) -> Any:
        body = "".join(line + "\r\n" for line in lines).encode("utf-8", "surrogateescape")
        return self._transfer(
            "150 Here comes the directory listing.",
            lambda ch: ch.send_bytes(body),
            "226 Directory send OK.",
        )

    def ftp_LIST(self, arg: str = "") -> Any:
        _, entries = self._listing(arg)
        now = self.reactor.seconds()
        return self._send_text([list_line(e, now) for e in entries])

    def ftp_NLST(self, arg: str = "") -> Any:
        """Bare names; with no argument, the current directory (Twisted #4258)."""
        assert self.jail is not None
        segs, entries = self._listing(arg)
        if len(entries) == 1 and not self.jail.is_dir(segs):
            return self._send_text([arg])
        return self._send_text([e.name for e in entries])

    def ftp_MLSD(self, arg: str) -> Any:
        assert self.jail is not None
        segs = self._segs(arg, "MLSD", required=False)
        if not self.jail.is_dir(segs):
            return f"501 {virtual(segs)}: not a directory."
        _, entries = self._listing(arg)
        jail = self.jail
        upload = jail.upload_dir is not None and segs == jail.upload_dir
        lines = [mlsx_facts(Entry(".", jail.stat(segs)), jail, upload, cdir=True)]
        lines += [mlsx_facts(e, jail, upload) for e in entries]
        return self._send_text(lines)

    def _take_rest(self) -> int:
        rest, self.rest = self.rest, 0
        return rest

    def ftp_RETR(self, arg: str) -> Any:
        assert self.jail is not None
        segs = self._segs(arg, "RETR")
        self._check_data_setup()
        f, size = self.jail.open_read(segs)
        offset = self._take_rest()
        if offset > size:
            f.close()
            return "554 Restart offset is past the end of the file."
        f.seek(offset)
        mode = "BINARY" if self.binary else "ASCII"
        # ftplib reads the size estimate from "(N bytes)"; only exact in binary mode.
        detail = f" ({size - offset} bytes)" if self.binary else ""

        def sent(count: int) -> int:
            self.file_event("file.downloaded", segs, size=count, offset=offset)
            return count

        return self._transfer(
            f"150 Opening {mode} mode data connection for {virtual(segs)}{detail}.",
            lambda ch: ch.send_file(f, ascii=not self.binary).addCallback(sent),
            "226 Transfer complete.",
            cleanup=f.close,
        )

    def ftp_STOR(self, arg: str) -> Any:
        return self._store(arg, append=False)

    def ftp_APPE(self, arg: str) -> Any:
        return self._store(arg, append=True)

    def _store(self, arg: str, append: bool) -> Any:
        assert self.jail is not None
        segs = self._segs(arg, "APPE" if append else "STOR")
        self._check_data_setup()
        offset = self._take_rest()
        upload = self.jail.open_write(
            segs, -1 if append else (offset or None), live=self.factory.uploads
        )
        self._upload = upload  # discarded by _close_data if the transfer is cut short
        text = None if self.binary else LineEndings(to_network=False)
        problems: list[OSError] = []

        def sink(channel: DataChannel) -> Any:
            def write(data: bytes) -> None:
                if problems:
                    return
                try:
                    upload.write(text.convert(data) if text else data)
                except OSError as e:
                    problems.append(e)
                    cast(ITCPTransport, channel.transport).abortConnection()

            return channel.receive(write).addCallback(lambda _: settle(channel))

        def settle(channel: DataChannel) -> defer.Deferred[None]:
            # A client that is killed closes both connections, the data one often
            # first; give the control connection's close the config's upload_grace to arrive
            # (connectionLost then discards the upload), so a killed upload is never
            # published.
            d: defer.Deferred[None] = defer.Deferred()
            self.reactor.callLater(self.config.upload_grace, d.callback, None)
            return d.addCallback(lambda _: commit(channel))

        def commit(channel: DataChannel) -> None:
            if problems:
                upload.discard()
                raise FTPFileError(f"{virtual(segs)}: write failed: {problems[0].strerror}", "452")
            if upload.done or not channel.clean_close() or self._control_gone():
                upload.discard()
                raise TransferAborted()
            try:
                if text is not None:
                    upload.write(text.flush())
                upload.publish()
                if self.factory.observatory.enabled:
                    self.file_event(
                        "file.uploaded",
                        segs,
                        size=os.path.getsize(upload.path),
                        received=upload.size,
                        mode="append" if append else "restart" if offset else "store",
                    )
            except NameTaken:
                raise FTPFileError(
                    f"{virtual(segs)}: File exists (uploads may not overwrite)"
                ) from None
            except OSError as e:
                upload.discard()
                raise FTPFileError(f"{virtual(segs)}: write failed: {e.strerror}", "452") from None

        mode = "BINARY" if self.binary else "ASCII"
        return self._transfer(
            f"150 Opening {mode} mode data connection for {virtual(segs)}.",
            sink,
            "226 Transfer complete.",
            cleanup=upload.discard,
        )
