from notifications.messages import sms
from notifications.messages.sms import SmsMessage
from notifications.messages.sms.backends.base import SmsBackend as BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    """Keeps each message in `notifications.messages.sms.outbox` instead of sending it; for tests."""

    def send(self, message: SmsMessage) -> str:
        sms.outbox.append(message)
        return f"locmem-{len(sms.outbox)}"
