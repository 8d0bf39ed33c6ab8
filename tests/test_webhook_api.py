"""The webhooks API (SPEC §4, §7): endpoints, their secrets, the test ping, the delivery log and redelivery, and the
callback secret. No name is ever resolved by real DNS here, and the only connections made go to a receiver this
file starts on 127.0.0.1."""

import base64
import json
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from events.log import event_record
from events.models import Delivery, DeliveryAttempt, DeliveryStatus
from notifications.models import CallbackSecret, WebhookEndpoint
from notifications.webhooks.services import ENDPOINT_CHANNEL, endpoint_create
from tests.conftest import client_for
from tests.fake_dns import install_fake_dns
from tests.webhook_receivers import receiver

# What a refused URL's owner is told: general words, never the address a name resolved to (SPEC §19).
LITERAL_REFUSED = "The URL's host is not a public internet address."
NAME_REFUSED = "The URL's host does not resolve to a public internet address."

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
BASE = "http://testserver/api/v1/webhook-endpoints"
PUBLIC_URL = "https://hooks.example.com/reports"
NOT_FOUND = {
    "type": "urn:reportsite:problem:not-found",
    "title": "Not found",
    "status": 404,
    "detail": "No such resource.",
}

# Names the tests may resolve, and what they resolve to; anything else fails as an unknown host would.
FAKE_DNS = {"hooks.example.com": "93.184.215.14", "other.example.com": "93.184.215.15"}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch, settings) -> dict[str, str]:
    """getaddrinfo answers from a table: no real lookup leaves the machine, and a test can make a name point at a
    private address without anything ever connecting there. Address literals (the receiver, Redis) pass through."""
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    table = dict(FAKE_DNS)
    return install_fake_dns(monkeypatch, table)


@pytest.fixture
def bob(make_user):
    return make_user("bob")


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def endpoint_body(endpoint: WebhookEndpoint) -> dict:
    """What reads and lists show of an endpoint: everything but its secret."""
    endpoint.refresh_from_db()
    url = f"{BASE}/{endpoint.id}"
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": iso(endpoint.disabled_at),
        "consecutive_failures": endpoint.consecutive_failures,
        "rate_limit": endpoint.rate_limit,
        "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
        "links": {
            "self": url,
            "deliveries": f"{url}/deliveries",
            "test": f"{url}/test",
            "rotate_secret": f"{url}/rotate-secret",
            "recover": f"{url}/recover",
        },
    }


def attempt_body(attempt: DeliveryAttempt) -> dict:
    return {
        "number": attempt.number,
        "attempted_at": iso(attempt.attempted_at),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
        "response_excerpt": attempt.response_excerpt,
    }


def delivery_body(delivery: Delivery) -> dict:
    delivery.refresh_from_db()
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event.type,
        "url": WebhookEndpoint.objects.get(pk=delivery.target).url,
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == DeliveryStatus.PENDING else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "finished_at": iso(delivery.finished_at),
        "payload": delivery.event.envelope,
        "attempts": [attempt_body(attempt) for attempt in delivery.attempts.order_by("number")],
        "links": {"redeliver": f"{BASE}/{delivery.target}/deliveries/{delivery.id}/redeliver"},
    }


def assert_secret(value: str) -> None:
    assert value.startswith("whsec_")
    assert len(base64.b64decode(value.removeprefix("whsec_"), validate=True)) == 24


def make_delivery(endpoint: WebhookEndpoint, *, status: str = DeliveryStatus.FAILED, minutes_ago: int = 0, attempts=1):
    """A delivery of a report event of the owner's stream to the endpoint, as a delivery run leaves it, with its
    attempts."""
    created = timezone.now() - timedelta(minutes=minutes_ago)
    event = event_record(user_id=endpoint.owner_id, event_type="report.succeeded", data={"report": {}})
    delivery = Delivery.objects.create(
        event=event,
        channel=ENDPOINT_CHANNEL,
        target=endpoint.id,
        status=status,
        attempt_count=attempts,
        next_attempt_at=None if status != DeliveryStatus.PENDING else created + timedelta(seconds=5),
        last_status_code=500 if status == DeliveryStatus.FAILED else 200,
        last_error="HTTP 500" if status == DeliveryStatus.FAILED else "",
        finished_at=created if status != DeliveryStatus.PENDING else None,
    )
    Delivery.objects.filter(pk=delivery.pk).update(created_at=created)
    for number in range(1, attempts + 1):
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            attempted_at=created + timedelta(seconds=number),
            status_code=delivery.last_status_code,
            latency_ms=10 * number,
            error=delivery.last_error,
            response_excerpt="oops" if status == DeliveryStatus.FAILED else "ok",
        )
    return delivery


@pytest.fixture
def loopback_allowed(settings) -> None:
    """The tests' receivers listen on 127.0.0.1."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


# --- Create, read, list ------------------------------------------------------------------------------------------


def test_create_answers_201_with_location_and_the_secret_only_this_once(api, user):
    # When Ada registers an endpoint
    response = api.post(
        "/api/v1/webhook-endpoints",
        {
            "url": PUBLIC_URL,
            "description": "Our ERP",
            "event_types": ["report.succeeded", "report.failed", "report.succeeded"],
        },
        format="json",
    )

    # Then it is created, enabled, its event types kept once each and sorted
    assert response.status_code == 201, response.content
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.owner, endpoint.url, endpoint.event_types) == (
        user,
        PUBLIC_URL,
        ["report.failed", "report.succeeded"],
    )
    # And the answer is the endpoint with its secret, and Location is where it can be read
    assert response.json() == {**endpoint_body(endpoint), "secret": endpoint.secret}
    assert_secret(endpoint.secret)
    assert response["Location"] == f"{BASE}/{endpoint.id}"
    assert response.json()["description"] == "Our ERP"
    assert response.json()["enabled"] is True

    # And neither a read nor the list shows the secret again
    read = api.get(response["Location"])
    listed = api.get("/api/v1/webhook-endpoints")
    assert read.status_code == listed.status_code == 200
    assert read.json() == endpoint_body(endpoint)
    assert listed.json() == {"next": None, "previous": None, "results": [endpoint_body(endpoint)]}
    for answer in (read, listed):
        assert endpoint.secret.encode() not in answer.content
        assert b"whsec_" not in answer.content


def test_create_with_only_a_url_takes_the_defaults(api):
    response = api.post("/api/v1/webhook-endpoints", {"url": PUBLIC_URL}, format="json")

    assert response.status_code == 201, response.content
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.description, endpoint.event_types, endpoint.enabled) == ("", [], True)
    assert response.json() == {**endpoint_body(endpoint), "secret": endpoint.secret}


def test_create_disabled(api):
    response = api.post("/api/v1/webhook-endpoints", {"url": PUBLIC_URL, "enabled": False}, format="json")

    assert response.status_code == 201, response.content
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "Disabled by its owner.")
    assert endpoint.disabled_at is not None
    assert response.json() == {**endpoint_body(endpoint), "secret": endpoint.secret}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"url": PUBLIC_URL, "secret": "whsec_mine"}, {"secret": ["Unknown field."]}),
        ({"url": PUBLIC_URL, "owner": 2, "enabled": True}, {"owner": ["Unknown field."]}),
        ({}, {"url": ["This field is required."]}),
        (
            {"url": PUBLIC_URL, "event_types": "report.failed"},
            {"event_types": ['Expected a list of items but got type "str".']},
        ),
        (
            {"url": PUBLIC_URL, "event_types": ["report.failed", "report.exploded", "order.paid"]},
            {"event_types": ["Unknown event types: order.paid, report.exploded."]},
        ),
        (
            {"url": PUBLIC_URL, "description": "x" * 201},
            {"description": ["Ensure this field has no more than 200 characters."]},
        ),
    ],
    ids=["secret", "owner", "no-url", "event-types-not-a-list", "unknown-event-type", "long-description"],
)
def test_create_refuses_invalid_bodies_with_a_400_problem_and_creates_nothing(api, body, errors):
    response = api.post("/api/v1/webhook-endpoints", body, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json() == {
        "type": "urn:reportsite:problem:validation-error",
        "title": "Invalid request",
        "status": 400,
        "detail": "The request has invalid fields.",
        "errors": errors,
    }
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://169.254.169.254/", LITERAL_REFUSED),
        ("http://10.0.0.1/", LITERAL_REFUSED),
        ("http://[::1]/", LITERAL_REFUSED),
        ("http://127.0.0.1:8000/hooks", LITERAL_REFUSED),
        ("file:///etc/passwd", "Only http and https URLs may receive webhooks."),
        ("ftp://x", "Only http and https URLs may receive webhooks."),
        ("https://internal.example.com/hooks", NAME_REFUSED),
        ("https://nowhere.example.com/", NAME_REFUSED),
        (
            "https://user:pw@hooks.example.com/",
            "Credentials in the URL are not allowed; use the signature to authenticate us.",
        ),
    ],
)
def test_registration_refuses_unsafe_destinations(api, fake_dns, url, message):
    # Given a name that resolves to a private address (a real lookup never happens here)
    fake_dns["internal.example.com"] = "10.1.2.3"

    # When Ada registers the URL
    response = api.post("/api/v1/webhook-endpoints", {"url": url}, format="json")

    # Then it is refused with the reason, for the url field, and nothing is created
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json() == {
        "type": "urn:reportsite:problem:validation-error",
        "title": "Invalid request",
        "status": 400,
        "detail": "The request has invalid fields.",
        "errors": {"url": [message]},
    }
    assert not WebhookEndpoint.objects.exists()


def test_loopback_is_accepted_when_the_allowed_networks_hold_it(api, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]

    response = api.post("/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:8000/hooks"}, format="json")

    assert response.status_code == 201, response.content
    assert WebhookEndpoint.objects.get().url == "http://127.0.0.1:8000/hooks"


def test_list_is_newest_first_paginated_and_only_the_callers(api, user, bob):
    # Given three endpoints of Ada's made one after the other, and one of Bob's
    mine = [endpoint_create(owner=user, url=f"{PUBLIC_URL}/{number}") for number in range(3)]
    for offset, endpoint in enumerate(mine):
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(created_at=timezone.now() - timedelta(minutes=3 - offset))
    endpoint_create(owner=bob, url=PUBLIC_URL)

    # When Ada lists them two at a time
    first = api.get("/api/v1/webhook-endpoints?page_size=2")
    second = api.get(first.json()["next"])

    # Then she sees her own, newest first, over two pages
    assert first.status_code == second.status_code == 200
    assert first.json()["results"] == [endpoint_body(mine[2]), endpoint_body(mine[1])]
    assert second.json()["results"] == [endpoint_body(mine[0])]
    assert second.json()["next"] is None


# --- Update, delete ----------------------------------------------------------------------------------------------


@pytest.fixture
def endpoint(user) -> WebhookEndpoint:
    return endpoint_create(owner=user, url=PUBLIC_URL, description="ERP", event_types=["report.failed"])


def test_patch_changes_the_given_fields_only(api, endpoint):
    secret = endpoint.secret

    response = api.patch(
        f"/api/v1/webhook-endpoints/{endpoint.id}",
        {"url": "https://other.example.com/in", "event_types": ["report.succeeded", "report.queued"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.event_types, endpoint.secret) == (
        "https://other.example.com/in",
        "ERP",
        ["report.queued", "report.succeeded"],
        secret,
    )
    assert response.json() == endpoint_body(endpoint)


def test_patch_disable_keeps_what_happens_and_enable_sends_it_again(api, endpoint):
    # Given a pending delivery of the endpoint
    pending = make_delivery(endpoint, status=DeliveryStatus.PENDING, attempts=0)

    # When Ada disables the endpoint
    disabled = api.patch(f"/api/v1/webhook-endpoints/{endpoint.id}", {"enabled": False}, format="json")

    # Then it is disabled by its owner, and the delivery is kept aside
    assert disabled.status_code == 200
    assert disabled.json() == endpoint_body(endpoint)
    assert (disabled.json()["enabled"], disabled.json()["disabled_reason"]) == (False, "Disabled by its owner.")
    pending.refresh_from_db()
    assert pending.status == DeliveryStatus.SKIPPED

    # When she enables it again
    enabled = api.patch(f"/api/v1/webhook-endpoints/{endpoint.id}", {"enabled": True}, format="json")

    # Then it is enabled and the delivery it missed is due again
    assert enabled.status_code == 200
    assert enabled.json() == endpoint_body(endpoint)
    assert (enabled.json()["enabled"], enabled.json()["disabled_reason"], enabled.json()["disabled_at"]) == (
        True,
        "",
        None,
    )
    pending.refresh_from_db()
    assert pending.status == DeliveryStatus.PENDING
    assert pending.next_attempt_at <= timezone.now()


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"url": "http://10.0.0.1/"}, {"url": [LITERAL_REFUSED]}),
        ({"event_types": ["report.exploded"]}, {"event_types": ["Unknown event types: report.exploded."]}),
        ({"secret": "whsec_mine"}, {"secret": ["Unknown field."]}),
        ({"enabled": "maybe"}, {"enabled": ["Must be a valid boolean."]}),
    ],
    ids=["unsafe-url", "unknown-event-type", "secret", "enabled-not-boolean"],
)
def test_patch_refusals_change_nothing(api, endpoint, body, errors):
    before = endpoint_body(endpoint)
    secret = endpoint.secret

    response = api.patch(f"/api/v1/webhook-endpoints/{endpoint.id}", body, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["errors"] == errors
    assert endpoint_body(endpoint) == before
    assert endpoint.secret == secret


def test_delete_answers_204_and_the_endpoint_and_its_log_are_gone(api, endpoint):
    make_delivery(endpoint)

    response = api.delete(f"/api/v1/webhook-endpoints/{endpoint.id}")

    assert response.status_code == 204
    assert response.content == b""
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.exists()
    assert api.get(f"/api/v1/webhook-endpoints/{endpoint.id}").status_code == 404


# --- Secrets -----------------------------------------------------------------------------------------------------


def test_rotate_secret_answers_the_new_secret_and_the_old_keeps_signing_for_24_hours(api, endpoint):
    old = endpoint.secret

    response = api.post(f"/api/v1/webhook-endpoints/{endpoint.id}/rotate-secret")

    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert response.json() == {
        "secret": endpoint.secret,
        "previous_secret_expires_at": iso(endpoint.previous_secret_expires_at),
    }
    assert_secret(endpoint.secret)
    assert endpoint.secret != old
    assert endpoint.previous_secret == old
    expected = timezone.now() + timedelta(hours=24)
    assert abs((endpoint.previous_secret_expires_at - expected).total_seconds()) < 5
    # And reads still never show a secret
    read = api.get(f"/api/v1/webhook-endpoints/{endpoint.id}")
    assert read.json() == endpoint_body(endpoint)
    assert endpoint.secret.encode() not in read.content
    assert old.encode() not in read.content


def test_callback_secret_is_made_once_stable_and_rotated_on_post(api, user):
    # When Ada asks for her callback secret twice
    first = api.get("/api/v1/callback-secret")
    second = api.get("/api/v1/callback-secret")

    # Then it is made once and the same both times
    assert first.status_code == second.status_code == 200
    stored = CallbackSecret.objects.get(user=user)
    assert first.json() == second.json() == {"secret": stored.secret}
    assert_secret(stored.secret)

    # When she rotates it
    rotated = api.post("/api/v1/callback-secret/rotate")

    # Then she gets a new one, which reads give from now on, and the old one still signs for 24 hours
    assert rotated.status_code == 200
    stored.refresh_from_db()
    assert rotated.json() == {
        "secret": stored.secret,
        "previous_secret_expires_at": iso(stored.previous_secret_expires_at),
    }
    assert stored.secret != first.json()["secret"]
    assert stored.previous_secret == first.json()["secret"]
    assert api.get("/api/v1/callback-secret").json() == {"secret": stored.secret}
    assert CallbackSecret.objects.count() == 1


def test_callback_secrets_are_per_user(api, bob):
    mine = api.get("/api/v1/callback-secret").json()
    bobs = client_for(bob).get("/api/v1/callback-secret").json()

    assert mine["secret"] != bobs["secret"]
    assert CallbackSecret.objects.count() == 2


@pytest.mark.parametrize(
    ("verb", "path"),
    [
        ("get", "/api/v1/webhook-endpoints"),
        ("post", "/api/v1/webhook-endpoints"),
        ("get", "/api/v1/webhook-endpoints/we_x"),
        ("post", "/api/v1/webhook-endpoints/we_x/test"),
        ("get", "/api/v1/callback-secret"),
        ("post", "/api/v1/callback-secret/rotate"),
    ],
)
def test_without_credentials_every_call_is_401(verb, path):
    response = getattr(APIClient(), verb)(path)

    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"] == "Token"
    assert not CallbackSecret.objects.exists()


# --- The test ping -----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("loopback_allowed")
def test_ping_is_delivered_signed_to_a_real_receiver(api, user):
    with receiver((200, {"content-type": "application/json"}, '{"received":true}')) as hook:
        # Given an endpoint at a receiver listening on 127.0.0.1
        created = api.post("/api/v1/webhook-endpoints", {"url": hook.url}, format="json").json()

        # When Ada tests it
        response = api.post(f"/api/v1/webhook-endpoints/{created['id']}/test")

    # Then the receiver got one ping, signed with the endpoint's secret, that standardwebhooks verifies
    assert response.status_code == 200, response.content
    assert len(hook.received) == 1
    got = hook.received[0]
    event = Webhook(created["secret"]).verify(got.body, got.headers)
    delivery = Delivery.objects.get()
    assert event == {
        "id": delivery.event_id,
        "type": "ping",
        "sequence": delivery.event.sequence,
        "timestamp": delivery.event.envelope["timestamp"],
        "data": {"endpoint": {"id": created["id"], "url": hook.url}},
    }
    assert json.loads(got.body) == delivery.event.envelope
    headers = {name.lower(): value for name, value in got.headers.items()}
    assert (headers["webhook-id"], headers["content-type"]) == (delivery.event_id, "application/json")

    # And the delivery is logged as succeeded, with its one attempt, which the answer reports
    attempt = delivery.attempts.get()
    assert (delivery.event.user, delivery.channel, delivery.target, delivery.event.type) == (
        user,
        ENDPOINT_CHANNEL,
        created["id"],
        "ping",
    )
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code, delivery.claimed_by) == (
        "succeeded",
        1,
        200,
        "",
    )
    assert (attempt.number, attempt.status_code, attempt.error, attempt.response_excerpt) == (
        1,
        200,
        "",
        '{"received":true}',
    )
    assert response.json() == {
        "status": "succeeded",
        "status_code": 200,
        "latency_ms": attempt.latency_ms,
        "error": "",
        "attempt": attempt_body(attempt),
        "delivery": delivery_body(delivery),
    }
    # And the delivery log shows it
    log = api.get(f"/api/v1/webhook-endpoints/{created['id']}/deliveries")
    assert log.json() == {"next": None, "previous": None, "results": [delivery_body(delivery)]}


@pytest.mark.usefixtures("loopback_allowed")
def test_ping_during_a_rotation_carries_both_signatures(api):
    with receiver() as hook:
        created = api.post("/api/v1/webhook-endpoints", {"url": hook.url}, format="json").json()
        new = api.post(f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret").json()["secret"]

        response = api.post(f"/api/v1/webhook-endpoints/{created['id']}/test")

    assert response.json()["status"] == "succeeded"
    got = hook.received[0]
    signatures = {name.lower(): value for name, value in got.headers.items()}["webhook-signature"]
    assert len(signatures.split(" ")) == 2
    for secret in (created["secret"], new):
        assert Webhook(secret).verify(got.body, got.headers)["type"] == "ping"


@pytest.mark.usefixtures("loopback_allowed")
def test_a_failed_ping_is_reported_and_left_to_the_retries(api, endpoint):
    with receiver((500, {}, "boom")) as hook:
        # Given an endpoint whose receiver answers 500
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=hook.url)

        # When Ada tests it
        response = api.post(f"/api/v1/webhook-endpoints/{endpoint.id}/test")

    # Then the answer says it failed, and the delivery is due again on the retry schedule
    assert response.status_code == 200
    assert len(hook.received) == 1
    delivery = Delivery.objects.get()
    attempt = delivery.attempts.get()
    assert response.json() == {
        "status": "pending",
        "status_code": 500,
        "latency_ms": attempt.latency_ms,
        "error": "HTTP 500",
        "attempt": attempt_body(attempt),
        "delivery": delivery_body(delivery),
    }
    assert attempt.response_excerpt == "boom"
    assert (delivery.status, delivery.claimed_by, delivery.last_error) == ("pending", "", "HTTP 500")
    assert delivery.next_attempt_at > timezone.now()
    # And a test does not count towards disabling the endpoint
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.consecutive_failures) == (True, 0)


def test_a_ping_to_a_name_that_now_resolves_privately_is_refused_without_connecting(api, endpoint, fake_dns):
    # Given an endpoint registered while its name was public, which now points at a private address
    fake_dns["hooks.example.com"] = "10.1.2.3"

    # When Ada tests it
    response = api.post(f"/api/v1/webhook-endpoints/{endpoint.id}/test")

    # Then the attempt is refused before any connection, and logged
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["status_code"]) == ("pending", None)
    assert body["error"] == f"Refused: {NAME_REFUSED}"
    assert DeliveryAttempt.objects.get().error == body["error"]


# --- Delivery log, redelivery ------------------------------------------------------------------------------------


def test_deliveries_are_listed_newest_first_with_their_attempts(api, endpoint, user, django_assert_max_num_queries):
    # Given three deliveries of the endpoint, and one of another endpoint of Ada's
    oldest = make_delivery(endpoint, minutes_ago=30, attempts=3)
    middle = make_delivery(endpoint, status=DeliveryStatus.SUCCEEDED, minutes_ago=20)
    newest = make_delivery(endpoint, status=DeliveryStatus.PENDING, minutes_ago=10, attempts=0)
    make_delivery(endpoint_create(owner=user, url=PUBLIC_URL))

    # When Ada reads the endpoint's log
    with django_assert_max_num_queries(6):
        response = api.get(f"/api/v1/webhook-endpoints/{endpoint.id}/deliveries")

    # Then she sees its deliveries, newest first, each with its attempts in order
    assert response.status_code == 200
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [delivery_body(newest), delivery_body(middle), delivery_body(oldest)],
    }
    assert [attempt["number"] for attempt in response.json()["results"][2]["attempts"]] == [1, 2, 3]


def test_redeliver_puts_a_delivery_back_to_pending(api, endpoint):
    # Given a delivery that failed for good
    delivery = make_delivery(endpoint, attempts=2)

    # When Ada asks for it again
    response = api.post(f"/api/v1/webhook-endpoints/{endpoint.id}/deliveries/{delivery.id}/redeliver")

    # Then it is due now, with the same event, its earlier attempts kept
    assert response.status_code == 202
    assert response.json() == delivery_body(delivery)
    assert (delivery.status, delivery.finished_at, delivery.claimed_by, delivery.event_id) == (
        "pending",
        None,
        "",
        response.json()["payload"]["id"],
    )
    assert delivery.next_attempt_at <= timezone.now()
    assert delivery.attempts.count() == 2


# --- Isolation ---------------------------------------------------------------------------------------------------

VERBS = ("get", "head", "post", "put", "patch", "delete")
PATHS = ("", "/rotate-secret", "/test", "/deliveries", "/deliveries/{delivery}/redeliver")
CASES = [(verb, path) for path in PATHS for verb in VERBS]


@pytest.fixture
def bobs_endpoint(bob) -> WebhookEndpoint:
    return endpoint_create(owner=bob, url=PUBLIC_URL, description="Bob's")


def call(client: APIClient, verb: str, path: str):
    if verb in {"put", "patch", "post"}:
        return getattr(client, verb)(path, {"url": "https://other.example.com/", "enabled": False}, format="json")
    return getattr(client, verb)(path)


def assert_not_found(response) -> None:
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    if response.content:  # not for HEAD
        assert response.json() == NOT_FOUND


@pytest.mark.parametrize(("verb", "path"), CASES, ids=[f"{verb.upper()} {path or '/'}" for verb, path in CASES])
def test_another_users_endpoint_and_delivery_are_404_on_every_verb(api, bobs_endpoint, verb, path):
    # Given Bob's endpoint with a failed delivery, and their ids known to Ada
    delivery = make_delivery(bobs_endpoint)
    before = (endpoint_body(bobs_endpoint), bobs_endpoint.secret, delivery_body(delivery))
    suffix = path.format(delivery=delivery.id)

    # When Ada uses them with any verb, supported or not
    response = call(api, verb, f"/api/v1/webhook-endpoints/{bobs_endpoint.id}{suffix}")

    # Then she gets the 404 problem, as for ids that do not exist
    assert_not_found(response)
    assert_not_found(call(api, verb, f"/api/v1/webhook-endpoints/we_{'x' * 24}{path.format(delivery='dlv_nope')}"))
    # And nothing of Bob's changed, nothing was sent
    bobs_endpoint.refresh_from_db()
    assert (endpoint_body(bobs_endpoint), bobs_endpoint.secret, delivery_body(delivery)) == before
    assert Delivery.objects.count() == 1


@pytest.mark.parametrize("verb", VERBS)
def test_another_users_delivery_under_the_callers_own_endpoint_is_404(api, endpoint, bobs_endpoint, verb):
    bobs_delivery = make_delivery(bobs_endpoint)
    before = delivery_body(bobs_delivery)

    assert_not_found(
        call(api, verb, f"/api/v1/webhook-endpoints/{endpoint.id}/deliveries/{bobs_delivery.id}/redeliver")
    )
    assert delivery_body(bobs_delivery) == before


def test_a_delivery_of_another_endpoint_of_the_caller_is_404_under_this_one(api, user, endpoint):
    other = endpoint_create(owner=user, url=PUBLIC_URL)
    delivery = make_delivery(other)

    response = api.post(f"/api/v1/webhook-endpoints/{endpoint.id}/deliveries/{delivery.id}/redeliver")

    assert_not_found(response)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


def test_the_owner_gets_real_answers_for_unsupported_verbs(api, endpoint):
    # The 404 above is not a 405 in disguise: the owner does get 405 for a verb the path does not take.
    delivery = make_delivery(endpoint)
    for verb, path in [
        ("put", ""),
        ("get", "/test"),
        ("get", "/rotate-secret"),
        ("post", "/deliveries"),
        ("get", f"/deliveries/{delivery.id}/redeliver"),
    ]:
        response = call(api, verb, f"/api/v1/webhook-endpoints/{endpoint.id}{path}")
        assert response.status_code == 405, (verb, path)
        assert response["Content-Type"] == PROBLEM


def test_lists_never_show_another_users_endpoints(api, bobs_endpoint):
    make_delivery(bobs_endpoint)

    response = api.get("/api/v1/webhook-endpoints")

    assert response.json() == {"next": None, "previous": None, "results": []}
