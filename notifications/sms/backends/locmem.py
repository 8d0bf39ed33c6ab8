from notifications import sms
from notifications.sms import SmsMessage
from notifications.sms.backends.base import SmsBackend as BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    """Keeps each message in `notifications.sms.outbox` instead of sending it; for tests."""

    def send(self, message: SmsMessage) -> str:
        sms.outbox.append(message)
        return f"locmem-{len(sms.outbox)}"
