"""Per-key rate limits for services (SPEC §4.3, §19), counted in the shared cache (Redis) with DRF's sliding window:
the same count whichever surface (API, UI, admin) the call came through."""

import logging

from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class RateLimited(Exception):
    """Over the rate; `retry_after` says in how many seconds to try again. Nothing was done."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class _Window(SimpleRateThrottle):
    def __init__(self, scope: str, ident: str, rate: str) -> None:  # the rate of now, not DRF's class-level copy
        self.scope, self.ident, self.rate = scope, ident, rate
        self.num_requests, self.duration = self.parse_rate(rate)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}


def rate_wait(*, scope: str, ident: str, rate: str | None) -> int | None:
    """Count one more call of `ident` in `scope`; None when it is within `rate` ("60/min"), else the seconds to wait.

    Fails open: without Redis the count is unknown, and the call is let through rather than refused."""
    if not rate:
        return None
    window = _Window(scope, ident, rate)
    try:
        if window.allow_request(None, None):
            return None
    except RedisError:
        logger.warning("Rate limit %s not checked: the cache is unavailable", scope, exc_info=True)
        return None
    return max(1, round(window.wait() or 1))
