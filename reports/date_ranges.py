"""The date-range parameters shared by report types that look back over a period, and the small statistics they use."""

from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from reports.parameters import ParameterError

DEFAULT_DAYS = 30
MAX_DAYS = 366

DATE_RANGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "start_date": {"type": "string", "format": "date", "title": "From (inclusive)"},
        "end_date": {"type": "string", "format": "date", "title": "To (inclusive)"},
    },
    "additionalProperties": False,
}


def clean_date_range(parameters: dict[str, Any]) -> dict[str, Any]:
    """Fill in the last DEFAULT_DAYS days where dates are missing; refuse a reversed or over-long range."""
    end = date.fromisoformat(parameters["end_date"]) if parameters.get("end_date") else timezone.localdate()
    start = (
        date.fromisoformat(parameters["start_date"])
        if parameters.get("start_date")
        else end - timedelta(days=DEFAULT_DAYS - 1)
    )
    if start > end:
        raise ParameterError({"start_date": ["Must not be after end_date."]})
    if (end - start).days >= MAX_DAYS:
        raise ParameterError({"end_date": [f"The range may cover at most {MAX_DAYS} days."]})
    return {**parameters, "start_date": start.isoformat(), "end_date": end.isoformat()}


def parsed_range(parameters: dict[str, Any]) -> tuple[date, date]:
    return date.fromisoformat(parameters["start_date"]), date.fromisoformat(parameters["end_date"])


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The aware datetimes from the start of `start` to the start of the day after `end`, in the site's zone."""
    zone = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(start, time.min), zone),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), zone),
    )


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]
