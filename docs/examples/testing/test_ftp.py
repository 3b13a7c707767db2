"""Code that uploads and downloads with ftplib, tested against zoo_ftp."""

import ftplib
import io


def upload_report(host, port, user, password, name, rows):
    """The code under test: a CSV report uploaded to reports/ (made if missing)."""
    data = "".join(",".join(map(str, row)) + "\n" for row in rows).encode()
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login(user, password)
        if "reports" not in ftp.nlst():
            ftp.mkd("reports")
        ftp.storbinary(f"STOR reports/{name}", io.BytesIO(data))


def fetch_prices(host, port, user, password):
    """The code under test: a price list downloaded and parsed."""
    out = io.BytesIO()
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login(user, password)
        ftp.retrbinary("RETR prices.csv", out.write)
    return dict(line.split(",") for line in out.getvalue().decode().splitlines())


def test_report_is_uploaded(zoo_ftp):
    upload_report(
        zoo_ftp.host,
        zoo_ftp.port,
        zoo_ftp.user,
        zoo_ftp.password,
        "q1.csv",
        [("apples", 3), ("pears", 5)],
    )

    zoo_ftp.wait_for_upload("/reports/q1.csv", timeout=5)
    assert zoo_ftp.read_file("/reports/q1.csv") == b"apples,3\npears,5\n"


def test_prices_are_read(zoo_ftp):
    zoo_ftp.put_file("/prices.csv", b"apples,1.20\npears,0.90\n")

    prices = fetch_prices(zoo_ftp.host, zoo_ftp.port, zoo_ftp.user, zoo_ftp.password)
    assert prices == {"apples": "1.20", "pears": "0.90"}
