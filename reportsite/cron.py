"""Periodic work, run by RQ's own cron scheduler: `python manage.py rqcron reportsite.cron` (the Procfile's
`scheduler`). The jobs are enqueued here and run by the workers."""

from django.conf import settings
from rq import cron

from common.queues import DELIVERY_QUEUE, REPORTS_QUEUE
from events.jobs import purge_events, sweep_events
from notifications.jobs import purge_sms_sends
from reports.periodic import expire_reports, purge_idempotency_keys, reap_stuck_reports
from schedules.jobs import tick as schedules_tick

cron.register(reap_stuck_reports, queue_name=REPORTS_QUEUE, interval=settings.REPORT_REAPER_INTERVAL_SECONDS)
cron.register(expire_reports, queue_name=REPORTS_QUEUE, cron="17 * * * *")
cron.register(purge_idempotency_keys, queue_name=REPORTS_QUEUE, cron="43 * * * *")
# Events whose fan-out did not finish (their process died right after the commit), and deliveries that are due
# with no run on its way for them (a lost kick): a safety net behind the fan-out and wake-ups of each process.
cron.register(sweep_events, queue_name=DELIVERY_QUEUE, interval=settings.EVENT_SWEEP_INTERVAL_SECONDS)
cron.register(purge_events, queue_name=DELIVERY_QUEUE, cron="29 * * * *")
cron.register(purge_sms_sends, queue_name=DELIVERY_QUEUE, cron="31 * * * *")
# Scheduled reports (SPEC §18): the runs due this minute, each started at its time by the worker's scheduler.
cron.register(schedules_tick, queue_name=REPORTS_QUEUE, cron="* * * * *")
