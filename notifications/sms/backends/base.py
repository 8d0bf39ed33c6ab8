from typing import Any

from notifications.sms import SmsMessage


class SmsBackend:
    """Sends one message, returns the provider's id for it ("" when there is none), and raises when it could not
    be sent: the caller records the error and retries."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def send(self, message: SmsMessage) -> str:
        raise NotImplementedError
