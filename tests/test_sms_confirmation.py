"""SMS abuse limits (SPEC §19): SMS go only to a number its owner confirmed with a code texted to it, at most
SMS_DAILY_LIMIT a day per user, and only to the country calling codes of SMS_ALLOWED_COUNTRY_CODES. The codes have
their own throttle. Through the API, the web UI and the delivery engine (report SMS sent by delivery runs run here,
as in test_notification_sending.py)."""

import importlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

import reportsite.settings as project_settings
from events.models import Delivery, DeliveryStatus
from notifications.jobs import purge_sms_sends
from notifications.messages import phone
from notifications.messages.sms import SmsMessage
from notifications.models import NotificationPreferences, PhoneConfirmation, SmsSend
from reports.models import Report
from tests import notification_backends
from tests.conftest import client_for, field_errors, staff_browser_for
from tests.notify_helpers import (
    PHONE,
    confirm_phone,
    fail_report,
    message_deliveries,
    run_message_deliveries,
    set_preferences,
    texted_code,
)

pytestmark = pytest.mark.django_db

OTHER_PHONE = "+14155550199"
UK_PHONE = "+447911123456"
DE_PHONE = "+4915123456789"
SITE = "https://reports.example.com"

CONFIRM = "/api/v1/preferences/phone/confirm"
RESEND = "/api/v1/preferences/phone/resend"

WRONG_4_LEFT = "That code is not right; 4 tries left."
USED_UP = "Too many wrong codes: ask for a new one."
EXPIRED = "This code has expired: ask for a new one."
NO_CODE = "No code is waiting for this number: ask for one."
CODE_FORMAT = "Enter the 6-digit code sent to your phone."
NO_PHONE = "Set a phone number first."
NOT_ALLOWED_1_44 = "SMS can only go to numbers with country code +1 or +44."
NOT_CONFIRMED = "Not sent: the phone number is not confirmed."
DAILY_LIMIT = "Not sent: daily SMS limit reached (2 in 24 hours)."


def _problem(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def _errors(response) -> dict:
    body = _problem(response)
    assert (body["type"], body["status"]) == ("urn:reportsite:problem:validation-error", 400)
    return body["errors"]


def _stored(user) -> tuple[str, bool]:
    preferences = NotificationPreferences.objects.get(user=user)
    return str(preferences.phone_number), preferences.phone_confirmed_at is not None


def _age_codes(user, seconds: float) -> None:
    """As if the codes sent to the user so far were sent `seconds` earlier."""
    SmsSend.objects.filter(user=user).update(created_at=F("created_at") - timedelta(seconds=seconds))


@pytest.fixture
def codes(monkeypatch):
    """Make the next confirmation codes these, in order."""

    def use(*values: str) -> None:
        pending = iter(values)
        monkeypatch.setattr(phone, "new_code", lambda: next(pending))

    return use


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- Setting a number texts a code -----------------------------------------------------------------------------------


def test_setting_a_number_stores_it_unconfirmed_and_texts_a_six_digit_code(user, sms_outbox):
    # When a user sets a phone number
    before = timezone.now()
    response = client_for(user).patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")

    # Then it is stored, not confirmed, and a code was texted to it through the SMS backend, at once
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["phone_number"], body["phone_confirmed"], body["phone_confirmed_at"]) == (PHONE, False, None)
    assert _stored(user) == (PHONE, False)
    [message] = sms_outbox
    code = texted_code(sms_outbox)
    assert message == SmsMessage(
        to=PHONE,
        body=f"Reports: your code to confirm this number is {code}. It expires in 10 minutes. "
        "If you did not ask for it, ignore this SMS.",
    )
    # And it expires in 10 minutes; only a keyed hash of it is stored
    pending = PhoneConfirmation.objects.get(user=user)
    expires_at = before + timedelta(minutes=10)
    assert expires_at <= pending.expires_at <= timezone.now() + timedelta(minutes=10)
    assert body["phone_code_expires_at"] == pending.expires_at.isoformat().replace("+00:00", "Z")
    assert code not in pending.code_hash and len(pending.code_hash) == 64
    # And it counts as a code sent, not as a report notification
    assert list(SmsSend.objects.values_list("purpose", "phone_number")) == [("phone_code", PHONE)]
    assert Delivery.objects.count() == 0


def test_the_texted_code_confirms_the_number(user, sms_outbox):
    api = client_for(user)
    api.patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")

    response = api.post(CONFIRM, {"code": texted_code(sms_outbox)}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["phone_number"], body["phone_confirmed"], body["phone_code_expires_at"]) == (PHONE, True, None)
    assert body["phone_confirmed_at"] is not None
    assert _stored(user) == (PHONE, True)
    assert api.get("/api/v1/preferences").json()["phone_confirmed"] is True
    # The code is used up
    assert not PhoneConfirmation.objects.filter(user=user).exists()
    assert len(sms_outbox) == 1


def test_a_wrong_code_is_a_field_error_and_five_of_them_use_the_code_up(user, sms_outbox):
    api = client_for(user)
    api.patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")
    code = texted_code(sms_outbox)

    assert _errors(api.post(CONFIRM, {"code": _wrong(code)}, format="json")) == {"code": [WRONG_4_LEFT]}
    for left in ("3 tries", "2 tries", "1 try"):
        assert _errors(api.post(CONFIRM, {"code": _wrong(code)}, format="json")) == {
            "code": [f"That code is not right; {left} left."]
        }
    assert _errors(api.post(CONFIRM, {"code": _wrong(code)}, format="json")) == {"code": [USED_UP]}

    # Then even the right code no longer confirms it
    assert _errors(api.post(CONFIRM, {"code": code}, format="json")) == {"code": [USED_UP]}
    assert _stored(user) == (PHONE, False)
    assert PhoneConfirmation.objects.get(user=user).failed_attempts == 5


def test_an_expired_code_is_refused(user, sms_outbox):
    api = client_for(user)
    api.patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")
    PhoneConfirmation.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert _errors(api.post(CONFIRM, {"code": texted_code(sms_outbox)}, format="json")) == {"code": [EXPIRED]}
    assert _stored(user) == (PHONE, False)
    assert api.get("/api/v1/preferences").json()["phone_code_expires_at"] is None


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "", 123456, None])
def test_a_malformed_code_is_a_field_error_and_not_a_try(user, sms_outbox, code):
    api = client_for(user)
    api.patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")

    errors = _errors(api.post(CONFIRM, {"code": code}, format="json"))

    assert list(errors) == ["code"]
    assert PhoneConfirmation.objects.get(user=user).failed_attempts == 0


def test_confirming_without_a_number_or_a_code_or_twice_is_refused(user, sms_outbox):
    api = client_for(user)
    assert _errors(api.post(CONFIRM, {"code": "123456"}, format="json")) == {"phone_number": [NO_PHONE]}
    # A number whose code could not be texted has no code waiting
    set_preferences(user, phone_number=PHONE, phone_confirmed=False)
    assert _errors(api.post(CONFIRM, {"code": "123456"}, format="json")) == {"code": [NO_CODE]}
    # Twice: the second is a conflict, and changes nothing
    set_preferences(user, phone_number=PHONE)
    body = _problem(api.post(CONFIRM, {"code": "123456"}, format="json"), 409)
    assert body["detail"] == "This phone number is already confirmed."
    assert _stored(user) == (PHONE, True)


def test_changing_the_number_unconfirms_it_and_texts_the_new_one(user, sms_outbox):
    api = client_for(user)
    confirm_phone(api, sms_outbox)
    _age_codes(user, 3600)

    # Setting the same number again changes nothing and texts nothing
    same = api.patch("/api/v1/preferences", {"phone_number": "+1 415 555 2671"}, format="json")
    assert same.json()["phone_confirmed"] is True
    assert len(sms_outbox) == 1

    # Another number is unconfirmed until its own code comes back
    response = api.patch("/api/v1/preferences", {"phone_number": OTHER_PHONE}, format="json")

    assert response.json()["phone_confirmed"] is False
    assert _stored(user) == (OTHER_PHONE, False)
    assert [message.to for message in sms_outbox] == [PHONE, OTHER_PHONE]
    assert api.post(CONFIRM, {"code": texted_code(sms_outbox, OTHER_PHONE)}, format="json").status_code == 200
    assert _stored(user) == (OTHER_PHONE, True)


def test_a_code_confirms_only_the_number_it_was_sent_to(user, sms_outbox, codes):
    codes("111111", "222222")
    api = client_for(user)
    api.patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")
    _age_codes(user, 3600)
    api.patch("/api/v1/preferences", {"phone_number": OTHER_PHONE}, format="json")

    assert _errors(api.post(CONFIRM, {"code": "111111"}, format="json")) == {"code": [WRONG_4_LEFT]}
    assert _stored(user) == (OTHER_PHONE, False)
    assert api.post(CONFIRM, {"code": "222222"}, format="json").status_code == 200


def test_removing_the_number_drops_its_confirmation_and_its_code(user, sms_outbox):
    api = client_for(user)
    confirm_phone(api, sms_outbox)

    assert api.patch("/api/v1/preferences", {"phone_number": ""}, format="json").status_code == 200

    assert _stored(user) == ("", False)
    assert not PhoneConfirmation.objects.exists()


def test_codes_are_the_callers_own(make_user, sms_outbox, codes):
    codes("111111", "222222")
    ada, bob = make_user("ada"), make_user("bob")
    client_for(ada).patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")
    client_for(bob).patch("/api/v1/preferences", {"phone_number": OTHER_PHONE}, format="json")

    # Bob sending ada's code confirms nothing of ada's
    client_for(bob).post(CONFIRM, {"code": texted_code(sms_outbox, PHONE)}, format="json")

    assert _stored(ada) == (PHONE, False)
    assert PhoneConfirmation.objects.get(user=ada).failed_attempts == 0


# --- Resending, and the throttle of codes ----------------------------------------------------------------------------


def test_resend_texts_a_new_code_and_the_old_one_stops_working(user, sms_outbox, codes):
    codes("111111", "222222")
    api = client_for(user)
    api.patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")
    _age_codes(user, 61)

    response = api.post(RESEND)

    assert response.status_code == 200, response.content
    assert response.json()["phone_confirmed"] is False
    assert [message.to for message in sms_outbox] == [PHONE, PHONE]
    assert texted_code(sms_outbox) == "222222"
    assert _errors(api.post(CONFIRM, {"code": "111111"}, format="json")) == {"code": [WRONG_4_LEFT]}
    assert api.post(CONFIRM, {"code": "222222"}, format="json").json()["phone_confirmed"] is True


def test_codes_are_throttled_to_one_a_minute_and_five_an_hour(user, sms_outbox):
    api = client_for(user)
    api.patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")

    # A second code within the minute: 429 with Retry-After, nothing texted, nothing changed
    throttled = api.post(RESEND)
    body = _problem(throttled, 429)
    assert body["type"] == "urn:reportsite:problem:rate-limited"
    assert 55 <= int(throttled["Retry-After"]) <= 60
    assert body["detail"] == f"Too many codes were sent to you lately; try again in {throttled['Retry-After']} s."
    assert len(sms_outbox) == 1

    # One a minute is fine, up to five in the hour
    for _ in range(4):
        _age_codes(user, 61)
        assert api.post(RESEND).status_code == 200
    assert len(sms_outbox) == 5
    _age_codes(user, 61)
    sixth = api.post(RESEND)
    _problem(sixth, 429)
    # The oldest of the five leaves the hour first
    assert 3600 - 5 * 61 - 5 <= int(sixth["Retry-After"]) <= 3600 - 5 * 61
    assert len(sms_outbox) == 5


def test_changing_the_number_is_throttled_like_a_resend_and_then_changes_nothing(user, sms_outbox):
    api = client_for(user)
    api.patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")

    response = api.patch("/api/v1/preferences", {"phone_number": OTHER_PHONE, "sms_on_failure": True}, format="json")

    _problem(response, 429)
    assert _stored(user) == (PHONE, False)
    assert NotificationPreferences.objects.get(user=user).sms_on_failure is False
    assert len(sms_outbox) == 1


def test_codes_have_a_daily_cap_too(user, sms_outbox):
    api = client_for(user)
    api.patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")
    for _ in range(9):
        _age_codes(user, 3600 / 5 + 1)
        assert api.post(RESEND).status_code == 200
    _age_codes(user, 3600 / 5 + 1)

    _problem(api.post(RESEND), 429)

    assert len(sms_outbox) == 10


def test_resend_needs_an_unconfirmed_number(user, sms_outbox):
    api = client_for(user)
    assert _errors(api.post(RESEND)) == {"phone_number": [NO_PHONE]}
    confirm_phone(api, sms_outbox)
    _age_codes(user, 3600)

    assert _problem(api.post(RESEND), 409)["detail"] == "This phone number is already confirmed."
    assert len(sms_outbox) == 1


def test_a_code_the_backend_could_not_send_is_logged_and_can_be_resent(user, settings, sms_outbox):
    # Given an SMS provider that fails
    settings.SMS_BACKEND = "tests.notification_backends.FailingSmsBackend"
    api = client_for(user)

    # When the number is set, it is saved; no code is waiting, and the failure is in the log
    response = api.patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")
    assert response.status_code == 200
    assert (response.json()["phone_confirmed"], response.json()["phone_code_expires_at"]) == (False, None)
    assert list(SmsSend.objects.values_list("purpose", "error")) == [
        ("phone_code", f"ConnectionError: {notification_backends.SMS_ERROR}")
    ]
    # A resend that fails too is a 503
    _age_codes(user, 61)
    body = _problem(api.post(RESEND), 503)
    assert body["detail"] == "The code could not be sent; try again in a minute."
    assert not PhoneConfirmation.objects.exists()

    # Once the provider works, a resend texts a code
    settings.SMS_BACKEND = "locmem"
    _age_codes(user, 61)
    assert api.post(RESEND).status_code == 200
    assert [message.to for message in sms_outbox] == [PHONE]


# --- Country calling codes -------------------------------------------------------------------------------------------


def test_a_number_of_a_country_not_allowed_is_a_field_error_and_nothing_is_sent(user, settings, sms_outbox):
    settings.SMS_ALLOWED_COUNTRY_CODES = [1, 44]
    api = client_for(user)

    response = api.patch("/api/v1/preferences", {"phone_number": DE_PHONE, "sms_on_failure": True}, format="json")

    assert _errors(response) == {"phone_number": [NOT_ALLOWED_1_44]}
    assert not NotificationPreferences.objects.filter(user=user).exists()
    assert sms_outbox == [] and SmsSend.objects.count() == 0
    # The allowed ones are fine
    assert api.patch("/api/v1/preferences", {"phone_number": UK_PHONE}, format="json").status_code == 200
    assert [message.to for message in sms_outbox] == [UK_PHONE]


def test_any_country_is_allowed_by_default(user, settings, sms_outbox):
    assert settings.SMS_ALLOWED_COUNTRY_CODES == []

    assert client_for(user).patch("/api/v1/preferences", {"phone_number": DE_PHONE}, format="json").status_code == 200
    assert [message.to for message in sms_outbox] == [DE_PHONE]


def test_a_number_whose_country_was_disallowed_since_gets_no_code(user, settings, sms_outbox):
    set_preferences(user, phone_number=DE_PHONE, phone_confirmed=False)
    settings.SMS_ALLOWED_COUNTRY_CODES = [1, 44]

    assert _errors(client_for(user).post(RESEND)) == {"phone_number": [NOT_ALLOWED_1_44]}
    assert sms_outbox == []


@pytest.mark.parametrize(
    ("value", "expected"), [("", []), ("1,44,49", [1, 44, 49]), (" +1 , 44 ", [1, 44]), ("1,,7", [1, 7])]
)
def test_the_settings_are_read_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("SMS_ALLOWED_COUNTRY_CODES", value)
    monkeypatch.setenv("SMS_DAILY_LIMIT", "5")
    try:
        importlib.reload(project_settings)
        read = (project_settings.SMS_ALLOWED_COUNTRY_CODES, project_settings.SMS_DAILY_LIMIT)
        assert read == (expected, 5)
    finally:
        monkeypatch.delenv("SMS_ALLOWED_COUNTRY_CODES")
        monkeypatch.delenv("SMS_DAILY_LIMIT")
        importlib.reload(project_settings)
    assert (project_settings.SMS_ALLOWED_COUNTRY_CODES, project_settings.SMS_DAILY_LIMIT) == ([], 20)


@pytest.mark.parametrize(
    ("name", "value"),
    [("SMS_ALLOWED_COUNTRY_CODES", "1,UK"), ("SMS_ALLOWED_COUNTRY_CODES", "9999"), ("SMS_DAILY_LIMIT", "-1")],
)
def test_settings_refuse_a_bad_value(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        importlib.reload(project_settings)
    monkeypatch.delenv(name)
    importlib.reload(project_settings)


# --- The notify override ---------------------------------------------------------------------------------------------


def test_the_sms_override_needs_a_confirmed_number(user):
    set_preferences(user, phone_number=PHONE, phone_confirmed=False)

    response = client_for(user).post(
        "/api/v1/reports", {"report_type": "user_access", "notify": {"sms": True}}, format="json"
    )

    assert _errors(response) == {
        "notify.sms": ["Confirm your phone number in your notification preferences to receive SMS."]
    }
    assert Report.objects.count() == 0


# --- OpenAPI ---------------------------------------------------------------------------------------------------------


def test_the_confirmation_is_in_the_openapi_schema():
    document = APIClient().get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    schemas = document["components"]["schemas"]

    confirm = document["paths"][CONFIRM]["post"]
    body_ref = confirm["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schemas[body_ref.rsplit("/", 1)[1]]["required"] == ["code"]
    assert set(confirm["responses"]) >= {"200", "400", "401", "409"}
    assert set(document["paths"][RESEND]["post"]["responses"]) >= {"200", "400", "401", "409", "429", "503"}
    assert "429" in document["paths"]["/api/v1/preferences"]["patch"]["responses"]
    preferences = schemas["PreferencesOutput"]["properties"]
    assert preferences["phone_confirmed"]["type"] == "boolean"
    assert preferences["phone_code_expires_at"]["type"] == ["string", "null"]  # OpenAPI 3.1: null is a type


def test_confirmation_needs_credentials():
    assert APIClient().post(CONFIRM, {"code": "123456"}, format="json").status_code == 401
    assert APIClient().post(RESEND).status_code == 401


# --- Web UI ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def browser(user) -> Client:
    """The user, signed in to the web UI, which is for staff."""
    return staff_browser_for(user)


def test_the_page_texts_a_code_for_a_new_number_and_confirms_it_with_the_code(browser, user, sms_outbox):
    # When the preferences form saves a new number
    saved = browser.post("/preferences/", {"email_on_success": "on", "phone_number": PHONE, "sms_on_failure": "on"})
    assert saved.status_code == 302

    # Then the page says it is not confirmed and asks for the code texted to it
    page = browser.get("/preferences/").content.decode()
    assert "Not confirmed" in page
    assert f"We texted a code to <strong>{PHONE}</strong>" in page
    assert 'action="/preferences/phone/confirm/"' in page and 'name="code"' in page
    assert 'action="/preferences/phone/resend/"' in page
    assert _stored(user) == (PHONE, False)

    # When the code is entered, the number is confirmed
    confirmed = browser.post("/preferences/phone/confirm/", {"code": texted_code(sms_outbox)})
    assert (confirmed.status_code, confirmed["Location"]) == (302, "/preferences/")
    page = browser.get("/preferences/").content.decode()
    assert "Your phone number is confirmed." in page
    assert 'name="code"' not in page
    assert _stored(user) == (PHONE, True)


def test_the_page_shows_a_wrong_code_on_its_field(browser, user, sms_outbox):
    client_for(user).patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")

    response = browser.post("/preferences/phone/confirm/", {"code": _wrong(texted_code(sms_outbox))})

    assert response.status_code == 400
    assert field_errors(response.content.decode(), "code") == [WRONG_4_LEFT]
    assert _stored(user) == (PHONE, False)
    malformed = browser.post("/preferences/phone/confirm/", {"code": "12ab"})
    assert field_errors(malformed.content.decode(), "code") == [CODE_FORMAT]


def test_the_page_resends_a_code_once_a_minute(browser, user, sms_outbox):
    client_for(user).patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")

    throttled = browser.post("/preferences/phone/resend/", follow=True)
    assert re.search(r"Too many codes were sent to you lately; try again in \d+ s\.", throttled.content.decode())
    assert len(sms_outbox) == 1

    _age_codes(user, 61)
    resent = browser.post("/preferences/phone/resend/", follow=True)
    assert f"A new code was texted to {PHONE}." in resent.content.decode()
    assert len(sms_outbox) == 2


def test_the_page_refuses_a_number_of_a_country_not_allowed_on_its_field(browser, user, settings, sms_outbox):
    settings.SMS_ALLOWED_COUNTRY_CODES = [1, 44]

    response = browser.post("/preferences/", {"phone_number": DE_PHONE})

    assert response.status_code == 400
    assert field_errors(response.content.decode(), "phone_number") == [NOT_ALLOWED_1_44]
    assert sms_outbox == []


def test_the_confirmation_pages_need_staff_and_post(user, browser, sms_outbox):
    not_staff = Client()
    not_staff.force_login(User.objects.create_user("bob"))
    for path in ("/preferences/phone/confirm/", "/preferences/phone/resend/"):
        assert Client().post(path)["Location"] == f"/accounts/login/?next={path}"
        assert not_staff.post(path, {"code": "123456"}).status_code == 403
        assert browser.get(path).status_code == 405
    assert sms_outbox == []


# --- Admin -----------------------------------------------------------------------------------------------------------


def test_the_admin_shows_the_confirmation_read_only(user):
    set_preferences(user, phone_number=PHONE, phone_confirmed=False)
    staff = User.objects.create_user("root", password="pw", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_notificationpreferences", "change_notificationpreferences"])
    )
    admin = Client()
    admin.force_login(staff)
    preferences = NotificationPreferences.objects.get(user=user)

    listing = admin.get("/admin/notifications/notificationpreferences/").content.decode()
    assert "Phone confirmed" in listing
    page = admin.get(f"/admin/notifications/notificationpreferences/{preferences.pk}/change/").content.decode()
    assert 'name="phone_number"' not in page and 'name="phone_confirmed_at"' not in page
    assert PHONE in page

    # A change through the admin leaves the number and its confirmation as they are
    form = {"user": user.pk, "email_on_success": "on", "phone_number": OTHER_PHONE, "phone_confirmed_at": "2026-01-01"}
    assert admin.post(f"/admin/notifications/notificationpreferences/{preferences.pk}/change/", form).status_code == 302
    assert _stored(user) == (PHONE, False)


# --- Sending: only to a confirmed number, at most SMS_DAILY_LIMIT a day -----------------------------------------------


@pytest.fixture
def ada(make_user, settings):
    settings.SITE_URL = SITE
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.NOTIFY_RETRY_SCHEDULE = [0, 0, 0]
    return make_user("ada", email="ada@example.com")


def _sms_deliveries() -> list[tuple[str, str, str]]:
    return [
        (delivery.status, delivery.target, delivery.last_error)
        for delivery in message_deliveries().filter(channel="sms")
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_queues")
def test_an_unconfirmed_number_gets_no_sms_and_the_log_says_why(ada, sms_outbox):
    # Given SMS on failure to a number its owner has not confirmed
    set_preferences(ada, sms_on_failure=True, email_on_failure=False, phone_number=PHONE, phone_confirmed=False)

    # When a report fails and a delivery run sends what it fanned out to
    fail_report(ada)
    run_message_deliveries()

    # Then nothing was texted, nor even attempted, and the delivery says why
    assert sms_outbox == []
    assert _sms_deliveries() == [(DeliveryStatus.SKIPPED, PHONE, NOT_CONFIRMED)]
    assert message_deliveries().get().attempt_count == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_queues")
def test_a_confirmed_number_gets_its_sms(ada, sms_outbox):
    confirm_phone(client_for(ada), sms_outbox)
    set_preferences(ada, sms_on_failure=True, email_on_failure=False)

    failed = fail_report(ada)
    run_message_deliveries()

    [_code, report_sms] = sms_outbox
    assert report_sms.to == PHONE
    assert report_sms.body.startswith(f"Reports: User access review failed ({failed.id}): ")
    assert _sms_deliveries() == [(DeliveryStatus.SUCCEEDED, PHONE, "")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_queues")
def test_a_number_changed_after_the_report_finished_gets_nothing(ada, sms_outbox):
    set_preferences(ada, sms_on_failure=True, email_on_failure=False, phone_number=PHONE)
    fail_report(ada)
    # The number changes (and is confirmed) before the delivery run
    set_preferences(ada, phone_number=OTHER_PHONE)

    run_message_deliveries()

    assert sms_outbox == []
    assert _sms_deliveries() == [(DeliveryStatus.SKIPPED, PHONE, "Not sent: the phone number was changed.")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_queues")
def test_at_most_the_daily_limit_of_sms_even_when_sent_together_and_codes_do_not_count(ada, settings, sms_outbox):
    # Given a limit of 2 SMS a day, and a number confirmed with a code (which does not count)
    settings.SMS_DAILY_LIMIT = 2
    confirm_phone(client_for(ada), sms_outbox)
    set_preferences(ada, sms_on_failure=True, email_on_failure=False)
    sms_outbox.clear()

    # When three reports fail and one delivery run sends their SMS together
    for _ in range(3):
        fail_report(ada)
    run_message_deliveries()

    # Then two were texted, and the third was not, with the reason
    assert len(sms_outbox) == 2
    assert sorted(_sms_deliveries()) == [
        (DeliveryStatus.SKIPPED, PHONE, DAILY_LIMIT),
        (DeliveryStatus.SUCCEEDED, PHONE, ""),
        (DeliveryStatus.SUCCEEDED, PHONE, ""),
    ]
    # And a fourth the same day is refused too
    fail_report(ada)
    run_message_deliveries()
    assert len(sms_outbox) == 2
    # And once those two are more than 24 hours old, SMS go again
    SmsSend.objects.filter(purpose="report").update(created_at=F("created_at") - timedelta(hours=24, seconds=1))
    fail_report(ada)
    run_message_deliveries()
    assert len(sms_outbox) == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_queues")
def test_the_limit_counts_sms_sent_not_attempts_that_failed(ada, settings, sms_outbox):
    settings.SMS_DAILY_LIMIT = 1
    settings.SMS_BACKEND = "tests.notification_backends.FailingSmsBackend"
    set_preferences(ada, sms_on_failure=True, email_on_failure=False, phone_number=PHONE)
    fail_report(ada)
    run_message_deliveries()
    assert _sms_deliveries()[0][0] == DeliveryStatus.FAILED

    # When the provider works again, the next SMS is within the limit
    settings.SMS_BACKEND = "locmem"
    fail_report(ada)
    run_message_deliveries()

    assert len(sms_outbox) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_queues")
def test_a_confirmed_number_of_a_country_disallowed_since_gets_nothing(ada, settings, sms_outbox):
    set_preferences(ada, sms_on_failure=True, email_on_failure=False, phone_number=DE_PHONE)
    settings.SMS_ALLOWED_COUNTRY_CODES = [1, 44]

    fail_report(ada)
    run_message_deliveries()

    assert sms_outbox == []
    assert _sms_deliveries() == [(DeliveryStatus.SKIPPED, DE_PHONE, f"Not sent: {NOT_ALLOWED_1_44}")]


def test_the_sms_ledger_is_purged_with_the_event_log(user, settings):
    # Given SMS counted 31 days ago and one today, with 30 days of retention
    settings.EVENT_RETENTION_DAYS = 30
    old = SmsSend.objects.create(user=user, purpose="phone_code", phone_number="+14155550100")
    SmsSend.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    recent = SmsSend.objects.create(user=user, purpose="phone_code", phone_number="+14155550100")

    # When the periodic job runs
    deleted = purge_sms_sends()

    # Then the old one is gone and today's, which the limits still count, is kept
    assert deleted == 1
    assert list(SmsSend.objects.values_list("pk", flat=True)) == [recent.pk]
