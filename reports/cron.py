"""Periodic work, run by RQ's own cron scheduler: `python manage.py rqcron reports.cron`."""

from django.conf import settings
from rq import cron

from notifications.jobs import kick_delivery, requeue_overdue_notifications
from reports.periodic import expire_reports, purge_idempotency_keys, reap_stuck_reports

cron.register(reap_stuck_reports, queue_name="reports", interval=settings.REPORT_REAPER_INTERVAL_SECONDS)
cron.register(expire_reports, queue_name="reports", cron="17 * * * *")
cron.register(purge_idempotency_keys, queue_name="reports", cron="43 * * * *")
# A safety net behind the wake-up that each delivery run schedules for the next retry.
cron.register(kick_delivery, queue_name="notifications", interval=60)
# Emails and SMS whose send job never ran (Redis was down when it was due, or its worker died).
cron.register(requeue_overdue_notifications, queue_name="notifications", interval=60)
