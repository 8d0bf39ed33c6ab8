"""Writes on notification preferences (SPEC §8): made on first use, changed by the API, the UI and the admin under
the same rules. A new phone number is stored unconfirmed and a code texted to it (phone.py, SPEC §19)."""

import contextlib
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.messages import phone, sms_limits
from notifications.models import NotificationPreferences, PhoneConfirmation

PREFERENCE_FIELDS = ("email_on_success", "email_on_failure", "sms_on_success", "sms_on_failure", "phone_number")
SMS_NEEDS_PHONE = "A phone number is needed to receive SMS."


class PreferencesInvalid(ValueError):
    """Field messages, keyed by field name."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items()))
        self.errors = errors


def preferences_for(*, user: AbstractBaseUser) -> NotificationPreferences:
    """The user's preferences, made (with the defaults) on first use."""
    try:
        return NotificationPreferences.objects.get_or_create(user=user)[0]
    except IntegrityError:  # made by a concurrent first use
        return NotificationPreferences.objects.get(user=user)


def preferences_problems(preferences: NotificationPreferences) -> dict[str, list[str]]:
    """What is wrong with a set of preferences as a whole (each field is valid on its own)."""
    if (preferences.sms_on_success or preferences.sms_on_failure) and not preferences.phone_number:
        return {"phone_number": [SMS_NEEDS_PHONE]}
    return {}


def preferences_update(*, user: AbstractBaseUser, **changes: Any) -> NotificationPreferences:
    """Change some of the user's preferences; `phone_number` is a valid PhoneNumber, or "" to remove it.

    A new number must be in SMS_ALLOWED_COUNTRY_CODES; it is stored unconfirmed and a code is texted to it. When no
    code may be sent yet, PhoneCodeThrottled is raised and nothing changes. A code the backend fails to send leaves
    the change made with no code waiting: the user asks for another."""
    unknown = set(changes) - set(PREFERENCE_FIELDS)
    if unknown:
        raise TypeError(f"Not a preference: {', '.join(sorted(unknown))}")
    issued = None
    with transaction.atomic():  # a refused change leaves nothing behind, not even a first row
        preferences_for(user=user)
        preferences = NotificationPreferences.objects.select_for_update().get(user=user)
        previous_number = str(preferences.phone_number or "")
        for field, value in changes.items():
            setattr(preferences, field, "" if field == "phone_number" and value is None else value)
        problems = preferences_problems(preferences)
        number_changed = str(preferences.phone_number or "") != previous_number
        new_number = preferences.phone_number if number_changed else None
        refusal = sms_limits.country_refusal(new_number) if new_number else None
        if refusal:
            problems.setdefault("phone_number", []).append(refusal)
        if problems:
            raise PreferencesInvalid(problems)
        fields = [*changes, "updated_at"]
        if number_changed:
            preferences.phone_confirmed_at = None
            fields.append("phone_confirmed_at")
            PhoneConfirmation.objects.filter(user=user).delete()
            if preferences.phone_number:
                issued = phone.phone_code_issue(preferences=preferences, now=timezone.now())
        preferences.save(update_fields=fields)
    if issued is not None:
        with contextlib.suppress(phone.PhoneCodeNotSent):  # logged on its row; no code is waiting
            phone.phone_code_send(issued)
    return preferences
