from abc import ABC, abstractmethod
from typing import Any

from notifications.messages.sms import SmsMessage


class SmsBackend(ABC):
    """Sends one message, returns the provider's id for it ("" when there is none), and raises when it could not
    be sent: the caller records the error and retries."""

    def __init__(self, **kwargs: Any) -> None:  # noqa: B027 - backends take their settings as keywords, or none
        pass

    @abstractmethod
    def send(self, message: SmsMessage) -> str:
        """Send it, or raise."""
