"""The project's worker (reports.worker.ReportWorker) with timestamps, for bench/core_breakdown.py only.

Started as `manage.py rqworker --worker-class bench.timed_worker.TimedWorker reports notifications` with
BENCH_TIMING_LOG set: each job appends one JSON line from the parent (dequeued, fork, reaped) and one from the
horse (start, RQ bookkeeping done, job function done, RQ finalize done); a job that runs in the worker's own
process (every type but an isolated one) writes its "horse" line from the worker itself. Wall-clock epoch seconds,
so they line up with the report's created_at/started_at/finished_at. Nothing else changes: it calls the same
methods it wraps.
"""

import json
import os
import time

from reports.worker import ReportWorker


def _write(record: dict) -> None:
    path = os.environ.get("BENCH_TIMING_LOG")
    if not path:
        return
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one small O_APPEND write: lines of parent and horse never interleave
    finally:
        os.close(fd)


class TimedWorker(ReportWorker):
    _bench: dict
    _horse: dict

    # --- parent ---
    def dequeue_job_and_maintain_ttl(self, *args, **kwargs):
        result = super().dequeue_job_and_maintain_ttl(*args, **kwargs)
        self._bench = {"dequeued": time.time()}
        return result

    def execute_job(self, job, queue):
        self._bench["execute_job"] = time.time()
        self._horse = {"horse_start": self._bench["execute_job"]}  # jobs run in this process unless isolated
        super().execute_job(job, queue)
        self._bench["reaped"] = time.time()
        enqueued = job.enqueued_at.timestamp() if job.enqueued_at else None
        _write({"side": "parent", "job": job.id, "enqueued_at": enqueued, **self._bench})

    def fork_work_horse(self, job, queue):
        self._bench["before_fork"] = time.time()
        super().fork_work_horse(job, queue)
        self._bench["after_fork_parent"] = time.time()

    # --- horse ---
    def main_work_horse(self, job, queue):
        self._horse = {"horse_start": time.time()}
        super().main_work_horse(job, queue)

    def prepare_job_execution(self, job, *args, **kwargs):
        self._horse["prepare_start"] = time.time()
        super().prepare_job_execution(job, *args, **kwargs)
        self._horse["prepared"] = time.time()

    def perform_job(self, job, queue, execution):
        try:
            return super().perform_job(job, queue, execution)
        finally:
            self._horse["performed"] = time.time()
            _write({"side": "horse", "job": job.id, **self._horse})

    def _finalize_success(self, job, *args, **kwargs):
        self._horse["job_returned"] = time.time()
        return super()._finalize_success(job, *args, **kwargs)
