"""Reads of notification preferences and of the email and SMS sent, always scoped to the user asking."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from events.models import Delivery
from notifications.models import NotificationPreferences

MESSAGE_CHANNELS = ("email", "sms")


def preferences_get(*, user: AbstractBaseUser) -> NotificationPreferences:
    """The user's preferences, or the defaults (unsaved) while they have none: reading never writes."""
    preferences = NotificationPreferences.objects.filter(user=user).first()
    return preferences or NotificationPreferences(user=user)


def message_list(*, user: AbstractBaseUser) -> QuerySet[Delivery]:
    """The emails and SMS sent (or tried) to the user, newest first, each with its event."""
    return (
        Delivery.objects.filter(event__user=user, channel__in=MESSAGE_CHANNELS)
        .select_related("event")
        .order_by("-created_at", "-id")
    )
