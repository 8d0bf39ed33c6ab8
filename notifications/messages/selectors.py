"""Reads of notification preferences and of the email and SMS sent, always scoped to the user asking."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from events.models import Delivery
from notifications.messages.sms_limits import PHONE_CODE_MAX_TRIES
from notifications.models import NotificationPreferences, PhoneConfirmation

MESSAGE_CHANNELS = ("email", "sms")


def preferences_get(*, user: AbstractBaseUser) -> NotificationPreferences:
    """The user's preferences, or the defaults (unsaved) while they have none: reading never writes."""
    preferences = NotificationPreferences.objects.filter(user=user).first()
    return preferences or NotificationPreferences(user=user)


def phone_code_expires_at(*, preferences: NotificationPreferences) -> datetime | None:
    """When the code texted to the (unconfirmed) number stops working; None when no usable code is waiting."""
    if not preferences.phone_number or preferences.phone_confirmed or preferences.pk is None:
        return None
    return (
        PhoneConfirmation.objects.filter(
            user_id=preferences.user_id,
            phone_number=preferences.phone_number,
            expires_at__gt=timezone.now(),
            failed_attempts__lt=PHONE_CODE_MAX_TRIES,
        )
        .values_list("expires_at", flat=True)
        .first()
    )


def message_list(*, user: AbstractBaseUser) -> QuerySet[Delivery]:
    """The emails and SMS sent (or tried) to the user, newest first, each with its event."""
    return (
        Delivery.objects.filter(event__user=user, channel__in=MESSAGE_CHANNELS)
        .select_related("event")
        .order_by("-created_at", "-id")
    )
