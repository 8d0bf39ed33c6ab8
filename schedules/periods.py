"""Relative periods for date-range report types (SPEC §18): a schedule stores "the previous week", not two dates,
and each run resolves it to dates in the schedule's timezone, which the report then prints as its parameters.

Periods end with complete days, except month to date: `previous_day`, `previous_week` (Monday to Sunday),
`previous_month`, `last_<N>_days` (the N days before today, 1 to 366) and `month_to_date` (the 1st to today)."""

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reports.date_ranges import MAX_DAYS
from reports.registry import ReportType

PERIOD_KEY = "period"
FIXED_PERIODS = ("previous_day", "previous_week", "previous_month", "month_to_date")
_LAST_DAYS = re.compile(r"last_(\d{1,3})_days")


class PeriodInvalid(ValueError):
    pass


def takes_periods(report_type: ReportType) -> bool:
    """Whether the type looks back over a date range (its parameters have start_date and end_date)."""
    properties = (report_type.parameters_schema or {}).get("properties", {})
    return "start_date" in properties and "end_date" in properties


def period_clean(value: Any) -> str:
    if value in FIXED_PERIODS:
        return value
    match = _LAST_DAYS.fullmatch(value) if isinstance(value, str) else None
    if match and 1 <= int(match.group(1)) <= MAX_DAYS:
        return value
    raise PeriodInvalid(
        f"One of {', '.join(FIXED_PERIODS)}, or last_<N>_days with N from 1 to {MAX_DAYS} (e.g. last_7_days)."
    )


def period_dates(period: str, today: date) -> tuple[date, date]:
    """The first and last day of the period, for a run on `today`."""
    if period == "previous_day":
        return today - timedelta(days=1), today - timedelta(days=1)
    if period == "previous_week":
        monday = today - timedelta(days=today.weekday() + 7)
        return monday, monday + timedelta(days=6)
    if period == "previous_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if period == "month_to_date":
        return today.replace(day=1), today
    days = int(_LAST_DAYS.fullmatch(period).group(1))
    return today - timedelta(days=days), today - timedelta(days=1)


def resolved_parameters(parameters: dict[str, Any], zone: ZoneInfo, at: datetime) -> dict[str, Any]:
    """The parameters a run requests: a `period` replaced by its dates, as of `at` in the schedule's timezone."""
    if PERIOD_KEY not in parameters:
        return dict(parameters)
    start, end = period_dates(parameters[PERIOD_KEY], at.astimezone(zone).date())
    rest = {name: value for name, value in parameters.items() if name != PERIOD_KEY}
    return {**rest, "start_date": start.isoformat(), "end_date": end.isoformat()}
