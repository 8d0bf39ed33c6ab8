"""Shared steps of the email and SMS tests: reports finished through the real services (so their events are fanned
out to the real channels after the commit), and the delivery runs that send the email and SMS, run here as a
worker's delivery job would run them."""

import re

import django_rq
from django.utils import timezone

from events.engine import run_deliveries
from events.jobs import RUN_QUEUED_FLAG
from events.models import Delivery
from notifications.models import NotificationPreferences
from reports.models import Report
from reports.services import report_create, report_fail, report_render

PHONE = "+14155552671"
MESSAGE_CHANNELS = ("email", "sms")
DELIVERY_JOB = "events.jobs.deliver"


def set_preferences(user, *, phone_confirmed: bool = True, **fields) -> NotificationPreferences:
    """Store preferences as they would be after the user set them. A phone number given is one its owner confirmed
    (SMS go only to those), unless `phone_confirmed=False`; `confirm_phone` goes through the real confirmation."""
    if "phone_number" in fields:
        fields["phone_confirmed_at"] = timezone.now() if fields["phone_number"] and phone_confirmed else None
    preferences, _ = NotificationPreferences.objects.update_or_create(user=user, defaults=fields)
    return preferences


def texted_code(outbox: list, number: str = PHONE) -> str:
    """The confirmation code in the last SMS sent to the number."""
    [body] = [message.body for message in outbox if message.to == number][-1:]
    return re.search(r"\b(\d{6})\b", body).group(1)


def confirm_phone(api, outbox: list, number: str = PHONE) -> dict:
    """Set the number and confirm it with the code texted to it, through the API, as its owner does. Returns the
    preferences as the confirmation answers them."""
    response = api.patch("/api/v1/preferences", {"phone_number": number}, format="json")
    assert response.status_code == 200, response.content
    response = api.post("/api/v1/preferences/phone/confirm", {"code": texted_code(outbox, number)}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def succeed_report(user, **create_kwargs) -> Report:
    """Request a user_access report and build it in this process, as the worker does."""
    report = report_create(user=user, report_type="user_access", parameters={}, **create_kwargs)
    return report_render(report.id)


def fail_report(user, message: str = "The ledger for 2026-13 does not exist.", **create_kwargs) -> Report:
    report = report_create(user=user, report_type="user_access", parameters={}, **create_kwargs)
    return report_fail(report.id, code="build_failed", message=message)


def message_deliveries():
    """The email and SMS deliveries, oldest first (email before SMS for one event)."""
    return Delivery.objects.filter(channel__in=MESSAGE_CHANNELS).order_by("created_at", "channel", "id")


def queued_delivery_runs() -> list:
    """The delivery runs (events.jobs.deliver) waiting on the notifications queue."""
    queue = django_rq.get_queue("notifications")
    return [job for job in queue.get_jobs() if job.func_name == DELIVERY_JOB]


def run_message_deliveries(max_seconds: float = 20.0) -> list[str]:
    """One delivery run, here, as a worker takes the queued delivery job (off the queue, the "a run is queued" flag
    cleared), until nothing is due: a retry due at once is attempted in the same run. Returns the status of each
    email and SMS delivery afterwards."""
    queue = django_rq.get_queue("notifications")
    for job in queued_delivery_runs():
        queue.remove(job)
    queue.connection.delete(RUN_QUEUED_FLAG)
    run_deliveries(max_seconds=max_seconds)
    return list(message_deliveries().values_list("status", flat=True))
