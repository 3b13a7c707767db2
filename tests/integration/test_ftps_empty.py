"""FTPS (PROT P) transfers with nothing in them: an empty listing and an empty file, with ftplib."""

from __future__ import annotations

import ftplib
import io
import ssl

import pytest

import zoo

pytestmark = pytest.mark.integration


def test_empty_listings_and_files_over_prot_p() -> None:
    """NLST and LIST of an empty folder and RETR of an empty file answer nothing, not a reset."""
    with zoo.run("ftp") as z:
        h = z.ftp
        f = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=h.ca_file), timeout=10)
        f.connect(h.host, h.port)
        f.login(h.user, h.password)
        f.prot_p()
        assert f.nlst() == []
        lines: list[str] = []
        assert f.retrlines("LIST", lines.append).startswith("226") and lines == []
        f.storbinary("STOR empty.bin", io.BytesIO(b""))
        got: list[bytes] = []
        assert f.retrbinary("RETR empty.bin", got.append).startswith("226") and got == []
        assert f.nlst() == ["empty.bin"]
        f.quit()
