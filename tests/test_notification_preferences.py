"""Notification preferences (SPEC §4, §8, §9, §10): the API and the web UI page refuse an invalid phone number, and
they and the admin refuse SMS without one, with a message on the field. Confirming the number is
test_sms_confirmation.py's."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from rest_framework.test import APIClient

from notifications.models import NotificationPreferences
from tests.conftest import client_for, field_errors, staff_browser_for
from tests.notify_helpers import set_preferences

pytestmark = pytest.mark.django_db

PHONE = "+14155552671"
INVALID_API = "Enter a valid phone number in international format (e.g. +12125552368)."
INVALID_FORM = "Enter a valid phone number (e.g. +12125552368)."
SMS_NEEDS_PHONE = "A phone number is needed to receive SMS."
DEFAULTS = {
    "email_on_success": True,
    "email_on_failure": True,
    "sms_on_success": False,
    "sms_on_failure": False,
    "phone_number": "",
}


def _stored(user) -> dict | None:
    """The user's stored preferences, or None while they have no row."""
    preferences = NotificationPreferences.objects.filter(user=user).first()
    if preferences is None:
        return None
    return {
        "email_on_success": preferences.email_on_success,
        "email_on_failure": preferences.email_on_failure,
        "sms_on_success": preferences.sms_on_success,
        "sms_on_failure": preferences.sms_on_failure,
        "phone_number": str(preferences.phone_number) if preferences.phone_number else "",
    }


def _problem(response) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["status"]) == ("urn:reportsite:problem:validation-error", 400)
    return body["errors"]


# --- API -----------------------------------------------------------------------------------------------------------


def test_get_answers_the_defaults_and_makes_the_row_on_first_use(make_user):
    user = make_user("ada", email="ada@example.com")
    assert _stored(user) is None

    response = client_for(user).get("/api/v1/preferences")

    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in DEFAULTS} == DEFAULTS
    assert body["email"] == "ada@example.com"
    assert _stored(user) == DEFAULTS


def test_patch_changes_only_what_it_names_and_stores_the_phone_number_as_e164(user):
    api = client_for(user)

    response = api.patch(
        "/api/v1/preferences", {"phone_number": "+1 (415) 555-2671", "sms_on_failure": True}, format="json"
    )

    assert response.status_code == 200, response.content
    expected = {**DEFAULTS, "phone_number": PHONE, "sms_on_failure": True}
    assert {key: response.json()[key] for key in DEFAULTS} == expected
    assert _stored(user) == expected
    # A later change keeps the rest
    api.patch("/api/v1/preferences", {"email_on_success": False}, format="json")
    assert _stored(user) == {**expected, "email_on_success": False}


@pytest.mark.parametrize("number", ["12345", "+1 415 555", "not a number", "+999 1234 5678"])
def test_an_invalid_phone_number_is_a_field_error(user, number):
    response = client_for(user).patch("/api/v1/preferences", {"phone_number": number}, format="json")

    assert _problem(response) == {"phone_number": [INVALID_API]}
    assert _stored(user) is None


def test_sms_without_a_phone_number_is_a_field_error_and_nothing_changes(user):
    api = client_for(user)

    response = api.patch("/api/v1/preferences", {"sms_on_success": True, "email_on_success": False}, format="json")

    assert _problem(response) == {"phone_number": [SMS_NEEDS_PHONE]}
    assert _stored(user) is None


def test_removing_the_phone_number_while_sms_is_on_is_refused(user):
    api = client_for(user)
    api.patch("/api/v1/preferences", {"phone_number": PHONE, "sms_on_success": True}, format="json")

    response = api.patch("/api/v1/preferences", {"phone_number": ""}, format="json")

    assert _problem(response) == {"phone_number": [SMS_NEEDS_PHONE]}
    assert _stored(user)["phone_number"] == PHONE
    # Turning SMS off and removing the number together is fine
    response = api.patch("/api/v1/preferences", {"phone_number": "", "sms_on_success": False}, format="json")
    assert response.status_code == 200
    assert _stored(user) == DEFAULTS


def test_non_booleans_and_unknown_fields_are_refused(user):
    api = client_for(user)

    assert _problem(api.patch("/api/v1/preferences", {"email_on_success": "yes"}, format="json")) == {
        "email_on_success": ["Must be true or false."]
    }
    assert _problem(api.patch("/api/v1/preferences", {"email_on_succes": False}, format="json")) == {
        "email_on_succes": ["Unknown field."]
    }


def test_preferences_are_the_callers_own(make_user):
    ada, bob = make_user("ada"), make_user("bob")
    client_for(ada).patch("/api/v1/preferences", {"phone_number": PHONE}, format="json")

    assert client_for(bob).get("/api/v1/preferences").json()["phone_number"] == ""
    assert _stored(ada)["phone_number"] == PHONE


def test_preferences_need_credentials():
    assert APIClient().get("/api/v1/preferences").status_code == 401


def test_put_is_not_allowed(user):
    response = client_for(user).put("/api/v1/preferences", DEFAULTS, format="json")
    assert response.status_code == 405


# --- Web UI --------------------------------------------------------------------------------------------------------


@pytest.fixture
def browser(user) -> Client:
    """The user, signed in to the web UI, which is for staff (SPEC §19)."""
    return staff_browser_for(user)


def _form(**changes) -> dict:
    values = {**DEFAULTS, **changes}
    return {key: ("on" if value is True else value) for key, value in values.items() if value is not False}


def test_the_nav_links_to_the_preferences_page_which_shows_the_current_values(browser, user):
    page = browser.get("/")
    assert b'href="/preferences/">Preferences</a>' in page.content

    response = browser.get("/preferences/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="/preferences/" aria-current="page">Preferences</a>' in html
    assert 'name="email_on_success" id="id_email_on_success" checked' in html
    assert 'name="sms_on_success" id="id_sms_on_success">' in html
    assert 'type="tel" name="phone_number"' in html
    assert "No email or SMS sent yet." in html
    # Reading the page writes nothing
    assert _stored(user) is None


def test_saving_the_form_stores_the_preferences(browser, user):
    response = browser.post("/preferences/", _form(phone_number="+1 415-555-2671", sms_on_success=True))

    assert response.status_code == 302
    assert response["Location"] == "/preferences/"
    assert _stored(user) == {**DEFAULTS, "phone_number": PHONE, "sms_on_success": True}
    page = browser.get("/preferences/").content.decode()
    assert "Notification preferences saved." in page
    assert f'value="{PHONE}"' in page


def test_the_form_shows_an_invalid_phone_number_on_its_field(browser, user):
    response = browser.post("/preferences/", _form(phone_number="12345", sms_on_failure=True))

    assert response.status_code == 400
    html = response.content.decode()
    assert field_errors(html, "phone_number") == [INVALID_FORM]
    assert "Your preferences were not saved." in html
    assert 'value="12345"' in html  # what was typed stays, to be corrected
    assert _stored(user) is None


def test_the_form_refuses_sms_without_a_phone_number(browser, user):
    response = browser.post("/preferences/", _form(sms_on_success=True))

    assert response.status_code == 400
    assert field_errors(response.content.decode(), "phone_number") == [SMS_NEEDS_PHONE]
    assert _stored(user) is None


def test_the_form_needs_a_csrf_token_and_a_login(user):
    User.objects.filter(pk=user.pk).update(is_staff=True)
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(user)
    assert guarded.post("/preferences/", _form(email_on_success=False)).status_code == 403
    assert _stored(user) is None

    signed_out = Client().get("/preferences/")
    assert (signed_out.status_code, signed_out["Location"]) == (302, "/accounts/login/?next=/preferences/")


def test_the_page_is_for_staff(user):
    not_staff = Client()
    not_staff.force_login(user)

    assert not_staff.get("/preferences/").status_code == 403
    assert not_staff.post("/preferences/", _form(email_on_success=False)).status_code == 403
    assert _stored(user) is None


# --- Admin ---------------------------------------------------------------------------------------------------------


def _staff(*codenames: str) -> Client:
    staff = User.objects.create_user("root", password="pw", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


def test_the_admin_edits_preferences_with_the_same_rules(user):
    admin = _staff("view_notificationpreferences", "change_notificationpreferences", "add_notificationpreferences")
    url = "/admin/notifications/notificationpreferences/add/"
    form = {"user": user.pk, **_form()}

    no_phone = admin.post(url, {**form, "sms_on_success": "on"})
    assert SMS_NEEDS_PHONE.encode() in no_phone.content
    assert _stored(user) is None

    # The phone number is its owner's to set and confirm: the admin shows it, and a number posted is ignored
    saved = admin.post(url, {**form, "email_on_success": "", "phone_number": PHONE})

    assert saved.status_code == 302
    assert _stored(user) == {**DEFAULTS, "email_on_success": False}
    set_preferences(user, phone_number=PHONE)
    listing = admin.get("/admin/notifications/notificationpreferences/?q=ada")
    assert PHONE.encode() in listing.content
