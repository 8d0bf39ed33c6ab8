"""Input and output shapes of the schedules API (SPEC §18)."""

from datetime import UTC, datetime
from typing import Any

from django.urls import reverse
from rest_framework import serializers

from common.api.serializers import StrictBooleanField, StrictInputSerializer
from reports.api.serializers import ReportOutputSerializer, report_representation
from schedules.models import Schedule, ScheduleRun


class ScheduleInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=200)
    report_type = serializers.CharField(max_length=64)
    parameters = serializers.DictField(
        required=False,
        default=dict,
        help_text="As the type's parameters schema says. A date-range type may take `period` instead of dates: "
        "previous_day, previous_week, previous_month, month_to_date or last_<N>_days, resolved at each run in the "
        "schedule's timezone.",
    )
    cron = serializers.CharField(max_length=100, help_text="5 fields: minute hour day-of-month month day-of-week.")
    timezone = serializers.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=254), required=False, default=list, help_text="Email addresses."
    )
    enabled = StrictBooleanField(required=False, default=True)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run_status(run: ScheduleRun) -> str:
    if run.error:
        return "failed"
    if run.report is not None:
        return run.report.status
    return "pending" if run.started_at is None else "gone"


def run_representation(run: ScheduleRun, request=None) -> dict[str, Any]:
    return {
        "id": run.id,
        "due_at": _time(run.due_at),
        "trigger": run.trigger,
        "started_at": _time(run.started_at),
        "status": run_status(run),
        "error": run.error or None,
        "report": report_representation(run.report, request) if run.report is not None else None,
    }


class RunOutputSerializer(serializers.Serializer):
    """One run (documentation; run_representation writes it)."""

    id = serializers.CharField()
    due_at = serializers.DateTimeField()
    trigger = serializers.ChoiceField(choices=["schedule", "manual"])
    started_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField(help_text="pending, the report's status, or failed (the report was not requested).")
    error = serializers.CharField(allow_null=True)
    report = ReportOutputSerializer(allow_null=True)


class ScheduleOutputSerializer(serializers.Serializer):
    """A schedule (documentation; schedule_representation writes it)."""

    id = serializers.CharField()
    url = serializers.URLField()
    name = serializers.CharField()
    report_type = serializers.CharField()
    parameters = serializers.JSONField()
    cron = serializers.CharField()
    timezone = serializers.CharField()
    recipients = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    next_run_at = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    last_run = RunOutputSerializer(allow_null=True)


def schedule_representation(schedule: Schedule, request, last_run: ScheduleRun | None) -> dict[str, Any]:
    path = reverse("schedules_api:schedule-detail", kwargs={"schedule_id": schedule.id})
    return {
        "id": schedule.id,
        "url": request.build_absolute_uri(path),
        "name": schedule.name,
        "report_type": schedule.report_type,
        "parameters": schedule.parameters,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "recipients": schedule.recipients,
        "enabled": schedule.enabled,
        "next_run_at": _time(schedule.next_run_at),
        "consecutive_failures": schedule.consecutive_failures,
        "last_run": run_representation(last_run, request) if last_run is not None else None,
    }


class NextRunsQuerySerializer(serializers.Serializer):
    cron = serializers.CharField(max_length=100)
    timezone = serializers.CharField(max_length=64, default="UTC")
