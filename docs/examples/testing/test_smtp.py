"""Code that sends mail with smtplib, tested against zoo_smtp."""

import smtplib
import ssl
from email.message import EmailMessage


def send_welcome(host, port, to, *, login=None, cafile=None):
    """The code under test: a welcome mail, over STARTTLS with a login if one is given."""
    message = EmailMessage()
    message["From"] = "shop@example.com"
    message["To"] = to
    message["Subject"] = "Welcome!"
    message.set_content("Thanks for signing up.")
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        if login:
            smtp.starttls(context=ssl.create_default_context(cafile=cafile))
            smtp.login(*login)
        smtp.send_message(message)


def test_welcome_mail(zoo_smtp):
    send_welcome(zoo_smtp.host, zoo_smtp.port, "alice@example.com")

    message = zoo_smtp.wait_for_message(to="alice@example.com", timeout=5)
    assert message["subject"] == "Welcome!"
    assert "Thanks for signing up." in message["text"]


def test_welcome_mail_over_starttls(zoo_smtp):
    login = (zoo_smtp.user, zoo_smtp.password)
    send_welcome(
        zoo_smtp.host, zoo_smtp.port, "bob@example.com", login=login, cafile=zoo_smtp.ca_file
    )

    message = zoo_smtp.wait_for_message(to="bob@example.com", timeout=5)
    assert message["from"] == "shop@example.com"


def test_each_test_starts_empty(zoo_smtp):
    assert zoo_smtp.messages() == []
