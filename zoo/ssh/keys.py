"""Host keys, users and the credentials a zoo SSH server accepts.

- L{ensure_host_keys}: an ed25519 and an RSA host key, generated on first start into the
  state directory (0600, OpenSSH format, with C{.pub} files beside them) and reused after.
- L{fingerprint}: a key's fingerprint as OpenSSH prints it (C{SHA256:...}).
- L{Users}: who may log in (passwords, checked by L{zoo.cred.PasswordChecker}, and
  C{authorized_keys} keys), with the parser for C{--authorized-keys [NAME:]FILE}.
  C{--user}, C{--users-file} and the generated password are L{zoo.cred}'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from twisted.conch.ssh import keys

from zoo.state import ensure_private_dir, write_private, write_public

#: Host key algorithms and their file names (OpenSSH's names).
HOST_KEY_FILES = {"ed25519": "ssh_host_ed25519_key", "rsa": "ssh_host_rsa_key"}
RSA_BITS = 3072


def _generate(kind: str) -> keys.Key:
    if kind == "ed25519":
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return keys.Key(ed25519.Ed25519PrivateKey.generate())
    from cryptography.hazmat.primitives.asymmetric import rsa

    return keys.Key(rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS))


def ensure_host_keys(directory: Path) -> dict[str, keys.Key]:
    """Load the host keys in C{directory}, generating (0600) the ones that are missing.

    @return: C{{"ed25519": Key, "rsa": Key}} (private keys).
    """
    directory = ensure_private_dir(directory)
    found = {}
    for kind, name in HOST_KEY_FILES.items():
        path = directory / name
        if path.exists():
            key = keys.Key.fromFile(str(path))
        else:
            key = _generate(kind)
            write_private(path, key.toString("openssh"))
            write_public(path.with_name(name + ".pub"), key.public().toString("openssh") + b"\n")
        found[kind] = key
    return found


def fingerprint(key: keys.Key) -> str:
    """The key's fingerprint as C{ssh-keygen -l} and C{ssh} print it: C{SHA256:base64}."""
    return "SHA256:" + key.fingerprint(keys.FingerprintFormats.SHA256_BASE64).rstrip("=")


def read_authorized_keys(path: Path) -> list[keys.Key]:
    """Public keys from an OpenSSH C{authorized_keys} file (options before a key are skipped).

    @raise ValueError: if the file holds no key at all, or a line is not a key.
    """
    found = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        for start in range(len(words)):
            if words[start].startswith(("ssh-", "ecdsa-", "sk-")) and start + 1 < len(words):
                try:
                    found.append(keys.Key.fromString(" ".join(words[start : start + 2])))
                except keys.BadKeyError:
                    continue
                break
        else:
            raise ValueError(f"{path}:{number}: not a public key line")
    if not found:
        raise ValueError(f"{path}: no public keys")
    return found


@dataclass
class Users:
    """Who may log in: passwords and public keys per user name."""

    passwords: dict[str, str] = field(default_factory=dict)
    authorized: dict[str, list[keys.Key]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(set(self.passwords) | set(self.authorized))

    def add_password(self, name: str, password: str) -> None:
        self.passwords[name] = password

    def add_keys(self, name: str, found: list[keys.Key]) -> None:
        self.authorized.setdefault(name, []).extend(found)

    def checkers(self) -> list:
        """Credential checkers for a L{twisted.cred.portal.Portal}."""
        from twisted.conch.checkers import InMemorySSHKeyDB, SSHPublicKeyChecker

        out: list = []
        if self.passwords:
            from zoo.cred import PasswordChecker

            out.append(PasswordChecker(self.passwords, as_bytes=True))
        if self.authorized:
            db = {name.encode(): list(found) for name, found in self.authorized.items()}
            out.append(SSHPublicKeyChecker(InMemorySSHKeyDB(db)))
        return out
