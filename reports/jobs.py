"""RQ jobs and their enqueueing. Jobs take ids and call services; enqueueing happens after the commit that made the
row, so a worker never looks for a report that is not there yet."""

import logging

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


def _job_status(report_id: str) -> JobStatus | None:
    try:
        return Job.fetch(report_id, connection=_queue().connection).get_status(refresh=False)
    except NoSuchJobError:
        return None


def render_is_pending(report_id: str) -> bool:
    """True when Redis still holds a job that will build this report."""
    return _job_status(report_id) in {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


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
