"""An email backend that fails its first send in this process, then delivers to Django's locmem outbox."""

from smtplib import SMTPServerDisconnected

from django.core.mail.backends.locmem import EmailBackend


class FailingOnceEmailBackend(EmailBackend):
    failures_left = 1

    @classmethod
    def reset(cls, failures: int = 1) -> None:
        cls.failures_left = failures

    def send_messages(self, email_messages) -> int:
        if FailingOnceEmailBackend.failures_left > 0:
            FailingOnceEmailBackend.failures_left -= 1
            raise SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(email_messages)
