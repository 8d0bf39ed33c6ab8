"""Reads of webhook endpoints, deliveries, notification preferences and messages, always scoped to the user asking."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from common.ids import looks_like_id
from notifications.models import NotificationMessage, NotificationPreferences, WebhookDelivery, WebhookEndpoint


def endpoint_list(*, user: AbstractBaseUser) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=user).order_by("-created_at", "-id")


def endpoint_get(*, user: AbstractBaseUser, endpoint_id: str) -> WebhookEndpoint | None:
    if not looks_like_id(endpoint_id):
        return None
    return WebhookEndpoint.objects.filter(owner=user, pk=endpoint_id).first()


def delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's delivery log with its attempts (one extra query, not one per delivery)."""
    return WebhookDelivery.objects.filter(endpoint=endpoint).prefetch_related("attempts")


def delivery_get(*, user: AbstractBaseUser, endpoint_id: str, delivery_id: str) -> WebhookDelivery | None:
    if not (looks_like_id(endpoint_id) and looks_like_id(delivery_id)):
        return None
    return WebhookDelivery.objects.filter(
        owner=user, endpoint__owner=user, endpoint_id=endpoint_id, pk=delivery_id
    ).first()


def preferences_get(*, user: AbstractBaseUser) -> NotificationPreferences:
    """The user's preferences, or the defaults (unsaved) while they have none: reading never writes."""
    preferences = NotificationPreferences.objects.filter(user=user).first()
    return preferences or NotificationPreferences(user=user)


def message_list(*, user: AbstractBaseUser) -> QuerySet[NotificationMessage]:
    """The emails and SMS sent (or tried) to the user, newest first."""
    return NotificationMessage.objects.filter(user=user).order_by("-created_at", "-id")
