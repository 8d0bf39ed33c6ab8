"""Idempotency keys on POST /api/v1/reports (SPEC §4.2): the same key and body get the first answer again and create
nothing; another body is a 422; a key whose first request is still being processed is a 409."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from reports.idempotency import idempotency_key_claim, idempotency_keys_purge, request_fingerprint
from reports.models import IdempotencyKey, Report
from tests.conftest import client_for

PROBLEM = "application/problem+json"
BODY = {"report_type": "user_access", "parameters": {"include_inactive": False}}

pytestmark = pytest.mark.django_db


def post(client, body=BODY, key="order-4711", **headers):
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post("/api/v1/reports", body, format="json", **headers)


def test_same_key_and_body_answer_the_first_answer_again_and_create_nothing(api):
    # Given a report requested with an Idempotency-Key
    first = post(api)
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first

    # When the client sends the same request again (say its connection dropped before the answer arrived)
    again = post(api)

    # Then it gets the first answer: the same status, body and Location, marked as replayed
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Location"] == first["Location"] == first.json()["url"]
    assert again["Retry-After"] == first["Retry-After"] == "1"
    assert again["Idempotent-Replayed"] == "true"
    # And there is still one report, linked from the key
    assert list(Report.objects.values_list("id", flat=True)) == [first.json()["id"]]
    assert IdempotencyKey.objects.get().report_id == first.json()["id"]


def test_replay_is_the_answer_of_that_moment_not_the_reports_state_now(api):
    # Given a report created with a key, that has since been cancelled
    first = post(api)
    api.post(first.json()["links"]["cancel"])

    # When the request is repeated
    again = post(api)

    # Then the replay is the first answer (queued), not a new read of the report
    assert again.json()["status"] == "queued"
    assert again.content == first.content
    assert api.get(first["Location"]).json()["status"] == "cancelled"


def test_same_body_in_another_key_order_or_spacing_is_the_same_request(api):
    first = post(api)

    reordered = api.post(
        "/api/v1/reports",
        '{"parameters":{"include_inactive":false},   "report_type":"user_access"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="order-4711",
    )

    assert reordered.status_code == 201
    assert reordered["Idempotent-Replayed"] == "true"
    assert reordered.content == first.content
    assert Report.objects.count() == 1


def test_same_key_with_another_body_is_a_422_problem_and_creates_nothing(api):
    # Given a report requested with a key
    first = post(api)

    # When the key comes back with another body
    other = post(api, body={"report_type": "user_access", "parameters": {"include_inactive": True}})

    # Then it is refused, and nothing more was created
    assert other.status_code == 422
    assert other["Content-Type"] == PROBLEM
    assert other.json() == {
        "type": "urn:reportsite:problem:idempotency-key-reused",
        "title": "Idempotency key reused",
        "status": 422,
        "detail": "This Idempotency-Key was already used with a different request body; use a new key.",
    }
    assert list(Report.objects.values_list("id", flat=True)) == [first.json()["id"]]


def test_key_still_being_processed_is_a_409_problem_with_retry_after(api, user):
    # Given a request with this key that another web process is still working on
    fingerprint = request_fingerprint(method="POST", path="/api/v1/reports", body=BODY)
    idempotency_key_claim(user=user, key="order-4711", fingerprint=fingerprint)

    # When the client sends the request again
    response = post(api)

    # Then it is told to come back in a second, and nothing was created
    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "type": "urn:reportsite:problem:idempotency-key-in-use",
        "title": "Idempotency key in use",
        "status": 409,
        "detail": "A request with this Idempotency-Key is still being processed.",
    }
    assert Report.objects.count() == 0


def test_key_abandoned_by_a_request_that_died_is_taken_over(api, user):
    # Given a key claimed two minutes ago by a request that never finished (its process died; its transaction,
    # and so any report, was rolled back)
    fingerprint = request_fingerprint(method="POST", path="/api/v1/reports", body=BODY)
    idempotency_key_claim(
        user=user, key="order-4711", fingerprint=fingerprint, now=timezone.now() - timedelta(minutes=2)
    )

    # When the client retries
    response = post(api)

    # Then this request does the work, once
    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response
    assert Report.objects.count() == 1
    assert post(api)["Idempotent-Replayed"] == "true"
    assert Report.objects.count() == 1


def test_keys_are_scoped_per_user(api, make_user):
    # Given Ada used a key
    adas = post(api).json()

    # When Bob uses the same key with the same body
    bob = make_user("bob")
    bobs = post(client_for(bob))

    # Then Bob gets a report of his own, not Ada's answer
    assert bobs.status_code == 201
    assert "Idempotent-Replayed" not in bobs
    assert bobs.json()["id"] != adas["id"]
    assert sorted(Report.objects.values_list("requested_by__username", flat=True)) == ["ada", "bob"]


def test_a_key_is_kept_24_hours_then_forgotten(api, user):
    # Given a key, kept for 24 hours from its first use
    first = post(api)
    key = IdempotencyKey.objects.get()
    assert abs(key.expires_at - key.created_at - timedelta(hours=24)) < timedelta(seconds=1)

    # Then within the 24 hours it replays
    assert post(api)["Idempotent-Replayed"] == "true"

    # When the 24 hours are over
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    # Then the key is free again: the same request makes a new report
    again = post(api)
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert again.json()["id"] != first.json()["id"]
    assert Report.objects.count() == 2


def test_purge_deletes_expired_keys_only(api, make_user):
    # Given a fresh key and one past its lifetime
    post(api)
    post(client_for(make_user("bob")), key="old")
    IdempotencyKey.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(minutes=1))

    # When the periodic purge runs
    deleted = idempotency_keys_purge()

    # Then only the expired one is gone (its report stays)
    assert deleted == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["order-4711"]
    assert Report.objects.count() == 2


def test_a_failed_request_does_not_keep_its_key(api):
    # Given a request refused for a bad parameter
    refused = post(api, body={"report_type": "user_access", "parameters": {"include_inactive": "no"}})
    assert refused.status_code == 400

    # When the client fixes the body and retries with the same key
    fixed = post(api)

    # Then the key was not spent on the failure: the report is created
    assert fixed.status_code == 201, fixed.content
    assert "Idempotent-Replayed" not in fixed
    assert Report.objects.count() == 1


def test_an_unparseable_body_does_not_take_the_key(api):
    broken = api.post(
        "/api/v1/reports", '{"report_type": ', content_type="application/json", HTTP_IDEMPOTENCY_KEY="order-4711"
    )

    assert broken.status_code == 400
    assert IdempotencyKey.objects.count() == 0
    assert post(api).status_code == 201


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "with space", "caf\u00e9"],
    ids=["empty", "256 characters", "a space", "not ASCII"],
)
def test_invalid_key_is_a_400_problem(api, key):
    response = api.post(
        "/api/v1/reports", BODY, format="json", HTTP_IDEMPOTENCY_KEY=key.encode("utf-8").decode("latin-1")
    )

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["errors"] == {
        "Idempotency-Key": ["Idempotency-Key must be 1 to 255 visible ASCII characters, such as a UUID."]
    }
    assert Report.objects.count() == IdempotencyKey.objects.count() == 0


def test_without_a_key_every_post_creates_a_report(api):
    assert post(api, key=None).status_code == 201
    assert post(api, key=None).status_code == 201

    assert Report.objects.count() == 2
    assert IdempotencyKey.objects.count() == 0


def test_the_stored_answer_is_the_body_sent(api):
    first = post(api)

    stored = IdempotencyKey.objects.get()

    assert (stored.state, stored.response_status) == ("completed", 201)
    assert json.loads(stored.response_body) == first.json()
    assert stored.response_headers == {"Location": first["Location"], "Retry-After": "1"}
