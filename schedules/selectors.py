"""Reads of schedules, scoped to the user asking."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from common.ids import looks_like_id
from schedules.models import Schedule, ScheduleRun


def schedule_list(*, user: AbstractBaseUser) -> QuerySet[Schedule]:
    return Schedule.objects.filter(owner=user).order_by("name", "id")


def schedule_get(*, user: AbstractBaseUser, schedule_id: str) -> Schedule | None:
    if not looks_like_id(schedule_id):
        return None
    return Schedule.objects.filter(owner=user, pk=schedule_id).first()


def schedule_runs(*, schedule: Schedule) -> QuerySet[ScheduleRun]:
    """The schedule's runs, newest first, each with its report (one query)."""
    return schedule.runs.select_related("report").order_by("-due_at", "-created_at")


def recipient_domains() -> set[str] | None:
    """The domains a schedule may send to (SCHEDULE_RECIPIENT_DOMAINS), by default those of the users' own addresses;
    None when any domain will do (`*`)."""
    configured = settings.SCHEDULE_RECIPIENT_DOMAINS
    if configured == ["*"]:
        return None
    if configured:
        return {domain.lower() for domain in configured}
    emails = get_user_model().objects.exclude(email="").values_list("email", flat=True)
    return {email.rpartition("@")[2].lower() for email in emails}
