"""Migrating a database from before the event log: the webhook delivery log and the email/SMS log become the event
log's deliveries, readable as before (same ids, outcomes, attempts and times), and who could read or resend them
still can."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from events.models import Delivery, DeliveryStatus, Event, EventStream

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("notifications", "0002_notification_preferences_and_messages"), ("events", None)]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def _envelope(event_id: str, event_type: str, report_id: str) -> dict:
    return {
        "id": event_id,
        "type": event_type,
        "timestamp": "2026-11-30T10:00:00Z",
        "data": {"report": {"id": report_id}},
    }


def test_old_deliveries_messages_and_permissions_survive_the_migration():
    # Given a database as it was before the event log, with a webhook delivery (two attempts), a callback delivery
    # and an email of the same event, and people allowed to read and resend them
    _migrate(BEFORE)
    try:
        old = MigrationExecutor(connection).loader.project_state([*BEFORE[:1], ("reports", "0006_api_token")]).apps
        User, Group = old.get_model("auth", "User"), old.get_model("auth", "Group")
        ContentType, Permission = old.get_model("contenttypes", "ContentType"), old.get_model("auth", "Permission")
        Report = old.get_model("reports", "Report")
        Endpoint = old.get_model("notifications", "WebhookEndpoint")
        WebhookDelivery = old.get_model("notifications", "WebhookDelivery")
        WebhookAttempt = old.get_model("notifications", "WebhookAttempt")
        Message = old.get_model("notifications", "NotificationMessage")

        ada = User.objects.create(username="ada", email="ada@example.com")
        operator = User.objects.create(username="op")
        report = Report.objects.create(id="rep_old0000000000000000001", requested_by=ada, report_type="user_access")
        endpoint = Endpoint.objects.create(
            id="we_old000000000000000000001", owner=ada, url="https://hooks.example/", secret="whsec_x"
        )
        created = timezone.now() - timedelta(days=2)
        envelope = _envelope("evt_old000000000000000000001", "report.succeeded", report.id)
        earlier = _envelope("evt_old000000000000000000000", "report.queued", report.id)
        queued = WebhookDelivery.objects.create(
            id="wd_old0",
            owner=ada,
            endpoint=endpoint,
            url=endpoint.url,
            event_id=earlier["id"],
            event_type="report.queued",
            payload=earlier,
            status="succeeded",
            attempt_count=1,
        )
        delivery = WebhookDelivery.objects.create(
            id="wd_old1",
            owner=ada,
            endpoint=endpoint,
            url=endpoint.url,
            event_id=envelope["id"],
            event_type="report.succeeded",
            payload=envelope,
            status="succeeded",
            attempt_count=2,
            last_status_code=200,
            finished_at=created + timedelta(seconds=6),
        )
        WebhookDelivery.objects.filter(pk__in=[queued.pk, delivery.pk]).update(created_at=created)
        WebhookDelivery.objects.filter(pk=queued.pk).update(created_at=created - timedelta(seconds=1))
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=1,
            attempted_at=created,
            status_code=500,
            latency_ms=12,
            error="HTTP 500",
            response_excerpt="boom",
        )
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=2,
            attempted_at=created + timedelta(seconds=5),
            status_code=200,
            latency_ms=9,
            response_excerpt="ok",
        )
        WebhookDelivery.objects.create(
            id="wd_old2",
            owner=ada,
            url="https://callback.example/x?token=1",
            event_id=envelope["id"],
            event_type="report.succeeded",
            payload=envelope,
            status="failed",
            attempt_count=8,
            last_error="Timed out",
        )
        Message.objects.create(
            id="msg_old1",
            user=ada,
            report=report,
            channel="email",
            recipient="ada@example.com",
            event_id=envelope["id"],
            event_type="report.succeeded",
            payload=envelope,
            status="sent",
            attempts=1,
            provider_message_id="<msg_old1@example>",
            sent_at=created + timedelta(seconds=1),
        )
        auditors = Group.objects.create(name="auditors")
        for codename, model in (
            ("view_webhookdelivery", "webhookdelivery"),
            ("resend_notificationmessage", "notificationmessage"),
        ):
            content_type, _ = ContentType.objects.get_or_create(app_label="notifications", model=model)
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": codename}
            )
            (auditors.permissions if codename.startswith("view") else operator.user_permissions).add(permission)
        operator.groups.add(auditors)
    finally:
        # When the migrations run (also if the setup failed, so that the suite goes on with the current schema)
        _migrate(_latest())

    # Then each event the old logs carried is an event of Ada's stream, numbered in the order it happened
    events = list(Event.objects.order_by("sequence"))
    assert [(event.id, event.type, event.sequence, event.report_id) for event in events] == [
        ("evt_old000000000000000000000", "report.queued", 1, report.id),
        ("evt_old000000000000000000001", "report.succeeded", 2, report.id),
    ]
    assert events[1].envelope == {**envelope, "sequence": 2}
    assert list(events[1].envelope) == ["id", "type", "sequence", "timestamp", "data"]
    assert EventStream.objects.get(user_id=ada.pk).last_sequence == 2
    # And the deliveries keep their ids, channels, outcomes and attempts
    rows = {
        row.id: (row.channel, row.target, row.status, row.attempt_count, row.receipt) for row in Delivery.objects.all()
    }
    assert rows == {
        "wd_old0": ("webhook", endpoint.id, DeliveryStatus.SUCCEEDED, 1, ""),
        "wd_old1": ("webhook", endpoint.id, DeliveryStatus.SUCCEEDED, 2, ""),
        "wd_old2": ("callback", "https://callback.example/x?token=1", DeliveryStatus.FAILED, 8, ""),
        "msg_old1": ("email", "ada@example.com", DeliveryStatus.SUCCEEDED, 1, "<msg_old1@example>"),
    }
    migrated = Delivery.objects.get(pk="wd_old1")
    assert migrated.created_at == created
    assert migrated.last_attempt_at == created + timedelta(seconds=5)
    assert [(a.number, a.succeeded, a.status_code, a.error, a.response_excerpt) for a in migrated.attempts.all()] == [
        (1, False, 500, "HTTP 500", "boom"),
        (2, True, 200, "", "ok"),
    ]
    assert Delivery.objects.get(pk="msg_old1").finished_at == created + timedelta(seconds=1)
    # And the people who could read or resend the old logs can read or resend the new one
    from django.contrib.auth.models import User as CurrentUser

    operator = CurrentUser.objects.get(username="op")
    assert operator.has_perm("events.view_delivery")
    assert operator.has_perm("events.redeliver_delivery")
    assert not CurrentUser.objects.get(username="ada").has_perm("events.view_delivery")
