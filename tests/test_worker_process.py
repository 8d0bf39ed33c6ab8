"""Where the worker runs a job: in its own warm process by default, in a forked child for `isolated` types, and
after a job that leaves it too big, in a fresh copy of itself under the same process id."""

import io
import re
import time

import django_rq
import pytest
from pypdf import PdfReader

from tests.conftest import WorkerProcess, client_for, process_env, wait_for_report
from tests.testapp.report_types import TEST_PERMISSION

pytestmark = pytest.mark.django_db(transaction=True)

RESTARTING = "over WORKER_MAX_MEMORY_MB=1: restarting"


def built_by(client, report_type: str) -> int:
    """Request a report, wait for it, and read from its PDF the id of the process that built it."""
    created = client.post("/api/v1/reports", {"report_type": report_type}, format="json").json()
    body = wait_for_report(client, created["url"])
    assert body["status"] == "succeeded", body
    content = b"".join(client.get(body["links"]["file"]).streaming_content)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return int(re.search(r"Built by process (\d+)", text).group(1))


@pytest.fixture
def client(make_user):
    return client_for(make_user("wren", perms=(TEST_PERMISSION,)))


def test_jobs_run_in_the_workers_own_process(client, rq_worker):
    assert built_by(client, "test_process") == rq_worker.process.pid
    assert built_by(client, "test_process") == rq_worker.process.pid


def test_an_isolated_type_is_built_in_a_forked_child(client, rq_worker):
    pid = built_by(client, "test_process_isolated")

    assert pid != rq_worker.process.pid


def test_a_worker_over_its_memory_limit_restarts_itself_and_goes_on(client, django_db_setup):
    django_rq.get_connection("reports").flushdb()
    worker = WorkerProcess(env=process_env(WORKER_MAX_MEMORY_MB="1")).start()
    try:
        # Every job leaves the worker above 1 MB, so it re-executes itself after each one
        first = built_by(client, "test_process")
        second = built_by(client, "test_process")

        # under the same process id (a supervisor sees no exit), still taking work
        assert first == second == worker.process.pid
        assert worker.process.poll() is None
        # (the message comes once the job is done, and the whole log is read: other jobs log too)
        deadline = time.monotonic() + 30
        while worker.log_path.read_text(errors="replace").count(RESTARTING) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker.log_path.read_text(errors="replace").count(RESTARTING) >= 2
    finally:
        worker.stop()
