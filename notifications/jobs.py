"""Jobs of the notifications app: the periodic ones (registered in reportsite/cron.py), and a recovery's."""

import logging

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def purge_sms_sends() -> int:
    """Periodic: the SMS ledger of the SMS limits, past EVENT_RETENTION_DAYS."""
    from notifications.messages.sms_limits import sms_sends_purge  # imported when run: workers load it then

    return sms_sends_purge()


def enqueue_recovery(recovery_id: str) -> None:
    """After the recovery's row is committed (transaction.on_commit): its job, on the delivery queue."""
    from common.queues import DELIVERY_QUEUE, queue_for

    try:
        queue_for(DELIVERY_QUEUE).enqueue(run_recovery, recovery_id, job_timeout=300, result_ttl=300, failure_ttl=86400)
    except RedisError:
        logger.warning("Could not queue recovery %s; reading it queues it again", recovery_id, exc_info=True)


def run_recovery(recovery_id: str) -> str | None:
    """The job of POST .../recover: take the recovery's deliveries and hand them to the delivery engine."""
    from notifications.webhooks.recovery import recovery_start

    recovery = recovery_start(recovery_id=recovery_id)
    return None if recovery is None else recovery.status
