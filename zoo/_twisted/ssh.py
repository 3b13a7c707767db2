"""conch's SSH server classes with the private steps zoo changes under public names.

zoo's SSH transport caches its MAC keys when conch sets up keys, its user-auth service
answers a wrong password itself, and its SFTP server answers more requests with a
status. conch does each in a private method; the classes here are the only code that
names them, each private method handing over to a public one whose default is conch's
own behaviour. The names are listed in L{zoo._twisted}.
"""

from __future__ import annotations

from typing import Any

from twisted.conch.ssh import _kex, filetransfer, transport, userauth


def supported_key_exchanges() -> list[bytes]:
    """The key-exchange algorithms this conch can run, in its order of preference."""
    return list(_kex.getSupportedKeyExchanges())


class ServerTransportAdapter(transport.SSHServerTransport):
    """conch's server transport with its key setup public (L{key_setup})."""

    def _keySetup(self, sharedSecret: bytes, exchangeHash: bytes) -> None:
        self.key_setup(sharedSecret, exchangeHash)

    def key_setup(self, shared_secret: bytes, exchange_hash: bytes) -> None:
        """Derive the new keys from a finished exchange into C{nextEncryptions}, send NEWKEYS."""
        super()._keySetup(shared_secret, exchange_hash)


class UserAuthServerAdapter(userauth.SSHUserAuthServer):
    """conch's user-auth service with its answer to a failed attempt public (L{auth_failed})."""

    def _ebBadAuth(self, reason: Any) -> None:
        self.auth_failed(reason)

    def auth_failed(self, reason: Any) -> None:
        """An attempt failed: count it, log it, send USERAUTH_FAILURE (or disconnect)."""
        super()._ebBadAuth(reason)


class FileTransferServerAdapter(filetransfer.FileTransferServer):
    """conch's SFTP server protocol with its status replies under public names."""

    def send_status(self, request_id: bytes, code: int, message: str | bytes) -> None:
        """Answer request C{request_id} with an FXP_STATUS C{code} and C{message}."""
        self._sendStatus(request_id, code, message)

    def status_ok(
        self, result: object, request_id: bytes, msg: bytes = b"request succeeded"
    ) -> None:
        """A Deferred callback: answer request C{request_id} with FX_OK."""
        self._cbStatus(result, request_id, msg)

    def _ebStatus(self, reason: Any, requestId: bytes, msg: bytes = b"request failed") -> None:
        self.status_failed(reason, requestId, msg)

    def status_failed(self, reason: Any, request_id: bytes, msg: bytes = b"request failed") -> None:
        """A Deferred errback: answer request C{request_id} with the status for C{reason}."""
        super()._ebStatus(reason, request_id, msg)
