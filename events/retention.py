"""Retention of the event log (EVENT_RETENTION_DAYS): old events go, and their deliveries and attempts with them."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from events.models import Event

BATCH = 1000


def events_purge(*, now: datetime | None = None) -> int:
    """Delete the events older than EVENT_RETENTION_DAYS, in batches so that no transaction grows without bound.
    Returns how many events were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(
            Event.objects.filter(created_at__lt=cutoff).order_by("created_at").values_list("id", flat=True)[:BATCH]
        )
        if not ids:
            return deleted
        Event.objects.filter(id__in=ids).delete()
        deleted += len(ids)
