"""Periodic work, run by RQ's own cron scheduler: `python manage.py rqcron reports.cron`."""

from rq import cron

from reports.periodic import expire_reports, reap_stuck_reports

cron.register(reap_stuck_reports, queue_name="reports", interval=60)
cron.register(expire_reports, queue_name="reports", cron="17 * * * *")
