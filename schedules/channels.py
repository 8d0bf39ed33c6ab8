"""Scheduled emails as a channel of the delivery engine (SPEC §18): a run's PDF to the schedule's recipients, and
to its owner the news of a failed run or of the schedule disabled. Retries and the delivery log are the engine's.

A recipient's email has the PDF attached up to NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES, above it the signed download link;
and a signed link (and the List-Unsubscribe headers of RFC 8058) that takes that address off that schedule."""

from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse

from common.mail import mask_address, message_id
from events.channels import DeliveryChannel, Outcome, SkipDelivery, Target
from events.models import Delivery, Event
from reports.links import download_path
from reports.models import ReportStatus
from schedules.models import Schedule

SCHEDULE_EMAIL_CHANNEL = "schedule_email"
UNSUBSCRIBE_SALT = "schedules.unsubscribe"
OWNER_EVENTS = ("schedule.disabled", "schedule.run_failed")


def unsubscribe_token(schedule_id: str, address: str) -> str:
    return signing.dumps({"s": schedule_id, "a": address.lower()}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_claims(token: str) -> tuple[str, str] | None:
    """(schedule id, address) of a valid unsubscribe token, else None."""
    try:
        claims = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return claims.get("s", ""), claims.get("a", "")


def _site(path: str) -> str:
    return settings.SITE_URL + path


def _schedule_of(event: Event) -> Schedule | None:
    """The schedule the event is about, read from the envelope first: most reports have none, and the fan-out of
    their events asks nothing more of the database."""
    if event.type not in (*OWNER_EVENTS, "report.succeeded", "report.failed"):
        return None
    data = event.envelope.get("data") or {}
    if event.type in OWNER_EVENTS:
        schedule_id = (data.get("schedule") or {}).get("id", "")
    else:
        schedule_id = (data.get("report") or {}).get("schedule") or ""
    return Schedule.objects.filter(pk=schedule_id).select_related("owner").first() if schedule_id else None


class ScheduleEmailChannel(DeliveryChannel):
    name = SCHEDULE_EMAIL_CHANNEL
    lease_seconds = 60.0

    def retry_schedule(self) -> Sequence[float]:
        return settings.NOTIFY_RETRY_SCHEDULE

    def targets(self, event: Event) -> Iterable[Target]:
        schedule = _schedule_of(event)
        if schedule is None:
            return []
        if event.type == "report.succeeded":
            return [Target(address) for address in schedule.recipients]
        return [Target(schedule.owner.email)] if schedule.owner.email else []

    def prepare(self, delivery: Delivery) -> EmailMessage:
        event = delivery.event
        schedule = _schedule_of(event)
        if schedule is None:
            raise SkipDelivery("The schedule was deleted.")
        if event.type == "report.succeeded":
            if delivery.target.lower() not in {address.lower() for address in schedule.recipients}:
                raise SkipDelivery("The address was taken off the schedule.")
            return self._report_email(event, schedule, delivery)
        context = {"schedule": schedule, "event": event, "data": event.envelope.get("data") or {}}
        context["page_url"] = _site(reverse("schedules_ui:detail", kwargs={"schedule_id": schedule.id}))
        subject = {
            "schedule.disabled": f"Schedule disabled: {schedule.name}",
            "schedule.run_failed": f"Scheduled report could not run: {schedule.name}",
            "report.failed": f"Scheduled report failed: {schedule.name}",
        }[event.type]
        body = render_to_string("schedules/email/owner_notice.txt", context)
        return self._message(subject, body, delivery)

    def _report_email(self, event: Event, schedule: Schedule, delivery: Delivery) -> EmailMessage:
        report = event.report
        unsubscribe = _site(
            reverse("schedules_ui:unsubscribe", kwargs={"token": unsubscribe_token(schedule.id, delivery.target)})
        )
        attach = (
            report.status == ReportStatus.SUCCEEDED
            and report.file
            and report.file_size is not None
            and report.file_size <= settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES
        )
        context = {
            "schedule": schedule,
            "report": report,
            "attached": bool(attach),
            "download_url": _site(download_path(report.id, report.requested_by_id)),
            "unsubscribe_url": unsubscribe,
        }
        body = render_to_string("schedules/email/report.txt", context)
        email = self._message(f"{schedule.name}: your scheduled report", body, delivery)
        email.extra_headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        email.extra_headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if attach:
            with report.file.open("rb") as file:
                email.attach(f"{report.report_type}-{report.id}.pdf", file.read(), "application/pdf")
        return email

    def _message(self, subject: str, body: str, delivery: Delivery) -> EmailMessage:
        headers = {"Message-ID": message_id(delivery.id), "X-Event-Id": delivery.event_id}
        return EmailMessage(subject=subject, body=body, to=[delivery.target], headers=headers)

    def send(self, prepared: EmailMessage) -> Outcome:
        prepared.send()
        return Outcome(True, receipt=prepared.extra_headers["Message-ID"])

    def mask(self, target: str) -> str:
        return mask_address(target)
