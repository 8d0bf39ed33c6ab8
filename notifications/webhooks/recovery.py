"""Recovering an endpoint: its deliveries since a time sent again, with their own event ids, as one operation its
owner follows (queued, running, succeeded, with counts). The API and the admin call these; the job
`notifications.jobs.run_recovery` does the sending's first half.

A recovery takes its deliveries once, in one transaction that also records them as its items and puts them back
in the delivery engine's hands with a single attempt each (`retry_on_failure` off): so no delivery is sent more than
once by one recovery, a job that runs twice takes nothing the second time, and a recovery ends when every item has
had its attempt. One recovery at a time per endpoint (a unique constraint holds it under concurrent requests).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from events.engine import due_again
from events.jobs import kick_delivery
from events.models import Delivery, DeliveryStatus
from notifications.models import (
    ACTIVE_RECOVERY_STATUSES,
    RecoveryStatus,
    WebhookEndpoint,
    WebhookRecovery,
    WebhookRecoveryItem,
)
from notifications.webhooks.services import endpoint_deliveries

REQUEUE_AFTER = timedelta(minutes=2)


class RecoveryRunning(Exception):
    """The endpoint has a recovery queued or running; one at a time."""


class RecoveryRefused(Exception):
    """The endpoint cannot be recovered now (it is disabled: enabling it sends what it missed)."""


class RecoveryInvalid(ValueError):
    """A field of the request is wrong; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field

    def field_errors(self) -> dict[str, list[str]]:
        return {self.field: [str(self)]}


@dataclass(frozen=True)
class RecoveryProgress:
    total: int
    sent: int
    failed: int

    @property
    def done(self) -> int:
        return self.sent + self.failed

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)


def endpoint_recover(*, endpoint: WebhookEndpoint, since: datetime, only_failed: bool) -> WebhookRecovery:
    """Queue a recovery of the endpoint's deliveries of events since `since` (only the failed ones, or every finished
    one). Its job starts once this commits."""
    from notifications.jobs import enqueue_recovery  # the job calls back into this module

    if since > timezone.now():
        raise RecoveryInvalid("since", "The time is in the future.")
    if not endpoint.enabled:
        raise RecoveryRefused("The endpoint is disabled; enabling it sends again what it missed.")
    for active in WebhookRecovery.objects.filter(endpoint=endpoint, status__in=ACTIVE_RECOVERY_STATUSES):
        recovery_refresh(recovery=active)  # one whose deliveries all went is over, even if nobody read it since
    try:
        with transaction.atomic():
            recovery = WebhookRecovery.objects.create(endpoint=endpoint, since=since, only_failed=only_failed)
            transaction.on_commit(lambda: enqueue_recovery(recovery.id))
    except IntegrityError as error:  # one_active_recovery_per_endpoint
        raise RecoveryRunning("A recovery of this endpoint is already queued or running.") from error
    return recovery


def recovery_start(*, recovery_id: str) -> WebhookRecovery | None:
    """The job's work: take the recovery's deliveries, oldest first (at most WEBHOOK_RECOVER_MAX_DELIVERIES), and
    hand them to the delivery engine. Does nothing for a recovery that is not queued (the job ran already)."""
    with transaction.atomic():
        recovery = WebhookRecovery.objects.select_for_update().select_related("endpoint").filter(pk=recovery_id).first()
        if recovery is None or recovery.status != RecoveryStatus.QUEUED:
            return recovery
        now = timezone.now()
        wanted = [DeliveryStatus.FAILED] if recovery.only_failed else [DeliveryStatus.FAILED, DeliveryStatus.SUCCEEDED]
        limit = settings.WEBHOOK_RECOVER_MAX_DELIVERIES
        ids = list(
            endpoint_deliveries(recovery.endpoint)
            .filter(event__user_id=recovery.endpoint.owner_id, event__created_at__gte=recovery.since)
            .filter(status__in=wanted)
            .order_by("event__created_at", "id")
            .values_list("id", flat=True)[: limit + 1]
        )
        truncated = len(ids) > limit
        ids = ids[:limit]
        WebhookRecoveryItem.objects.bulk_create(
            [WebhookRecoveryItem(recovery=recovery, delivery_id=delivery_id) for delivery_id in ids]
        )
        # Finished deliveries only: none of them is in flight, so none is sent twice at once.
        Delivery.objects.filter(id__in=ids, status__in=wanted).update(**due_again(retries=False))
        recovery.status = RecoveryStatus.RUNNING if ids else RecoveryStatus.SUCCEEDED
        recovery.total, recovery.truncated, recovery.started_at = len(ids), truncated, now
        recovery.finished_at = None if ids else now
        recovery.save(update_fields=["status", "total", "truncated", "started_at", "finished_at"])
        if ids:
            transaction.on_commit(kick_delivery)
    return recovery


def recovery_progress(recovery: WebhookRecovery) -> RecoveryProgress:
    """How far the recovery's deliveries got: one query while it runs. Skipped (the endpoint was disabled meanwhile)
    counts as failed: it was not delivered by this recovery."""
    if recovery.status != RecoveryStatus.RUNNING:  # queued: nothing yet; succeeded: as counted when it ended
        return RecoveryProgress(total=recovery.total, sent=recovery.sent, failed=recovery.failed)
    counts = WebhookRecoveryItem.objects.filter(recovery=recovery).aggregate(
        sent=Count("pk", filter=Q(delivery__status=DeliveryStatus.SUCCEEDED)),
        failed=Count("pk", filter=Q(delivery__status__in=[DeliveryStatus.FAILED, DeliveryStatus.SKIPPED])),
    )
    return RecoveryProgress(total=recovery.total, sent=counts["sent"], failed=counts["failed"])


def recovery_refresh(*, recovery: WebhookRecovery) -> RecoveryProgress:
    """The recovery's progress; a running one whose every delivery had its attempt is marked succeeded. One still
    queued well after it was made lost its job (Redis was away): it is queued again (the job runs only once)."""
    from notifications.jobs import enqueue_recovery

    if recovery.status == RecoveryStatus.QUEUED and recovery.created_at < timezone.now() - REQUEUE_AFTER:
        enqueue_recovery(recovery.id)
    progress = recovery_progress(recovery)
    if recovery.status == RecoveryStatus.RUNNING and progress.done >= recovery.total:
        now = timezone.now()
        # Its counts are kept as they are now: a delivery sent again later changes the delivery, not this.
        if WebhookRecovery.objects.filter(pk=recovery.pk, status=RecoveryStatus.RUNNING).update(
            status=RecoveryStatus.SUCCEEDED, finished_at=now, sent=progress.sent, failed=progress.failed
        ):
            recovery.status, recovery.finished_at = RecoveryStatus.SUCCEEDED, now
            recovery.sent, recovery.failed = progress.sent, progress.failed
    return progress
