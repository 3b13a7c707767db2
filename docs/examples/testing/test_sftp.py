"""Code that uploads with paramiko's SFTP client, tested against zoo_sftp."""

import paramiko


def upload(host, port, user, password, path, data):
    """The code under test: store bytes at path over SFTP."""
    client = paramiko.SSHClient()
    # zoo's host key is generated on first start; a test has no known_hosts for it
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        host,
        port,
        username=user,
        password=password,
        timeout=10,
        allow_agent=False,
        look_for_keys=False,
    )
    try:
        with client.open_sftp() as sftp, sftp.open(path, "wb") as f:
            f.write(data)
    finally:
        client.close()


def test_invoice_is_uploaded(zoo_sftp):
    upload(
        zoo_sftp.host,
        zoo_sftp.port,
        zoo_sftp.user,
        zoo_sftp.password,
        "/invoice-7.pdf",
        b"%PDF-1.7 ...",
    )

    event = zoo_sftp.wait_for_upload("/invoice-7.pdf", timeout=5)
    assert event["user"] == zoo_sftp.user
    assert zoo_sftp.read_file("/invoice-7.pdf") == b"%PDF-1.7 ..."
