"""Without pytest's fixtures: zoo.run in a unittest TestCase (pytest runs it too)."""

import smtplib
import unittest

import zoo


class WelcomeMailTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.zoo = zoo.run("smtp")
        cls.addClassCleanup(cls.zoo.stop)

    def setUp(self):
        self.smtp = self.zoo.smtp
        self.smtp.reset()

    def test_mail_arrives(self):
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=10) as s:
            s.sendmail("shop@example.com", ["erin@example.com"], "Subject: hi\r\n\r\nhello\r\n")
        message = self.smtp.wait_for_message(to="erin@example.com", timeout=5)
        self.assertEqual(message["subject"], "hi")

    def test_starts_empty(self):
        self.assertEqual(self.smtp.messages(), [])
