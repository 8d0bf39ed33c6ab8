"""The per-user rate of new reports (SPEC §4.3, §19), one of the gates in front of every new report with load
shedding (reports/overload.py). `report_create` checks both, so the API, the web UI, the admin's export and a retry
pass the same gates and none of them goes around the others."""

import logging
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from redis.exceptions import RedisError
from rest_framework.throttling import UserRateThrottle

from reports.errors import ReportRateLimited

logger = logging.getLogger(__name__)


class _ReportCreateRate(UserRateThrottle):
    """DRF's sliding-window count in the cache, per user, keyed as the API's throttle always was."""

    scope = "report_create"

    def __init__(self, rate: str) -> None:  # the rate of now, not DRF's class-level copy of the settings
        self.rate = rate
        self.num_requests, self.duration = self.parse_rate(rate)


def report_rate_check(user: AbstractBaseUser) -> None:
    """Raise ReportRateLimited when the user asked for REPORT_CREATE_RATE reports already.

    Fails open: without Redis the count is unknown, and the report is let through rather than refused."""
    rate = settings.REPORT_CREATE_RATE
    if not rate:
        return
    throttle = _ReportCreateRate(rate)
    try:
        allowed = throttle.allow_request(SimpleNamespace(user=user), None)
    except RedisError:
        logger.warning("Rate limit not checked: the cache is unavailable", exc_info=True)
        return
    if not allowed:
        wait = throttle.wait() or 1
        raise ReportRateLimited(
            f"Too many reports asked for (at most {rate}); try again in {max(1, round(wait))} s.",
            retry_after=max(1, round(wait)),
        )
