"""Recovering an endpoint (POST /api/v1/webhook-endpoints/{id}/recover): its deliveries since a time sent again
through the delivery engine, with their own event ids, as an operation its owner follows."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from events.engine import run_deliveries
from events.log import event_record
from events.models import Delivery, DeliveryStatus, Event
from notifications.jobs import run_recovery
from notifications.models import WebhookRecovery
from notifications.webhooks import services
from tests.conftest import client_for
from tests.webhook_receivers import receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def webhook_settings(local_webhooks, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0]  # one attempt: a failure is final at once


def _event(user, report_id: str) -> Event:
    return event_record(user_id=user.pk, event_type="report.succeeded", data={"report": {"id": report_id}})


def _recover(api, endpoint_id: str, **body):
    return api.post(f"/api/v1/webhook-endpoints/{endpoint_id}/recover", body, format="json")


def test_recover_failed_sends_only_the_failed_deliveries_since_then_with_their_event_ids(user, api):
    # given: an old failed delivery, a failed and a delivered one since `since`
    with receiver((500, {}, "down")) as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        old = _event(user, "rep_old")
        run_deliveries(max_seconds=5)
        Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
        since = timezone.now() - timedelta(hours=1)
        failed = _event(user, "rep_failed")
        run_deliveries(max_seconds=5)
        hook.answers = [(200, {}, "ok")]
        delivered = _event(user, "rep_delivered")
        run_deliveries(max_seconds=5)
        assert [got.headers["webhook-id"] for got in hook.received] == [old.id, failed.id, delivered.id]

        # when
        answer = _recover(api, endpoint.id, since=since.isoformat(), status="failed")
        assert answer.status_code == 202
        assert answer.data["status"] == "queued"
        assert answer["Location"] == answer.data["links"]["self"]
        run_recovery(answer.data["id"])  # the job, as the worker runs it
        run_deliveries(max_seconds=5)

    # then: the failed one since then was sent again, once, with the same event id
    assert [got.headers["webhook-id"] for got in hook.received] == [old.id, failed.id, delivered.id, failed.id]
    followed = api.get(answer["Location"])
    assert followed.status_code == 200
    assert {key: followed.data[key] for key in ("status", "total", "sent", "failed", "progress", "deliveries")} == {
        "status": "succeeded",
        "total": 1,
        "sent": 1,
        "failed": 0,
        "progress": 100,
        "deliveries": "failed",
    }
    assert Delivery.objects.get(event=failed, channel="webhook").status == DeliveryStatus.SUCCEEDED
    assert Delivery.objects.get(event=old, channel="webhook").status == DeliveryStatus.FAILED


def test_recover_all_sends_every_finished_delivery_once_and_a_second_run_of_the_job_sends_nothing(user, api):
    with receiver((500, {}, "down"), (200, {}, "ok")) as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        since = timezone.now() - timedelta(minutes=1)
        first, second = _event(user, "rep_1"), _event(user, "rep_2")
        run_deliveries(max_seconds=5)
        sent_before = len(hook.received)

        answer = _recover(api, endpoint.id, since=since.isoformat(), status="all")
        run_recovery(answer.data["id"])
        run_recovery(answer.data["id"])  # a job run twice takes nothing more
        run_deliveries(max_seconds=5)

    again = sorted(got.headers["webhook-id"] for got in hook.received[sent_before:])
    assert again == sorted([first.id, second.id])
    recovery = api.get(answer["Location"]).data
    assert (recovery["status"], recovery["total"], recovery["sent"], recovery["failed"]) == ("succeeded", 2, 2, 0)


def test_a_failed_recovered_delivery_is_attempted_once_and_counted_failed(user, api, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0]
    with receiver((500, {}, "down")) as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        since = timezone.now() - timedelta(minutes=1)
        _event(user, "rep_1")
        run_deliveries(max_seconds=5)
        assert len(hook.received) == 3

        answer = _recover(api, endpoint.id, since=since.isoformat())
        run_recovery(answer.data["id"])
        run_deliveries(max_seconds=5)

    assert len(hook.received) == 4  # one attempt, no retries
    recovery = api.get(answer["Location"]).data
    assert (recovery["status"], recovery["total"], recovery["sent"], recovery["failed"]) == ("succeeded", 1, 0, 1)


def test_a_second_recover_while_one_runs_is_409_and_starts_nothing(user, api):
    endpoint = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hook")
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert _recover(api, endpoint.id, since=since).status_code == 202

    answer = _recover(api, endpoint.id, since=since)

    assert answer.status_code == 409
    assert answer["Content-Type"] == "application/problem+json"
    assert answer.json()["type"].endswith("recovery-running")
    assert WebhookRecovery.objects.filter(endpoint=endpoint).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00Z", "status": "some"}, "status"),
        ({"since": "2999-01-01T00:00:00Z"}, "since"),
        ({"since": "2026-01-01T00:00:00Z", "surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_a_400_problem_naming_the_field(user, api, body, field):
    endpoint = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hook")

    answer = api.post(f"/api/v1/webhook-endpoints/{endpoint.id}/recover", body, format="json")

    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"
    assert field in answer.json()["errors"]
    assert not WebhookRecovery.objects.exists()


def test_another_users_endpoint_and_recovery_are_404(user, api, make_user):
    other = make_user("bob")
    endpoint = services.endpoint_create(owner=other, url="http://127.0.0.1:9/hook")
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    theirs = _recover(client_for(other), endpoint.id, since=since)
    assert theirs.status_code == 202

    assert _recover(api, endpoint.id, since=since).status_code == 404
    read = api.get(f"/api/v1/webhook-endpoints/{endpoint.id}/recoveries/{theirs.data['id']}")
    assert read.status_code == 404
    assert read["Content-Type"] == "application/problem+json"
    mine = services.endpoint_create(owner=user, url="http://127.0.0.1:9/mine")
    assert api.get(f"/api/v1/webhook-endpoints/{mine.id}/recoveries/{theirs.data['id']}").status_code == 404
    assert WebhookRecovery.objects.count() == 1


def test_a_disabled_endpoint_is_not_recovered(user, api):
    endpoint = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hook", enabled=False)

    answer = _recover(api, endpoint.id, since=(timezone.now() - timedelta(hours=1)).isoformat())

    assert answer.status_code == 409
    assert not WebhookRecovery.objects.exists()


def _staff(username: str, *codenames: str) -> Client:
    staff = User.objects.create_user(username, password="pw", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


def _recover_action(client: Client, endpoint_id: str):
    return client.post(
        "/admin/notifications/webhookendpoint/",
        {"action": "recover_failed_last_day", "_selected_action": [endpoint_id], "index": 0},
        follow=True,
    )


def test_the_admin_action_queues_a_recovery_of_the_last_day_and_refuses_a_second(user):
    endpoint = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hook")
    admin = _staff("root", "view_webhookendpoint", "change_webhookendpoint", "view_webhookrecovery")

    first = _recover_action(admin, endpoint.id)
    second = _recover_action(admin, endpoint.id)

    recovery = WebhookRecovery.objects.get(endpoint=endpoint)
    assert recovery.only_failed is True
    assert timedelta(hours=23, minutes=59) < timezone.now() - recovery.since <= timedelta(hours=24, seconds=5)
    assert f"recovery {recovery.id} queued" in first.content.decode()
    assert "already queued or running" in second.content.decode()
    page = admin.get(f"/admin/notifications/webhookrecovery/{quote(recovery.id)}/change/")
    assert page.status_code == 200
    assert "Sent / failed" in page.content.decode()


def test_the_admin_action_is_not_offered_without_the_change_permission(user):
    endpoint = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hook")
    viewer = _staff("viewer", "view_webhookendpoint")

    response = _recover_action(viewer, endpoint.id)

    assert 'value="recover_failed_last_day"' not in response.content.decode()
    assert not WebhookRecovery.objects.exists()


def test_the_rate_limit_is_a_field_of_the_endpoint_admin_form(user):
    endpoint = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hook", rate_limit=3)
    admin = _staff("root", "view_webhookendpoint", "change_webhookendpoint")

    page = admin.get(f"/admin/notifications/webhookendpoint/{quote(endpoint.id)}/change/").content.decode()

    assert re.search(r'name="rate_limit"[^>]*value="3"|value="3"[^>]*name="rate_limit"', page)
