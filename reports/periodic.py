"""Jobs the cron scheduler enqueues. Thin: each calls one service."""

from django.conf import settings

from reports.idempotency import idempotency_keys_purge
from reports.services import reports_expire, reports_reap_stuck


def reap_stuck_reports() -> dict[str, int]:
    return reports_reap_stuck(grace_seconds=settings.REPORT_STUCK_GRACE_SECONDS)


def expire_reports() -> int:
    return reports_expire()


def purge_idempotency_keys() -> int:
    return idempotency_keys_purge()
