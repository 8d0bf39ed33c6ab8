"""What an email or SMS about a finished report says, and sending it through the configured backend.

The content comes from the event the message tells of (SPEC §5: the same envelope as every other channel); only
the PDF to attach is read from the report itself, and only while it is still there.
"""

import logging
from dataclasses import dataclass
from email.utils import make_msgid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import reverse

from notifications.models import NotificationChannel, NotificationMessage
from notifications.sms import SmsMessage, get_sms_backend
from reports.models import ReportStatus
from reports.registry import report_types

logger = logging.getLogger(__name__)

SMS_ERROR_LIMIT = 80


@dataclass(frozen=True)
class ReportOutcome:
    """A finished report as a message tells of it."""

    report_id: str
    report_type: str
    title: str
    succeeded: bool
    error_message: str
    page_url: str
    pages: int | None
    size_bytes: int | None

    @property
    def outcome(self) -> str:
        return "succeeded" if self.succeeded else "failed"


def site_url(path: str) -> str:
    return settings.SITE_URL + path


def report_outcome(message: NotificationMessage) -> ReportOutcome:
    report = message.payload["data"]["report"]
    report_type = report_types.get(report["report_type"])
    file = report.get("file") or {}
    error = report.get("error") or {}
    return ReportOutcome(
        report_id=report["id"],
        report_type=report["report_type"],
        title=report_type.title if report_type else report["report_type"],
        succeeded=message.event_type == "report.succeeded",
        error_message=error.get("message", ""),
        page_url=site_url(reverse("ui:report-detail", kwargs={"report_id": report["id"]})),
        pages=file.get("pages"),
        size_bytes=file.get("size_bytes"),
    )


def _attachment(message: NotificationMessage, outcome: ReportOutcome) -> tuple[str, bytes] | None:
    """The PDF as (filename, bytes) when it may be attached: the report succeeded, its file is still kept, and it is
    at most NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES (0: never)."""
    limit = settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES
    report = message.report
    if not outcome.succeeded or limit <= 0 or report.status != ReportStatus.SUCCEEDED or not report.file:
        return None
    if report.file_size is None or report.file_size > limit:
        return None
    try:
        with report.file.open("rb") as file:
            content = file.read()
    except OSError:
        logger.warning("The file of report %s could not be read; emailing the link only", report.id, exc_info=True)
        return None
    return f"{report.report_type}-{report.id}.pdf", content


def report_email(message: NotificationMessage) -> EmailMultiAlternatives:
    """The email for one message: a text part, an HTML alternative, and the PDF when it is small enough."""
    outcome = report_outcome(message)
    attachment = _attachment(message, outcome)
    user = message.user
    context = {
        "report": outcome,
        "name": user.get_full_name() or user.get_username(),
        "attached": attachment is not None,
        "size": filesizeformat(outcome.size_bytes) if outcome.size_bytes else "",
        "preferences_url": site_url(reverse("notifications_ui:preferences")),
    }
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    email = EmailMultiAlternatives(
        subject=f"{outcome.title} {outcome.outcome} ({outcome.report_id})",
        body=render_to_string("notifications/email/report_finished.txt", context),
        to=[message.recipient],
        # Our own Message-ID, so the log can name the email (and Django need not look up this host's name).
        headers={"Message-ID": make_msgid(idstring=message.id, domain=domain), "X-Report-Id": outcome.report_id},
    )
    email.attach_alternative(render_to_string("notifications/email/report_finished.html", context), "text/html")
    if attachment is not None:
        email.attach(attachment[0], attachment[1], "application/pdf")
    return email


def report_sms(message: NotificationMessage) -> SmsMessage:
    outcome = report_outcome(message)
    text = f"Reports: {outcome.title} {outcome.outcome} ({outcome.report_id})"
    if not outcome.succeeded and outcome.error_message:
        error = outcome.error_message
        text += ": " + (error if len(error) <= SMS_ERROR_LIMIT else error[: SMS_ERROR_LIMIT - 1] + "…")
    return SmsMessage(to=message.recipient, body=f"{text}\n{outcome.page_url}")


def send_message(message: NotificationMessage) -> str:
    """Send the message now through the configured email or SMS backend; returns the id to log. Raises whatever
    the backend raises."""
    if message.channel == NotificationChannel.EMAIL:
        email = report_email(message)
        email.send()
        return email.extra_headers["Message-ID"]
    return get_sms_backend().send(report_sms(message))
