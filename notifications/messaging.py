"""Writes on the email and SMS log (SPEC §8): the event sink that decides who gets what, the sends that the
`notifications` queue works through, resends. The admin and the jobs use these.

A message is one row per (event, channel, recipient). The sink only creates rows and enqueues their sends after
the commit; a send that fails is retried on NOTIFY_RETRY_SCHEDULE and ends `failed` with its error. Nothing here
can fail or delay the report: it is final before its event reaches the sink.
"""

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications import jobs, selectors
from notifications.composing import send_message
from notifications.models import NotificationChannel, NotificationMessage, NotificationPreferences, NotificationStatus
from reports.models import Report

logger = logging.getLogger(__name__)

NOTIFIED_EVENT_TYPES = ("report.succeeded", "report.failed")
# A send holds its message this long; more than the job's timeout, so a lease never runs out under a live send.
SEND_LEASE = timedelta(seconds=jobs.SEND_JOB_TIMEOUT * 2)
# Jobs that arrive a little before their message is due (another host's clock) still send it.
CLOCK_SLACK = timedelta(seconds=2)
# A pending message this late was lost on its way to the queue (Redis was down, a worker died mid-send).
OVERDUE_AFTER = timedelta(seconds=60)


class MessageInFlight(Exception):
    """The message is being sent right now; it can be sent again once this attempt is recorded."""


# --- Who gets what -------------------------------------------------------------------------------------------------


def channel_wanted(
    channel: str, *, preferences: NotificationPreferences, notify: dict[str, bool], succeeded: bool
) -> bool:
    """The report's override when it names the channel (for success and failure alike), else the preference."""
    if channel in notify:
        return bool(notify[channel])
    return getattr(preferences, f"{channel}_on_{'success' if succeeded else 'failure'}")


def recipients_for(
    *, user: AbstractBaseUser, preferences: NotificationPreferences, notify: dict[str, bool], succeeded: bool
) -> list[tuple[str, str]]:
    """(channel, recipient) pairs for a finished report; a channel without an address is left out."""
    addresses = {
        NotificationChannel.EMAIL: user.email,
        NotificationChannel.SMS: str(preferences.phone_number) if preferences.phone_number else "",
    }
    return [
        (channel, address)
        for channel, address in addresses.items()
        if address and channel_wanted(channel, preferences=preferences, notify=notify, succeeded=succeeded)
    ]


def notifications_fan_out(event: dict[str, Any], *, user_id: int, callback_url: str = "") -> list[NotificationMessage]:
    """The event sink: one message per (event, channel, recipient) that the requester wants, sent by jobs enqueued
    once the rows are committed. Idempotent: the same event twice creates and sends nothing new."""
    if event["type"] not in NOTIFIED_EVENT_TYPES:
        return []
    report_id = event["data"]["report"]["id"]
    report = Report.objects.select_related("requested_by").filter(pk=report_id, requested_by_id=user_id).first()
    if report is None:
        return []
    user = report.requested_by
    preferences = selectors.preferences_get(user=user)
    now = timezone.now()
    messages = [
        NotificationMessage(
            user=user,
            report=report,
            channel=channel,
            recipient=recipient,
            event_id=event["id"],
            event_type=event["type"],
            payload=event,
            next_attempt_at=now,
        )
        for channel, recipient in recipients_for(
            user=user, preferences=preferences, notify=report.notify, succeeded=event["type"] == "report.succeeded"
        )
    ]
    if not messages:
        return []
    with transaction.atomic():
        created = NotificationMessage.objects.bulk_create(messages, ignore_conflicts=True)
        ids = list(
            NotificationMessage.objects.filter(pk__in=[message.id for message in created]).values_list("id", flat=True)
        )
        transaction.on_commit(partial(jobs.enqueue_sends, ids))
    return [message for message in messages if message.id in ids]


# --- Sending -------------------------------------------------------------------------------------------------------


def _claim(message_id: str, now) -> NotificationMessage | None:
    """Hold a due, pending message for this send; None when it is sent, failed, not due yet, or held by another."""
    lease = now + SEND_LEASE
    claimed = (
        NotificationMessage.objects.filter(
            pk=message_id, status=NotificationStatus.PENDING, next_attempt_at__lte=now + CLOCK_SLACK
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=lease)
    )
    if not claimed:
        return None
    return NotificationMessage.objects.select_related("user", "report").get(pk=message_id)


def notification_send(*, message_id: str) -> NotificationMessage | None:
    """Attempt one message now, record the outcome, and schedule its retry after a failure. Running it for a
    message that is sent, failed for good, not due yet or being sent elsewhere does nothing."""
    now = timezone.now()
    message = _claim(message_id, now)
    if message is None:
        return NotificationMessage.objects.filter(pk=message_id).first()
    attempts = message.attempts + 1
    held = NotificationMessage.objects.filter(pk=message.pk, claimed_until=message.claimed_until)
    try:
        provider_message_id = send_message(message)
    except Exception as error:  # noqa: BLE001 - any backend error (SMTP, socket, provider API) is a failed attempt
        error_text = (f"{type(error).__name__}: {error}".strip(": "))[:500]
        schedule = settings.NOTIFY_RETRY_SCHEDULE
        update: dict[str, Any] = {"attempts": attempts, "last_error": error_text, "last_attempt_at": now}
        update["claimed_until"] = None
        if attempts < len(schedule):
            delay = schedule[attempts]
            update.update(status=NotificationStatus.PENDING, next_attempt_at=timezone.now() + timedelta(seconds=delay))
            logger.warning("%s %s failed (attempt %d), retrying in %ss: %s", *_ids(message), attempts, delay, error)
            with transaction.atomic():
                if held.update(**update):
                    transaction.on_commit(partial(jobs.enqueue_send, message.id, delay=delay))
        else:
            update.update(status=NotificationStatus.FAILED, next_attempt_at=None)
            logger.error("%s %s failed for good after %d attempts: %s", *_ids(message), attempts, error)
            held.update(**update)
    else:
        held.update(
            status=NotificationStatus.SENT,
            attempts=attempts,
            last_error="",
            last_attempt_at=now,
            sent_at=timezone.now(),
            next_attempt_at=None,
            claimed_until=None,
            provider_message_id=(provider_message_id or "")[:200],
        )
    message.refresh_from_db()
    return message


def _ids(message: NotificationMessage) -> tuple[str, str]:
    return message.channel, message.id


def notification_resend(*, message: NotificationMessage) -> NotificationMessage:
    """Send a message again now, whatever its outcome so far, with a fresh set of retries; not while it is being
    sent."""
    now = timezone.now()
    not_in_flight = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    with transaction.atomic():
        updated = (
            NotificationMessage.objects.filter(pk=message.pk)
            .filter(not_in_flight)
            .update(status=NotificationStatus.PENDING, attempts=0, next_attempt_at=now, claimed_until=None)
        )
        if not updated:
            raise MessageInFlight("The message is being sent right now; try again in a moment.")
        transaction.on_commit(partial(jobs.enqueue_send, message.id))
    message.refresh_from_db()
    return message


def notifications_requeue_overdue(*, now=None) -> int:
    """Enqueue again the pending messages whose send never happened: the enqueue failed (Redis was down) or the
    worker died while sending. A safety net run by the scheduler; a message sent twice is better than none."""
    now = now or timezone.now()
    overdue = list(
        NotificationMessage.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lt=now - OVERDUE_AFTER)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .values_list("id", flat=True)[:500]
    )
    jobs.enqueue_sends(overdue)
    return len(overdue)


def notifications_resend_for_reports(*, report_ids: list[str]) -> tuple[int, list[str]]:
    """Send every email and SMS of these reports again (the admin's action on reports). Returns how many were queued
    and the ids of those being sent right now, which are left alone."""
    queued, busy = 0, []
    for message in NotificationMessage.objects.filter(report_id__in=report_ids):
        try:
            notification_resend(message=message)
        except MessageInFlight:
            busy.append(message.id)
        else:
            queued += 1
    return queued, busy
