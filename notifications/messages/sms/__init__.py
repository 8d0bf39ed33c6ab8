"""Sending SMS through a pluggable backend, chosen by the `SMS_BACKEND` setting, the way Django sends email.

    get_sms_backend().send(SmsMessage(to="+14155552671", body="..."))

Backends: `console` (the default: prints each message), `locmem` (keeps them in `notifications.messages.sms.outbox`, for
tests, like Django's `mail.outbox`), `twilio` (Twilio's REST API through its SDK), or any dotted path to a subclass
of `notifications.messages.sms.backends.base.SmsBackend`.

Why not django-sms: it has the same three backends, but its Twilio backend builds the SDK's client without an HTTP
client of our choosing, so a request to Twilio has no timeout and a hung connection would hold a worker for good;
its in-memory outbox is made lazily on first use and never emptied between tests; its sending returns a count
rather than the provider's message id that the log keeps; and its last release (2023) predates Django 5.1. What is
left once the Twilio backend is replaced is a few dozen lines, so they live here.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

BACKEND_ALIASES = {
    "console": "notifications.messages.sms.backends.console.SmsBackend",
    "locmem": "notifications.messages.sms.backends.locmem.SmsBackend",
    "twilio": "notifications.messages.sms.backends.twilio.SmsBackend",
}


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164
    body: str


# Messages sent through the locmem backend, oldest first.
outbox: list[SmsMessage] = []


def get_sms_backend(backend: str | None = None, **kwargs):
    """An instance of the configured backend (or of `backend`: an alias or a dotted path)."""
    path = backend or settings.SMS_BACKEND
    return import_string(BACKEND_ALIASES.get(path, path))(**kwargs)
