"""Races, run for real on whichever database the suite uses (CI runs it on SQLite and on PostgreSQL, where
`select_for_update` takes row locks): each thread has its own database connection, each worker is its own process."""

import threading
from collections import Counter

import django_rq
import pytest
from django.db import connection, connections

from common.queues import queue_for
from events.models import Event, EventStream
from reports import jobs, lifecycle
from reports.models import IdempotencyKey, Report
from reports.services import report_render
from tests.conftest import WorkerProcess, client_for
from tests.fault_helpers import builds, wait_until
from tests.testapp.report_types import TEST_PERMISSION

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

PARALLEL_POSTS = 50


def in_parallel(count: int, work) -> list:
    """Run work(index) in `count` threads released together; each thread closes its own connections."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as error:
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_database_is_the_one_configured():
    # The races below mean something only on a real server in CI; say which one this run uses.
    assert connection.vendor in {"sqlite", "postgresql"}


def test_fifty_parallel_posts_with_one_key_create_one_report(user):
    # Given fifty clients of Ada's, each about to send the same request with the same Idempotency-Key
    clients = [client_for(user) for _ in range(PARALLEL_POSTS)]
    body = {"report_type": "user_access", "parameters": {"staff_only": True}}

    def post(index: int):
        response = clients[index].post("/api/v1/reports", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-2026-11")
        return response.status_code, response.get("Idempotent-Replayed"), response.content

    # When they all send it at once
    answers = in_parallel(PARALLEL_POSTS, post)

    # Then exactly one report exists, and one key
    assert not [answer for answer in answers if isinstance(answer, Exception)], answers
    assert Report.objects.count() == 1
    report = Report.objects.get()
    assert IdempotencyKey.objects.get().report_id == report.id
    # And every answer is either the one creation, its replay (the same bytes), or "still being processed"
    statuses = Counter(status for status, _, _ in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = [content for status, replayed, content in answers if status == 201 and replayed is None]
    replayed = [content for status, replayed, content in answers if status == 201 and replayed == "true"]
    assert len(created) == 1
    assert all(content == created[0] for content in replayed)
    assert report.id.encode() in created[0]
    # And once the first is done, a repeat is a replay
    again = client_for(user).post("/api/v1/reports", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-2026-11")
    assert (again.status_code, again["Idempotent-Replayed"], again.content) == (201, "true", created[0])


def test_parallel_renders_of_one_report_build_it_once(make_user):
    # Given a queued report, and eight workers' threads that all got its job
    user = make_user("wren", perms=(TEST_PERMISSION,))
    report = Report.objects.create(requested_by=user, report_type="test_counted", parameters={"seconds": 0.2})

    # When they all render it at once
    results = in_parallel(8, lambda index: report_render(report.id))

    # Then one built it, the others found it taken and did nothing
    assert not [result for result in results if isinstance(result, Exception)], results
    assert sum(result is not None for result in results) == 1
    report.refresh_from_db()
    assert (report.status, report.attempts) == ("succeeded", 1)
    assert builds([report.id])[report.id] == {"start": 1, "end": 1}


def test_two_workers_given_the_same_report_build_it_once(make_user, django_db_setup):
    # Given two real workers, and the same report's job on the queue twice (a retry racing the original)
    django_rq.get_connection("reports").flushdb()
    user = make_user("wren", perms=(TEST_PERMISSION,))
    report = Report.objects.create(requested_by=user, report_type="test_counted", parameters={"seconds": 1})
    workers = [WorkerProcess(queues=("reports",)).start() for _ in range(2)]
    try:
        # When the job is enqueued, and pushed again while the first worker holds it
        assert jobs.enqueue_render(report.id, timeout=60)
        wait_until(lambda: Report.objects.filter(pk=report.id, status="running").exists(), timeout=30, what="running")
        queue_for("reports").push_job_id(report.id)

        # Then both workers took the job, and the report was built once
        wait_until(lambda: all(report.id in worker.log_text() for worker in workers), timeout=30, what="both dequeued")
        wait_until(lambda: Report.objects.filter(pk=report.id, status="succeeded").exists(), timeout=30, what="built")
        wait_until(lambda: queue_for("reports").count == 0, timeout=30, what="queue drained")
    finally:
        for worker in workers:
            worker.stop()
    assert builds([report.id])[report.id] == {"start": 1, "end": 1}
    report.refresh_from_db()
    assert report.attempts == 1


def test_fifty_parallel_posts_number_the_users_events_without_a_gap_or_a_repeat(user, make_user):
    # Given fifty clients of Ada's and, at the same time, Bob's, each about to request a report
    bob = make_user("bob")
    clients = [client_for(user if index % 5 else bob) for index in range(PARALLEL_POSTS)]

    def post(index: int):
        return clients[index].post("/api/v1/reports", {"report_type": "user_access"}, format="json").status_code

    # When they all send at once (on PostgreSQL, fifty transactions that each take the next number of a stream)
    answers = in_parallel(PARALLEL_POSTS, post)

    # Then every report was created, each with one report.queued event
    assert answers == [201] * PARALLEL_POSTS
    assert Event.objects.filter(type="report.queued").count() == PARALLEL_POSTS
    assert set(Event.objects.values_list("report_id", flat=True)) == set(Report.objects.values_list("id", flat=True))
    # And each user's stream is numbered 1..n: strictly increasing, no gap, no repeat
    for owner, count in ((user, 40), (bob, 10)):
        sequences = list(
            Event.objects.filter(user=owner).order_by("created_at", "sequence").values_list("sequence", flat=True)
        )
        assert sorted(sequences) == list(range(1, count + 1)), sequences
        assert EventStream.objects.get(user=owner).last_sequence == count
        # The envelope says the same number the row does
        assert all(event.envelope["sequence"] == event.sequence for event in Event.objects.filter(user=owner))


def test_a_worker_claiming_a_report_while_its_owner_posts_another_does_not_deadlock(user):
    # Given a report of Ada's that a worker is claiming: the claim holds its report's row, paused before its event
    first = client_for(user).post("/api/v1/reports", {"report_type": "user_access"}, format="json").json()["id"]
    claimed, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def pause_in_claim(report: Report) -> dict:
        claimed.set()
        release.wait(30)
        return {"started_at": report.created_at, "attempts": report.attempts + 1}

    def claim() -> None:
        try:
            report = lifecycle.report_transition(
                first, lifecycle.START, fields=pause_in_claim, select_related=["requested_by"]
            )
            outcomes["claim"] = report.status
        except Exception as error:
            outcomes["claim"] = error
        finally:
            connections.close_all()

    def post() -> None:
        try:
            outcomes["post"] = (
                client_for(user).post("/api/v1/reports", {"report_type": "user_access"}, format="json").status_code
            )
        finally:
            connections.close_all()

    worker = threading.Thread(target=claim)
    worker.start()
    assert claimed.wait(30)

    # When Ada posts another report meanwhile (its INSERTs reference her user row) and then the claim goes on to
    # take her event stream (which the post may hold by then)
    poster = threading.Thread(target=post)
    poster.start()
    poster.join(1)  # give the post time to reach whatever it waits for; on PostgreSQL it should not wait at all
    release.set()
    worker.join(60)
    poster.join(60)

    # Then both finished: the claim locked the report's row alone, not Ada's user row with it
    assert outcomes == {"claim": "running", "post": 201}
    assert Event.objects.filter(user=user, type="report.running").count() == 1
