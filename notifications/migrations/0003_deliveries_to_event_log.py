"""Moves the webhook delivery log and the email/SMS log into the event log (events.Event, Delivery,
DeliveryAttempt), keeping ids, outcomes, attempts and times, so that what was sent before stays readable. The
events those deliveries carried become events of the log, numbered per user in the order they happened. Permissions
on the old logs are granted on the new one. The old tables are removed by the next migration."""

import json

from django.conf import settings
from django.db import migrations

BATCH = 1000
STATUSES = {"pending": "pending", "succeeded": "succeeded", "sent": "succeeded", "failed": "failed", "skipped": "skipped"}
# Old permission -> new permission (codenames), for the users and groups that held them.
PERMISSIONS = {
    ("notifications", "view_webhookdelivery"): ("delivery", "view_delivery"),
    ("notifications", "view_notificationmessage"): ("delivery", "view_delivery"),
    ("notifications", "change_webhookdelivery"): ("delivery", "redeliver_delivery"),
    ("notifications", "change_notificationmessage"): ("delivery", "redeliver_delivery"),
    ("notifications", "resend_notificationmessage"): ("delivery", "redeliver_delivery"),
    ("notifications", "view_webhookattempt"): ("deliveryattempt", "view_deliveryattempt"),
}
NEW_PERMISSION_NAMES = {
    "view_delivery": "Can view delivery",
    "redeliver_delivery": "Can send deliveries again",
    "view_deliveryattempt": "Can view delivery attempt",
}


def _envelope(payload: dict, sequence: int) -> str:
    """The old payload with the sequence it gets now, in the order the log writes its keys."""
    ordered = {
        "id": payload.get("id"),
        "type": payload.get("type"),
        "sequence": sequence,
        "timestamp": payload.get("timestamp"),
        "data": payload.get("data"),
    }
    ordered.update({key: value for key, value in payload.items() if key not in ordered})
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def _report_id(payload: dict) -> str | None:
    report = (payload.get("data") or {}).get("report") or {}
    return report.get("id") if isinstance(report, dict) else None


def _without_auto_now(model) -> None:
    """Keep the times we copy: `auto_now_add` would replace them with now."""
    for field in model._meta.fields:
        if getattr(field, "auto_now_add", False):
            field.auto_now_add = False


def _events(apps) -> None:
    WebhookDelivery = apps.get_model("notifications", "WebhookDelivery")
    NotificationMessage = apps.get_model("notifications", "NotificationMessage")
    Report = apps.get_model("reports", "Report")
    Event = apps.get_model("events", "Event")
    EventStream = apps.get_model("events", "EventStream")

    found: dict[str, tuple] = {}
    for event_id, user_id, payload, created_at in WebhookDelivery.objects.order_by("created_at").values_list(
        "event_id", "owner_id", "payload", "created_at"
    ):
        found.setdefault(event_id, (user_id, payload, created_at))
    for event_id, user_id, payload, created_at in NotificationMessage.objects.order_by("created_at").values_list(
        "event_id", "user_id", "payload", "created_at"
    ):
        if event_id not in found or created_at < found[event_id][2]:
            found[event_id] = (user_id, payload, created_at)
    report_ids = {_report_id(payload) for _, payload, _ in found.values()} - {None}
    existing_reports = set(Report.objects.filter(pk__in=report_ids).values_list("pk", flat=True))

    per_user: dict[int, list[tuple]] = {}
    for event_id, (user_id, payload, created_at) in found.items():
        per_user.setdefault(user_id, []).append((created_at, event_id, payload))
    rows = []
    for user_id, events in per_user.items():
        events.sort(key=lambda item: (item[0], item[1]))
        for sequence, (created_at, event_id, payload) in enumerate(events, start=1):
            report_id = _report_id(payload)
            rows.append(
                Event(
                    id=event_id,
                    user_id=user_id,
                    report_id=report_id if report_id in existing_reports else None,
                    type=payload.get("type") or "unknown",
                    sequence=sequence,
                    envelope_json=_envelope(payload, sequence),
                    created_at=created_at,
                    fanned_out_at=created_at,
                )
            )
        EventStream.objects.create(user_id=user_id, last_sequence=len(events))
    Event.objects.bulk_create(rows, batch_size=BATCH)


def _webhook_deliveries(apps) -> None:
    WebhookDelivery = apps.get_model("notifications", "WebhookDelivery")
    WebhookAttempt = apps.get_model("notifications", "WebhookAttempt")
    Delivery = apps.get_model("events", "Delivery")
    DeliveryAttempt = apps.get_model("events", "DeliveryAttempt")
    _without_auto_now(Delivery)

    last_attempts = {}
    for delivery_id, attempted_at in WebhookAttempt.objects.order_by("attempted_at").values_list(
        "delivery_id", "attempted_at"
    ):
        last_attempts[delivery_id] = attempted_at
    deliveries = [
        Delivery(
            id=old.id,
            event_id=old.event_id,
            channel="webhook" if old.endpoint_id else "callback",
            target=old.endpoint_id or old.url,
            status=STATUSES.get(old.status, old.status),
            attempt_count=old.attempt_count,
            next_attempt_at=old.next_attempt_at,
            last_status_code=old.last_status_code,
            last_error=old.last_error,
            last_attempt_at=last_attempts.get(old.id),
            created_at=old.created_at,
            finished_at=old.finished_at,
        )
        for old in WebhookDelivery.objects.iterator(chunk_size=BATCH)
    ]
    Delivery.objects.bulk_create(deliveries, batch_size=BATCH)
    attempts = [
        DeliveryAttempt(
            delivery_id=old.delivery_id,
            number=old.number,
            attempted_at=old.attempted_at,
            succeeded=old.status_code is not None and 200 <= old.status_code < 300,
            status_code=old.status_code,
            latency_ms=old.latency_ms,
            error=old.error,
            response_excerpt=old.response_excerpt,
        )
        for old in WebhookAttempt.objects.iterator(chunk_size=BATCH)
    ]
    DeliveryAttempt.objects.bulk_create(attempts, batch_size=BATCH)


def _messages(apps) -> None:
    NotificationMessage = apps.get_model("notifications", "NotificationMessage")
    Delivery = apps.get_model("events", "Delivery")
    _without_auto_now(Delivery)
    deliveries = [
        Delivery(
            id=old.id,
            event_id=old.event_id,
            channel=old.channel,
            target=old.recipient,
            status=STATUSES.get(old.status, old.status),
            attempt_count=old.attempts,
            next_attempt_at=old.next_attempt_at,
            last_error=old.last_error,
            last_attempt_at=old.last_attempt_at,
            receipt=old.provider_message_id,
            created_at=old.created_at,
            finished_at=old.sent_at or (old.last_attempt_at if old.status == "failed" else None),
        )
        for old in NotificationMessage.objects.iterator(chunk_size=BATCH)
    ]
    Delivery.objects.bulk_create(deliveries, batch_size=BATCH)


def _permissions(apps) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    for (app_label, old_codename), (model, new_codename) in PERMISSIONS.items():
        old = Permission.objects.filter(content_type__app_label=app_label, codename=old_codename).first()
        if old is None:
            continue
        content_type, _ = ContentType.objects.get_or_create(app_label="events", model=model)
        new, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=new_codename, defaults={"name": NEW_PERMISSION_NAMES[new_codename]}
        )
        for group in Group.objects.filter(permissions=old):
            group.permissions.add(new)
        for user in User.objects.filter(user_permissions=old):
            user.user_permissions.add(new)


def forwards(apps, schema_editor) -> None:
    _events(apps)
    _webhook_deliveries(apps)
    _messages(apps)
    _permissions(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_notification_preferences_and_messages"),
        ("events", "0001_event_log"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
