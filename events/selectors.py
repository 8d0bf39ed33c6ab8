"""Reads of the event log, always scoped to the user asking (SPEC §14)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet

from common.ids import looks_like_id
from events import channels
from events.models import Delivery, DeliveryStatus, Event


class CursorExpired(Exception):
    """An `after` cursor that cannot be served: malformed, unknown, another user's, or past retention. The client
    must read the state again (SPEC §14: 410)."""


def event_list(
    *, user: AbstractBaseUser, types: list[str] | None = None, report_id: str | None = None
) -> QuerySet[Event]:
    """The user's events, newest first."""
    events = Event.objects.filter(user=user)
    if types:
        events = events.filter(type__in=types)
    if report_id is not None:
        events = events.filter(report_id=report_id)
    return events.order_by("-sequence")


def event_get(*, user: AbstractBaseUser, event_id: str) -> Event | None:
    if not looks_like_id(event_id):
        return None
    return Event.objects.filter(user=user, pk=event_id).first()


def events_after(
    *, user: AbstractBaseUser, after: str, types: list[str] | None = None, report_id: str | None = None
) -> QuerySet[Event]:
    """The user's events after the one whose id is `after`, oldest first. Raises CursorExpired when that event is
    not one of the user's stored events."""
    cursor = event_get(user=user, event_id=after)
    if cursor is None:
        raise CursorExpired(f"{after!r} is not an event of yours that is still kept.")
    return (
        event_list(user=user, types=types, report_id=report_id)
        .filter(sequence__gt=cursor.sequence)
        .order_by("sequence")
    )


@dataclass(frozen=True)
class TimelineDelivery:
    channel: str
    target: str
    status: str
    attempts: int
    last_attempt_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "target": self.target,
            "status": self.status,
            "attempts": self.attempts,
            "last_attempt_at": self.last_attempt_at,
        }


# The timeline's words for delivery statuses (SPEC §14).
TIMELINE_STATUS = {
    DeliveryStatus.PENDING: "pending",
    DeliveryStatus.SUCCEEDED: "delivered",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.SKIPPED: "skipped",
}


def _mask(channel_name: str, target: str) -> str:
    channel = channels.get(channel_name)
    return channel.mask(target) if channel is not None else target


def event_deliveries(event: Event) -> list[TimelineDelivery]:
    """Where the event went: the live channels once (delivered when it was published), then one entry per
    delivery. Uses `event.deliveries` as prefetched."""
    entries = [
        TimelineDelivery(
            channel=live.name,
            target="live",
            status="delivered" if event.fanned_out_at else "pending",
            attempts=1 if event.fanned_out_at else 0,
            last_attempt_at=event.fanned_out_at,
        )
        for live in channels.live_channels()
    ]
    for delivery in sorted(event.deliveries.all(), key=lambda item: (item.channel, item.target)):
        entries.append(
            TimelineDelivery(
                channel=delivery.channel,
                target=_mask(delivery.channel, delivery.target),
                status=TIMELINE_STATUS.get(delivery.status, delivery.status),
                attempts=delivery.attempt_count,
                last_attempt_at=delivery.last_attempt_at,
            )
        )
    return entries


def report_timeline(*, report_id: str) -> QuerySet[Event]:
    """The report's events, oldest first, with their deliveries (two queries in all). Scope it by its report:
    callers read the report through a selector that is scoped to the user first."""
    return (
        Event.objects.filter(report_id=report_id)
        .order_by("sequence")
        .prefetch_related(Prefetch("deliveries", queryset=Delivery.objects.order_by("channel", "target")))
    )


def report_timeline_rows(*, report_id: str) -> list[dict[str, Any]]:
    """The timeline as the report's page and its admin page show it: each event with where it went."""
    return [{"event": event, "deliveries": event_deliveries(event)} for event in report_timeline(report_id=report_id)]
