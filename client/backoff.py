"""How long to wait between two requests: exponential backoff with full jitter, floored by the server's
`Retry-After`, within an overall deadline.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads many clients that started together, so
that they do not poll in lock step after a deploy or an outage. `Retry-After` is a floor: the server knows when an
answer can change, and asking sooner only costs both sides a request.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Backoff:
    """`initial` seconds, times `multiplier` per attempt, never above `maximum` (the longest gap between polls)."""

    initial: float = 0.5
    multiplier: float = 2.0
    maximum: float = 30.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.multiplier < 1 or self.maximum < self.initial:
            raise ValueError("backoff needs 0 < initial <= maximum and multiplier >= 1")

    def ceiling(self, attempt: int) -> float:
        """The largest delay for the attempt-th retry (0-based); capped before the power can overflow."""
        if attempt > 64:
            return self.maximum
        return min(self.maximum, self.initial * self.multiplier**attempt)

    def delay(self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """A full-jitter draw for this attempt, raised to `retry_after` when the server asked for more."""
        jittered = (rng or random).uniform(0.0, self.ceiling(attempt))
        return jittered if retry_after is None else max(jittered, retry_after)


class Deadline:
    """An overall time budget on a monotonic clock; `None` seconds means no deadline."""

    def __init__(self, seconds: float | None, clock: Clock = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._end = math.inf if seconds is None else clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self.clock())

    @property
    def expired(self) -> bool:
        return self.clock() >= self._end


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if absent or
    unreadable, 0 for a date in the past."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
