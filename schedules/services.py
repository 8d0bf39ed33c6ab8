"""Writes on schedules (SPEC §18): saving one (checked as a request of its report would be), the tick that makes the
runs that are due, a run's start, and what a run's end means for its schedule. The API, the UI, the admin and the
scheduler all come here."""

import hashlib
import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from events.log import event_record
from reports.errors import ReportError
from reports.parameters import ParameterError
from reports.registry import report_types
from reports.services import report_parameters_check, report_request
from schedules import jobs
from schedules.models import RunTrigger, Schedule, ScheduleRun
from schedules.periods import PERIOD_KEY, PeriodInvalid, period_clean, resolved_parameters, takes_periods
from schedules.selectors import recipient_domains
from schedules.timing import ScheduleTimingInvalid, cron_clean, next_run_after, zone_clean

logger = logging.getLogger(__name__)

SCHEDULE_DISABLED_EVENT = "schedule.disabled"
SCHEDULE_RUN_FAILED_EVENT = "schedule.run_failed"
# Schedules looked at in one tick; the rest are due still, and the next tick takes them.
TICK_BATCH = 5000
# A run not started this long after its due time (and jitter) is started by the tick itself.
START_GRACE_SECONDS = 120
# The fields a schedule's owner sets, and those of them that decide when it runs next.
EDITABLE = ("name", "report_type", "parameters", "cron", "timezone", "recipients", "enabled")
TIMING = ("cron", "timezone", "enabled")


class ScheduleInvalid(ParameterError):
    """A schedule's own field (its name, cron, timezone or recipients) that is not valid; the API answers a 400
    problem titled for the schedule, not for a report's parameters."""


def _invalid(field: str, message: str) -> ScheduleInvalid:
    return ScheduleInvalid({field: [message]}, prefix="")


def _recipients_clean(recipients: Any) -> list[str]:
    if not isinstance(recipients, list) or not all(isinstance(address, str) for address in recipients):
        raise _invalid("recipients", "A list of email addresses.")
    limit = settings.SCHEDULE_MAX_RECIPIENTS
    if len(recipients) > limit:
        raise _invalid("recipients", f"At most {limit} addresses.")
    allowed = recipient_domains()
    cleaned: list[str] = []
    seen: set[str] = set()
    for address in recipients:
        address = address.strip()
        try:
            validate_email(address)
        except ValidationError:
            raise _invalid("recipients", f"{address!r} is not an email address.") from None
        domain = address.rpartition("@")[2].lower()
        if allowed is not None and domain not in allowed:
            raise _invalid("recipients", f"{domain} is not a domain reports may be sent to.")
        if address.lower() not in seen:
            seen.add(address.lower())
            cleaned.append(address)
    return cleaned


def _parameters_clean(owner: AbstractBaseUser, report_type: str, parameters: Any, zone: ZoneInfo) -> dict[str, Any]:
    """The parameters as given, once a request of the report with them (a period resolved as of now) would pass."""
    if not isinstance(parameters, dict):
        raise _invalid("parameters", "Must be an object.")
    if PERIOD_KEY in parameters:
        registered = report_types.get(report_type)
        if registered is None or not takes_periods(registered):
            raise ParameterError({PERIOD_KEY: ["This report type has no date range to make relative."]})
        if "start_date" in parameters or "end_date" in parameters:
            raise ParameterError({PERIOD_KEY: ["Give a period or dates, not both."]})
        try:
            parameters = {**parameters, PERIOD_KEY: period_clean(parameters[PERIOD_KEY])}
        except PeriodInvalid as error:
            raise ParameterError({PERIOD_KEY: [str(error)]}) from None
    report_parameters_check(
        user=owner, report_type=report_type, parameters=resolved_parameters(parameters, zone, timezone.now())
    )
    return parameters


def schedule_validate(*, owner: AbstractBaseUser, data: dict[str, Any], schedule: Schedule | None = None) -> dict:
    """The fields of the schedule once `data` is applied to it, checked: the cron, the timezone, the parameters (as
    a request of the report by `owner` would be, a period resolved as of now) and the recipients. Raises
    ParameterError naming the field."""
    current = schedule or Schedule(owner=owner)
    fields = {name: data[name] if name in data else getattr(current, name) for name in EDITABLE}
    name = str(fields["name"] or "").strip()
    if not name:
        raise _invalid("name", "A name is required.")
    try:
        cron = cron_clean(fields["cron"])
        zone = zone_clean(fields["timezone"])
    except ScheduleTimingInvalid as error:
        raise _invalid(error.field, str(error)) from None
    return {
        "name": name[:200],
        "report_type": fields["report_type"],
        "parameters": _parameters_clean(owner, fields["report_type"], fields["parameters"] or {}, zone),
        "cron": cron,
        "timezone": zone.key,
        "recipients": _recipients_clean(fields["recipients"] or []),
        "enabled": bool(fields["enabled"]),
    }


def schedule_save(
    *, owner: AbstractBaseUser, data: dict[str, Any], schedule: Schedule | None = None, now: datetime | None = None
) -> Schedule:
    """Create (no `schedule`) or update a schedule of `owner` from the fields given in `data`, checked by
    schedule_validate; a new one also within SCHEDULE_MAX_PER_USER. A change of its timing, or resuming it, sets its
    next run from now."""
    now = now or timezone.now()
    if schedule is None:
        limit = settings.SCHEDULE_MAX_PER_USER
        if Schedule.objects.filter(owner=owner).count() >= limit:
            raise _invalid("schedules", f"You have {limit} schedules, the most there may be; delete one first.")
        schedule = Schedule(owner=owner)
    cleaned = schedule_validate(owner=owner, data=data, schedule=schedule)
    retimed = schedule.next_run_at is None or any(cleaned[name] != getattr(schedule, name) for name in TIMING)
    for name, value in cleaned.items():
        setattr(schedule, name, value)
    if not schedule.enabled:
        schedule.next_run_at = None
    elif retimed:
        schedule.next_run_at = next_run_after(schedule.cron, ZoneInfo(schedule.timezone), now)
    if "enabled" in data and schedule.enabled:
        schedule.consecutive_failures = 0  # resumed: a fresh start
    schedule.save()
    return schedule


def jitter_seconds(schedule_id: str) -> int:
    """A fixed offset per schedule within SCHEDULE_JITTER_SECONDS: schedules due at the same minute start spread
    over it rather than in the same second."""
    spread = settings.SCHEDULE_JITTER_SECONDS
    return int.from_bytes(hashlib.sha256(schedule_id.encode()).digest()[:4], "big") % spread if spread > 0 else 0


def schedules_tick(*, now: datetime | None = None) -> int:
    """Make one run for every schedule due by now, and move it to its next time after now: times missed while no
    scheduler ran make one run, not one each. Each run's start is enqueued at its due time plus its jitter.

    Safe to run in several schedulers at once: a schedule is taken under its row lock (skipped when another holds
    it), and a run's (schedule, due time) is unique, so each due time has one run however many tick."""
    now = now or timezone.now()
    due = list(
        Schedule.objects.filter(enabled=True, next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list("id", flat=True)[:TICK_BATCH]
    )
    made = 0
    for schedule_id in due:
        with transaction.atomic():
            schedule = (
                Schedule.objects.select_for_update(skip_locked=True)
                .filter(pk=schedule_id, enabled=True, next_run_at__lte=now)
                .first()
            )
            if schedule is None:  # another scheduler has it, or it was changed meanwhile
                continue
            due_at = schedule.next_run_at
            schedule.next_run_at = next_run_after(schedule.cron, ZoneInfo(schedule.timezone), now)
            schedule.save(update_fields=["next_run_at", "updated_at"])
            run = _run_once(schedule, due_at, RunTrigger.SCHEDULE)
            if run is not None:
                start_at = due_at + timedelta(seconds=jitter_seconds(schedule.id))
                transaction.on_commit(partial(jobs.enqueue_run_start, run.id, at=start_at))
                made += 1
    _start_forgotten_runs(now)
    return made


def _start_forgotten_runs(now: datetime) -> None:
    """Runs whose start was due a while ago and never came (its enqueue failed, or Redis lost it): started here."""
    late = now - timedelta(seconds=settings.SCHEDULE_JITTER_SECONDS + START_GRACE_SECONDS)
    for run_id in ScheduleRun.objects.filter(started_at__isnull=True, due_at__lt=late).values_list("id", flat=True)[
        :TICK_BATCH
    ]:
        schedule_run_start(run_id)


def _run_once(schedule: Schedule, due_at: datetime, trigger: str) -> ScheduleRun | None:
    try:
        with transaction.atomic():
            return ScheduleRun.objects.create(schedule=schedule, due_at=due_at, trigger=trigger)
    except IntegrityError:
        return None  # that due time has its run already


def schedule_run_now(*, schedule: Schedule) -> ScheduleRun:
    """Run now ("send now"), beside its times: its report is requested before this returns."""
    run = ScheduleRun.objects.create(schedule=schedule, due_at=timezone.now(), trigger=RunTrigger.MANUAL)
    return schedule_run_start(run.id)


def schedule_run_start(run_id: str) -> ScheduleRun:
    """Request the run's report, once, as its schedule's owner, with a period resolved as of its due time in the
    schedule's timezone. A request refused (the type disabled, a permission gone, the queue overloaded) fails the
    run."""
    with transaction.atomic():
        run = ScheduleRun.objects.select_for_update().select_related("schedule__owner").get(pk=run_id)
        if run.started_at is not None:
            return run
        run.started_at = timezone.now()
        schedule = run.schedule
        parameters = resolved_parameters(schedule.parameters, ZoneInfo(schedule.timezone), run.due_at)
        try:
            with transaction.atomic():
                requested = report_request(
                    user=schedule.owner,
                    report_type=schedule.report_type,
                    parameters=parameters,
                    # The schedule tells its recipients and, of a failure, its owner (schedules/channels.py).
                    notify={"email": False, "sms": False},
                    schedule_id=schedule.id,
                )
        except (ReportError, ParameterError) as error:
            run.error = str(error) or type(error).__name__
            run.save(update_fields=["error", "started_at"])
            event_record(
                user_id=schedule.owner_id,
                event_type=SCHEDULE_RUN_FAILED_EVENT,
                data={"schedule": {"id": schedule.id, "name": schedule.name}, "error": run.error},
            )
            transaction.on_commit(partial(schedule_run_ended, schedule.id))
            return run
        run.report = requested.report
        run.save(update_fields=["report", "started_at"])
    return run


def schedule_run_ended(schedule_id: str) -> None:
    """A run of the schedule ended (its report finished, or it could not be requested): count the failed runs in a
    row since the last success; at SCHEDULE_MAX_FAILURES the schedule is disabled, and its owner told. Counted
    from the runs themselves, so hearing of one end twice changes nothing."""
    limit = settings.SCHEDULE_MAX_FAILURES
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            return
        streak = 0
        for report_status, error in schedule.runs.order_by("-due_at", "-created_at").values_list(
            "report__status", "error"
        )[: limit + 10]:
            if error or report_status == "failed":
                streak += 1
            elif report_status in ("succeeded", "expired"):
                break
        schedule.consecutive_failures = streak
        disable = schedule.enabled and streak >= limit
        if disable:
            schedule.enabled, schedule.next_run_at = False, None
        schedule.save(update_fields=["consecutive_failures", "enabled", "next_run_at", "updated_at"])
        if disable:
            event_record(
                user_id=schedule.owner_id,
                event_type=SCHEDULE_DISABLED_EVENT,
                data={"schedule": {"id": schedule.id, "name": schedule.name, "failures": streak}},
            )


def schedule_unsubscribe(*, schedule_id: str, address: str) -> bool:
    """Remove the address from the schedule's recipients (an unsubscribe link); False when it was not there."""
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            return False
        kept = [known for known in schedule.recipients if known.lower() != address.lower()]
        if len(kept) == len(schedule.recipients):
            return False
        schedule.recipients = kept
        schedule.save(update_fields=["recipients", "updated_at"])
    return True
