"""TLS clients and the small services: zoo_tls, zoo_lancelot, and FTPS on zoo_ftp."""

import ftplib
import io
import socket
import ssl


def test_tls_client(zoo_tls):
    context = ssl.create_default_context(cafile=zoo_tls.ca_file)
    with socket.create_connection((zoo_tls.host, zoo_tls.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"ping")
            assert s.recv(4) == b"ping"


def test_ftps_client(zoo_ftp):
    context = ssl.create_default_context(cafile=zoo_ftp.ca_file)
    with ftplib.FTP_TLS(context=context) as ftp:
        ftp.connect(zoo_ftp.host, zoo_ftp.port, timeout=10)
        ftp.login(zoo_ftp.user, zoo_ftp.password)  # AUTH TLS first, then the password
        ftp.prot_p()  # and the data connections too
        ftp.storbinary("STOR secret.txt", io.BytesIO(b"s3cr3t"))
    assert zoo_ftp.read_file("secret.txt") == b"s3cr3t"


def test_lancelot(zoo_lancelot):
    with socket.create_connection((zoo_lancelot.host, zoo_lancelot.port), timeout=10) as s:
        s.sendall(b"What is your name?")
        answer = s.recv(100)
    assert answer == b"My name is Sir Lancelot of Camelot."

    event = zoo_lancelot.wait_for("lancelot.answered", question="What is your name?")
    assert event["answer"] == "My name is Sir Lancelot of Camelot."
