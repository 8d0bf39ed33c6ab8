"""Email and SMS backends that fail on purpose, for the tests and the worker processes they start."""

from smtplib import SMTPServerDisconnected

from django.core.mail.backends.base import BaseEmailBackend

from notifications.messages.sms import SmsMessage
from notifications.messages.sms.backends.base import SmsBackend

SMTP_ERROR = "Connection unexpectedly closed"
SMS_ERROR = "Provider answered 503"


class FailingEmailBackend(BaseEmailBackend):
    """An SMTP server that hangs up on every message. `attempts` counts the calls made in this process."""

    attempts = 0

    def send_messages(self, email_messages) -> int:
        FailingEmailBackend.attempts += 1
        raise SMTPServerDisconnected(SMTP_ERROR)


class FailingSmsBackend(SmsBackend):
    attempts = 0

    def send(self, message: SmsMessage) -> str:
        FailingSmsBackend.attempts += 1
        raise ConnectionError(SMS_ERROR)
