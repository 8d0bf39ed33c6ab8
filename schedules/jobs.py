"""Jobs of the schedules: the tick (RQ cron, every minute) and a run's start (enqueued at its due time)."""

import logging
from datetime import datetime

from redis.exceptions import RedisError

from common.queues import REPORTS_QUEUE, queue_for

logger = logging.getLogger(__name__)


def tick() -> int:
    from schedules.services import schedules_tick  # the job module is imported by the services it enqueues for

    return schedules_tick()


def start_run(run_id: str) -> None:
    from schedules.services import schedule_run_start

    schedule_run_start(run_id)


def enqueue_run_start(run_id: str, *, at: datetime) -> None:
    """Start the run at `at` (the worker's scheduler moves it to the queue then). A failure is logged: the run
    stays unstarted, and the next tick starts such runs again."""
    try:
        queue_for(REPORTS_QUEUE).enqueue_at(at, start_run, run_id, job_id=f"schedule-{run_id}")
    except RedisError:
        logger.warning("Could not enqueue the start of run %s; the next tick retries", run_id, exc_info=True)
