"""Email and SMS (SPEC §8), in this process: a report finished through the real services writes its event, which is
fanned out after the commit into one email and one SMS delivery as the requester wants, and delivery runs of the
engine, run here, send them to Django's locmem email backend (`mail.outbox`) and the locmem SMS backend. The worker
end to end is in test_notifications_worker.py."""

import hashlib
from datetime import timedelta

import django_rq
import pytest
from django.core import mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from events import fanout, jobs
from events.engine import DeliveryInFlight, delivery_redeliver, run_deliveries
from events.fanout import fan_out
from events.log import event_record
from events.models import DeliveryAttempt, DeliveryStatus, Event
from notifications.messages.sms import SmsMessage
from reports.events import report_representation
from reports.models import ReportStatus
from reports.services import report_create, report_fail
from tests import notification_backends
from tests.notify_helpers import (
    PHONE,
    fail_report,
    message_deliveries,
    queued_delivery_runs,
    run_message_deliveries,
    set_preferences,
    succeed_report,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_queues")]

SITE = "https://reports.example.com"


@pytest.fixture(autouse=True)
def notify_settings(settings):
    settings.SITE_URL = SITE
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "reports@example.com"
    settings.NOTIFY_RETRY_SCHEDULE = [0, 0, 0]


@pytest.fixture
def ada(make_user):
    return make_user("ada", email="ada@example.com", first_name="Ada", last_name="Lovelace")


def _pdf_bytes(report) -> bytes:
    with report.file.open("rb") as file:
        return file.read()


def _attempts(delivery) -> list[tuple[int, bool, str]]:
    return [(attempt.number, attempt.succeeded, attempt.error) for attempt in delivery.attempts.order_by("number")]


def _run_queued_delivery_job() -> None:
    """Run the delivery job waiting on the notifications queue, as a worker would. The reports were built here, so
    their render jobs are dropped first: a delivery run yields to reports waiting for the worker."""
    django_rq.get_queue("reports").empty()
    [job] = queued_delivery_runs()
    django_rq.get_queue("notifications").remove(job)
    job.func(*job.args, **job.kwargs)


# --- Email ---------------------------------------------------------------------------------------------------------


def test_succeeded_report_emails_text_and_html_with_link_and_the_pdf_attached(ada, settings, sms_outbox):
    # Given the default preferences (email on success) and a limit the PDF is under
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024

    # When a report succeeds and a delivery run sends what it fanned out to
    report = succeed_report(ada)
    assert run_message_deliveries() == [DeliveryStatus.SUCCEEDED]

    # Then one email went to the requester, with both parts, the report named, its link and its PDF
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    link = f"{SITE}/reports/{report.id}/"
    assert email.subject == f"User access review succeeded ({report.id})"
    assert email.to == ["ada@example.com"]
    assert email.from_email == "reports@example.com"
    assert "Hello Ada Lovelace," in email.body
    assert f'Your report "User access review" ({report.id}) is ready.' in email.body
    assert f"View the report: {link}" in email.body
    assert "The PDF is attached (1 page," in email.body
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html"
    assert f'<a href="{link}"' in html
    assert "<strong>User access review</strong>" in html
    [(filename, content, content_type)] = email.attachments
    assert (filename, content_type) == (f"user_access-{report.id}.pdf", "application/pdf")
    assert content == _pdf_bytes(report)
    assert hashlib.sha256(content).hexdigest() == report.file_sha256
    # And the log says so, naming the email by its Message-ID; no SMS (off by default)
    delivery = message_deliveries().get()
    assert (delivery.channel, delivery.target, delivery.status, delivery.attempt_count, delivery.last_error) == (
        "email",
        "ada@example.com",
        DeliveryStatus.SUCCEEDED,
        1,
        "",
    )
    assert (delivery.event.type, delivery.event.report_id, delivery.event.user_id) == (
        "report.succeeded",
        report.id,
        ada.pk,
    )
    assert delivery.receipt == email.extra_headers["Message-ID"]
    assert delivery.finished_at is not None
    assert _attempts(delivery) == [(1, True, "")]
    assert sms_outbox == []


def test_pdf_is_attached_up_to_the_limit_and_only_linked_over_it(ada, settings):
    # Given a succeeded report whose PDF has a known size
    report = succeed_report(ada)
    size = report.file_size
    delivery = message_deliveries().get()

    # When the limit is exactly its size, it is attached
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = size
    run_message_deliveries()
    assert len(mail.outbox[-1].attachments) == 1

    # When the limit is one byte less, only the link is sent, with the size
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = size - 1
    delivery_redeliver(delivery=delivery)
    run_message_deliveries()
    over = mail.outbox[-1]
    assert over.attachments == []
    assert f"{SITE}/api/v1/reports/{report.id}/download?token=" in over.body
    assert "works without signing in for an hour; after that, from the report's page" in over.body.replace("\n", " ")
    assert f"{SITE}/reports/{report.id}/" in over.body

    # When the limit is 0, attachments are off whatever the size
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = 0
    delivery_redeliver(delivery=delivery)
    run_message_deliveries()
    assert mail.outbox[-1].attachments == []
    assert len(mail.outbox) == 3


def test_failed_report_emails_the_error_escaped_in_html_and_attaches_nothing(ada):
    # Given a report that fails with a message holding markup
    report = fail_report(ada, message="Ledger <2026-13> & co is missing")

    run_message_deliveries()

    [email] = mail.outbox
    assert email.subject == f"User access review failed ({report.id})"
    assert "Error: Ledger <2026-13> & co is missing" in email.body
    assert f"View the report: {SITE}/reports/{report.id}/" in email.body
    html = email.alternatives[0][0]
    assert "Ledger &lt;2026-13&gt; &amp; co is missing" in html
    assert "<2026-13>" not in html
    assert email.attachments == []


# --- SMS -----------------------------------------------------------------------------------------------------------


def test_sms_goes_to_the_phone_number_in_the_in_memory_backend(ada, sms_outbox):
    # Given SMS on failure only, and a phone number
    set_preferences(ada, sms_on_failure=True, phone_number=PHONE, email_on_failure=False)

    # When one report succeeds and one fails
    succeed_report(ada)
    failed = fail_report(ada, message="The ledger for 2026-13 does not exist.")
    run_message_deliveries()

    # Then only the failure was texted, with its error and link; the success was emailed
    assert sms_outbox == [
        SmsMessage(
            to=PHONE,
            body=f"Reports: User access review failed ({failed.id}): The ledger for 2026-13 does not exist.\n"
            f"{SITE}/reports/{failed.id}/",
        )
    ]
    assert [email.subject.split(" (")[0] for email in mail.outbox] == ["User access review succeeded"]
    sms = message_deliveries().get(channel="sms")
    assert (sms.target, sms.status, sms.receipt) == (PHONE, DeliveryStatus.SUCCEEDED, "locmem-1")
    assert sms.event.report_id == failed.id


def test_long_error_is_cut_in_the_sms(ada, sms_outbox):
    set_preferences(ada, sms_on_failure=True, phone_number=PHONE)
    failed = fail_report(ada, message="x" * 300)

    run_message_deliveries()

    [sms] = sms_outbox
    assert sms.body == f"Reports: User access review failed ({failed.id}): {'x' * 79}…\n{SITE}/reports/{failed.id}/"


# --- Retries, idempotency, resend ----------------------------------------------------------------------------------


def test_a_backend_that_raises_is_retried_then_logged_failed_and_the_report_stays_succeeded(ada, settings):
    # Given an email backend that fails every time, and three attempts allowed, all at once
    settings.EMAIL_BACKEND = "tests.notification_backends.FailingEmailBackend"
    notification_backends.FailingEmailBackend.attempts = 0

    # When a report succeeds and a delivery run sends its email (each failure makes the next attempt due)
    report = succeed_report(ada)
    assert report.status == ReportStatus.SUCCEEDED
    results = run_message_deliveries()

    # Then it was tried three times, each attempt logged with the error, and the delivery gave up
    assert results == [DeliveryStatus.FAILED]
    assert notification_backends.FailingEmailBackend.attempts == 3
    delivery = message_deliveries().get()
    error = f"SMTPServerDisconnected: {notification_backends.SMTP_ERROR}"
    assert _attempts(delivery) == [(1, False, error), (2, False, error), (3, False, error)]
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.FAILED, 3)
    assert delivery.last_error == error
    assert delivery.receipt == "" and delivery.next_attempt_at is None
    # And the report is untouched
    report.refresh_from_db()
    assert report.status == ReportStatus.SUCCEEDED
    assert mail.outbox == []


def test_a_failed_attempt_is_retried_after_the_scheduled_delay(ada, settings):
    # Given a retry schedule of: at once, then 30 s later
    settings.NOTIFY_RETRY_SCHEDULE = [0, 30]
    settings.SMS_BACKEND = "tests.notification_backends.FailingSmsBackend"
    notification_backends.FailingSmsBackend.attempts = 0
    set_preferences(ada, sms_on_success=True, phone_number=PHONE, email_on_success=False)
    succeed_report(ada)
    django_rq.get_queue("reports").empty()  # built here: no render job for the delivery run to yield to

    # When the delivery job runs and the first attempt fails
    before = timezone.now()
    jobs.deliver()

    # Then the delivery says when the retry is due, 30 s from now
    delivery = message_deliveries().get()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 1)
    assert delivery.last_error == f"ConnectionError: {notification_backends.SMS_ERROR}"
    assert before + timedelta(seconds=29) < delivery.next_attempt_at < timezone.now() + timedelta(seconds=31)
    # And a wake-up waits in RQ's scheduled registry for that moment, to start the run that retries it
    queue = django_rq.get_queue("notifications")
    registry = ScheduledJobRegistry(queue=queue)
    assert registry.get_job_ids() == [jobs.WAKE_UP_JOB_ID]
    assert queue.fetch_job(jobs.WAKE_UP_JOB_ID).func_name == "events.jobs.kick_delivery"
    scheduled_at = registry.get_scheduled_time(jobs.WAKE_UP_JOB_ID)
    assert abs((scheduled_at - delivery.next_attempt_at).total_seconds()) < 1
    # And a run that starts early (a stray job) does nothing
    assert run_deliveries(max_seconds=5) == {}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 1)
    assert notification_backends.FailingSmsBackend.attempts == 1


def test_sending_an_already_sent_message_again_does_nothing(ada):
    succeed_report(ada)
    run_message_deliveries()
    assert len(mail.outbox) == 1

    # When a delivery run comes a second time (a duplicate job, a wake-up that arrives late)
    again = run_deliveries(max_seconds=5)

    # Then nothing is sent and nothing changes
    assert again == {}
    assert len(mail.outbox) == 1
    delivery = message_deliveries().get()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.SUCCEEDED, 1)
    assert DeliveryAttempt.objects.count() == 1


def test_a_message_being_sent_is_not_sent_by_a_second_run_nor_resent(ada):
    succeed_report(ada)
    delivery = message_deliveries().get()
    # A run elsewhere holds it: it claimed it with a lease and its attempt is in flight
    lease_until = timezone.now() + timedelta(seconds=60)
    message_deliveries().filter(pk=delivery.pk).update(claimed_by="run_elsewhere", next_attempt_at=lease_until)

    assert run_deliveries(max_seconds=5) == {}
    with pytest.raises(DeliveryInFlight):
        delivery_redeliver(delivery=delivery)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.claimed_by) == (
        DeliveryStatus.PENDING,
        0,
        "run_elsewhere",
    )
    assert mail.outbox == []


def test_resend_sends_a_failed_message_again_with_fresh_retries(ada, settings):
    settings.EMAIL_BACKEND = "tests.notification_backends.FailingEmailBackend"
    succeed_report(ada)
    run_message_deliveries()
    delivery = message_deliveries().get()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.FAILED, 3)

    # When the backend works again and the message is resent
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    resent = delivery_redeliver(delivery=delivery)
    # Then it is pending again with the whole schedule before it (the attempts so far keep their numbers)
    assert (resent.status, resent.schedule_position, resent.attempt_count) == (DeliveryStatus.PENDING, 0, 3)
    assert resent.finished_at is None
    assert run_message_deliveries() == [DeliveryStatus.SUCCEEDED]

    # Then it is sent, the same row with the same event id
    event_id = delivery.event_id
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.last_error) == (DeliveryStatus.SUCCEEDED, 4, "")
    assert delivery.event_id == event_id
    assert [succeeded for _, succeeded, _ in _attempts(delivery)] == [False, False, False, True]
    assert len(mail.outbox) == 1


def test_resend_gives_a_message_that_fails_again_a_fresh_set_of_retries(ada, settings):
    settings.EMAIL_BACKEND = "tests.notification_backends.FailingEmailBackend"
    notification_backends.FailingEmailBackend.attempts = 0
    succeed_report(ada)
    run_message_deliveries()
    delivery = message_deliveries().get()

    delivery_redeliver(delivery=delivery)

    # The backend still fails: the whole schedule (three attempts) is used again before it gives up
    assert run_message_deliveries() == [DeliveryStatus.FAILED]
    assert notification_backends.FailingEmailBackend.attempts == 6
    delivery.refresh_from_db()
    assert [number for number, _, _ in _attempts(delivery)] == [1, 2, 3, 4, 5, 6]
    assert delivery.attempt_count == 6


# --- Fan-out ------------------------------------------------------------------------------------------------------


def test_the_same_event_twice_creates_and_queues_nothing_new(ada):
    report = succeed_report(ada)
    [delivery] = message_deliveries()
    assert len(queued_delivery_runs()) == 1
    event = Event.objects.get(report=report, type="report.succeeded")

    # When the event is fanned out again, twice (the sweep after a slow process, say)
    fan_out(event)
    fan_out(event)

    # Then there is still one delivery, the same, and one delivery run queued for it
    assert list(message_deliveries().values_list("id", flat=True)) == [delivery.id]
    assert len(queued_delivery_runs()) == 1
    assert message_deliveries().get().event.report_id == report.id
    # And one email is sent; fanning it out once more after that sends nothing again
    assert run_message_deliveries() == [DeliveryStatus.SUCCEEDED]
    fan_out(event)
    assert run_message_deliveries() == [DeliveryStatus.SUCCEEDED]
    assert len(mail.outbox) == 1


def test_only_success_and_failure_are_notified(ada):
    # Given a user who wants email and SMS about every outcome
    set_preferences(ada, sms_on_success=True, sms_on_failure=True, phone_number=PHONE)
    report = succeed_report(ada)
    # The real report's events (queued, running, ..., succeeded): only report.succeeded was notified
    assert {"report.queued", "report.running", "report.succeeded"} <= set(
        Event.objects.filter(report=report).values_list("type", flat=True)
    )
    assert sorted(message_deliveries().values_list("channel", "event__type")) == [
        ("email", "report.succeeded"),
        ("sms", "report.succeeded"),
    ]

    # When events of every other type are written about the report, and fanned out after their commits
    others = ("report.queued", "report.running", "report.progress", "report.cancelled", "report.expired")
    written = [
        event_record(
            user_id=ada.pk, event_type=event_type, data={"report": report_representation(report)}, report=report
        )
        for event_type in others
    ]

    # Then they were fanned out, and none made an email or SMS
    assert Event.objects.filter(pk__in=[event.pk for event in written], fanned_out_at__isnull=False).count() == 5
    assert message_deliveries().count() == 2
    assert not message_deliveries().filter(event__type__in=others).exists()


def test_a_change_rolled_back_notifies_nothing(ada, sms_outbox):
    set_preferences(ada, sms_on_failure=True, phone_number=PHONE)
    report = report_create(user=ada, report_type="user_access", parameters={})
    django_rq.get_connection("notifications").flushdb()

    # When the report fails in a transaction that is rolled back
    with pytest.raises(RuntimeError), transaction.atomic():
        report_fail(report.id, code="build_failed", message="boom")
        raise RuntimeError("the surrounding transaction fails")

    # Then there is no failure, no event of it, no email or SMS to send and no delivery run queued
    report.refresh_from_db()
    assert report.status == ReportStatus.QUEUED
    assert not Event.objects.filter(type="report.failed").exists()
    assert message_deliveries().count() == 0
    assert queued_delivery_runs() == []
    assert run_message_deliveries() == []
    assert mail.outbox == [] and sms_outbox == []


# --- Safety nets for lost work -------------------------------------------------------------------------------------


def test_a_due_message_whose_delivery_run_was_lost_is_sent_after_the_periodic_sweep(ada):
    # Given a message due to be sent whose delivery run never ran (Redis lost the job)
    succeed_report(ada)
    django_rq.get_connection("notifications").flushdb()
    delivery = message_deliveries().get()
    assert delivery.status == DeliveryStatus.PENDING
    assert queued_delivery_runs() == []

    # When the periodic sweep runs, it starts a delivery run for it
    assert jobs.sweep_events() == {"fanned_out": 0}
    assert len(queued_delivery_runs()) == 1

    # And that run sends it
    _run_queued_delivery_job()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(mail.outbox) == 1


def test_the_sweep_starts_no_run_for_a_retry_not_yet_due(ada, settings):
    settings.NOTIFY_RETRY_SCHEDULE = [0, 300]
    settings.EMAIL_BACKEND = "tests.notification_backends.FailingEmailBackend"
    succeed_report(ada)
    run_message_deliveries()
    django_rq.get_connection("notifications").flushdb()
    assert message_deliveries().get().status == DeliveryStatus.PENDING

    assert jobs.sweep_events() == {"fanned_out": 0}

    assert queued_delivery_runs() == []


def test_an_event_whose_fan_out_was_lost_is_fanned_out_by_the_sweep_after_its_grace(ada, settings, monkeypatch):
    settings.EVENT_FANOUT_GRACE_SECONDS = 60
    # Given a report whose process died between each commit and its fan-out
    monkeypatch.setattr(fanout, "fan_out_after_commit", lambda event: None)
    report = succeed_report(ada)
    monkeypatch.undo()
    events = Event.objects.filter(report=report)
    assert events.filter(type="report.succeeded", fanned_out_at__isnull=True).exists()
    assert message_deliveries().count() == 0

    # When the periodic sweep runs soon after, it leaves them to the process that wrote them
    assert jobs.sweep_events() == {"fanned_out": 0}
    assert message_deliveries().count() == 0

    # When it runs once they are older than the grace, it fans them out, and a delivery run sends the email
    events.update(created_at=F("created_at") - timedelta(seconds=61))
    assert jobs.sweep_events() == {"fanned_out": events.count()}
    assert not events.filter(fanned_out_at__isnull=True).exists()
    assert list(message_deliveries().values_list("channel", "event__type")) == [("email", "report.succeeded")]
    _run_queued_delivery_job()
    assert message_deliveries().get().status == DeliveryStatus.SUCCEEDED
    assert len(mail.outbox) == 1
    # And a later sweep has nothing left to do
    assert jobs.sweep_events() == {"fanned_out": 0}
