"""RQ jobs of the notifications queue, and how they are started: webhook delivery runs, and email/SMS sends."""

import logging
from datetime import timedelta

from django.utils import timezone
from redis.exceptions import RedisError

from common.queues import queue_for

logger = logging.getLogger(__name__)

QUEUE = "notifications"
PUMP_FLAG = "notifications:webhook-run-queued"
PUMP_FLAG_TTL = 120
WAKE_UP_JOB_ID = "notifications-webhook-retry-wake-up"
# Seconds one email or SMS send may take (each backend has its own, shorter, network timeout).
SEND_JOB_TIMEOUT = 60


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


def send_notification(message_id: str) -> str | None:
    """The job: one attempt at one email or SMS. Returns the message's status for RQ's result."""
    from notifications.messaging import notification_send  # the services enqueue this job

    message = notification_send(message_id=message_id)
    return message.status if message else None


def requeue_overdue_notifications() -> int:
    """Periodic: send the messages whose job never ran."""
    from notifications.messaging import notifications_requeue_overdue

    return notifications_requeue_overdue()


def enqueue_send(message_id: str, *, delay: float = 0) -> bool:
    """Queue one send, now or after `delay` seconds (RQ's scheduler, in `rqworker --with-scheduler`, runs it then).

    A failure is logged, not raised: the message stays pending and the periodic requeue sends it later."""
    queue = _queue()
    options = {
        "job_timeout": SEND_JOB_TIMEOUT,
        "result_ttl": 300,
        "failure_ttl": 86400,
        "description": f"send notification {message_id}",
    }
    try:
        if delay > 0:
            queue.enqueue_in(timedelta(seconds=delay), send_notification, message_id, **options)
        else:
            queue.enqueue(send_notification, message_id, **options)
    except RedisError:
        logger.warning("Could not enqueue notification %s; the periodic requeue will", message_id, exc_info=True)
        return False
    return True


def enqueue_sends(message_ids: list[str]) -> None:
    for message_id in message_ids:
        enqueue_send(message_id)
