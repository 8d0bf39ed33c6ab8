"""How each webhook endpoint is doing, for the portal's list and pages: its attempts' success over the last day and
its latest attempt. Two grouped queries for any number of endpoints."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone

from events.models import Delivery, DeliveryAttempt
from notifications.models import WebhookEndpoint
from notifications.webhooks.services import ENDPOINT_CHANNEL

HEALTH_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class EndpointHealth:
    attempts: int = 0  # in the last HEALTH_WINDOW
    succeeded: int = 0
    last_attempt_at: datetime | None = None

    @property
    def success_rate(self) -> int | None:
        """Percent of the last day's attempts that were answered with a 2xx; None without any."""
        return round(100 * self.succeeded / self.attempts) if self.attempts else None


def endpoints_health(endpoints: Sequence[WebhookEndpoint]) -> dict[str, EndpointHealth]:
    ids = [endpoint.pk for endpoint in endpoints]
    recent = (
        DeliveryAttempt.objects.filter(
            delivery__channel=ENDPOINT_CHANNEL,
            delivery__target__in=ids,
            attempted_at__gte=timezone.now() - HEALTH_WINDOW,
        )
        .values("delivery__target")
        .annotate(attempts=Count("pk"), succeeded=Count("pk", filter=Q(succeeded=True)))
    )
    latest = (
        Delivery.objects.filter(channel=ENDPOINT_CHANNEL, target__in=ids)
        .values("target")
        .annotate(last_attempt_at=Max("last_attempt_at"))
    )
    counts = {row["delivery__target"]: row for row in recent}
    lasts = {row["target"]: row["last_attempt_at"] for row in latest}
    return {
        pk: EndpointHealth(
            attempts=counts.get(pk, {}).get("attempts", 0),
            succeeded=counts.get(pk, {}).get("succeeded", 0),
            last_attempt_at=lasts.get(pk),
        )
        for pk in ids
    }
