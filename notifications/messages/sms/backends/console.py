import sys
import threading
from typing import Any, TextIO

from notifications.messages.sms import SmsMessage
from notifications.messages.sms.backends.base import SmsBackend as BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    """Writes each message to standard output (or `stream`) instead of sending it: the development default."""

    _lock = threading.Lock()

    def __init__(self, *, stream: TextIO | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stream = stream or sys.stdout

    def send(self, message: SmsMessage) -> str:
        with self._lock:
            self.stream.write(f"SMS to: {message.to}\n{message.body}\n{'-' * 79}\n")
            self.stream.flush()
        return ""
