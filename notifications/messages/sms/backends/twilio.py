"""Twilio's Programmable Messaging through its official SDK, with an explicit timeout on every HTTP request."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.messages.sms import SmsMessage
from notifications.messages.sms.backends.base import SmsBackend as BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    """Settings: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER and TWILIO_TIMEOUT (seconds for one
    request). A refusal by Twilio raises the SDK's TwilioRestException, a network failure requests' exceptions."""

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        from_number: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        account_sid = account_sid or settings.TWILIO_ACCOUNT_SID
        auth_token = auth_token or settings.TWILIO_AUTH_TOKEN
        self.from_number = from_number or settings.TWILIO_FROM_NUMBER
        if not (account_sid and auth_token and self.from_number):
            raise ImproperlyConfigured(
                "The Twilio SMS backend needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER."
            )
        # Without a timeout the SDK waits for an answer for ever; a hung request would hold the worker.
        self.http_client = TwilioHttpClient(timeout=timeout or settings.TWILIO_TIMEOUT)
        self.client = Client(account_sid, auth_token, http_client=self.http_client)

    def send(self, message: SmsMessage) -> str:
        sent = self.client.messages.create(to=message.to, from_=self.from_number, body=message.body)
        return sent.sid or ""
