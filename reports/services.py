"""Writes on reports. The API, the UI, the admin and the worker all change reports through these functions."""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from rq.timeouts import JobTimeoutException

from common.netsafety import UnsafeDestination, resolve_destination
from reports import jobs, lifecycle
from reports.admission import report_rate_check
from reports.errors import ReportFileExpired, ReportFileNotReady, ReportNotCancellable, ReportNotRetryable
from reports.estimates import build_time_record
from reports.lifecycle import TransitionRefused, report_enter, report_transition
from reports.models import Report, ReportStatus
from reports.notify import notify_clean
from reports.overload import report_admission_check
from reports.parameters import ParameterError, validate_parameters
from reports.registry import BuildContext, report_types
from reports.rendering import render_report
from reports.selectors import AvailableReportType, report_find_reusable, report_type_for_user, report_type_limits

logger = logging.getLogger(__name__)

ERROR_MESSAGE_LIMIT = 1000
# The delivery log keys deliveries by their target, here the URL itself: an index entry must hold it in bytes.
CALLBACK_URL_MAX_BYTES = 2000


def report_create(
    *,
    user: AbstractBaseUser,
    report_type: str,
    parameters: Any,
    callback_url: str = "",
    notify: dict[str, bool] | None = None,
) -> Report:
    """Admit, validate, store the report as queued, and enqueue its render once the row is committed.

    Every way to ask for a report (API, UI, admin export, retry) comes here, so each passes the same gates: the
    requester's rate and the queue's backlog (reports/admission.py). `notify` overrides the user's email/SMS
    preferences for this report (SPEC §4)."""
    return report_request(
        user=user, report_type=report_type, parameters=parameters, callback_url=callback_url, notify=notify
    ).report


@dataclass(frozen=True)
class Requested:
    report: Report
    reused: bool  # an earlier report answers the request (`reuse_within`); nothing was created


def report_parameters_check(
    *, user: AbstractBaseUser, report_type: str, parameters: Any
) -> tuple[AvailableReportType, dict[str, Any]]:
    """The type as the user may request it and the effective parameters (after the admin's defaults and the type's
    cleaning), or the error a request would get: for a request, and for a schedule when it is saved."""
    _check_parameters_size(parameters)
    available = report_type_for_user(user=user, key=report_type)
    return available, _effective_parameters(available, user, parameters)


def _effective_parameters(available: AvailableReportType, user: AbstractBaseUser, parameters: Any) -> dict[str, Any]:
    values = validate_parameters(
        available.report_type.parameters_schema, parameters, defaults=available.default_parameters
    )
    values = available.report_type.clean(values)
    available.report_type.authorize(user, values)
    return values


def report_request(
    *,
    user: AbstractBaseUser,
    report_type: str,
    parameters: Any,
    callback_url: str = "",
    notify: dict[str, bool] | None = None,
    reuse_within: int | None = None,
    schedule_id: str = "",
) -> Requested:
    """report_create, or with `reuse_within` (seconds, SPEC §17) the caller's report of the same type and the same
    effective parameters (after the admin's defaults and the type's cleaning) that is queued or running, or that
    succeeded that recently and is still kept: its result is as fresh as the caller asked for, at no cost. A reused
    report passes the same gates of rate and validation; only the backlog's does not apply, as nothing is added.

    A schedule's run (`schedule_id`) is not held to its owner's rate: the schedules, few and each bounded by its
    cron, are what set its pace (SPEC §18)."""
    if not schedule_id:
        report_rate_check(user)
    _check_parameters_size(parameters)
    available = report_type_for_user(user=user, key=report_type)
    if callback_url:
        if len(callback_url.encode()) > CALLBACK_URL_MAX_BYTES:
            raise ParameterError({"callback_url": [f"At most {CALLBACK_URL_MAX_BYTES} bytes."]}, prefix="")
        try:
            resolve_destination(callback_url)
        except UnsafeDestination as error:
            raise ParameterError({"callback_url": [str(error)]}, prefix="") from error
    notify = notify_clean(user=user, notify=notify)
    values = _effective_parameters(available, user, parameters)
    if reuse_within:
        reusable = report_find_reusable(user=user, report_type=available.key, parameters=values, within=reuse_within)
        if reusable is not None:
            return Requested(reusable, reused=True)
    report_admission_check()
    # The report and its report.queued event commit together (in the caller's transaction when there is one, as for
    # an idempotent POST). Once they have, its render is enqueued, first, so that a worker can start on it while
    # this process fans the event out.
    report = Report(
        requested_by=user,
        report_type=available.key,
        parameters=values,
        callback_url=callback_url,
        notify=notify,
        schedule_id=schedule_id,
    )
    with transaction.atomic(savepoint=False):
        transaction.on_commit(
            partial(jobs.enqueue_render, report.id, timeout=available.timeout, isolated=available.report_type.isolated)
        )
        report_enter(report)
    return Requested(report, reused=False)


def _check_parameters_size(parameters: Any) -> None:
    """Every event of a report carries its parameters to every channel: they stay within
    REPORT_MAX_PARAMETERS_BYTES (SPEC §19)."""
    limit = settings.REPORT_MAX_PARAMETERS_BYTES
    size = len(json.dumps(parameters, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > limit:
        message = f"At most {limit} bytes as JSON; these take {size}. Export many rows by filter rather than by id."
        raise ParameterError({"parameters": [message]}, prefix="")


def report_cancel(*, report: Report) -> Report:
    """Cancel a queued or running report; a running render is stopped and its result thrown away."""
    try:
        with transaction.atomic():
            cancelled = report_transition(report.pk, lifecycle.CANCEL, fields={"finished_at": timezone.now()})
            transaction.on_commit(partial(jobs.cancel_render, cancelled.id))
    except TransitionRefused as refused:
        status = refused.report.status if refused.report else "gone"
        raise ReportNotCancellable(f"The report is already {status}.") from refused
    return cancelled


def report_retry(*, report: Report) -> Report:
    """Request a failed or cancelled report again: a new report, for the same requester, type and parameters, so the
    first keeps its outcome and its events. The requester must still be allowed to request it."""
    if report.status not in (ReportStatus.FAILED, ReportStatus.CANCELLED):
        raise ReportNotRetryable(f"Only failed or cancelled reports are retried; this one is {report.status}.")
    return report_create(
        user=report.requested_by,
        report_type=report.report_type,
        parameters=report.parameters,
        callback_url=report.callback_url,
        notify=report.notify,
    )


def report_file_for_download(*, report: Report) -> Report:
    """The report whose file may be downloaded now, or the reason it may not."""
    if report.status == ReportStatus.EXPIRED:
        raise ReportFileExpired("The file was removed by the retention policy.")
    if report.status != ReportStatus.SUCCEEDED or not report.file:
        raise ReportFileNotReady(f"The report is {report.status}; its file is not available.")
    return report


# --- The worker's side -------------------------------------------------------------------------------------------


def _claim(report_id: str) -> Report | None:
    """Move a queued report to running. Anything else (gone, cancelled, already taken) means: nothing to do."""
    now = timezone.now()
    try:
        return report_transition(
            report_id,
            lifecycle.START,
            fields=lambda report: {
                "started_at": now,
                "progress": 0,
                "attempts": report.attempts + 1,
                "heartbeat_at": now,
            },
            select_related=["requested_by"],
        )
    except TransitionRefused:
        return None


class RenderAbandoned(Exception):
    """Raised inside a build when its report stopped being `running` (a cancel): the worker stops at that step."""


def _progress_setter(report_id: str):
    last = {"value": 0}

    def set_progress(percent: int) -> None:
        value = max(0, min(99, int(percent)))
        if value > last["value"]:
            last["value"] = value
            try:
                report_transition(report_id, lifecycle.PROGRESS, fields={"progress": value})
            except TransitionRefused as refused:
                raise RenderAbandoned(report_id) from refused

    return set_progress


def report_render(report_id: str, *, timeout: int | None = None) -> Report | None:
    """Build one report. Safe to run twice: only a queued report is built, and only a running one is finished."""
    report = _claim(report_id)
    if report is None:
        return None
    report_type = report_types.get(report.report_type)
    try:
        if report_type is None:
            raise LookupError(f"The report type {report.report_type!r} is no longer installed.")
        context = report_type.build(
            BuildContext(
                report_id=report.id,
                parameters=report.parameters,
                requested_by=report.requested_by,
                set_progress=_progress_setter(report.id),
            )
        )
        rendered = render_report(report, report_type, context)
    except RenderAbandoned:
        # Cancelled (or finished elsewhere) while building: its row is already final, the rest is not wanted.
        return Report.objects.get(pk=report.id)
    except JobTimeoutException:
        limit = f" of {timeout} seconds" if timeout else ""
        return report_fail(report.id, code="timeout", message=f"The report took longer than its limit{limit}.")
    except Exception as exc:
        logger.exception("Report %s failed", report.id)
        message = str(exc).strip() or type(exc).__name__
        return report_fail(report.id, code="build_failed", message=message)

    name = report.file.field.generate_filename(report, f"{report.id}.pdf")
    stored_name = report.file.storage.save(name, ContentFile(rendered.content))
    # Before the report is finished rather than after: the Redis write stays off the path from its end to its event.
    build_time_record(report.report_type, (timezone.now() - report.started_at).total_seconds())
    try:
        # Only the attempt that claimed it finishes it: not after a cancel, nor once it was given up on as lost and
        # tried again.
        return report_transition(
            report.id,
            lifecycle.SUCCEED,
            # The time is taken under the lock: the report is finished once this transaction can commit.
            fields=lambda locked: {
                "progress": 100,
                "finished_at": timezone.now(),
                "file": stored_name,
                "file_size": len(rendered.content),
                "file_pages": rendered.pages,
                "file_sha256": rendered.sha256,
            },
            when=lambda locked: locked.attempts == report.attempts,
        )
    except TransitionRefused as refused:
        report.file.storage.delete(stored_name)  # the result is not wanted
        return refused.report


def report_fail(report_id: str, *, code: str, message: str) -> Report | None:
    """Mark a report failed unless it already finished; the message is shown to the requester."""
    try:
        return report_transition(
            report_id,
            lifecycle.FAIL,
            fields={
                "finished_at": timezone.now(),
                "error_code": code,
                "error_message": message[:ERROR_MESSAGE_LIMIT],
            },
        )
    except TransitionRefused as refused:
        return refused.report


# --- Periodic work ------------------------------------------------------------------------------------------------


def report_recover_lost(report_id: str, *, lost_before) -> str | None:
    """A running report whose worker stopped sending heartbeats (killed, out of memory, host gone): queued again
    while it has attempts left (REPORT_MAX_ATTEMPTS), failed with the reason after that. One retry covers a worker
    restarted under it; a report that loses its worker every time is likely the cause, and is not tried forever.
    Returns "retried", "failed", or None when the report turned out to be fine."""
    with transaction.atomic():
        report = Report.objects.select_for_update().filter(pk=report_id).first()
        if report is None or report.heartbeat_at is None or report.heartbeat_at >= lost_before:
            return None
        if report.status != ReportStatus.RUNNING:
            return None
        if report.attempts >= settings.REPORT_MAX_ATTEMPTS:
            report_fail(
                report.id,
                code="worker_lost",
                message=f"The worker building this report stopped (attempt {report.attempts} of "
                f"{settings.REPORT_MAX_ATTEMPTS}); it is not tried again.",
            )
            return "failed"
        logger.warning("Report %s lost its worker on attempt %d; trying again", report.id, report.attempts)
        report_transition(
            report.id, lifecycle.REQUEUE, fields={"started_at": None, "heartbeat_at": None, "progress": 0}
        )
        report_type = report_types.get(report.report_type)
        transaction.on_commit(
            partial(
                jobs.requeue_render,
                report.id,
                timeout=report_type_limits(report.report_type).timeout,
                isolated=bool(report_type and report_type.isolated),
            )
        )
    return "retried"


def reports_reap_stuck(*, grace_seconds: int, now=None) -> dict[str, int]:
    """Find reports that no worker will finish and give each an outcome.

    A queued report whose job is missing from Redis (its enqueue failed, or Redis lost it) is enqueued again.
    A running report whose heartbeat stopped lost its worker: it is retried, or failed once out of attempts.
    A running report past its timeout plus a grace period, with no job running it, is failed with that reason.
    """
    now = now or timezone.now()
    requeued = retried = failed = 0
    stale_queued = Report.objects.filter(
        status=ReportStatus.QUEUED, created_at__lt=now - timedelta(seconds=settings.REPORT_REQUEUE_AFTER_SECONDS)
    )
    for report in stale_queued.only("id", "report_type"):
        started_within = timedelta(seconds=settings.REPORT_REQUEUE_AFTER_SECONDS)
        if not jobs.render_is_pending(report.id, started_within=started_within):
            report_type = report_types.get(report.report_type)
            # Replacing the job a dead worker left behind, if any (a claim only moves a queued report on, so a
            # second job for it, were the first still alive, builds nothing twice).
            jobs.requeue_render(
                report.id,
                timeout=report_type_limits(report.report_type).timeout,
                isolated=bool(report_type and report_type.isolated),
            )
            requeued += 1
    lost_before = now - timedelta(seconds=settings.REPORT_LOST_AFTER_SECONDS)
    silent = Report.objects.filter(status=ReportStatus.RUNNING, heartbeat_at__lt=lost_before)
    for report_id in silent.values_list("id", flat=True):
        outcome = report_recover_lost(report_id, lost_before=lost_before)
        retried += outcome == "retried"
        failed += outcome == "failed"
    for report in Report.objects.filter(status=ReportStatus.RUNNING).only("id", "report_type", "started_at"):
        limit = report_type_limits(report.report_type).timeout + grace_seconds
        overdue = report.started_at and report.started_at < now - timedelta(seconds=limit)
        if overdue and not jobs.render_is_running(report.id):
            report_fail(report.id, code="worker_lost", message="The worker building this report stopped.")
            failed += 1
    return {"requeued": requeued, "retried": retried, "failed": failed}


def reports_expire(*, now=None) -> int:
    """Remove the files of succeeded reports past their retention and mark them expired."""
    now = now or timezone.now()
    expired = 0
    for key in (
        Report.objects.filter(status=ReportStatus.SUCCEEDED).order_by().values_list("report_type", flat=True).distinct()
    ):
        cutoff = now - timedelta(days=report_type_limits(key).retention_days)
        due = Report.objects.filter(status=ReportStatus.SUCCEEDED, report_type=key, finished_at__lt=cutoff)
        for report_id in due.values_list("id", flat=True).iterator():
            removed: list[str] = []

            def without_file(report: Report, removed: list[str] = removed) -> dict[str, Any]:
                removed.append(report.file.name)
                return {"file": ""}

            try:
                expired_report = report_transition(report_id, lifecycle.EXPIRE, fields=without_file)
            except TransitionRefused:
                continue
            # The file goes once the report says so: had the change rolled back, both would be as they were.
            if removed[0]:
                expired_report.file.storage.delete(removed[0])
            expired += 1
    return expired
