"""Email and SMS end to end (SPEC §8): a report requested through the API and built by a real `rqworker` process
sends its email and SMS in the delivery runs of that worker's `notifications` queue. The worker's email goes through
Django's file-based backend and its SMS through the console backend (into the worker's log), so the test reads what
was really sent; a backend that raises is retried by the worker on its schedule and logged, and the report is
untouched.
"""

import email
import email.policy
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import django_rq
import pytest

from events.models import Delivery, DeliveryStatus
from tests import notification_backends
from tests.conftest import WorkerProcess, client_for, process_env, wait_for_report
from tests.notify_helpers import PHONE, message_deliveries, set_preferences

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "https://reports.example.com"


@pytest.fixture
def start_worker(django_db_setup) -> Iterator[Callable[..., WorkerProcess]]:
    """Start a real worker with extra environment; stopped after the test."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        django_rq.get_connection("reports").flushdb()
        worker = WorkerProcess(env=process_env(SITE_URL=SITE, **env)).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _wait_for_messages(count: int, statuses: set[str], timeout: float = 30.0) -> list[Delivery]:
    """The email and SMS deliveries (email first), once there are `count` of them, each in one of `statuses`."""
    deadline = time.monotonic() + timeout
    messages: list[Delivery] = []
    while time.monotonic() < deadline:
        messages = list(message_deliveries().select_related("event").order_by("channel"))
        if len(messages) == count and all(message.status in statuses for message in messages):
            return messages
        time.sleep(0.1)
    raise AssertionError(f"messages not {statuses} after {timeout}s: {[(m.channel, m.status) for m in messages]}")


def _emails_in(folder: Path) -> list[email.message.EmailMessage]:
    """What Django's file-based backend wrote: each file holds messages separated by a line of 79 dashes."""
    found = []
    for path in sorted(folder.glob("*.log")):
        for raw in path.read_bytes().split(b"-" * 79 + b"\n"):
            if raw.strip():
                found.append(email.message_from_bytes(raw, policy=email.policy.default))
    return found


def test_a_report_built_by_the_worker_sends_its_email_and_sms(make_user, start_worker, tmp_path):
    # Given a user who wants email (the default) and SMS on success, and a worker that writes emails to files
    user = make_user("ada", email="ada@example.com", first_name="Ada", last_name="Lovelace")
    set_preferences(user, sms_on_success=True, phone_number=PHONE)
    outbox = tmp_path / "emails"
    worker = start_worker(
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        DJANGO_EMAIL_FILE_PATH=str(outbox),
        SMS_BACKEND="console",
    )
    api = client_for(user)

    # When a report is requested and the worker builds it
    created = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").json()
    report = wait_for_report(api, created["url"])
    assert report["status"] == "succeeded"

    # Then the worker sends both messages, and the log says so
    email_row, sms_row = _wait_for_messages(2, {DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED})
    assert (email_row.channel, email_row.status, email_row.attempt_count) == ("email", DeliveryStatus.SUCCEEDED, 1)
    assert (sms_row.channel, sms_row.status, sms_row.target) == ("sms", DeliveryStatus.SUCCEEDED, PHONE)
    assert email_row.event_id == sms_row.event_id and email_row.event.type == "report.succeeded"
    assert email_row.event.report_id == report["id"]

    # And the email written holds the text, the HTML and the very PDF that was built
    [sent] = _emails_in(outbox)
    link = f"{SITE}/reports/{report['id']}/"
    assert sent["Subject"] == f"User access review succeeded ({report['id']})"
    assert sent["To"] == "ada@example.com"
    assert sent["Message-ID"].strip() == email_row.receipt
    assert link in sent.get_body(("plain",)).get_content()
    assert f'href="{link}"' in sent.get_body(("html",)).get_content()
    [attachment] = list(sent.iter_attachments())
    assert attachment.get_filename() == f"user_access-{report['id']}.pdf"
    assert hashlib.sha256(attachment.get_content()).hexdigest() == report["file"]["sha256"]

    # And the SMS went through the console backend, in the worker's output
    log = worker.log_text()
    assert f"SMS to: {PHONE}\nReports: User access review succeeded ({report['id']})\n{link}\n" in log


def test_a_failing_email_backend_is_retried_by_the_worker_and_logged_while_the_report_stays_succeeded(
    make_user, start_worker
):
    # Given an email backend that always raises, and three attempts a fraction of a second apart
    user = make_user("ada", email="ada@example.com")
    start_worker(
        DJANGO_EMAIL_BACKEND="tests.notification_backends.FailingEmailBackend",
        NOTIFY_RETRY_SCHEDULE="0,0.3,0.3",
    )
    api = client_for(user)

    # When a report is built
    created = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").json()
    report = wait_for_report(api, created["url"])

    # Then the report succeeded at once, whatever the email does
    assert report["status"] == "succeeded"

    # And the email was tried three times by the worker, then logged as failed with the error
    [message] = _wait_for_messages(1, {DeliveryStatus.FAILED})
    error = f"SMTPServerDisconnected: {notification_backends.SMTP_ERROR}"
    assert message.attempt_count == 3
    assert message.last_error == error
    assert message.receipt == ""  # nothing was ever sent
    assert [(attempt.number, attempt.succeeded, attempt.error) for attempt in message.attempts.all()] == [
        (1, False, error),
        (2, False, error),
        (3, False, error),
    ]

    # And the report is still succeeded, finished before the first attempt
    again = api.get(created["url"]).json()
    assert again["status"] == "succeeded"
    assert again["finished_at"] == report["finished_at"]
    assert message.last_attempt_at.isoformat().replace("+00:00", "Z") > report["finished_at"]
