"""The SMS limits of SPEC §19, against toll fraud, in one place: where SMS may go (SMS_ALLOWED_COUNTRY_CODES), how
many report SMS a user gets in any 24 hours (SMS_DAILY_LIMIT), and how often a confirmation code may be texted.

Both counts are of `SmsSend` rows, taken with the user's preferences row locked, so that two delivery runs (or two
requests) cannot both take the last SMS. Report SMS are counted when prepared rather than when recorded as sent:
the deliveries of one run are all prepared before any is sent.
"""

import math
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from events.models import Delivery
from notifications.models import NotificationPreferences, SmsPurpose, SmsSend

DAILY_WINDOW = timedelta(hours=24)
PHONE_CODE_TTL = timedelta(minutes=10)
# Wrong guesses a code survives; a 6-digit code then has 5 chances in a million.
PHONE_CODE_MAX_TRIES = 5
# (window, codes allowed in it), per user: one a minute, five an hour, ten a day.
PHONE_CODE_WINDOWS = ((timedelta(minutes=1), 1), (timedelta(hours=1), 5), (timedelta(days=1), 10))


class SmsRefused(Exception):
    """A report SMS that must not go; the message says why, for the delivery log."""


def country_refusal(number: PhoneNumber | str) -> str | None:
    """Why SMS may not go to this number's country (a PhoneNumber, or E.164 text), or None."""
    allowed = settings.SMS_ALLOWED_COUNTRY_CODES
    if not allowed:
        return None
    try:
        country_code = phonenumbers.parse(str(number)).country_code
    except phonenumbers.NumberParseException:
        country_code = None
    if country_code in allowed:
        return None
    codes = [f"+{code}" for code in allowed]
    listed = codes[0] if len(codes) == 1 else f"{', '.join(codes[:-1])} or {codes[-1]}"
    return f"SMS can only go to numbers with country code {listed}."


def report_sms_reserve(*, delivery: Delivery) -> None:
    """Check that this attempt at a report SMS may go (to the user's confirmed number, in an allowed country, within
    the daily limit) and count it. Raises SmsRefused. Preparing the same attempt again (after a run died) counts it
    once."""
    user_id = delivery.event.user_id
    attempt_number = delivery.attempt_count + 1
    now = timezone.now()
    with transaction.atomic():
        preferences = NotificationPreferences.objects.select_for_update().filter(user_id=user_id).first()
        if preferences is None or str(preferences.phone_number or "") != delivery.target:
            raise SmsRefused("Not sent: the phone number was changed.")
        if not preferences.phone_confirmed:
            raise SmsRefused("Not sent: the phone number is not confirmed.")
        refusal = country_refusal(delivery.target)
        if refusal:
            raise SmsRefused(f"Not sent: {refusal}")
        sends = SmsSend.objects.filter(purpose=SmsPurpose.REPORT)
        if sends.filter(delivery_id=delivery.id, attempt_number=attempt_number).exists():
            return
        limit = settings.SMS_DAILY_LIMIT
        if sends.filter(user_id=user_id, created_at__gt=now - DAILY_WINDOW).count() >= limit:
            raise SmsRefused(f"Not sent: daily SMS limit reached ({limit} in 24 hours).")
        SmsSend.objects.create(
            user_id=user_id,
            purpose=SmsPurpose.REPORT,
            phone_number=delivery.target,
            delivery_id=delivery.id,
            attempt_number=attempt_number,
            created_at=now,
        )


def report_sms_release(*, delivery: Delivery) -> None:
    """Uncount an attempt that failed (nothing was sent); `delivery` as it was when the attempt was made."""
    SmsSend.objects.filter(
        purpose=SmsPurpose.REPORT, delivery_id=delivery.id, attempt_number=delivery.attempt_count + 1
    ).delete()


def phone_code_wait(*, user_id: int, now: datetime) -> int:
    """Seconds until another code may be texted to the user (0: now). Call with their preferences row locked."""
    longest = max(window for window, _ in PHONE_CODE_WINDOWS)
    most = max(allowed for _, allowed in PHONE_CODE_WINDOWS)
    sent = list(
        SmsSend.objects.filter(user_id=user_id, purpose=SmsPurpose.PHONE_CODE, created_at__gt=now - longest)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:most]
    )
    wait = timedelta(0)
    for window, allowed in PHONE_CODE_WINDOWS:
        recent = [sent_at for sent_at in sent if sent_at > now - window]
        if len(recent) >= allowed:
            # Another may go once the oldest of the last `allowed` leaves the window.
            wait = max(wait, recent[allowed - 1] + window - now)
    return math.ceil(wait.total_seconds())


def sms_sends_purge(*, now: datetime | None = None) -> int:
    """Forget SMS counted longer ago than EVENT_RETENTION_DAYS: long past every limit's window (a day at most), and
    as long as the delivery log they stand beside is kept. Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)
    deleted, _ = SmsSend.objects.filter(created_at__lt=cutoff).delete()
    return deleted
