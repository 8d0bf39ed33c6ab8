"""What an email or SMS says: about a finished report, (email only) an endpoint disabled for failing, or (SMS only)
the code that confirms a phone number.

The content comes from the event the message tells of (SPEC §5: the same envelope as every other channel); only
the PDF to attach is read from the report itself, and only while it is still there.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import reverse

from common.mail import message_id
from events.models import Event
from notifications.messages.sms import SmsMessage
from reports.links import download_path
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
    # A signed link that downloads the PDF without signing in, for a while (SPEC §17); empty unless it succeeded.
    download_url: str
    pages: int | None
    size_bytes: int | None

    @property
    def outcome(self) -> str:
        return "succeeded" if self.succeeded else "failed"


def site_url(path: str) -> str:
    return settings.SITE_URL + path


def report_outcome(event: Event) -> ReportOutcome:
    report = event.envelope["data"]["report"]
    report_type = report_types.get(report["report_type"])
    file = report.get("file") or {}
    error = report.get("error") or {}
    return ReportOutcome(
        report_id=report["id"],
        report_type=report["report_type"],
        title=report_type.title if report_type else report["report_type"],
        succeeded=event.type == "report.succeeded",
        error_message=error.get("message", ""),
        page_url=site_url(reverse("ui:report-detail", kwargs={"report_id": report["id"]})),
        # Made now rather than taken from the event: a retried email still carries a link good for the full time.
        download_url=site_url(download_path(report["id"], event.user_id)) if file else "",
        pages=file.get("pages"),
        size_bytes=file.get("size_bytes"),
    )


def _attachment(event: Event, outcome: ReportOutcome) -> tuple[str, bytes] | None:
    """The PDF as (filename, bytes) when it may be attached: the report succeeded, its file is still kept, and it is
    at most NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES (0: never)."""
    limit = settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES
    report = event.report
    if (
        report is None
        or not outcome.succeeded
        or limit <= 0
        or report.status != ReportStatus.SUCCEEDED
        or not report.file
    ):
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


def _lifetime(seconds: int) -> str:
    """ "an hour", "3 hours", "45 minutes": how long a download link works, in words."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "an hour" if hours == 1 else f"{hours} hours"
    minutes = max(1, round(seconds / 60))
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def report_email(*, event: Event, recipient: str, delivery_id: str) -> EmailMultiAlternatives:
    """The email of a finished report: a text part, an HTML alternative, and the PDF when it is small enough."""
    outcome = report_outcome(event)
    attachment = _attachment(event, outcome)
    user = event.user
    context = {
        "report": outcome,
        "name": user.get_full_name() or user.get_username(),
        "attached": attachment is not None,
        "size": filesizeformat(outcome.size_bytes) if outcome.size_bytes else "",
        "preferences_url": site_url(reverse("notifications_ui:preferences")),
        "link_lifetime": _lifetime(settings.REPORT_LINK_TTL_SECONDS),
    }
    email = EmailMultiAlternatives(
        subject=f"{outcome.title} {outcome.outcome} ({outcome.report_id})",
        body=render_to_string("notifications/email/report_finished.txt", context),
        to=[recipient],
        headers={"Message-ID": message_id(delivery_id), "X-Report-Id": outcome.report_id, "X-Event-Id": event.id},
    )
    email.attach_alternative(render_to_string("notifications/email/report_finished.html", context), "text/html")
    if attachment is not None:
        email.attach(attachment[0], attachment[1], "application/pdf")
    return email


def endpoint_disabled_email(*, event: Event, recipient: str, delivery_id: str) -> EmailMultiAlternatives:
    """The email that tells an endpoint's owner it was disabled for failing, and how to get what it missed."""
    endpoint = event.envelope["data"]["endpoint"]
    context = {"endpoint": endpoint, "name": event.user.get_full_name() or event.user.get_username()}
    return EmailMultiAlternatives(
        subject=f"Webhook endpoint disabled: {endpoint['url']}",
        body=render_to_string("notifications/email/endpoint_disabled.txt", context),
        to=[recipient],
        headers={"Message-ID": message_id(delivery_id), "X-Event-Id": event.id},
    )


def report_sms(*, event: Event, recipient: str) -> SmsMessage:
    outcome = report_outcome(event)
    text = f"Reports: {outcome.title} {outcome.outcome} ({outcome.report_id})"
    if not outcome.succeeded and outcome.error_message:
        error = outcome.error_message
        text += ": " + (error if len(error) <= SMS_ERROR_LIMIT else error[: SMS_ERROR_LIMIT - 1] + "…")
    return SmsMessage(to=recipient, body=f"{text}\n{outcome.page_url}")


def phone_code_sms(*, to: str, code: str, valid_minutes: int) -> SmsMessage:
    return SmsMessage(
        to=to,
        body=f"Reports: your code to confirm this number is {code}. It expires in {valid_minutes} minutes. "
        "If you did not ask for it, ignore this SMS.",
    )
