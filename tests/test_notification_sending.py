"""Email and SMS (SPEC §8), in this process: a report finished through the real services reaches the sink after
its commit, the sink logs and queues one message per channel, and the queued send jobs, run here, deliver to
Django's locmem email backend (`mail.outbox`) and the locmem SMS backend. The worker end to end is in
test_notifications_worker.py."""

import hashlib
from datetime import timedelta

import django_rq
import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from notifications import jobs, messaging
from notifications.messaging import notification_resend, notification_send, notifications_fan_out
from notifications.models import NotificationMessage, NotificationStatus
from notifications.sms import SmsMessage
from reports.events import report_event
from reports.models import ReportStatus
from tests import notification_backends
from tests.notify_helpers import (
    PHONE,
    fail_report,
    queued_send_jobs,
    run_queued_sends,
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


# --- Email ---------------------------------------------------------------------------------------------------------


def test_succeeded_report_emails_text_and_html_with_link_and_the_pdf_attached(ada, settings, sms_outbox):
    # Given the default preferences (email on success) and a limit the PDF is under
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024

    # When a report succeeds and the queued send runs
    report = succeed_report(ada)
    assert run_queued_sends() == ["sent"]

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
    message = NotificationMessage.objects.get()
    assert (message.channel, message.recipient, message.status, message.attempts, message.last_error) == (
        "email",
        "ada@example.com",
        NotificationStatus.SENT,
        1,
        "",
    )
    assert (message.event_type, message.report_id, message.user_id) == ("report.succeeded", report.id, ada.pk)
    assert message.provider_message_id == email.extra_headers["Message-ID"]
    assert message.sent_at is not None
    assert sms_outbox == []


def test_pdf_is_attached_up_to_the_limit_and_only_linked_over_it(ada, settings):
    # Given a succeeded report whose PDF has a known size
    report = succeed_report(ada)
    size = report.file_size
    message = NotificationMessage.objects.get()

    # When the limit is exactly its size, it is attached
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = size
    run_queued_sends()
    assert len(mail.outbox[-1].attachments) == 1

    # When the limit is one byte less, only the link is sent, with the size
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = size - 1
    notification_resend(message=message)
    run_queued_sends()
    over = mail.outbox[-1]
    assert over.attachments == []
    assert "from the report's page." in over.body
    assert f"{SITE}/reports/{report.id}/" in over.body

    # When the limit is 0, attachments are off whatever the size
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = 0
    notification_resend(message=message)
    run_queued_sends()
    assert mail.outbox[-1].attachments == []
    assert len(mail.outbox) == 3


def test_failed_report_emails_the_error_escaped_in_html_and_attaches_nothing(ada):
    # Given a report that fails with a message holding markup
    report = fail_report(ada, message="Ledger <2026-13> & co is missing")

    run_queued_sends()

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
    run_queued_sends()

    # Then only the failure was texted, with its error and link; the success was emailed
    assert sms_outbox == [
        SmsMessage(
            to=PHONE,
            body=f"Reports: User access review failed ({failed.id}): The ledger for 2026-13 does not exist.\n"
            f"{SITE}/reports/{failed.id}/",
        )
    ]
    assert [email.subject.split(" (")[0] for email in mail.outbox] == ["User access review succeeded"]
    sms = NotificationMessage.objects.get(channel="sms")
    assert (sms.recipient, sms.status, sms.provider_message_id) == (PHONE, NotificationStatus.SENT, "locmem-1")


def test_long_error_is_cut_in_the_sms(ada, sms_outbox):
    set_preferences(ada, sms_on_failure=True, phone_number=PHONE)
    failed = fail_report(ada, message="x" * 300)

    run_queued_sends()

    [sms] = sms_outbox
    assert sms.body == f"Reports: User access review failed ({failed.id}): {'x' * 79}…\n{SITE}/reports/{failed.id}/"


# --- Retries, idempotency, resend ----------------------------------------------------------------------------------


def test_a_backend_that_raises_is_retried_then_logged_failed_and_the_report_stays_succeeded(ada, settings):
    # Given an email backend that fails every time, and three attempts allowed
    settings.EMAIL_BACKEND = "tests.notification_backends.FailingEmailBackend"
    notification_backends.FailingEmailBackend.attempts = 0

    # When a report succeeds and its send jobs run (each failure queues the next attempt)
    report = succeed_report(ada)
    assert report.status == ReportStatus.SUCCEEDED
    results = run_queued_sends()

    # Then it was tried three times, and the log holds the error
    assert results == ["pending", "pending", "failed"]
    assert notification_backends.FailingEmailBackend.attempts == 3
    message = NotificationMessage.objects.get()
    assert (message.status, message.attempts) == (NotificationStatus.FAILED, 3)
    assert message.last_error == f"SMTPServerDisconnected: {notification_backends.SMTP_ERROR}"
    assert message.sent_at is None and message.next_attempt_at is None
    # And the report is untouched
    report.refresh_from_db()
    assert report.status == ReportStatus.SUCCEEDED
    assert mail.outbox == []


def test_a_failed_attempt_is_retried_after_the_scheduled_delay(ada, settings):
    # Given a retry schedule of: at once, then 30 s later
    settings.NOTIFY_RETRY_SCHEDULE = [0, 30]
    settings.SMS_BACKEND = "tests.notification_backends.FailingSmsBackend"
    set_preferences(ada, sms_on_success=True, phone_number=PHONE, email_on_success=False)
    succeed_report(ada)

    # When the first attempt fails
    before = timezone.now()
    assert run_queued_sends() == ["pending"]

    # Then the retry waits in RQ's scheduled registry for 30 s from now, and the message says when
    message = NotificationMessage.objects.get()
    assert (message.status, message.attempts) == (NotificationStatus.PENDING, 1)
    assert message.last_error == f"ConnectionError: {notification_backends.SMS_ERROR}"
    assert before + timedelta(seconds=29) < message.next_attempt_at < timezone.now() + timedelta(seconds=31)
    queue = django_rq.get_queue("notifications")
    registry = ScheduledJobRegistry(queue=queue)
    [job_id] = registry.get_job_ids()
    assert queue.fetch_job(job_id).args == (message.id,)
    scheduled_at = registry.get_scheduled_time(job_id)
    assert abs((scheduled_at - message.next_attempt_at).total_seconds()) < 1
    # And a send that runs early (a stray job) does nothing
    assert notification_send(message_id=message.id).attempts == 1


def test_sending_an_already_sent_message_again_does_nothing(ada):
    succeed_report(ada)
    [message_id] = NotificationMessage.objects.values_list("id", flat=True)
    run_queued_sends()
    assert len(mail.outbox) == 1

    # When its job runs a second time (a duplicate job, a retry that arrives late)
    again = jobs.send_notification(message_id)

    # Then nothing is sent and nothing changes
    assert again == "sent"
    assert len(mail.outbox) == 1
    assert NotificationMessage.objects.get().attempts == 1


def test_a_message_being_sent_is_not_sent_by_a_second_job_nor_resent(ada):
    succeed_report(ada)
    message = NotificationMessage.objects.get()
    NotificationMessage.objects.filter(pk=message.pk).update(claimed_until=timezone.now() + timedelta(seconds=60))

    assert notification_send(message_id=message.id).status == NotificationStatus.PENDING
    with pytest.raises(messaging.MessageInFlight):
        notification_resend(message=message)
    assert mail.outbox == []


def test_resend_sends_a_failed_message_again_with_fresh_retries(ada, settings):
    settings.EMAIL_BACKEND = "tests.notification_backends.FailingEmailBackend"
    succeed_report(ada)
    run_queued_sends()
    message = NotificationMessage.objects.get()
    assert message.status == NotificationStatus.FAILED

    # When the backend works again and the message is resent
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    resent = notification_resend(message=message)
    assert (resent.status, resent.attempts) == (NotificationStatus.PENDING, 0)
    assert run_queued_sends() == ["sent"]

    # Then it is sent, the same row with the same event id
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (NotificationStatus.SENT, 1, "")
    assert len(mail.outbox) == 1


# --- The sink ------------------------------------------------------------------------------------------------------


def test_the_same_event_twice_creates_and_queues_nothing_new(ada):
    report = succeed_report(ada)
    assert len(queued_send_jobs()) == 1
    event = NotificationMessage.objects.get().payload

    assert notifications_fan_out(event, user_id=ada.pk) == []

    assert NotificationMessage.objects.count() == 1
    assert len(queued_send_jobs()) == 1
    assert NotificationMessage.objects.get().report_id == report.id


def test_only_success_and_failure_are_notified(ada):
    report = succeed_report(ada)
    NotificationMessage.objects.all().delete()

    for event_type in ("report.queued", "report.running", "report.progress", "report.cancelled", "report.expired"):
        assert notifications_fan_out(report_event(report, event_type), user_id=ada.pk) == []

    assert NotificationMessage.objects.count() == 0


def test_a_fan_out_rolled_back_queues_nothing(ada):
    report = succeed_report(ada)
    NotificationMessage.objects.all().delete()
    django_rq.get_queue("notifications").empty()

    with pytest.raises(RuntimeError), transaction.atomic():
        notifications_fan_out(report_event(report, "report.succeeded"), user_id=ada.pk)
        raise RuntimeError("the surrounding transaction fails")

    assert NotificationMessage.objects.count() == 0
    assert queued_send_jobs() == []


def test_a_pending_message_whose_job_was_lost_is_queued_again_by_the_periodic_requeue(ada):
    # Given a message whose send job never ran (Redis lost it)
    succeed_report(ada)
    django_rq.get_queue("notifications").empty()
    message = NotificationMessage.objects.get()

    # When the periodic requeue runs soon after, nothing is due yet; two minutes later it queues the send
    assert messaging.notifications_requeue_overdue() == 0
    assert messaging.notifications_requeue_overdue(now=timezone.now() + timedelta(minutes=2)) == 1

    assert [job.args for job in queued_send_jobs()] == [(message.id,)]
    assert run_queued_sends() == ["sent"]
    assert len(mail.outbox) == 1
