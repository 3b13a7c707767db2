"""The SSH transport zoo runs: conch's server transport with a modern algorithm policy.

Conch (Twisted 26.10) still offers 3des-cbc, hmac-md5, hmac-sha1, ssh-dss, ssh-rsa
(SHA-1 signatures) and SHA-1 key exchanges. L{ZooServerTransport} offers only:

- key exchange: C{mlkem768x25519-sha256} (when conch has it), C{curve25519-sha256},
  ECDH on NIST curves, and C{diffie-hellman-group-exchange-sha256} (only when moduli exist);
- host key signatures: C{ssh-ed25519}, C{rsa-sha2-512}, C{rsa-sha2-256};
- ciphers: AES-CTR (no CBC, no 3DES); MACs: C{hmac-sha2-512} and C{hmac-sha2-256};
- no compression (C{zlib} before authentication is a pre-auth attack surface).

It also implements OpenSSH's strict key exchange (C{kex-strict-s-v00@openssh.com}), the
Terrapin countermeasure conch lacks (Twisted #12057): when the client offers
C{kex-strict-c-v00@openssh.com}, the first packet must be KEXINIT, nothing but key-exchange
messages may arrive before the first NEWKEYS, and packet sequence numbers restart at zero
after every NEWKEYS in each direction.

L{ZooSSHFactory} adds the limits: connections per address, authentication attempts and a
login grace time. Passwords go through L{zoo.cred.LoginGuard} (throttled per address,
logged once; a DISCONNECT after C{--max-login-attempts} wrong ones). Malformed packets
close that connection with a DISCONNECT.
"""

from __future__ import annotations

import hmac
import struct
from typing import Any

from twisted.conch.ssh import factory, transport, userauth
from twisted.internet import protocol
from twisted.logger import Logger

from zoo._twisted.ssh import (
    ServerTransportAdapter,
    UserAuthServerAdapter,
    supported_key_exchanges,
)
from zoo.cred import DEFAULT_MAX_LOGIN_ATTEMPTS, Logins, LoginThrottle, shared_throttle
from zoo.flow import ReadGate
from zoo.policies import command_deadline_off

log = Logger()

STRICT_KEX_SERVER = b"kex-strict-s-v00@openssh.com"
STRICT_KEX_CLIENT = b"kex-strict-c-v00@openssh.com"

_WEAK_KEX = (b"sha1",)
CIPHERS = [
    c
    for c in transport.SSHTransportBase.supportedCiphers
    if c.endswith(b"-ctr") and b"des" not in c
]
MACS = [b"hmac-sha2-512", b"hmac-sha2-256"]
KEY_EXCHANGES = [k for k in supported_key_exchanges() if not any(w in k for w in _WEAK_KEX)]
PUBLIC_KEYS = [b"ssh-ed25519", b"rsa-sha2-512", b"rsa-sha2-256"]
#: Signature algorithms accepted for users' keys (no ssh-rsa SHA-1, no ssh-dss).
USER_KEY_ALGORITHMS = {
    *PUBLIC_KEYS,
    b"ecdsa-sha2-nistp256",
    b"ecdsa-sha2-nistp384",
    b"ecdsa-sha2-nistp521",
}
#: Message numbers allowed during a strict initial key exchange (RFC 4253 ranges 20-49).
_KEX_MESSAGES = range(20, 50)
MSG_NEWKEYS = 21
MSG_KEXINIT = 20


class CachedMACCiphers(transport.SSHCiphers):
    """conch's cipher state, but each HMAC key is prepared once, not once per packet.

    conch builds C{hmac.HMAC(key, seq + packet)} for every packet: a key setup and a
    copy of the packet each time (about a tenth of the server's CPU in an SFTP
    download). Same MACs, computed from a prepared copy.
    """

    _out: Any = None
    _in: Any = None

    def makeMAC(self, seqid: int, data: bytes) -> bytes:
        if not self.outMAC[0]:
            return b""
        if self._out is None:
            self._out = hmac.new(self.outMAC.key, digestmod=self.outMAC[0])
        h = self._out.copy()
        h.update(struct.pack(">L", seqid))
        h.update(data)
        return h.digest()

    def verify(self, seqid: int, data: bytes, mac: bytes) -> bool:
        if not self.inMAC[0]:
            return mac == b""
        if self._in is None:
            self._in = hmac.new(self.inMAC.key, digestmod=self.inMAC[0])
        h = self._in.copy()
        h.update(struct.pack(">L", seqid))
        h.update(data)
        return hmac.compare_digest(mac, h.digest())


class ZooServerTransport(ServerTransportAdapter):
    """conch's server transport with trimmed algorithms, strict KEX and clean failures."""

    supportedCiphers = CIPHERS
    supportedMACs = MACS
    supportedKeyExchanges = KEY_EXCHANGES
    supportedCompressions = [b"none"]
    ourVersionString = b"SSH-2.0-zoo"

    strict_kex = False
    _initial_kex_done = False
    _address_key: str | None = None

    factory: Any

    def connectionMade(self) -> None:
        #: The connection's logins (the user-auth service may be started more than once).
        self.login_guard = self.factory.logins.guard(self.transport)
        # Offer only what the host keys can sign, and advertise strict KEX on the first
        # KEXINIT only (conch builds the KEXINIT from these lists).
        self.supportedPublicKeys = [
            k for k in PUBLIC_KEYS if self.factory.hostKeyAlgorithm(k) in self.factory.privateKeys
        ]
        if not self.factory.primes:
            self.supportedKeyExchanges = [k for k in KEY_EXCHANGES if b"group-exchange" not in k]
        negotiated = self.supportedKeyExchanges
        self.supportedKeyExchanges = [*negotiated, STRICT_KEX_SERVER]
        # Stop reading a client that does not read what it is sent; hold the channels'
        # processes meanwhile too, whatever window the client advertised.
        self.gate = ReadGate(self.transport).start(after_handshake=False)
        self.gate.on_backed_up = self._backed_up
        try:
            super().connectionMade()
        finally:
            self.supportedKeyExchanges = negotiated

    def _backed_up(self, backed_up: bool) -> None:
        for channel in list(getattr(self.service, "channels", {}).values()):
            hold = getattr(channel, "connection_backed_up", None)
            if hold is not None:
                hold(backed_up)

    def dataReceived(self, data: bytes) -> None:
        try:
            super().dataReceived(data)
        except Exception as e:  # a malformed packet: close this connection, not the server
            log.warn(
                "ssh: closing {peer}: malformed input ({error})",
                peer=self._peer(),
                error=f"{type(e).__name__}: {e}",
            )
            if self.transport is not None:
                self.sendDisconnect(transport.DISCONNECT_PROTOCOL_ERROR, b"malformed packet")

    def _peer(self) -> str:
        try:
            peer: Any = self.transport.getPeer()  # type: ignore[union-attr]
            return f"{peer.host}:{peer.port}"
        except Exception:
            return "?"

    def dispatchMessage(self, messageNum: int, payload: bytes) -> None:
        if not self._initial_kex_done:
            if self.incomingPacketSequence == 1 and messageNum == MSG_KEXINIT:
                self.strict_kex = STRICT_KEX_CLIENT in _kex_names(payload)
            elif self.strict_kex and messageNum not in _KEX_MESSAGES:
                self.sendDisconnect(
                    transport.DISCONNECT_PROTOCOL_ERROR,
                    b"strict KEX: unexpected message during key exchange",
                )
                return
        super().dispatchMessage(messageNum, payload)

    def key_setup(self, shared_secret: bytes, exchange_hash: bytes) -> None:
        self.nextEncryptions.__class__ = CachedMACCiphers
        super().key_setup(shared_secret, exchange_hash)

    def sendPacket(self, messageType: int, payload: bytes) -> None:
        super().sendPacket(messageType, payload)
        if messageType == MSG_NEWKEYS and self.strict_kex:
            self.outgoingPacketSequence = 0

    def ssh_NEWKEYS(self, packet: bytes) -> None:
        super().ssh_NEWKEYS(packet)
        self._initial_kex_done = True
        if self.strict_kex:
            self.incomingPacketSequence = 0

    def connectionLost(self, reason: Any = None) -> None:
        super().connectionLost(reason)
        if hasattr(self, "login_guard"):
            self.login_guard.close()
        self.factory.connection_closed(self)


def _kex_names(kexinit_payload: bytes) -> list[bytes]:
    """The key-exchange name-list of a KEXINIT payload (after the 16-byte cookie)."""
    from twisted.conch.ssh.common import getNS

    names, _ = getNS(kexinit_payload[16:])
    return names.split(b",")


class ZooUserAuthServer(UserAuthServerAdapter):
    """conch's user-auth service with the factory's attempt limits and grace time.

    Logins go through the transport's L{zoo.cred.LoginGuard}, which throttles and
    counts wrong passwords (conch's own fixed delay is off: the throttle's grows).
    conch's count of all failures (keys too) is kept per connection: a client may
    request the ssh-userauth service again (paramiko does, for every
    C{auth_password} call) and conch's count would start over.
    """

    @property
    def loginAttempts(self) -> int:
        return int(getattr(self.transport, "auth_failures", 0))

    @loginAttempts.setter
    def loginAttempts(self, value: int) -> None:
        if value or not hasattr(self.transport, "auth_failures"):
            transport: Any = self.transport
            transport.auth_failures = value  # serviceStarted's reset to 0 is ignored

    def serviceStarted(self) -> None:
        # The key exchange is done: the login timeout takes over from the shared
        # command deadline, and then the session has none.
        command_deadline_off(self.transport.transport)  # type: ignore[union-attr]
        f: Any = self.transport.factory  # type: ignore[union-attr]
        self.attemptsBeforeDisconnect = f.max_auth_attempts
        self.loginTimeout = f.login_timeout
        self.passwordDelay = 0
        if f.clock is not None:
            self.clock = f.clock
        super().serviceStarted()
        self.portal = self.transport.login_guard  # type: ignore[union-attr]

    def auth_failed(self, reason: Any) -> None:
        """A wrong password: zoo.cred logged it, so conch's two debug lines are not wanted."""
        from twisted.conch.ssh.common import NS
        from twisted.cred.error import UnauthorizedLogin

        if self.method != b"password" or not reason.check(UnauthorizedLogin):
            super().auth_failed(reason)
            return
        conn: Any = self.transport
        self.loginAttempts += 1
        if self.portal.exhausted or self.loginAttempts > self.attemptsBeforeDisconnect:
            conn.sendDisconnect(
                transport.DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE, b"too many failed logins"
            )
            return
        methods = NS(b",".join(self.supportedAuthentications))
        conn.sendPacket(userauth.MSG_USERAUTH_FAILURE, methods + b"\x00")

    def auth_publickey(self, packet: bytes) -> Any:
        """Refuse user-key signatures by SHA-1 (C{ssh-rsa}) and DSA (C{ssh-dss})."""
        from twisted.conch.ssh.common import getNS
        from twisted.cred.error import UnauthorizedLogin
        from twisted.internet import defer

        algorithm = getNS(packet[1:])[0]
        if algorithm not in USER_KEY_ALGORITHMS:
            return defer.fail(UnauthorizedLogin(f"signature algorithm {algorithm!r} refused"))
        return super().auth_publickey(packet)


class _Refuse(protocol.Protocol):
    """Says why in a pre-version banner line (RFC 4253 4.2 allows them) and hangs up."""

    def __init__(self, why: bytes) -> None:
        self.why = why

    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.write(self.why + b"\r\n")
        transport.loseConnection()


class ZooSSHFactory(factory.SSHFactory):
    """conch's SSH factory with zoo's transport, host keys and per-address limits.

    @param host_keys: private host keys (L{twisted.conch.ssh.keys.Key}) by kind.
    @param portal: the L{twisted.cred.portal.Portal} that logs users in.
    @param max_auth_attempts: failed authentications of any kind (keys too) before
        conch disconnects.
    @param max_login_attempts: wrong passwords before the connection is closed.
    @param throttle: the login throttle (default: the process's, L{shared_throttle}).
    """

    protocol = ZooServerTransport
    noisy = False
    primes = None

    def __init__(
        self,
        host_keys: dict[str, Any],
        portal: Any,
        *,
        max_per_address: int = 10,
        max_auth_attempts: int = 6,
        max_login_attempts: int = DEFAULT_MAX_LOGIN_ATTEMPTS,
        login_timeout: float = 120.0,
        clock: Any = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        if throttle is None:
            if clock is None:
                from twisted.internet import reactor as clock_or_reactor
            else:
                clock_or_reactor = clock
            throttle = shared_throttle(clock_or_reactor)
        self.portal = portal
        self.logins = Logins(portal, "ssh", throttle, max_login_attempts)
        self.privateKeys = {k.sshType(): k for k in host_keys.values()}
        self.publicKeys = {t: k.public() for t, k in self.privateKeys.items()}
        self.max_per_address = max_per_address
        self.max_auth_attempts = max_auth_attempts
        self.login_timeout = login_timeout
        self.clock = clock
        self.per_address: dict[str, int] = {}
        self.services = {
            b"ssh-userauth": ZooUserAuthServer,
            b"ssh-connection": factory.SSHFactory.services[b"ssh-connection"],
        }

    @staticmethod
    def hostKeyAlgorithm(signature: bytes) -> bytes:
        """The key type that makes signatures of this algorithm (rsa-sha2-* -> ssh-rsa)."""
        return b"ssh-rsa" if signature.startswith(b"rsa-sha2-") else signature

    def getPublicKeys(self) -> dict[bytes, Any]:
        return self.publicKeys

    def getPrivateKeys(self) -> dict[bytes, Any]:
        return self.privateKeys

    def getPrimes(self) -> None:
        return None  # no moduli file: DH group exchange stays off (curve25519 is preferred)

    def startFactory(self) -> None:
        # SSHFactory.startFactory re-reads keys through getPublicKeys/getPrivateKeys
        # and logs a warning about missing moduli; neither is wanted here.
        self.primes = None

    def buildProtocol(self, addr: Any) -> Any:
        host = getattr(addr, "host", None) or "local"
        if self.per_address.get(host, 0) >= self.max_per_address:
            log.warn(
                "ssh: refusing {host}: {n} connections already open",
                host=host,
                n=self.max_per_address,
            )
            return _Refuse(b"zoo: too many connections from your address")
        # protocol.Factory's, not SSHFactory's: that one logs a line per connection and
        # sets the algorithm lists the transport chooses itself.
        proto: Any = protocol.Factory.buildProtocol(self, addr)
        proto._address_key = host
        self.per_address[host] = self.per_address.get(host, 0) + 1
        return proto

    def connection_closed(self, proto: ZooServerTransport) -> None:
        host = proto._address_key
        if host is None:
            return
        proto._address_key = None
        left = self.per_address.get(host, 0) - 1
        if left > 0:
            self.per_address[host] = left
        else:
            self.per_address.pop(host, None)
