"""The event type catalog: GET /api/v1/event-types, and the OpenAPI document's `webhooks` (OpenAPI 3.1). Every
example validates against its own schema, and so does a real event delivered to a webhook endpoint."""

import json

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from standardwebhooks import Webhook

from events.api.schema import component_name
from events.engine import run_deliveries
from events.models import Event
from events.types import EXAMPLE_EVENT_ID, event_type_catalog, event_types
from notifications.webhooks import services
from reports.services import report_create, report_render
from tests.webhook_receivers import receiver


def _validator(schema: dict) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.mark.django_db
def test_the_catalog_lists_every_type_with_a_schema_its_example_matches(api):
    answer = api.get("/api/v1/event-types")

    assert answer.status_code == 200
    listed = {entry["type"]: entry for entry in answer.json()}
    assert list(listed) == list(event_types())
    assert {"report.succeeded", "report.failed", "ping", "webhook_endpoint.disabled"} <= set(listed)
    for name, entry in listed.items():
        errors = list(_validator(entry["schema"]).iter_errors(entry["example"]))
        assert errors == [], (name, [error.message for error in errors])
        assert entry["example"]["type"] == name
        assert entry["description"]


def test_an_example_of_the_wrong_type_or_shape_does_not_validate():
    succeeded = next(known for known in event_type_catalog() if known.name == "report.succeeded")
    validator = _validator(succeeded.schema)
    wrong_type = {**succeeded.example, "type": "report.failed"}
    no_report = {**succeeded.example, "data": {}}

    assert not validator.is_valid(wrong_type)
    assert not validator.is_valid(no_report)


@pytest.mark.django_db
def test_the_catalog_needs_credentials(client):
    answer = client.get("/api/v1/event-types")

    assert answer.status_code == 401
    assert answer["Content-Type"] == "application/problem+json"


@pytest.mark.django_db(transaction=True)
def test_a_delivered_report_succeeded_event_validates_against_its_schema(user, local_webhooks):
    schema = next(known.schema for known in event_type_catalog() if known.name == "report.succeeded")
    with receiver() as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url, event_types=["report.succeeded"])
        report = report_create(user=user, report_type="user_access", parameters={})
        report_render(report.id)

        run_deliveries(max_seconds=10)

    assert len(hook.received) == 1
    event = Webhook(endpoint.secret).verify(hook.received[0].body, hook.received[0].headers)
    assert event["type"] == "report.succeeded"
    assert event["data"]["report"]["file"] is not None
    errors = list(_validator(schema).iter_errors(json.loads(hook.received[0].body)))
    assert errors == [], [error.message for error in errors]


@pytest.mark.django_db
def test_the_openapi_document_is_3_1_with_a_webhook_per_event_type(api):
    answer = api.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert answer.status_code == 200
    document = json.loads(answer.content)
    assert document["openapi"].startswith("3.1.")
    assert set(document["webhooks"]) == set(event_types())
    for name, webhook in document["webhooks"].items():
        body = webhook["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": f"#/components/schemas/{component_name(name)}"}
        schema = document["components"]["schemas"][component_name(name)]
        assert _validator(schema).is_valid(body["example"]), name
        assert {param["name"] for param in webhook["post"]["parameters"]} == {
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        }


@pytest.mark.django_db
def test_an_example_is_sent_signed_to_the_endpoint_and_validates_but_is_not_in_the_event_log(api, user, local_webhooks):
    with receiver((200, {}, "thanks")) as hooks:
        endpoint = services.endpoint_create(owner=user, url=hooks.url)
        answer = api.post(
            f"/api/v1/webhook-endpoints/{endpoint.id}/send-example", {"event_type": "report.failed"}, format="json"
        )

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["delivered"], body["status_code"], body["response_excerpt"]) == (True, 200, "thanks")
    (request,) = hooks.received
    sent = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert sent == body["event"] and sent["type"] == "report.failed" and sent["id"] != EXAMPLE_EVENT_ID
    failed = next(known for known in event_type_catalog() if known.name == "report.failed")
    assert list(_validator(failed.schema).iter_errors(sent)) == []
    assert not Event.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_an_example_of_an_unknown_type_or_of_anothers_endpoint_is_refused(api, user, make_user, local_webhooks):
    mine = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hooks")
    theirs = services.endpoint_create(owner=make_user("bob"), url="http://127.0.0.1:9/hooks")

    unknown = api.post(f"/api/v1/webhook-endpoints/{mine.id}/send-example", {"event_type": "x.y"}, format="json")
    foreign = api.post(f"/api/v1/webhook-endpoints/{theirs.id}/send-example", {"event_type": "ping"}, format="json")

    assert unknown.status_code == 400 and unknown["Content-Type"] == "application/problem+json"
    assert "event_type" in json.dumps(unknown.json())
    assert foreign.status_code == 404
