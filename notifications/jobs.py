"""RQ jobs of the notifications queue, and how they are started."""

import logging
from datetime import timedelta

from django.utils import timezone
from redis.exceptions import RedisError

from reports.jobs import queue_for

logger = logging.getLogger(__name__)

QUEUE = "notifications"
PUMP_FLAG = "notifications:webhook-run-queued"
PUMP_FLAG_TTL = 120
WAKE_UP_JOB_ID = "notifications-webhook-retry-wake-up"


def _queue():
    return queue_for(QUEUE)


def deliver_webhooks() -> dict[str, int]:
    """The job: one delivery run, then a wake-up at the next retry that is due later."""
    from notifications.delivery import next_due_at, run_deliveries

    queue = _queue()
    queue.connection.delete(PUMP_FLAG)
    reports = queue_for("reports")
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
    queue = _queue()
    try:
        if queue.connection.set(PUMP_FLAG, "1", nx=True, ex=PUMP_FLAG_TTL):
            queue.enqueue(deliver_webhooks, job_timeout=600, result_ttl=300, failure_ttl=86400)
    except RedisError:
        logger.warning("Could not start a webhook delivery run; the scheduler will", exc_info=True)
