"""Confirming a phone number (SPEC §19): SMS go only to a number its owner confirmed with a code texted to it.

A new number is stored unconfirmed and a 6-digit code texted to it at once, through the SMS backend directly: it is
no report notification, and the user is waiting for it. The code is kept only as a hash keyed with SECRET_KEY,
works for PHONE_CODE_TTL and PHONE_CODE_MAX_TRIES wrong guesses, and a new one replaces it. How often codes go is
throttled on its own (sms_limits.PHONE_CODE_WINDOWS), apart from the daily limit of report SMS.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from notifications.messages import composing, sms_limits
from notifications.messages.sms import get_sms_backend
from notifications.models import NotificationPreferences, PhoneConfirmation, SmsPurpose, SmsSend

logger = logging.getLogger(__name__)

NO_PHONE = "Set a phone number first."
ALREADY_CONFIRMED = "This phone number is already confirmed."
NO_CODE = "No code is waiting for this number: ask for one."
CODE_EXPIRED = "This code has expired: ask for a new one."
CODE_USED_UP = "Too many wrong codes: ask for a new one."
CODE_NOT_SENT = "The code could not be sent; try again in a minute."
ERROR_LIMIT = 500


class PhoneNumberUnusable(ValueError):
    """There is no number to confirm, or SMS may not go to it; the message is about the `phone_number` field."""


class PhoneAlreadyConfirmed(Exception):
    """A code for a number that needs none: answered as a conflict, not as a mistake."""


class PhoneCodeInvalid(ValueError):
    """The code entered does not confirm the number; the message is about the `code` field."""


class PhoneCodeThrottled(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"Too many codes were sent to you lately; try again in {retry_after} s.")
        self.retry_after = retry_after


class PhoneCodeNotSent(Exception):
    """The SMS backend failed; the error is on the code's SmsSend row."""


@dataclass(frozen=True)
class IssuedCode:
    """A code stored and counted, to be texted once its transaction has committed."""

    user_id: int
    phone_number: str
    code: str
    code_hash: str
    send_id: int


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _code_hash(*, user_id: int, phone_number: str, code: str) -> str:
    # Keyed: six digits are a million guesses, which a plain hash would give away to whoever reads the table.
    value = f"{user_id}:{phone_number}:{code}"
    return salted_hmac("notifications.phone-code", value, algorithm="sha256").hexdigest()


def phone_code_issue(*, preferences: NotificationPreferences, now: datetime) -> IssuedCode:
    """A new code for the preferences' number, replacing any other, counted against the throttle. Call in a
    transaction with the preferences row locked, then `phone_code_send` after it commits. Raises PhoneCodeThrottled
    (the caller's transaction then leaves nothing behind)."""
    wait = sms_limits.phone_code_wait(user_id=preferences.user_id, now=now)
    if wait > 0:
        raise PhoneCodeThrottled(wait)
    number, code = str(preferences.phone_number), new_code()
    code_hash = _code_hash(user_id=preferences.user_id, phone_number=number, code=code)
    PhoneConfirmation.objects.update_or_create(
        user_id=preferences.user_id,
        defaults={
            "phone_number": number,
            "code_hash": code_hash,
            "created_at": now,
            "expires_at": now + sms_limits.PHONE_CODE_TTL,
            "failed_attempts": 0,
        },
    )
    send = SmsSend.objects.create(
        user_id=preferences.user_id, purpose=SmsPurpose.PHONE_CODE, phone_number=number, created_at=now
    )
    return IssuedCode(preferences.user_id, number, code, code_hash, send.id)


def phone_code_send(issued: IssuedCode) -> None:
    """Text the code now, outside any transaction: the backend may take up to its timeout. A failure is kept on the
    code's SmsSend row and drops the code nobody received; raises PhoneCodeNotSent."""
    minutes = int(sms_limits.PHONE_CODE_TTL.total_seconds() // 60)
    message = composing.phone_code_sms(to=issued.phone_number, code=issued.code, valid_minutes=minutes)
    try:
        get_sms_backend().send(message)
    except Exception as error:  # a backend's error of any kind (network, provider API)
        text = f"{type(error).__name__}: {error}".strip(": ")[:ERROR_LIMIT]
        logger.warning("The confirmation code for user %s could not be sent: %s", issued.user_id, text)
        SmsSend.objects.filter(pk=issued.send_id).update(error=text)
        PhoneConfirmation.objects.filter(user_id=issued.user_id, code_hash=issued.code_hash).delete()
        raise PhoneCodeNotSent(CODE_NOT_SENT) from error


def _locked_preferences(user: AbstractBaseUser) -> NotificationPreferences:
    """The user's preferences, locked, with a number that is not confirmed yet; else PhoneNumberUnusable or
    PhoneAlreadyConfirmed."""
    preferences = NotificationPreferences.objects.select_for_update().filter(user=user).first()
    if preferences is None or not preferences.phone_number:
        raise PhoneNumberUnusable(NO_PHONE)
    if preferences.phone_confirmed:
        raise PhoneAlreadyConfirmed(ALREADY_CONFIRMED)
    return preferences


def phone_code_resend(*, user: AbstractBaseUser) -> NotificationPreferences:
    """Text a new code to the user's unconfirmed number (the previous one stops working). Raises
    PhoneNumberUnusable, PhoneAlreadyConfirmed, PhoneCodeThrottled or PhoneCodeNotSent."""
    with transaction.atomic():
        preferences = _locked_preferences(user)
        refusal = sms_limits.country_refusal(preferences.phone_number)
        if refusal:
            raise PhoneNumberUnusable(refusal)
        issued = phone_code_issue(preferences=preferences, now=timezone.now())
    phone_code_send(issued)
    return preferences


def _code_problem(pending: PhoneConfirmation | None, *, user_id: int, code: str, now: datetime) -> str | None:
    """Why the code does not confirm the number, or None when it does. A wrong guess is counted on `pending`."""
    if pending is None:
        return NO_CODE
    if pending.failed_attempts >= sms_limits.PHONE_CODE_MAX_TRIES:
        return CODE_USED_UP
    if pending.expires_at <= now:
        return CODE_EXPIRED
    expected = _code_hash(user_id=user_id, phone_number=str(pending.phone_number), code=code)
    if constant_time_compare(pending.code_hash, expected):
        return None
    pending.failed_attempts += 1
    pending.save(update_fields=["failed_attempts"])
    left = sms_limits.PHONE_CODE_MAX_TRIES - pending.failed_attempts
    if left <= 0:
        return CODE_USED_UP
    return f"That code is not right; {left} {'try' if left == 1 else 'tries'} left."


def phone_confirm(*, user: AbstractBaseUser, code: str) -> NotificationPreferences:
    """Confirm the user's number with the code texted to it. Raises PhoneCodeInvalid (a wrong guess is counted
    all the same), PhoneNumberUnusable or PhoneAlreadyConfirmed."""
    now = timezone.now()
    with transaction.atomic():
        preferences = _locked_preferences(user)
        pending = PhoneConfirmation.objects.filter(user=user, phone_number=preferences.phone_number).first()
        problem = _code_problem(pending, user_id=user.pk, code=code, now=now)
        if problem is None:
            preferences.phone_confirmed_at = now
            preferences.save(update_fields=["phone_confirmed_at", "updated_at"])
            pending.delete()
    # Raised once the block has committed, so that the wrong guess stays counted.
    if problem is not None:
        raise PhoneCodeInvalid(problem)
    return preferences
