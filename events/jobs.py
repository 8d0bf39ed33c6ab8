"""RQ jobs of the event log, on the delivery queue: delivery runs, how they are started, and the sweep."""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from common.queues import DELIVERY_QUEUE, REPORTS_QUEUE, queue_for

logger = logging.getLogger(__name__)

RUN_QUEUED_FLAG = "events:delivery-run-queued"
RUN_QUEUED_FLAG_TTL = 120
WAKE_UP_JOB_ID = "events-delivery-retry-wake-up"


def deliver() -> dict[str, int]:
    """The job: one delivery run, then a wake-up at the next retry that is due later."""
    from events.engine import next_due_at, run_deliveries

    queue = queue_for(DELIVERY_QUEUE)
    queue.connection.delete(RUN_QUEUED_FLAG)
    reports = queue_for(REPORTS_QUEUE)
    outcomes = run_deliveries(yield_to=lambda: reports.count > 0)
    if outcomes.get("abandoned"):
        kick_delivery()  # after the reports that are waiting
    due = next_due_at()
    if due is not None:
        # One wake-up job, moved to the earliest retry; RQ's scheduler (rqworker --with-scheduler) runs it.
        wake_at = max(due, timezone.now() + timedelta(milliseconds=50))
        queue.enqueue_at(wake_at, kick_delivery, job_id=WAKE_UP_JOB_ID, result_ttl=60)
    return dict(outcomes)


def kick_delivery() -> None:
    """Make sure a delivery run will start soon: at most one waits in the queue at any time."""
    queue = queue_for(DELIVERY_QUEUE)
    try:
        if queue.connection.set(RUN_QUEUED_FLAG, "1", nx=True, ex=RUN_QUEUED_FLAG_TTL):
            queue.enqueue(deliver, job_timeout=600, result_ttl=300, failure_ttl=86400)
    except RedisError:
        logger.warning("Could not start a delivery run; the sweep will", exc_info=True)


def sweep_events() -> dict[str, int]:
    """Periodic (EVENT_SWEEP_INTERVAL_SECONDS): fan out the events whose fan-out did not finish, and start a
    delivery run for anything due that no run is on its way for (a kick lost with Redis, a run that died)."""
    from events.engine import next_due_at
    from events.fanout import events_sweep

    swept = events_sweep(older_than=timedelta(seconds=settings.EVENT_FANOUT_GRACE_SECONDS))
    due = next_due_at()
    if due is not None and due <= timezone.now():
        kick_delivery()
    return {"fanned_out": swept}


def purge_events() -> int:
    """Periodic: events past EVENT_RETENTION_DAYS, with their deliveries."""
    from events.retention import events_purge

    return events_purge()
