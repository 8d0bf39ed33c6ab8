"""When a schedule runs (SPEC §18): a 5-field cron expression read as wall-clock time in the schedule's own
timezone, with zoneinfo's rules for daylight saving.

croniter walks the wall clock (naive local times); each time is then placed on the timeline. A time that the clock
skips (02:30 on a spring-forward day) runs once, at the end of the gap (03:00): the next valid time. A time that
the clock shows twice (02:30 on a fall-back day) runs once, at its first occurrence. So a schedule never runs twice
for one of its times, and never skips a day."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter


class ScheduleTimingInvalid(ValueError):
    """A cron expression or timezone that cannot be used; the message says why, for the field it names."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def cron_clean(expression: str) -> str:
    """The expression with single spaces, if it is 5 valid cron fields (minute hour day month weekday)."""
    fields = str(expression).split()
    if len(fields) != 5:
        raise ScheduleTimingInvalid("cron", "Five fields: minute hour day-of-month month day-of-week, e.g. 0 7 * * 1.")
    cleaned = " ".join(fields)
    if not croniter.is_valid(cleaned):
        raise ScheduleTimingInvalid("cron", f"{cleaned!r} is not a valid cron expression.")
    return cleaned


def zone_clean(name: str) -> ZoneInfo:
    """The IANA timezone of that name (Europe/Berlin, America/New_York, UTC)."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleTimingInvalid("timezone", f"{name!r} is not an IANA timezone, such as Europe/Berlin.") from None


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def instant_of(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (in UTC) at which the local clock shows `wall`, or the first after it when the clock skips
    it."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == wall:
        return first
    # In a gap: from the instant before the jump, the first minute whose local time is at least `wall`.
    instant = wall.replace(tzinfo=zone, fold=1).astimezone(UTC).replace(second=0, microsecond=0)
    while _wall(instant, zone) < wall:
        instant += timedelta(minutes=1)
    return instant


def runs_after(cron: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """The schedule's run times strictly after `after` (aware), in order, as aware UTC datetimes."""
    times = croniter(cron, _wall(after, zone))
    last = after
    while True:
        instant = instant_of(times.get_next(datetime), zone)
        if instant > last:  # two skipped times that land on one gap's end run once
            last = instant
            yield instant


def next_run_after(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    return next(runs_after(cron, zone, after))


def next_runs(cron: str, zone: ZoneInfo, after: datetime, count: int = 5) -> list[datetime]:
    runs = runs_after(cron, zone, after)
    return [next(runs) for _ in range(count)]


def upcoming(cron: str, zone_name: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next run times of a cron and a timezone as a form gives them, in that timezone: what the UI shows and
    the API answers. Raises ScheduleTimingInvalid for either."""
    cron, zone = cron_clean(cron), zone_clean(zone_name)
    return [time.astimezone(zone) for time in next_runs(cron, zone, after, count)]
