"""Queue health for the admin index: work queued, running and failed per RQ queue, and reports per status per day."""

from dataclasses import dataclass, field
from datetime import date, timedelta

import django_rq
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from events.breakers import Breaker, breakers_open
from reports.models import Report, ReportStatus

QUEUES = ("reports", "notifications")
# Colours of the statuses in the chart, in stacking order (bottom first).
STATUS_COLOURS = {
    ReportStatus.SUCCEEDED: "#2e9d44",
    ReportStatus.FAILED: "#d64545",
    ReportStatus.CANCELLED: "#9aa5b1",
    ReportStatus.EXPIRED: "#e0a100",
    ReportStatus.RUNNING: "#2f6fde",
    ReportStatus.QUEUED: "#7b8794",
}


@dataclass(frozen=True)
class QueueCounts:
    name: str
    queued: int
    running: int
    failed: int
    scheduled: int


@dataclass(frozen=True)
class QueueHealth:
    queues: list[QueueCounts]
    workers: int
    error: str = ""
    # Delivery circuit breakers that are open or half-open (events/breakers.py): sends to them are deferred.
    breakers: list[Breaker] = field(default_factory=list)


def queue_health() -> QueueHealth:
    """Counts from Redis; when Redis does not answer, say so instead of failing the admin index."""
    try:
        counts = []
        for name in QUEUES:
            queue = django_rq.get_queue(name)
            counts.append(
                QueueCounts(
                    name=name,
                    queued=queue.count,
                    running=StartedJobRegistry(queue=queue).count,
                    failed=FailedJobRegistry(queue=queue).count,
                    scheduled=ScheduledJobRegistry(queue=queue).count,
                )
            )
        workers = Worker.count(connection=django_rq.get_connection(QUEUES[0]))
    except RedisError as error:
        return QueueHealth(queues=[], workers=0, error=f"Redis did not answer: {error}")
    return QueueHealth(queues=counts, workers=workers, breakers=breakers_open())


@dataclass(frozen=True)
class DayBar:
    day: date
    segments: list[tuple[str, int]]  # (status, count), bottom first

    @property
    def total(self) -> int:
        return sum(count for _, count in self.segments)


def reports_per_day(days: int = 14, *, today: date | None = None) -> list[DayBar]:
    """Reports created on each of the last `days` days (UTC), split by their status now."""
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    rows = (
        Report.objects.filter(created_at__date__gte=first)
        .annotate(day=TruncDate("created_at"))
        .values("day", "status")
        .annotate(count=Count("id"))
    )
    counts: dict[tuple[date, str], int] = {(row["day"], row["status"]): row["count"] for row in rows}
    return [
        DayBar(
            day=first + timedelta(days=offset),
            segments=[(status, counts.get((first + timedelta(days=offset), status), 0)) for status in STATUS_COLOURS],
        )
        for offset in range(days)
    ]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


def chart_rects(bars: list[DayBar], *, width: int = 560, height: int = 140, gap: int = 6) -> tuple[list[Rect], int]:
    """Stacked bars for an SVG of `width` x `height`; returns the rectangles and the count at the top of the scale."""
    top = max([bar.total for bar in bars] + [1])
    slot = width / max(len(bars), 1)
    rects = []
    for index, bar in enumerate(bars):
        y = float(height)
        for status, count in bar.segments:
            if not count:
                continue
            segment = height * count / top
            y -= segment
            rects.append(
                Rect(
                    x=round(index * slot + gap / 2, 1),
                    y=round(y, 1),
                    width=round(slot - gap, 1),
                    height=round(segment, 1),
                    colour=STATUS_COLOURS[status],
                    title=f"{bar.day:%d %b}: {count} {status}",
                )
            )
    return rects, top
