"""No lost work (SPEC §4.3, §11): Redis stopped and restarted under the web and a worker, workers killed with
SIGKILL mid-render, and the reaper on RQ's own cron. Real worker processes, a Redis of the test's own; the reaper
is called directly where the test needs to say when it runs. After recovery every report submitted is terminal,
none is built twice, none is missing."""

import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile

from reports.models import Report
from reports.services import reports_reap_stuck
from tests.conftest import ROOT, client_for, process_env
from tests.fault_helpers import (
    LOST_AFTER_SECONDS,
    all_terminal,
    builds,
    fault_worker,
    own_redis,
    record_figures,
    wait_until,
)
from tests.testapp.report_types import TEST_PERMISSION

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]


@pytest.fixture
def fault_redis(settings, tmp_path):
    yield from own_redis(settings, tmp_path)


@pytest.fixture
def wren(make_user):
    return make_user("wren", perms=(TEST_PERMISSION,), is_staff=True)  # staff: some tests read the web UI


@pytest.fixture
def client(wren):
    return client_for(wren)


def submit(client, seconds: float = 0, report_type: str = "test_counted") -> str:
    parameters = {"seconds": seconds} if report_type == "test_counted" else {}
    response = client.post("/api/v1/reports", {"report_type": report_type, "parameters": parameters}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def statuses(report_ids: list[str]) -> dict[str, str]:
    return dict(Report.objects.filter(pk__in=report_ids).values_list("id", "status"))


def reap(**overrides) -> dict[str, int]:
    return reports_reap_stuck(grace_seconds=django_settings.REPORT_STUCK_GRACE_SECONDS, **overrides)


def test_redis_stopped_and_restarted_mid_flow_loses_no_report(client, fault_redis, settings):
    # Given a worker on our own Redis, quick reports done and a slow one rendering
    settings.REPORT_REQUEUE_AFTER_SECONDS = 0
    worker = fault_worker(fault_redis)
    workers_started = 1
    try:
        before = [submit(client) for _ in range(3)]
        slow = [submit(client, seconds=4), submit(client, seconds=4)]
        wait_until(lambda: statuses(before)[before[0]] == "succeeded", timeout=30, what="first report done")
        wait_until(lambda: Report.objects.filter(pk=slow[0], progress__gte=10).exists(), timeout=30, what="render")

        # When Redis stops while that render is under way
        fault_redis.stop()

        # Then POST still answers 201 and keeps the report queued (how fast is a figure, recorded below, not a test)
        during, post_seconds = [], []
        for _ in range(5):
            started = time.monotonic()
            during.append(submit(client))
            post_seconds.append(time.monotonic() - started)
        assert set(statuses(during).values()) == {"queued"}
        # And reads work: one report, the list, a file
        done = client.get(f"/api/v1/reports/{before[0]}").json()
        assert done["status"] == "succeeded"
        assert client.get("/api/v1/reports").status_code == 200
        download = client.get(done["file"]["url"])
        assert download.status_code == 200
        assert b"".join(download.streaming_content).startswith(b"%PDF")
        # And the render under way finishes without Redis (the database holds the outcome)
        wait_until(lambda: statuses(slow)[slow[0]] == "succeeded", timeout=30, what="render without Redis")

        # When Redis comes back, empty: every queued job it held is gone
        fault_redis.start()
        if worker.process.poll() is not None:  # RQ gives up on a lost connection mid-job; a supervisor restarts it
            worker.stop()
            worker = fault_worker(fault_redis)
            workers_started += 1
        # and the reaper runs (cron would, within REPORT_REAPER_INTERVAL_SECONDS)
        reaped = reap()

        # Then each report whose job was lost is enqueued again, and every report is built, once
        everything = before + slow + during
        assert reaped == {"requeued": len(during) + 1, "retried": 0, "failed": 0}
        wait_until(lambda: all_terminal(statuses(everything)), timeout=60, what="every report terminal")
        assert set(statuses(everything).values()) == {"succeeded"}
        counts = builds(everything)
        assert all(count == {"start": 1, "end": 1} for count in counts.values()), counts
        assert Report.objects.filter(pk__in=everything).exclude(file="").count() == len(everything)
    finally:
        worker.stop()
    record_figures(
        "redis_restart",
        {
            "submitted": len(everything),
            "submitted_while_redis_down": len(during),
            "slowest_post_while_down_ms": round(max(post_seconds) * 1000),
            "requeued_by_reaper": reaped["requeued"],
            "succeeded": len(everything),
            "built_twice": sum(count["end"] > 1 for count in counts.values()),
            "lost": 0,
            "workers_started": workers_started,
        },
    )


def test_worker_killed_mid_render_is_found_fast_and_its_report_retried(client, fault_redis, settings):
    # Given a worker building the first of several slow reports
    settings.REPORT_LOST_AFTER_SECONDS = LOST_AFTER_SECONDS
    first = fault_worker(fault_redis)
    second = None
    try:
        report_ids = [submit(client, seconds=3) for _ in range(3)] + [submit(client) for _ in range(2)]
        wait_until(
            lambda: Report.objects.filter(pk__in=report_ids, status="running", progress__gte=20).first(),
            timeout=30,
            what="a render under way",
        )
        killed = Report.objects.get(pk__in=report_ids, status="running")

        # When the worker is killed with SIGKILL mid-render (no handler runs: nothing is cleaned up)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        killed_at = time.monotonic()
        # and another worker takes over the queue
        second = fault_worker(fault_redis)

        # Then the reaper finds the dead worker's report within seconds, not after the 60 s timeout, and retries it
        def retried() -> bool:
            return reap()["retried"] == 1

        # (the wait gives up long before the job's own timeout would have freed it)
        wait_until(retried, timeout=LOST_AFTER_SECONDS + 10, interval=0.5, what="the lost report retried")
        detected_after = time.monotonic() - killed_at

        # And every report ends succeeded: the killed one built again, once, the others once
        wait_until(lambda: all_terminal(statuses(report_ids)), timeout=60, what="every report terminal")
        assert set(statuses(report_ids).values()) == {"succeeded"}
        killed.refresh_from_db()
        assert killed.attempts == 2
        counts = builds(report_ids)
        assert counts[killed.id] == {"start": 2, "end": 1}
        assert all(count == {"start": 1, "end": 1} for rid, count in counts.items() if rid != killed.id), counts
    finally:
        first.stop()
        if second:
            second.stop()
    record_figures(
        "sigkill_mid_render",
        {
            "submitted": len(report_ids),
            "workers_killed": 1,
            "retried": 1,
            "lost_worker_detected_after_s": round(detected_after, 1),
            "succeeded": len(report_ids),
            "finished_twice": sum(count["end"] > 1 for count in counts.values()),
            "lost": 0,
        },
    )


def test_a_report_that_kills_every_worker_is_failed_after_its_retry(client, fault_redis, settings):
    # Given a report whose build kills the process building it, every time
    settings.REPORT_LOST_AFTER_SECONDS = LOST_AFTER_SECONDS
    settings.REPORT_MAX_ATTEMPTS = 2
    workers = [fault_worker(fault_redis)]
    try:
        report_id = submit(client, report_type="test_worker_killer")
        outcomes = []
        for attempt in (1, 2):
            # When it kills its worker (and a supervisor starts another)
            workers[-1].process.wait(30)
            assert Report.objects.get(pk=report_id).attempts == attempt
            workers.append(fault_worker(fault_redis))
            # and the reaper runs until it notices
            outcome = wait_until(
                lambda: {key: value for key, value in reap().items() if value},
                timeout=LOST_AFTER_SECONDS + 10,
                interval=0.5,
                what="the lost worker noticed",
            )
            outcomes.append(outcome)

        # Then it was retried once, then failed with a reason, and the last worker is alive and working
        assert outcomes == [{"retried": 1}, {"failed": 1}]
        body = client.get(f"/api/v1/reports/{report_id}").json()
        assert body["status"] == "failed"
        assert body["error"] == {
            "code": "worker_lost",
            "message": "The worker building this report stopped (attempt 2 of 2); it is not tried again.",
        }
        assert builds([report_id])[report_id] == {"start": 2}
        assert workers[-1].process.poll() is None
        after = submit(client)
        wait_until(lambda: statuses([after])[after] == "succeeded", timeout=30, what="a report after")
    finally:
        for worker in workers:
            worker.stop()


def test_the_reaper_runs_on_rqs_cron(wren, fault_redis):
    # Given a queued report whose enqueue failed (its row was written, its job never reached Redis)
    report = Report.objects.create(requested_by=wren, report_type="test_counted", parameters={"seconds": 0})
    env = process_env(REDIS_URL=fault_redis.url, REPORT_REAPER_INTERVAL_SECONDS="1", REPORT_REQUEUE_AFTER_SECONDS="0")
    worker = fault_worker(fault_redis, REPORT_REAPER_INTERVAL_SECONDS="1", REPORT_REQUEUE_AFTER_SECONDS="0")

    # When the scheduler of the Procfile runs (manage.py rqcron reportsite.cron), with the reaper every second
    scheduler = subprocess.Popen(
        [sys.executable, "manage.py", "rqcron", "reportsite.cron"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Then the reaper, enqueued by the cron and run by the worker, gets the report built
        wait_until(lambda: statuses([report.id])[report.id] == "succeeded", timeout=30, what="report built via cron")
        assert builds([report.id])[report.id] == {"start": 1, "end": 1}
    finally:
        scheduler.send_signal(signal.SIGTERM)
        try:
            scheduler.wait(10)
        except subprocess.TimeoutExpired:
            scheduler.kill()
            scheduler.wait(5)
        worker.stop()


def test_reads_answer_while_redis_is_down(wren, client, fault_redis):
    # Given a succeeded report with its file, and a queued one
    done = Report.objects.create(requested_by=wren, report_type="test_counted", status="succeeded", progress=100)
    done.file.save(f"{done.id}.pdf", ContentFile(b"%PDF-1.4\n%%EOF\n"), save=False)
    Report.objects.filter(pk=done.pk).update(file=done.file.name, file_size=15, file_pages=1, file_sha256="0" * 64)
    queued = Report.objects.create(requested_by=wren, report_type="test_counted")
    session = type(client)()
    assert session.login(username="wren", password="pw-wren")

    # When Redis is down
    fault_redis.stop()

    # Then every read answers, through the API (token) and the web UI (session)
    for path in (
        f"/api/v1/reports/{done.id}",
        f"/api/v1/reports/{queued.id}",
        "/api/v1/reports",
        "/api/v1/reports?status=queued",
        "/api/v1/report-types",
        "/api/v1/me",
        "/api/v1/webhook-endpoints",
        "/api/v1/preferences",
    ):
        assert client.get(path).status_code == 200, path
    download = client.get(f"/api/v1/reports/{done.id}/file")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4\n%%EOF\n"
    for path in ("/", f"/reports/{done.id}/", "/reports/new/"):
        assert session.get(path).status_code == 200, path
