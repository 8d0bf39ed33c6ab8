"""The RQ worker class for this project (settings.RQ["WORKER_CLASS"]).

RQ's default worker forks a work horse per job. For a one-page report the fork costs more than the work: the child
starts cold (copy-on-write faults, a new Redis and database connection, first-call costs in every library), which
took a warm 45 ms xhtml2pdf render to over 100 ms. So this worker runs jobs in its own, warmed-up process, the way
a pre-forked pool reuses its children, and keeps RQ's forking for the jobs that ask for isolation
(`job.meta["isolated"]`, set for report types with `isolated = True`).

What forking gave, kept without it:
- timeouts: RQ's death penalty (SIGALRM) interrupts the job in this process as it would in a horse;
- cancel: a running report stops at its next progress step (the render sees its row is no longer `running`),
  instead of by killing a horse;
- memory: after a job that leaves the process above `WORKER_MAX_MEMORY_MB`, the worker finishes cleanly and
  re-executes itself, so it starts small again under the same process id and supervisor;
- a crash: a worker killed mid-job leaves a report that the stuck-report reaper retries or fails.
"""

import gc
import logging
import os
import resource
import sys

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from rq import Worker
from rq.job import Job
from rq.queue import Queue
from rq.worker import WorkerStatus

from common import live

logger = logging.getLogger(__name__)


def preload() -> None:
    from django.urls import reverse

    from reports.events import report_representation
    from reports.models import Report
    from reports.pdf import warm_up
    from reports.registry import report_types
    from reports.rendering import preload_templates

    warm_up()
    preload_templates(report_types.all())
    # First calls that every job would otherwise pay: the URL resolver, the channel layer object, the report
    # serializer, and the ORM's query compilation for the claim.
    reverse("api:report-detail", kwargs={"report_id": "rep_warmup"})
    live.warm_up()
    report_representation(Report(id="rep_warmup", report_type="user_access"))
    with transaction.atomic():
        Report.objects.select_for_update(of=("self",)).select_related("requested_by").filter(pk="rep_warmup").first()
    connections.close_all()
    # Move everything loaded so far out of the collector's reach: a forked child then does not touch (and copy)
    # these pages when the collector runs, which makes each fork cheaper.
    gc.collect()
    gc.freeze()


def runs_isolated(job: Job) -> bool:
    return bool(job.meta.get("isolated"))


def max_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ReportWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._running_in_process = False
        self._restart_requested = False
        live.publish_before_returning()  # a finished report's event leaves before the next job's work starts
        try:
            preload()
        except Exception:
            logger.exception("Warm-up failed; jobs will load what they need themselves")

    def execute_job(self, job: Job, queue: Queue) -> None:
        if runs_isolated(job):
            connections.close_all()  # a connection must never be shared by two processes
            super().execute_job(job, queue)
            return
        self._running_in_process = True
        close_old_connections()
        try:
            execution = self.prepare_execution(job)
            self.perform_job(job, queue, execution)
            self.set_state(WorkerStatus.IDLE)
        finally:
            self._running_in_process = False
            close_old_connections()
        self._restart_if_too_big()

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        if self._running_in_process:
            # No horse sends heartbeats while this process works: cover the whole job, as RQ's SimpleWorker does.
            return int(job.timeout or Queue.DEFAULT_TIMEOUT) + 60 if job.timeout != -1 else self.worker_ttl
        return super().get_heartbeat_ttl(job, working_time)

    def kill_horse(self, sig=None) -> None:
        if self._running_in_process:
            # There is no horse: the job is this process. A cancelled report stops itself at its next step.
            return
        if sig is None:
            super().kill_horse()
        else:
            super().kill_horse(sig)

    def _restart_if_too_big(self) -> None:
        limit = settings.WORKER_MAX_MEMORY_MB
        if limit and max_rss_mb() > limit:
            logger.warning("Worker at %.0f MB, over WORKER_MAX_MEMORY_MB=%s: restarting", max_rss_mb(), limit)
            self._restart_requested = True
            self._stop_requested = True

    def work(self, *args, **kwargs):
        result = super().work(*args, **kwargs)
        if self._restart_requested:
            live.flush()  # exec skips atexit: send the last job's events first
            connections.close_all()
            os.execv(sys.executable, [sys.executable, *sys.argv])  # noqa: S606 - the same command line, re-run
        return result
