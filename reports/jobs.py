"""RQ jobs and their enqueueing. Jobs take ids and call services; enqueueing happens after the commit that made the
row, so a worker never looks for a report that is not there yet."""

import logging
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from common.queues import REPORTS_QUEUE, queue_for
from reports.heartbeat import RenderHeartbeat

logger = logging.getLogger(__name__)

# Finished jobs are kept briefly for the dashboard; the report row is the record that lasts.
RESULT_TTL = 600
FAILURE_TTL = 7 * 24 * 3600


def _queue():
    return queue_for(REPORTS_QUEUE)


def render_report(report_id: str, timeout: int | None = None) -> str | None:
    """The job: build one report. Returns its final status for RQ's result."""
    from reports.services import report_render

    with RenderHeartbeat(report_id):
        report = report_render(report_id, timeout=timeout)
    return report.status if report else None


def enqueue_render(report_id: str, *, timeout: int | None, isolated: bool = False) -> bool:
    """Put the render on the queue; the job id is the report id, so a report is never queued twice at once.

    A failure is logged, not raised: the report stays queued and the reaper enqueues it again once Redis answers.
    """
    queue = _queue()
    try:
        # One round trip: RQ sends the queue registration and the job on separate ones unless given a pipeline.
        with queue.connection.pipeline() as pipeline:
            queue.enqueue(
                render_report,
                report_id,
                timeout,
                job_id=report_id,
                job_timeout=timeout,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                description=f"render {report_id}",
                meta={"isolated": True} if isolated else None,
                pipeline=pipeline,
            )
            pipeline.execute()
    except RedisError:
        logger.warning("Could not enqueue report %s; the reaper will retry", report_id, exc_info=True)
        return False
    return True


def requeue_render(report_id: str, *, timeout: int | None, isolated: bool = False) -> bool:
    """Enqueue a render again after its worker was lost, replacing the job the dead worker left behind."""
    discard_render_job(report_id)
    return enqueue_render(report_id, timeout=timeout, isolated=isolated)


def _job(report_id: str) -> Job | None:
    try:
        return Job.fetch(report_id, connection=_queue().connection)
    except NoSuchJobError:
        return None


def _job_status(report_id: str) -> JobStatus | None:
    job = _job(report_id)
    return None if job is None else job.get_status(refresh=False)


def render_is_pending(report_id: str, *, started_within: timedelta) -> bool:
    """True when Redis holds a job that will still build this report: waiting in the queue itself (not just
    marked queued), scheduled or deferred, or taken by a worker less than `started_within` ago.

    A job's status alone is not enough. A worker listening on several queues takes its next job off the list with
    BLPOP and marks it started only afterwards: killed in between, it leaves a job that says `queued` but is in no
    queue, and nothing would ever build its report. Killed after marking it started but before claiming the
    report (a claim follows within milliseconds), it leaves a job `started` for good."""
    job = _job(report_id)
    if job is None:
        return False
    status = job.get_status(refresh=False)
    if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    if status == JobStatus.QUEUED:
        return _queue().connection.lpos(_queue().key, report_id) is not None
    if status == JobStatus.STARTED:
        return job.started_at is not None and job.started_at > datetime.now(UTC) - started_within
    return False


def render_is_running(report_id: str) -> bool:
    return _job_status(report_id) == JobStatus.STARTED


def discard_render_job(report_id: str) -> None:
    """Delete what Redis still holds of a render whose worker is gone (a job left `started` by a killed worker), so
    that the render can be enqueued afresh under the same id. Best effort: without Redis there is nothing to delete."""
    try:
        Job.fetch(report_id, connection=_queue().connection).delete()
    except NoSuchJobError:
        pass
    except RedisError:
        logger.info("Could not delete the old job of report %s", report_id, exc_info=True)


def cancel_render(report_id: str) -> None:
    """Best effort: drop the queued job, or stop the horse that is rendering it. The report row is already final."""
    connection = _queue().connection
    try:
        status = _job_status(report_id)
        if status == JobStatus.STARTED:
            send_stop_job_command(connection, report_id)
        elif status is not None:
            Job.fetch(report_id, connection=connection).cancel()
    except (RedisError, NoSuchJobError, InvalidJobOperation):
        logger.info("Could not cancel the job of report %s; the worker will skip it", report_id, exc_info=True)
