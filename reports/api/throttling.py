"""Per-user rate limit on creating reports (SPEC §4.3), counted in the cache (Redis)."""

import logging

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle

logger = logging.getLogger(__name__)


class ReportCreateRateThrottle(UserRateThrottle):
    """REPORT_CREATE_RATE per user on POST; reads are never throttled here.

    Fails open: without Redis the count is unknown, and a POST is let through rather than turned into a 500."""

    scope = "report_create"

    def get_rate(self) -> str | None:
        # Read at each request rather than from DRF's class-level copy, so the setting can change in tests.
        return settings.REPORT_CREATE_RATE

    def allow_request(self, request: Request, view) -> bool:
        if request.method != "POST":
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("Rate limit not checked: the cache is unavailable", exc_info=True)
            return True
