"""zoo-dns over real sockets: dig, the book's dns_basic.py (py3dns and dnspython), garbage."""

from __future__ import annotations

import os
import random
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from probes import probe

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

BOOKS = Path(__file__).parent / "books"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory):
    with TwistdProcess(["zoo-dns", "--port", "0"], tmp_path_factory.mktemp("dns")) as z:
        yield z


def dig(zoo: TwistdProcess, *args: str, tcp: bool = False) -> str:
    """dig +short against zoo-dns, over UDP or TCP."""
    port = zoo.port("dns", "TCP" if tcp else "UDP")
    cmd = [require_tool("dig"), "@127.0.0.1", "-p", str(port), "+tries=1", "+time=5"]
    cmd += ["+tcp"] if tcp else ["+notcp"]
    out = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.mark.parametrize("tcp", [False, True])
def test_dig_every_record_type(zoo: TwistdProcess, tcp: bool) -> None:
    """dig gets the built-in zone's A, AAAA, MX, NS, TXT, CNAME and SOA, over UDP and TCP."""
    short = {
        qtype: dig(zoo, "+short", name, qtype, tcp=tcp).split("\n")[0]
        for name, qtype in [
            ("zoo.test", "A"),
            ("zoo.test", "AAAA"),
            ("zoo.test", "MX"),
            ("zoo.test", "NS"),
            ("zoo.test", "TXT"),
            ("www.zoo.test", "CNAME"),
            ("zoo.test", "SOA"),
        ]
    }
    assert short["A"] == "127.0.0.1"
    assert short["AAAA"] == "::1"
    assert short["MX"] == "10 mail.zoo.test."
    assert short["NS"] == "ns.zoo.test."
    assert short["TXT"] == '"zoo-dns: a Twisted protocol zoo"'
    assert short["CNAME"] == "zoo.test."
    assert short["SOA"].startswith("ns.zoo.test. hostmaster.zoo.test. 1 ")


def test_dig_status_and_flags(zoo: TwistdProcess) -> None:
    """Answers are authoritative; a missing name in the zone is NXDOMAIN; recursion is off."""
    out = dig(zoo, "zoo.test", "A")
    assert "status: NOERROR" in out and " aa" in out.split("flags:")[1].split(";")[0]
    assert "status: NXDOMAIN" in dig(zoo, "nothing.zoo.test", "A")
    outside = dig(zoo, "python.org", "A")
    assert "status: NXDOMAIN" in outside
    flags = outside.split("flags:")[1].split(";")[0].split()
    assert "ra" not in flags  # no recursion offered without --forward


def run_book(script: str, port: int, name: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(BOOKS / script), name],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "ZOO_PORT": str(port)},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_dns_basic_py3dns(zoo: TwistdProcess) -> None:
    """The book's dns_basic.py (PyDNS, as py3dns) prints A, AAAA, MX and NS as the book does."""
    pytest.importorskip("DNS", reason="py3dns (PyDNS for Python 3) is not installed")
    lines = run_book("dns_basic.py", zoo.port("dns", "UDP"), "zoo.test")
    assert lines == [
        "zoo.test IN A '127.0.0.1'",
        "zoo.test IN AAAA b'" + "\\x00" * 15 + "\\x01'",
        "zoo.test IN MX (10, 'mail.zoo.test')",
        "zoo.test IN NS 'ns.zoo.test'",
    ]


def test_dns_basic_py3dns_at_an_alias(zoo: TwistdProcess) -> None:
    """At a CNAME, each of the book's five questions gets the CNAME and the target's record."""
    pytest.importorskip("DNS", reason="py3dns (PyDNS for Python 3) is not installed")
    lines = run_book("dns_basic.py", zoo.port("dns", "UDP"), "www.zoo.test")
    cname = "www.zoo.test IN CNAME 'zoo.test'"
    assert lines == [
        cname,
        "zoo.test IN A '127.0.0.1'",
        cname,
        "zoo.test IN AAAA b'" + "\\x00" * 15 + "\\x01'",
        cname,
        cname,
        "zoo.test IN MX (10, 'mail.zoo.test')",
        cname,
        "zoo.test IN NS 'ns.zoo.test'",
    ]


def test_dns_basic_dnspython(zoo: TwistdProcess) -> None:
    """dns_basic.py's five questions through dnspython get the same records."""
    lines = run_book("dns_basic_dnspython.py", zoo.port("dns", "UDP"), "zoo.test")
    assert lines == [
        "zoo.test IN A '127.0.0.1'",
        "zoo.test IN AAAA '::1'",
        "zoo.test IN MX '10 mail.zoo.test.'",
        "zoo.test IN NS 'ns.zoo.test.'",
    ]


def test_dnspython_tcp(zoo: TwistdProcess) -> None:
    """dnspython's TCP query (two-byte length prefix) gets the MX record."""
    import dns.message
    import dns.query

    q = dns.message.make_query("zoo.test", "MX")
    r = dns.query.tcp(q, "127.0.0.1", port=zoo.port("dns", "TCP"), timeout=5)
    assert [rr.to_text() for rrset in r.answer for rr in rrset] == ["10 mail.zoo.test."]


def _mangled(query: bytes, rnd: random.Random) -> bytes:
    """Random bytes, a query with flipped bytes, a cut query, or one with a tail."""
    kind = rnd.randrange(4)
    if kind == 0:
        return rnd.randbytes(rnd.randrange(0, 600))
    if kind == 1:
        b = bytearray(query)
        for _ in range(rnd.randrange(1, 6)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        return bytes(b)
    if kind == 2:
        return query[: rnd.randrange(len(query))]
    return query + rnd.randbytes(rnd.randrange(1, 50))


def test_garbage_does_not_crash_it(zoo: TwistdProcess) -> None:
    """2000 garbage datagrams and 100 garbage TCP messages: no traceback, still answering."""
    import dns.message
    import dns.query

    query = dns.message.make_query("zoo.test", "A").to_wire()
    rnd = random.Random(19)
    udp, tcp = zoo.port("dns", "UDP"), zoo.port("dns", "TCP")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(2000):
            s.sendto(_mangled(query, rnd), ("127.0.0.1", udp))
            if i % 100 == 99:  # pace it, so the kernel does not drop what we test
                q = dns.message.make_query("zoo.test", "A")
                assert dns.query.udp(q, "127.0.0.1", port=udp, timeout=5).answer
    for _ in range(100):
        with socket.create_connection(("127.0.0.1", tcp), timeout=5) as c:
            data = _mangled(query, rnd)
            c.sendall(struct.pack("!H", len(data)) + data)
    with socket.create_connection(("127.0.0.1", tcp), timeout=5) as c:
        c.sendall(b"\xff\xff" + b"\x00" * 100)  # announces 65535 bytes, sends 100, leaves
    q = dns.message.make_query("zoo.test", "A")
    assert dns.query.tcp(q, "127.0.0.1", port=tcp, timeout=5).answer
    assert "Traceback" not in zoo.output
    assert "Unhandled" not in zoo.output


def test_zone_file_records_and_forwarder(tmp_path: Path) -> None:
    """A zone file serves its records; --forward answers other names from an upstream zoo-dns."""
    zone = tmp_path / "example.zone"
    zone.write_text(
        "$ORIGIN example.test.\n$TTL 60\n"
        "@ IN NS ns\n@ IN A 192.0.2.1\nns A 192.0.2.2\n"
        '@ TXT "v=spf1 -all" ; a comment\nalias CNAME @\n'
    )
    with TwistdProcess(
        ["zoo-dns", "--port", "0", "--domain", "upstream.test", "--record", "x A 198.51.100.7"],
        tmp_path / "up",
    ) as upstream:
        up = upstream.port("dns", "UDP")
        args = ["zoo-dns", "--port", "0", "--zone-file", str(zone), "--forward", f"127.0.0.1:{up}"]
        with TwistdProcess(args, tmp_path / "down") as z:
            assert dig(z, "+short", "example.test", "A").strip() == "192.0.2.1"
            assert dig(z, "+short", "example.test", "TXT").strip() == '"v=spf1 -all"'
            assert dig(z, "+short", "alias.example.test", "CNAME").strip() == "example.test."
            forwarded = dig(z, "x.upstream.test", "A")
            assert "198.51.100.7" in forwarded and "status: NOERROR" in forwarded
            assert "Traceback" not in z.output


def test_every_listener_probes(zoo: TwistdProcess) -> None:
    """The shared probe gets an answer from the TCP and the UDP listener."""
    for entry in zoo.listeners:
        probe(entry)
