"""Load shedding (SPEC §4.3): while the reports queue is longer than REPORT_QUEUE_MAX_BACKLOG, new reports are
refused with 503 and Retry-After instead of growing a backlog that nobody would wait for."""

import logging

from django.conf import settings
from redis.exceptions import RedisError

from common.queues import REPORTS_QUEUE, queue_for
from reports.errors import ServiceOverloaded

logger = logging.getLogger(__name__)


def reports_backlog() -> int | None:
    """Jobs waiting on the reports queue, or None when Redis does not answer."""
    try:
        return queue_for(REPORTS_QUEUE).count
    except RedisError:
        logger.warning("Reports backlog unknown: Redis is unavailable", exc_info=True)
        return None


def report_admission_check() -> None:
    """Raise ServiceOverloaded when the backlog is over the limit.

    An unknown backlog (Redis down) admits the report: it is stored as queued and the reaper enqueues it once Redis
    is back, so accepting it loses nothing (docs/reliability.md)."""
    limit = settings.REPORT_QUEUE_MAX_BACKLOG
    if not limit:
        return
    backlog = reports_backlog()
    if backlog is not None and backlog > limit:
        raise ServiceOverloaded(
            f"Too many reports are waiting to be built ({backlog}); try again later.",
            retry_after=settings.REPORT_OVERLOAD_RETRY_AFTER,
        )
