"""Schedules and their runs (SPEC §18)."""

from django.conf import settings
from django.db import models

from common.ids import new_id


def new_schedule_id() -> str:
    return new_id("sch")


def new_run_id() -> str:
    return new_id("run")


class Schedule(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_schedule_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=200)
    report_type = models.CharField(max_length=64)
    # Checked against the type's schema when saved; a date-range type may hold a relative `period` instead of dates,
    # resolved in the schedule's timezone at each run (schedules/periods.py).
    parameters = models.JSONField(default=dict, blank=True)
    cron = models.CharField(max_length=100, help_text="5 fields: minute hour day-of-month month day-of-week.")
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    recipients = models.JSONField(default=list, blank=True, help_text="Email addresses that get each run's PDF.")
    enabled = models.BooleanField(default=True)
    # The next due time; null while disabled. The tick runs what is due and moves it on, in one transaction.
    next_run_at = models.DateTimeField(null=True, blank=True)
    # Failed runs in a row; SCHEDULE_MAX_FAILURES of them disable the schedule.
    consecutive_failures = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="schedule_due")]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Its schedule"
    MANUAL = "manual", "Run now"


class ScheduleRun(models.Model):
    """One due time of a schedule (or one "run now"), made once: its (schedule, due time) is unique, so however many
    schedulers tick, each due time has one run."""

    id = models.CharField(primary_key=True, max_length=32, default=new_run_id, editable=False)
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="runs")
    due_at = models.DateTimeField()
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.SCHEDULE)
    # The report the run requested; null until it is requested, and when it could not be (`error` says why).
    report = models.ForeignKey("reports.Report", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # When its report was requested (or the request refused); null until its start.
    started_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["schedule", "due_at"], name="one_run_per_due_time")]

    def __str__(self) -> str:
        return f"{self.schedule_id} at {self.due_at:%Y-%m-%d %H:%M} ({self.id})"
