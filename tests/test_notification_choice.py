"""Who gets what (SPEC §4, §8): each user's preferences, and the `notify` override of one report's POST, decide
which email and SMS a finished report sends. The override is validated, stored, and documented in the OpenAPI
schema."""

import pytest
from rest_framework.test import APIClient

from events.fanout import fan_out
from events.log import event_record
from events.models import Event
from reports.events import report_representation
from reports.models import Report, ReportStatus
from tests.conftest import client_for
from tests.notify_helpers import PHONE, message_deliveries, set_preferences

pytestmark = pytest.mark.django_db

ON_BOTH = {"email_on_success": True, "email_on_failure": True}
OFF_BOTH = {"email_on_success": False, "email_on_failure": False}
SMS_BOTH = {"sms_on_success": True, "sms_on_failure": True, "phone_number": PHONE}


def _finished(user, outcome: str, notify: dict) -> Report:
    fields = {"error_code": "build_failed", "error_message": "boom"} if outcome == "failed" else {}
    return Report.objects.create(requested_by=user, report_type="user_access", status=outcome, notify=notify, **fields)


def _event(user, report: Report, event_type: str | None = None) -> Event:
    """An event about the report in the user's stream, as the report's lifecycle writes it."""
    return event_record(
        user_id=user.pk,
        event_type=event_type or f"report.{report.status}",
        data={"report": report_representation(report)},
        report=report,
    )


def _channels(user, report: Report) -> set[tuple[str, str]]:
    """The email and SMS deliveries that fanning out the report's outcome event makes (this test's transaction never
    commits, so it is fanned out here)."""
    event = _event(user, report)
    fan_out(event, publish_live=False)
    return set(message_deliveries().filter(event=event).values_list("channel", "target"))


EMAIL = ("email", "ada@example.com")
SMS = ("sms", PHONE)

# preferences, notify override, outcome -> what is sent
CASES = [
    pytest.param({}, {}, "succeeded", {EMAIL}, id="defaults: email on success"),
    pytest.param({}, {}, "failed", {EMAIL}, id="defaults: email on failure"),
    pytest.param({"email_on_success": False}, {}, "succeeded", set(), id="no email on success"),
    pytest.param({"email_on_success": False}, {}, "failed", {EMAIL}, id="still email on failure"),
    pytest.param({"sms_on_failure": True, "phone_number": PHONE}, {}, "failed", {EMAIL, SMS}, id="sms on failure"),
    pytest.param({"sms_on_failure": True, "phone_number": PHONE}, {}, "succeeded", {EMAIL}, id="no sms on success"),
    pytest.param({**OFF_BOTH, **SMS_BOTH}, {}, "succeeded", {SMS}, id="sms only"),
    pytest.param({}, {"email": False}, "succeeded", set(), id="override: no email"),
    pytest.param(OFF_BOTH, {"email": True}, "failed", {EMAIL}, id="override: email although off"),
    pytest.param(OFF_BOTH, {"email": True}, "succeeded", {EMAIL}, id="override: email on success too"),
    pytest.param({"phone_number": PHONE}, {"sms": True}, "succeeded", {EMAIL, SMS}, id="override: sms although off"),
    pytest.param(SMS_BOTH, {"sms": False}, "failed", {EMAIL}, id="override: no sms although on"),
    pytest.param(
        {"phone_number": PHONE}, {"email": False, "sms": True}, "failed", {SMS}, id="override: sms instead of email"
    ),
    pytest.param({**ON_BOTH, **SMS_BOTH}, {"email": False, "sms": False}, "succeeded", set(), id="override: nothing"),
    pytest.param(SMS_BOTH, {"email": True}, "succeeded", {EMAIL, SMS}, id="override of email leaves sms to prefs"),
]


@pytest.mark.parametrize(("preferences", "notify", "outcome", "expected"), CASES)
def test_preferences_and_the_override_decide_who_gets_what(make_user, preferences, notify, outcome, expected):
    user = make_user("ada", email="ada@example.com")
    if preferences:
        set_preferences(user, **preferences)

    assert _channels(user, _finished(user, outcome, notify)) == expected


def test_a_channel_without_an_address_sends_nothing(make_user):
    # Given a user without an email address, whose preferences want email (the default)
    user = make_user("ada", email="")

    assert _channels(user, _finished(user, "succeeded", {})) == set()
    assert message_deliveries().count() == 0


def test_a_report_of_another_user_is_never_notified_to_the_owner_of_the_stream(make_user):
    ada, bob = make_user("ada", email="ada@example.com"), make_user("bob", email="bob@example.com")
    set_preferences(bob, **ON_BOTH, **SMS_BOTH)
    report = _finished(ada, "succeeded", {})

    # An event of bob's stream that names ada's report makes no email or SMS, to bob or to anyone
    assert _channels(bob, report) == set()
    assert message_deliveries().count() == 0


# --- The override on POST /api/v1/reports ---------------------------------------------------------------------------


def _post(user, notify, **extra):
    return client_for(user).post(
        "/api/v1/reports", {"report_type": "user_access", "notify": notify, **extra}, format="json"
    )


def _errors(response) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()["errors"]


def test_the_override_is_stored_on_the_report(make_user):
    user = make_user("ada", email="ada@example.com")
    set_preferences(user, phone_number=PHONE)

    response = _post(user, {"email": False, "sms": True})

    assert response.status_code == 201, response.content
    assert Report.objects.get(pk=response.json()["id"]).notify == {"email": False, "sms": True}
    # Absent, or with no keys: no override
    plain = client_for(user).post("/api/v1/reports", {"report_type": "user_access"}, format="json")
    assert Report.objects.get(pk=plain.json()["id"]).notify == {}
    assert Report.objects.get(pk=_post(user, {}).json()["id"]).notify == {}


@pytest.mark.parametrize(
    ("notify", "errors"),
    [
        ({"email": "yes"}, {"notify.email": ["Must be true or false."]}),
        ({"sms": 1}, {"notify.sms": ["Must be true or false."]}),
        ({"email": None}, {"notify.email": ["This field may not be null."]}),
        ({"fax": True}, {"notify.fax": ["Unknown field; use email or sms."]}),
        ("email", {"notify": ["Invalid data. Expected a dictionary, but got str."]}),
        (None, {"notify": ["This field may not be null."]}),
    ],
)
def test_an_invalid_override_is_a_field_error_and_creates_nothing(make_user, notify, errors):
    user = make_user("ada", email="ada@example.com")

    assert _errors(_post(user, notify)) == errors
    assert Report.objects.count() == 0


def test_sms_override_needs_a_phone_number_and_email_override_an_address(make_user):
    no_phone = make_user("ada", email="ada@example.com")
    no_email = make_user("bob", email="")

    assert _errors(_post(no_phone, {"sms": True})) == {
        "notify.sms": ["Add a phone number to your notification preferences to receive SMS."]
    }
    assert _errors(_post(no_email, {"email": True})) == {
        "notify.email": ["Your account has no email address to send to."]
    }
    # Turning a channel off needs no address
    assert _post(no_phone, {"sms": False}).status_code == 201
    assert _post(no_email, {"email": False}).status_code == 201
    assert Report.objects.filter(status=ReportStatus.QUEUED).count() == 2


def test_the_override_is_in_the_openapi_schema():
    document = APIClient().get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    schemas = document["components"]["schemas"]

    create = document["paths"]["/api/v1/reports"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    body = schemas[create["$ref"].rsplit("/", 1)[1]]
    notify_ref = body["properties"]["notify"]["allOf"][0]["$ref"]
    notify = schemas[notify_ref.rsplit("/", 1)[1]]
    assert {name: prop["type"] for name, prop in notify["properties"].items()} == {
        "email": "boolean",
        "sms": "boolean",
    }
    assert "notify" not in body.get("required", [])
    assert set(document["paths"]["/api/v1/preferences"]) == {"get", "patch"}
