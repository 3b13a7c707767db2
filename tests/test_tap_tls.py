"""zoo.tap._tls.tls_context: one choice of server certificate for every TLS purpose."""

from __future__ import annotations

import os

import pytest
from cryptography import x509
from OpenSSL import SSL
from twisted.python import usage

from zoo.certs import ensure_dev_certificates
from zoo.tap import ftp, lancelot, smtp
from zoo.tap._tls import tls_context


def served_certificate(context_factory) -> x509.Certificate:
    """The leaf certificate a context factory would present."""
    conn = SSL.Connection(context_factory.getContext(), None)
    return conn.get_certificate().to_cryptography()


def parse(options_class, *args: str):
    o = options_class()
    o.parseOptions(list(args))
    return o


@pytest.fixture
def own(tmp_path):
    """A certificate of the user's own (issued by a CA that is not the state dir's)."""
    return ensure_dev_certificates(tmp_path / "own", ["own.example"])


def test_implicit_user_certificate_built_once(tmp_path, own):
    """--tls-cert: the implicit context serves the user's certificate, loaded once at parse time."""
    o = parse(lancelot.Options, "--state-dir", str(tmp_path / "s"),
              "--tls-cert", str(own.cert), "--tls-key", str(own.key))  # fmt: skip
    parsed = o.chosen_tls
    assert parsed is not None
    ctx = tls_context(o, "implicit")
    assert ctx is parsed
    assert served_certificate(ctx) == x509.load_pem_x509_certificate(own.cert.read_bytes())
    assert not (tmp_path / "s" / "tls").exists()


def test_implicit_off_without_tls(tmp_path):
    """Without --tls there is no implicit context and no development certificate is made."""
    o = parse(lancelot.Options, "--state-dir", str(tmp_path / "s"))
    assert tls_context(o, "implicit") is None
    assert not (tmp_path / "s" / "tls").exists()


def test_dev_certificate_made_on_first_use_and_reused(tmp_path):
    """--tls alone: the dev certificate is made on first use, then reused by later runs."""
    state = tmp_path / "s"
    o = parse(lancelot.Options, "--state-dir", str(state), "--tls")
    assert not (state / "tls").exists()  # parsing makes nothing
    first = tls_context(o, "implicit")
    cert_file = state / "tls" / "server.pem"
    made = cert_file.read_bytes(), os.stat(cert_file).st_mtime_ns
    assert served_certificate(first) == x509.load_pem_x509_certificate(made[0])
    again = parse(lancelot.Options, "--state-dir", str(state), "--tls")
    second = tls_context(again, "implicit")
    assert (cert_file.read_bytes(), os.stat(cert_file).st_mtime_ns) == made
    assert served_certificate(second) == served_certificate(first)


def test_starttls_purpose(tmp_path, own):
    """STARTTLS: dev cert by default, the user's with --starttls, none with --tls/--no-starttls."""
    state = str(tmp_path / "s")
    plain = parse(smtp.Options, "--state-dir", state)
    assert served_certificate(tls_context(plain, "starttls")).issuer.rfc4514_string() == (
        "CN=zoo development CA"
    )
    mine = parse(smtp.Options, "--state-dir", state, "--starttls",
                 "--tls-cert", str(own.cert), "--tls-key", str(own.key))  # fmt: skip
    assert tls_context(mine, "starttls") is mine.chosen_tls
    assert tls_context(mine, "implicit") is None
    for flag in ("--tls", "--no-starttls"):
        assert tls_context(parse(smtp.Options, "--state-dir", state, flag), "starttls") is None


def test_auth_tls_purpose(tmp_path, own):
    """FTP AUTH TLS always has a context; under --tls it is the same one the listeners use."""
    state = str(tmp_path / "s")
    explicit = parse(ftp.Options, "--state-dir", state,
                     "--tls-cert", str(own.cert), "--tls-key", str(own.key))  # fmt: skip
    assert tls_context(explicit, "implicit") is None  # a certificate alone means AUTH TLS
    assert tls_context(explicit, "auth-tls") is explicit.chosen_tls
    implicit = parse(ftp.Options, "--state-dir", state, "--tls")
    assert tls_context(implicit, "auth-tls") is tls_context(implicit, "implicit")


@pytest.mark.parametrize("which", ["--tls-cert", "--tls-key", "--tls-client-ca"])
def test_bad_file_is_one_usage_error(tmp_path, own, which):
    """A garbage certificate, key or CA file is one usage error that names the file."""
    bad = tmp_path / "garbage.pem"
    bad.write_bytes(b"not PEM at all\n")
    files = {"--tls-cert": str(own.cert), "--tls-key": str(own.key)}
    files[which] = str(bad)
    args = [a for pair in files.items() for a in pair]
    with pytest.raises(usage.UsageError) as e:
        parse(lancelot.Options, "--state-dir", str(tmp_path / "s"), *args)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_unwritable_state_dir_is_one_usage_error(tmp_path):
    """A state directory where the dev certificate cannot be written gives one usage error."""
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    o = parse(lancelot.Options, "--state-dir", str(blocker), "--tls")
    with pytest.raises(usage.UsageError) as e:
        tls_context(o, "implicit")
    assert "development certificate" in str(e.value) and "\n" not in str(e.value)


def test_unknown_purpose(tmp_path):
    """A purpose that is not one of the three is a programming error, said plainly."""
    with pytest.raises(ValueError, match="purpose"):
        tls_context(parse(lancelot.Options, "--state-dir", str(tmp_path)), "quic")  # type: ignore[arg-type]
