"""Periodic work (SPEC §2, §3.2): retention expires old files, and the reaper gives stuck reports an outcome.

Time is moved with the services' `now=` parameter, never by sleeping. Jobs these tests put in Redis are removed
afterwards; the report rows they name are never committed, so a worker that picks one up finds nothing to do.
"""

from datetime import UTC, datetime, timedelta

import django_rq
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from rq.cron import CronScheduler
from rq.job import Job, JobStatus

from common.queues import queue_for
from reports.models import Report, ReportTypeConfig
from reports.services import report_create, reports_expire, reports_reap_stuck

GRACE = 120
USER_ACCESS_TIMEOUT = 300
PDF = b"%PDF-1.4\n% a stand-in for a built report\n%%EOF\n"


@pytest.fixture
def reports_queue():
    """The real `reports` queue; whatever a test leaves in Redis under its reports' ids is removed afterwards."""
    queue = django_rq.get_queue("reports")
    job_ids: list[str] = []
    yield queue, job_ids
    queue.empty()
    for job_id in job_ids:
        job = queue.fetch_job(job_id)
        if job is not None:
            job.delete()


def succeeded_report(user, *, finished_at, report_type="user_access") -> Report:
    """A succeeded report with a real file in the report's own storage."""
    report = Report.objects.create(requested_by=user, report_type=report_type, parameters={})
    report.file.save(f"{report.id}.pdf", ContentFile(PDF), save=False)
    report.status = "succeeded"
    report.progress = 100
    report.started_at = finished_at - timedelta(seconds=3)
    report.finished_at = finished_at
    report.file_size = len(PDF)
    report.file_pages = 1
    report.file_sha256 = "0" * 64
    report.save()
    return report


# --- Retention ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_expire_removes_the_file_of_a_report_past_retention_and_keeps_a_recent_one(user, api):
    # Given the default retention of 30 days, a report finished 31 days ago and one finished yesterday
    now = timezone.now()
    old = succeeded_report(user, finished_at=now - timedelta(days=31))
    recent = succeeded_report(user, finished_at=now - timedelta(days=1))
    storage = old.file.storage
    old_name, recent_name = old.file.name, recent.file.name
    assert storage.exists(old_name)
    assert storage.exists(recent_name)

    # When retention runs
    expired = reports_expire(now=now)

    # Then the old report is expired and its file gone from storage
    assert expired == 1
    old.refresh_from_db()
    assert old.status == "expired"
    assert old.file.name == ""
    assert not storage.exists(old_name)
    # And the recent one is untouched
    recent.refresh_from_db()
    assert (recent.status, recent.file.name) == ("succeeded", recent_name)
    assert storage.open(recent_name).read() == PDF

    # And the API answers 410 for the expired file, and shows the report without a file
    response = api.get(f"/api/v1/reports/{old.id}/file")
    assert response.status_code == 410
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:reportsite:problem:file-expired",
        "title": "Report file expired",
        "status": 410,
        "detail": "The file was removed by the retention policy.",
    }
    detail = api.get(f"/api/v1/reports/{old.id}").json()
    assert (detail["status"], detail["file"]) == ("expired", None)
    assert api.get(f"/api/v1/reports/{recent.id}/file").status_code == 200


@pytest.mark.django_db
def test_expire_is_idempotent(user):
    # Given a report already expired by a first run
    now = timezone.now()
    old = succeeded_report(user, finished_at=now - timedelta(days=31))
    assert reports_expire(now=now) == 1

    # When retention runs again
    again = reports_expire(now=now)

    # Then there is nothing more to do
    assert again == 0
    old.refresh_from_db()
    assert old.status == "expired"


@pytest.mark.django_db
def test_expire_uses_the_types_own_retention(user):
    # Given an admin keeps user_access files for 2 days only
    ReportTypeConfig.objects.create(key="user_access", retention_days=2)
    now = timezone.now()
    three_days = succeeded_report(user, finished_at=now - timedelta(days=3))
    one_day = succeeded_report(user, finished_at=now - timedelta(days=1))

    # When retention runs
    expired = reports_expire(now=now)

    # Then only the file older than 2 days is removed
    assert expired == 1
    assert dict(Report.objects.values_list("id", "status")) == {three_days.id: "expired", one_day.id: "succeeded"}


@pytest.mark.django_db
def test_expire_leaves_reports_that_did_not_succeed(user):
    # Given old failed and cancelled reports (no file to remove)
    long_ago = timezone.now() - timedelta(days=90)
    for status in ("failed", "cancelled"):
        report = Report.objects.create(requested_by=user, report_type="user_access", status=status)
        Report.objects.filter(pk=report.pk).update(finished_at=long_ago)

    # When retention runs
    expired = reports_expire()

    # Then they keep their status
    assert expired == 0
    assert sorted(Report.objects.values_list("status", flat=True)) == ["cancelled", "failed"]


# --- The reaper: queued reports whose job is lost ----------------------------------------------------------------


@pytest.mark.django_db
def test_reaper_requeues_a_queued_report_whose_job_is_missing(user, reports_queue):
    queue, job_ids = reports_queue
    # Given a queued report whose job never reached Redis (the test transaction is never committed, so the
    # on-commit enqueue does not run)
    report = report_create(user=user, report_type="user_access", parameters={})
    job_ids.append(report.id)
    assert queue.fetch_job(report.id) is None

    # When the reaper runs 29 seconds later, the report is too young to be called stuck
    assert reports_reap_stuck(grace_seconds=GRACE, now=report.created_at + timedelta(seconds=29)) == {
        "requeued": 0,
        "retried": 0,
        "failed": 0,
    }
    assert queue.fetch_job(report.id) is None

    # When it runs 31 seconds later
    result = reports_reap_stuck(grace_seconds=GRACE, now=report.created_at + timedelta(seconds=31))

    # Then the render job is enqueued again on the reports queue, under the report's id, with the type's timeout
    assert result == {"requeued": 1, "retried": 0, "failed": 0}
    job = queue.fetch_job(report.id)
    assert job is not None
    assert (job.origin, job.func_name, job.args) == ("reports", "reports.jobs.render_report", (report.id, 300))
    assert job.timeout == USER_ACCESS_TIMEOUT
    # And the report itself is still queued
    report.refresh_from_db()
    assert report.status == "queued"


@pytest.mark.django_db
def test_reaper_leaves_a_queued_report_whose_job_is_still_pending(user, reports_queue):
    queue, job_ids = reports_queue
    # Given a stale queued report whose job Redis still holds (deferred, so that no worker takes it)
    report = report_create(user=user, report_type="user_access", parameters={})
    job_ids.append(report.id)
    job = Job.create(
        "reports.jobs.render_report", args=(report.id, 300), id=report.id, origin="reports", connection=queue.connection
    )
    job.set_status(JobStatus.DEFERRED, pipeline=None)
    job.save()

    # When the reaper runs a minute later
    result = reports_reap_stuck(grace_seconds=GRACE, now=report.created_at + timedelta(seconds=60))

    # Then it enqueues nothing
    assert result == {"requeued": 0, "retried": 0, "failed": 0}
    assert report.id not in queue.job_ids
    assert queue.fetch_job(report.id).get_status() == JobStatus.DEFERRED


def _enqueued(queue, job_ids, user) -> Report:
    report = report_create(user=user, report_type="user_access", parameters={})
    job_ids.append(report.id)
    # Now, not on commit (this test's transaction never commits)
    queue_for("reports").enqueue("reports.jobs.render_report", report.id, 300, job_id=report.id)
    return report


@pytest.mark.django_db
def test_reaper_requeues_a_report_whose_job_a_dying_worker_took_off_the_queue(user, reports_queue):
    # Given a report whose job a worker popped off the queue and died before marking it started: the job still
    # says queued, but it is in no queue (found by the chaos run, bench/chaos.py)
    queue, job_ids = reports_queue
    report = _enqueued(queue, job_ids, user)
    assert queue.connection.lpop(queue.key).decode() == report.id
    assert queue.fetch_job(report.id).get_status() == JobStatus.QUEUED

    # When the reaper runs
    result = reports_reap_stuck(grace_seconds=GRACE, now=report.created_at + timedelta(seconds=31))

    # Then the report's job is back on the queue, once
    assert result == {"requeued": 1, "retried": 0, "failed": 0}
    assert queue.job_ids == [report.id]


@pytest.mark.django_db
def test_reaper_requeues_a_report_whose_worker_died_between_taking_its_job_and_claiming_it(user, reports_queue):
    # Given a job marked started long ago, whose report was never claimed (still queued: a claim follows within
    # milliseconds of the start, so its worker is gone)
    queue, job_ids = reports_queue
    report = _enqueued(queue, job_ids, user)
    queue.connection.lpop(queue.key)
    job = queue.fetch_job(report.id)
    job.set_status(JobStatus.STARTED)
    job.started_at = datetime.now(UTC) - timedelta(seconds=31)
    job.save()

    # When the reaper runs, the report is requeued
    assert reports_reap_stuck(grace_seconds=GRACE, now=report.created_at + timedelta(seconds=31))["requeued"] == 1
    assert queue.job_ids == [report.id]
    assert queue.fetch_job(report.id).get_status() == JobStatus.QUEUED


@pytest.mark.django_db
def test_reaper_leaves_a_report_whose_job_was_just_started_or_still_waits(user, reports_queue):
    queue, job_ids = reports_queue
    waiting = _enqueued(queue, job_ids, user)
    started = _enqueued(queue, job_ids, user)
    queue.remove(started.id)
    job = queue.fetch_job(started.id)
    job.set_status(JobStatus.STARTED)
    job.started_at = datetime.now(UTC) - timedelta(seconds=2)
    job.save()

    result = reports_reap_stuck(grace_seconds=GRACE, now=waiting.created_at + timedelta(seconds=60))

    assert result == {"requeued": 0, "retried": 0, "failed": 0}
    assert queue.job_ids == [waiting.id]


# --- The reaper: running reports whose worker is lost -------------------------------------------------------------


def running_report(user, *, started_at) -> Report:
    report = report_create(user=user, report_type="user_access", parameters={})
    Report.objects.filter(pk=report.pk).update(status="running", started_at=started_at, progress=40, attempts=1)
    report.refresh_from_db()
    return report


@pytest.mark.django_db
def test_reaper_fails_a_running_report_past_its_timeout_and_grace(user, api, reports_queue):
    _, job_ids = reports_queue
    # Given a report running since `started`, whose job is not running in Redis
    started = timezone.now()
    report = running_report(user, started_at=started)
    job_ids.append(report.id)
    limit = timedelta(seconds=USER_ACCESS_TIMEOUT + GRACE)

    # When the reaper runs exactly at timeout + grace, the report still has time
    assert reports_reap_stuck(grace_seconds=GRACE, now=started + limit) == {"requeued": 0, "retried": 0, "failed": 0}
    report.refresh_from_db()
    assert report.status == "running"

    # When it runs one second later
    result = reports_reap_stuck(grace_seconds=GRACE, now=started + limit + timedelta(seconds=1))

    # Then the report is failed with worker_lost, and the API shows why
    assert result == {"requeued": 0, "retried": 0, "failed": 1}
    report.refresh_from_db()
    assert (report.status, report.error_code) == ("failed", "worker_lost")
    assert report.finished_at is not None
    body = api.get(f"/api/v1/reports/{report.id}").json()
    assert body["status"] == "failed"
    assert body["error"] == {"code": "worker_lost", "message": "The worker building this report stopped."}
    assert "Retry-After" not in api.get(f"/api/v1/reports/{report.id}")


@pytest.mark.django_db
def test_reaper_uses_the_types_configured_timeout(user, reports_queue):
    _, job_ids = reports_queue
    # Given an admin set user_access's timeout to 10 seconds, and a report running for 131 seconds
    ReportTypeConfig.objects.create(key="user_access", timeout_seconds=10)
    started = timezone.now()
    report = running_report(user, started_at=started)
    job_ids.append(report.id)

    # When the reaper runs
    result = reports_reap_stuck(grace_seconds=GRACE, now=started + timedelta(seconds=10 + GRACE + 1))

    # Then it is failed (with the type's default of 300 seconds it would still be running)
    assert result == {"requeued": 0, "retried": 0, "failed": 1}
    report.refresh_from_db()
    assert (report.status, report.error_code) == ("failed", "worker_lost")


@pytest.mark.django_db
def test_reaper_leaves_a_running_report_whose_job_is_still_running(user, reports_queue):
    queue, job_ids = reports_queue
    # Given a report running long past its limit, whose job Redis still sees as started (a slow render)
    started = timezone.now()
    report = running_report(user, started_at=started)
    job_ids.append(report.id)
    job = Job.create(
        "reports.jobs.render_report", args=(report.id, 300), id=report.id, origin="reports", connection=queue.connection
    )
    job.set_status(JobStatus.STARTED, pipeline=None)
    job.save()

    # When the reaper runs
    result = reports_reap_stuck(grace_seconds=GRACE, now=started + timedelta(hours=1))

    # Then it leaves it to its worker
    assert result == {"requeued": 0, "retried": 0, "failed": 0}
    report.refresh_from_db()
    assert (report.status, report.error_code) == ("running", "")


# --- The reaper: running reports whose heartbeat stopped ----------------------------------------------------------


def beating_report(user, *, heartbeat_at, attempts=1) -> Report:
    """A running report whose worker last proved it was alive at `heartbeat_at`."""
    report = report_create(user=user, report_type="user_access", parameters={})
    Report.objects.filter(pk=report.pk).update(
        status="running", started_at=heartbeat_at, heartbeat_at=heartbeat_at, progress=40, attempts=attempts
    )
    report.refresh_from_db()
    return report


def left_started(queue, report) -> Job:
    """The job a killed worker leaves behind: still `started` in Redis."""
    job = Job.create(
        "reports.jobs.render_report", args=(report.id, 300), id=report.id, origin="reports", connection=queue.connection
    )
    job.set_status(JobStatus.STARTED, pipeline=None)
    job.save()
    return job


@pytest.mark.django_db
def test_reaper_retries_a_report_whose_heartbeat_stopped(
    user, api, reports_queue, settings, django_capture_on_commit_callbacks
):
    queue, job_ids = reports_queue
    # Given a report on its first attempt whose worker was killed: no heartbeat for 46 s, its job still "started"
    settings.REPORT_LOST_AFTER_SECONDS = 45
    now = timezone.now()
    report = beating_report(user, heartbeat_at=now - timedelta(seconds=46))
    job_ids.append(report.id)
    left_started(queue, report)

    # When the reaper runs (long before the report's 300 s timeout)
    with django_capture_on_commit_callbacks(execute=True):
        result = reports_reap_stuck(grace_seconds=GRACE, now=now)

    # Then the report is queued again, with a fresh job in place of the dead worker's
    assert result == {"requeued": 0, "retried": 1, "failed": 0}
    report.refresh_from_db()
    assert (report.status, report.progress, report.started_at, report.heartbeat_at) == ("queued", 0, None, None)
    assert report.attempts == 1
    assert queue.job_ids == [report.id]
    assert queue.fetch_job(report.id).get_status() == JobStatus.QUEUED
    assert api.get(f"/api/v1/reports/{report.id}").json()["status"] == "queued"


@pytest.mark.django_db
def test_reaper_fails_a_report_that_lost_its_worker_on_the_last_attempt(user, api, reports_queue, settings):
    _, job_ids = reports_queue
    # Given a report whose worker was lost on its second (last) attempt
    settings.REPORT_LOST_AFTER_SECONDS = 45
    settings.REPORT_MAX_ATTEMPTS = 2
    now = timezone.now()
    report = beating_report(user, heartbeat_at=now - timedelta(seconds=46), attempts=2)
    job_ids.append(report.id)

    # When the reaper runs
    result = reports_reap_stuck(grace_seconds=GRACE, now=now)

    # Then it is failed, with a reason the requester can read
    assert result == {"requeued": 0, "retried": 0, "failed": 1}
    body = api.get(f"/api/v1/reports/{report.id}").json()
    assert body["status"] == "failed"
    assert body["error"] == {
        "code": "worker_lost",
        "message": "The worker building this report stopped (attempt 2 of 2); it is not tried again.",
    }


@pytest.mark.django_db
def test_reaper_leaves_a_report_whose_heartbeat_is_recent(user, reports_queue, settings):
    _, job_ids = reports_queue
    settings.REPORT_LOST_AFTER_SECONDS = 45
    now = timezone.now()
    report = beating_report(user, heartbeat_at=now - timedelta(seconds=44))
    job_ids.append(report.id)

    assert reports_reap_stuck(grace_seconds=GRACE, now=now) == {"requeued": 0, "retried": 0, "failed": 0}
    report.refresh_from_db()
    assert report.status == "running"


@pytest.mark.django_db
def test_the_queued_grace_is_a_setting(user, reports_queue, settings):
    queue, job_ids = reports_queue
    settings.REPORT_REQUEUE_AFTER_SECONDS = 5
    report = report_create(user=user, report_type="user_access", parameters={})
    job_ids.append(report.id)

    assert reports_reap_stuck(grace_seconds=GRACE, now=report.created_at + timedelta(seconds=4))["requeued"] == 0
    assert reports_reap_stuck(grace_seconds=GRACE, now=report.created_at + timedelta(seconds=6))["requeued"] == 1
    assert queue.fetch_job(report.id) is not None


# --- The schedule -------------------------------------------------------------------------------------------------


def test_the_scheduler_runs_the_reaper_retention_and_the_key_purge(settings):
    # Given the reaper's interval as a setting
    settings.REPORT_REAPER_INTERVAL_SECONDS = 15
    scheduler = CronScheduler(connection=django_rq.get_connection("reports"))

    # When the Procfile's scheduler loads its configuration (manage.py rqcron reportsite.cron)
    scheduler.load_config_from_file("reportsite.cron")

    # Then the reports queue gets the reaper at that interval, retention and the idempotency key purge hourly
    jobs = {job.func_name: (job.queue_name, job.interval, job.cron) for job in scheduler.get_jobs()}
    assert jobs["reports.periodic.reap_stuck_reports"] == ("reports", 15, None)
    assert jobs["reports.periodic.expire_reports"] == ("reports", None, "17 * * * *")
    assert jobs["reports.periodic.purge_idempotency_keys"] == ("reports", None, "43 * * * *")
