"""Shared steps of the email and SMS tests: reports finished through the real services (so their events reach the
real sinks after the commit), and the send jobs those sinks queued, run here as a worker would run them."""

import django_rq

from notifications.models import NotificationPreferences
from reports.models import Report
from reports.services import report_create, report_fail, report_render

PHONE = "+14155552671"
SEND_JOB = "notifications.jobs.send_notification"


def set_preferences(user, **fields) -> NotificationPreferences:
    preferences, _ = NotificationPreferences.objects.update_or_create(user=user, defaults=fields)
    return preferences


def succeed_report(user, **create_kwargs) -> Report:
    """Request a user_access report and build it in this process, as the worker does."""
    report = report_create(user=user, report_type="user_access", parameters={}, **create_kwargs)
    return report_render(report.id)


def fail_report(user, message: str = "The ledger for 2026-13 does not exist.", **create_kwargs) -> Report:
    report = report_create(user=user, report_type="user_access", parameters={}, **create_kwargs)
    return report_fail(report.id, code="build_failed", message=message)


def queued_send_jobs() -> list:
    queue = django_rq.get_queue("notifications")
    return [job for job in queue.get_jobs() if job.func_name == SEND_JOB]


def run_queued_sends() -> list[str | None]:
    """Run the send jobs waiting on the notifications queue, oldest first, until none is left (a job may queue its
    own retry); returns what each job returned."""
    queue = django_rq.get_queue("notifications")
    results = []
    while jobs := queued_send_jobs():
        job = jobs[0]
        queue.remove(job)
        results.append(job.func(*job.args, **job.kwargs))
    return results
