"""Reads of webhook endpoints and their deliveries, always scoped to the user asking."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from common.ids import looks_like_id
from events.models import Delivery
from notifications.models import WebhookEndpoint, WebhookRecovery
from notifications.webhooks.services import ENDPOINT_CHANNEL


def endpoint_list(*, user: AbstractBaseUser) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=user).order_by("-created_at", "-id")


def endpoint_get(*, user: AbstractBaseUser, endpoint_id: str) -> WebhookEndpoint | None:
    if not looks_like_id(endpoint_id):
        return None
    return WebhookEndpoint.objects.filter(owner=user, pk=endpoint_id).first()


def delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[Delivery]:
    """The endpoint's delivery log with each delivery's event and attempts (one query each, not one per row)."""
    return (
        Delivery.objects.filter(channel=ENDPOINT_CHANNEL, target=endpoint.pk, event__user_id=endpoint.owner_id)
        .select_related("event")
        .prefetch_related("attempts")
    )


def delivery_get(*, user: AbstractBaseUser, endpoint_id: str, delivery_id: str) -> Delivery | None:
    if not (looks_like_id(endpoint_id) and looks_like_id(delivery_id)):
        return None
    return (
        Delivery.objects.filter(channel=ENDPOINT_CHANNEL, target=endpoint_id, event__user=user, pk=delivery_id)
        .filter(target__in=WebhookEndpoint.objects.filter(owner=user, pk=endpoint_id).values("pk"))
        .select_related("event")
        .first()
    )


def recovery_get(*, user: AbstractBaseUser, endpoint_id: str, recovery_id: str) -> WebhookRecovery | None:
    if not (looks_like_id(endpoint_id) and looks_like_id(recovery_id)):
        return None
    return (
        WebhookRecovery.objects.filter(endpoint__owner=user, endpoint_id=endpoint_id, pk=recovery_id)
        .select_related("endpoint")
        .first()
    )
