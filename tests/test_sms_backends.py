"""The SMS backends (SPEC §8): chosen by SMS_BACKEND; the Twilio one checked against the SDK's own HTTP client,
whose transport is replaced by one that records the request and answers as Twilio does, so nothing leaves the
machine."""

import base64
import importlib
import io
import json
from urllib.parse import parse_qs

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioRestException

import reportsite.settings as project_settings
from notifications.messages import sms
from notifications.messages.sms import SmsMessage, get_sms_backend
from notifications.messages.sms.backends import console, locmem
from notifications.messages.sms.backends import twilio as twilio_backend

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token"
FROM = "+15005550006"
TO = "+14155552671"
MESSAGE_SID = "SM" + "fedcba9876543210" * 2


class RecordingTransport(requests.adapters.BaseAdapter):
    """requests' transport under the SDK's TwilioHttpClient: keeps each request and its timeout, and answers."""

    def __init__(self, status: int, body: dict):
        super().__init__()
        self.status, self.body = status, body
        self.sent: list[tuple[requests.PreparedRequest, object]] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.sent.append((request, timeout))
        response = requests.Response()
        response.status_code = self.status
        response._content = json.dumps(self.body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url, response.request, response.encoding = request.url, request, "utf-8"
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def twilio_settings(settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM
    settings.TWILIO_TIMEOUT = 7.5


def _backend_answering(status: int, body: dict) -> tuple[twilio_backend.SmsBackend, RecordingTransport]:
    backend = get_sms_backend()
    transport = RecordingTransport(status, body)
    backend.http_client.session.mount("https://", transport)
    return backend, transport


def test_twilio_backend_posts_the_message_to_the_messages_resource_of_the_account(twilio_settings):
    backend, transport = _backend_answering(
        201, {"sid": MESSAGE_SID, "status": "queued", "to": TO, "from": FROM, "body": "Hi", "account_sid": ACCOUNT_SID}
    )

    message_id = backend.send(SmsMessage(to=TO, body="Reports: User access review succeeded (rep_1)"))

    assert message_id == MESSAGE_SID
    [(request, timeout)] = transport.sent
    assert request.method == "POST"
    assert request.url == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert parse_qs(request.body) == {
        "To": [TO],
        "From": [FROM],
        "Body": ["Reports: User access review succeeded (rep_1)"],
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert timeout == 7.5  # TWILIO_TIMEOUT reaches the socket: a hung request cannot hold the worker


def test_twilio_refusal_raises_the_sdks_error_with_twilios_code(twilio_settings):
    backend, _ = _backend_answering(
        400,
        {
            "code": 21211,
            "message": "The 'To' number +1415555 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        },
    )

    with pytest.raises(TwilioRestException) as raised:
        backend.send(SmsMessage(to="+1415555", body="x"))

    assert (raised.value.status, raised.value.code) == (400, 21211)
    assert "is not a valid phone number" in raised.value.msg


def test_twilio_backend_refuses_to_start_without_credentials(settings):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM_NUMBER = ACCOUNT_SID, "", FROM

    with pytest.raises(ImproperlyConfigured, match="TWILIO_AUTH_TOKEN"):
        get_sms_backend("twilio")


def test_settings_refuse_twilio_without_credentials(monkeypatch):
    # Given SMS_BACKEND=twilio in the environment and no credentials
    monkeypatch.setenv("SMS_BACKEND", "twilio")
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"):
        monkeypatch.delenv(name, raising=False)

    # Then the settings do not load (the process does not start)
    with pytest.raises(ImproperlyConfigured, match="SMS_BACKEND=twilio needs"):
        importlib.reload(project_settings)
    monkeypatch.delenv("SMS_BACKEND")
    importlib.reload(project_settings)


def test_backends_are_chosen_by_alias_or_dotted_path(settings):
    settings.SMS_BACKEND = "console"
    assert type(get_sms_backend()) is console.SmsBackend
    assert type(get_sms_backend("locmem")) is locmem.SmsBackend
    assert type(get_sms_backend("notifications.messages.sms.backends.locmem.SmsBackend")) is locmem.SmsBackend


def test_console_backend_prints_the_message():
    stream = io.StringIO()

    assert console.SmsBackend(stream=stream).send(SmsMessage(to=TO, body="Hello")) == ""

    assert stream.getvalue() == f"SMS to: {TO}\nHello\n{'-' * 79}\n"


def test_locmem_backend_keeps_messages_in_the_outbox(sms_outbox):
    get_sms_backend().send(SmsMessage(to=TO, body="one"))
    get_sms_backend().send(SmsMessage(to=TO, body="two"))

    assert sms.outbox == [SmsMessage(to=TO, body="one"), SmsMessage(to=TO, body="two")]
