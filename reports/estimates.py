"""How long a pending report has left, for its `Retry-After` (SPEC §17): its place in the queue, the recent median
build time of its type, and the workers listening.

Workers note each build's time in Redis (a short list per type, newest first), which costs them one pipelined
write after the report is finished. Readers ask Redis for the report's place in the queue each time, and for the
build times and the worker count at most every few seconds per process: the figures move slowly, and a poll should
stay cheap. When Redis does not answer, the estimate is REPORT_POLL_RETRY_AFTER, as before estimates."""

import logging
import math
import statistics
import time
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from common.queues import REPORTS_QUEUE, queue_for
from reports.models import Report, ReportStatus

logger = logging.getLogger(__name__)

BUILD_TIMES_KEY = "reports:build-seconds:{}"
# Build times kept per type: enough for a steady median, few enough to forget last week's slow data.
BUILD_TIMES_KEPT = 50
# How long a process trusts the build times and worker count it read.
FIGURES_TTL_SECONDS = 5.0

_figures: dict[str, tuple[float, float, int]] = {}  # type -> (read at, median seconds, workers)


def build_time_record(report_type: str, seconds: float) -> None:
    """Note one build's time (`started_at` → `finished_at`); losing it to a Redis outage costs only accuracy."""
    key = BUILD_TIMES_KEY.format(report_type)
    try:
        with queue_for(REPORTS_QUEUE).connection.pipeline(transaction=False) as pipe:
            pipe.lpush(key, f"{max(seconds, 0.0):.3f}")
            pipe.ltrim(key, 0, BUILD_TIMES_KEPT - 1)
            pipe.execute()
    except RedisError:
        logger.warning("Build time of a %s report not recorded: Redis is unavailable", report_type, exc_info=True)


def _figures_of(report_type: str) -> tuple[float, int]:
    """(median build seconds, workers listening) for the type, read from Redis at most every FIGURES_TTL_SECONDS."""
    now = time.monotonic()
    cached = _figures.get(report_type)
    if cached is not None and now - cached[0] < FIGURES_TTL_SECONDS:
        return cached[1], cached[2]
    queue = queue_for(REPORTS_QUEUE)
    with queue.connection.pipeline(transaction=False) as pipe:
        pipe.lrange(BUILD_TIMES_KEY.format(report_type), 0, -1)
        pipe.scard(WORKERS_BY_QUEUE_KEY % queue.name)
        times, workers = pipe.execute()
    median = statistics.median(float(value) for value in times) if times else float(settings.REPORT_POLL_RETRY_AFTER)
    _figures[report_type] = (now, median, int(workers))
    return median, int(workers)


def seconds_left(report: Report, *, now: datetime | None = None) -> int:
    """The estimate, in whole seconds, at least 1 and at most REPORT_RETRY_AFTER_MAX.

    Queued: the builds ahead of it shared among the workers, then its own. Running: its type's median build time
    less the time it has run (at least a second: it is late, not done)."""
    try:
        median, workers = _figures_of(report.report_type)
        if report.status == ReportStatus.QUEUED:
            queue = queue_for(REPORTS_QUEUE)
            position = queue.connection.lpos(queue.key, report.id)
            ahead = position if position is not None else 0  # not on the queue: being taken, or about to be enqueued
            seconds = (ahead // max(workers, 1) + 1) * median
        else:
            started = report.started_at or (now or timezone.now())
            seconds = median - ((now or timezone.now()) - started).total_seconds()
    except RedisError:
        return settings.REPORT_POLL_RETRY_AFTER
    return max(1, min(math.ceil(seconds), settings.REPORT_RETRY_AFTER_MAX))


def forget_figures() -> None:
    """Tests: read the figures from Redis again on the next estimate."""
    _figures.clear()
