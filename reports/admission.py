"""The per-user rate of new reports (SPEC §4.3, §19), one of the gates in front of every new report with load
shedding (reports/overload.py). `report_create` checks both, so the API, the web UI, the admin's export and a retry
pass the same gates and none of them goes around the others."""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from common.rate_limits import rate_wait
from reports.errors import ReportRateLimited


def report_rate_check(user: AbstractBaseUser) -> None:
    """Raise ReportRateLimited when the user asked for REPORT_CREATE_RATE reports already (keyed as the API's
    throttle always was, so a deploy keeps the counts)."""
    rate = settings.REPORT_CREATE_RATE
    wait = rate_wait(scope="report_create", ident=str(user.pk), rate=rate)
    if wait is not None:
        raise ReportRateLimited(
            f"Too many reports asked for (at most {rate}); try again in {wait} s.", retry_after=wait
        )
