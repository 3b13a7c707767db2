"""A development certificate authority and the certificates it signs.

On first use the zoo creates, under ``<state dir>/tls/``:

- ``ca.pem`` / ``ca.key``: a private CA ("zoo development CA"), valid ten years;
- ``server.pem`` / ``server.key``: a server certificate signed by it, with SANs for
  ``localhost``, ``127.0.0.1``, ``::1`` and any extra names asked for.

Keys are ECDSA P-256 and written with mode 0600. Later runs reuse them; the server
certificate is reissued when a requested name is missing or it expires within 30 days.
Point clients at ``ca.pem`` (``curl --cacert``, ``openssl s_client -CAfile``,
``ssl.create_default_context(cafile=...)``).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from zoo.state import ensure_private_dir, write_private, write_public

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
_RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class CertPaths:
    """Where the development CA and server certificate live."""

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _san(names: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(common_name: str = "zoo development CA", days: int = 3650) -> Issued:
    """Create a self-signed CA certificate and key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(
    ca: Issued,
    names: Sequence[str],
    *,
    client: bool = False,
    days: int = 397,
    not_before: datetime.datetime | None = None,
) -> Issued:
    """Issue a leaf certificate for C{names} (DNS names or IP addresses) signed by C{ca}.

    The first name becomes the common name. C{client=True} makes a client
    certificate (for mutual TLS) instead of a server one.
    """
    if not names:
        raise ValueError("a certificate needs at least one name")
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or (_now() - datetime.timedelta(minutes=5))
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _covers(cert: x509.Certificate, names: Iterable[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    wanted = set()
    for n in names:
        try:
            wanted.add(str(ipaddress.ip_address(n)))
        except ValueError:
            wanted.add(n)
    return wanted <= have


def ensure_dev_certificates(state_dir: Path | str, extra_names: Iterable[str] = ()) -> CertPaths:
    """Create (first use) or reuse the development CA and server certificate.

    @return: the paths of the CA certificate and key and of the server certificate and key.
    """
    tls_dir = ensure_private_dir(Path(state_dir) / "tls")
    paths = CertPaths(
        ca_cert=tls_dir / "ca.pem",
        ca_key=tls_dir / "ca.key",
        cert=tls_dir / "server.pem",
        key=tls_dir / "server.key",
    )
    if paths.ca_cert.exists() and paths.ca_key.exists():
        ca = Issued(paths.ca_cert.read_bytes(), paths.ca_key.read_bytes())
        fresh_ca = False
    else:
        ca = make_ca()
        write_private(paths.ca_key, ca.key_pem)
        write_public(paths.ca_cert, ca.cert_pem)
        fresh_ca = True

    names = list(dict.fromkeys([*DEFAULT_NAMES, *extra_names]))
    if not fresh_ca and paths.cert.exists() and paths.key.exists():
        current = x509.load_pem_x509_certificate(paths.cert.read_bytes())
        ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
        if (
            current.issuer == ca_cert.subject
            and _covers(current, names)
            and current.not_valid_after_utc - _now() > _RENEW_BEFORE
        ):
            return paths
    leaf = issue(ca, names)
    write_private(paths.key, leaf.key_pem)
    write_public(paths.cert, leaf.cert_pem + ca.cert_pem)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """C{zoo-ca}: print where the development CA certificate is (or its PEM)."""
    import argparse
    import sys

    from zoo.state import default_state_dir

    parser = argparse.ArgumentParser(
        prog="zoo-ca",
        description=(
            "Print the path of the zoo development CA certificate, to give to "
            "curl --cacert, openssl s_client -CAfile or ssl.create_default_context(cafile=...)."
        ),
    )
    parser.add_argument(
        "--state-dir",
        help="the zoo state directory [default: $ZOO_STATE_DIR or the user data dir]",
    )
    parser.add_argument(
        "--generate",
        action="store_true",
        help="create the CA and server certificate if they do not exist yet",
    )
    parser.add_argument("--pem", action="store_true", help="print the certificate, not its path")
    args = parser.parse_args(argv)
    state = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
    ca = state / "tls" / "ca.pem"
    if args.generate:
        ca = ensure_dev_certificates(state).ca_cert
    elif not ca.is_file():
        sys.stderr.write(
            f"zoo-ca: no development CA yet at {ca}; run 'zoo-ca --generate' "
            "or start any zoo service with --tls\n"
        )
        return 1
    if args.pem:
        sys.stdout.write(ca.read_text())
    else:
        print(ca)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
