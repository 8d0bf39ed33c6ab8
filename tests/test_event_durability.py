"""The worst moment (SPEC §14, §11): a process killed between the commit of a change and the fan-out of its event.
Real processes: a worker that SIGKILLs itself right after the commit of `succeeded`, daphne killed right after a
POST's commit; then the scheduler's sweep fans the events out, and every channel gets them with the event's id."""

import email
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import django_rq
import httpx
import pytest
from rest_framework.authtoken.models import Token
from standardwebhooks import Webhook

from events.models import Delivery, DeliveryStatus, Event
from notifications.webhooks import services
from reports.models import Report
from scripts.private_redis import free_port
from tests.conftest import ROOT, WorkerProcess, _wait_for_port, client_for, process_env
from tests.fault_helpers import wait_until
from tests.webhook_receivers import receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(150)]

SWEEP_ENV = {"EVENT_SWEEP_INTERVAL_SECONDS": "1", "EVENT_FANOUT_GRACE_SECONDS": "1"}


@pytest.fixture
def email_dir(tmp_path) -> Path:
    path = tmp_path / "emails"
    path.mkdir()
    return path


def _env(email_dir: Path, **extra: str) -> dict[str, str]:
    return process_env(
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        DJANGO_EMAIL_FILE_PATH=str(email_dir),
        NOTIFY_RETRY_SCHEDULE="0,1,1",
        WEBHOOK_RETRY_SCHEDULE="0,1,1",
        **SWEEP_ENV,
        **extra,
    )


class Scheduler:
    """`manage.py rqcron reportsite.cron`, the Procfile's scheduler, with the sweep every second."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "rqcron", "reportsite.cron"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _emails(email_dir: Path) -> list[email.message.Message]:
    messages = []
    for path in sorted(email_dir.iterdir()):
        # The file backend writes each message, then a line of dashes.
        for chunk in path.read_text().split("-" * 79):
            if chunk.strip():
                messages.append(email.message_from_string(chunk.strip() + "\n"))
    return messages


def _wait_for_delivered(event: Event, channels: set[str], timeout: float = 40.0) -> None:
    wait_until(
        lambda: (
            set(Delivery.objects.filter(event=event, status=DeliveryStatus.SUCCEEDED).values_list("channel", flat=True))
            >= channels
        ),
        timeout=timeout,
        what=f"{event.type} delivered on {sorted(channels)}",
    )


def test_a_worker_killed_right_after_the_commit_of_succeeded_loses_no_channel(make_user, email_dir):
    # Given a user with an email address, an endpoint for the terminal events, and a report with a callback URL
    django_rq.get_connection("reports").flushdb()
    ada = make_user("ada", email="ada@example.com")
    with receiver() as endpoint_hook, receiver() as callback_hook:
        endpoint = services.endpoint_create(owner=ada, url=endpoint_hook.url)
        created = client_for(ada).post(
            "/api/v1/reports", {"report_type": "user_access", "callback_url": callback_hook.url}, format="json"
        )
        assert created.status_code == 201, created.content
        report_id = created.json()["id"]

        # When the worker builds it and dies (SIGKILL) the instant the commit of `succeeded` returns
        doomed = WorkerProcess(env=_env(email_dir, FAULT_POINTS="before-fan-out:report.succeeded")).start(may_exit=True)
        try:
            doomed.process.wait(60)
        finally:
            doomed.stop()
        assert doomed.process.returncode == -signal.SIGKILL, doomed.log_text()

        # Then the report is succeeded, and its event is in the log but was fanned out nowhere
        succeeded = Event.objects.get(report_id=report_id, type="report.succeeded")
        assert Report.objects.get(pk=report_id).status == "succeeded"
        assert succeeded.fanned_out_at is None
        assert not Delivery.objects.filter(event=succeeded).exists()
        assert endpoint_hook.received == callback_hook.received == []

        # When the scheduler and a new worker run, the sweep fans it out within its interval
        worker = WorkerProcess(env=_env(email_dir)).start()
        scheduler = Scheduler(_env(email_dir))
        try:
            _wait_for_delivered(succeeded, {"webhook", "callback", "email"})
        finally:
            scheduler.stop()
            worker.stop()

    # Then the endpoint, the callback URL and the email each got report.succeeded, with the one event id
    endpoint_event = Webhook(endpoint.secret).verify(endpoint_hook.received[0].body, endpoint_hook.received[0].headers)
    callback_secret = services.callback_secret_for(user=ada).secret
    callback_event = Webhook(callback_secret).verify(callback_hook.received[0].body, callback_hook.received[0].headers)
    assert endpoint_event == callback_event == succeeded.envelope
    assert [got.headers["webhook-id"] for got in endpoint_hook.received + callback_hook.received] == [succeeded.id] * 2
    [sent] = [message for message in _emails(email_dir) if message["X-Report-Id"] == report_id]
    assert (sent["To"], sent["X-Event-Id"]) == ("ada@example.com", succeeded.id)
    assert sent["Subject"] == f"User access review succeeded ({report_id})"


class Daphne:
    """daphne as the Procfile's `web` runs it, with an environment of the test's."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "reportsite.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        _wait_for_port(self.process, self.port, log_path, 30.0)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


@pytest.fixture
def doomed_daphne(email_dir) -> Iterator[Daphne]:
    env = _env(email_dir, FAULT_POINTS="before-fan-out:report.queued", DJANGO_ALLOWED_HOSTS="127.0.0.1")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = Daphne(env, Path(os.environ["REPORTSITE_TEST_RUN_DIR"]) / f"daphne-doomed-{time.monotonic_ns()}.log")
    yield server
    server.stop()


def test_the_web_process_killed_right_after_a_posts_commit_loses_no_event(make_user, email_dir, doomed_daphne):
    # Given an endpoint subscribed to report.queued (and the outcome), and a web process that will die the instant
    # a POST's transaction commits
    django_rq.get_connection("reports").flushdb()
    ada = make_user("ada", email="ada@example.com")
    key = Token.objects.get_or_create(user=ada)[0].key
    with receiver() as hook:
        endpoint = services.endpoint_create(owner=ada, url=hook.url, event_types=["report.queued", "report.succeeded"])

        # When a report is requested: the connection drops, since the process is gone
        with pytest.raises(httpx.HTTPError):
            httpx.post(
                f"{doomed_daphne.url}/api/v1/reports",
                json={"report_type": "user_access"},
                headers={"Authorization": f"Token {key}"},
                timeout=30,
            )
        doomed_daphne.process.wait(30)
        assert doomed_daphne.process.returncode == -signal.SIGKILL

        # Then the report and its report.queued event were committed, and never fanned out
        report = Report.objects.get(requested_by=ada)
        queued = Event.objects.get(report=report, type="report.queued")
        assert queued.fanned_out_at is None

        # When the scheduler and a worker run: the sweep fans the event out, and the reaper enqueues the report
        # whose enqueue the dead process never made
        env = _env(email_dir, REPORT_REAPER_INTERVAL_SECONDS="1", REPORT_REQUEUE_AFTER_SECONDS="1")
        worker = WorkerProcess(env=env).start()
        scheduler = Scheduler(env)
        try:
            _wait_for_delivered(queued, {"webhook"})
            succeeded = wait_until(
                lambda: Event.objects.filter(report=report, type="report.succeeded").first(),
                timeout=40,
                what="the report built",
            )
            _wait_for_delivered(succeeded, {"webhook", "email"})
        finally:
            scheduler.stop()
            worker.stop()

    # Then the endpoint got report.queued, with the id and number the log gave it, and report.succeeded (webhooks
    # promise each event at least once, not an order between events: the sweep may send the first after the second)
    got = sorted(
        (Webhook(endpoint.secret).verify(item.body, item.headers) for item in hook.received),
        key=lambda event: event["sequence"],
    )
    assert [(event["type"], event["id"], event["sequence"]) for event in got] == [
        ("report.queued", queued.id, queued.sequence),
        ("report.succeeded", succeeded.id, succeeded.sequence),
    ]
