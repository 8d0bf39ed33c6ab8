"""Reads of webhook endpoints and deliveries, always scoped to the user asking."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from notifications.models import WebhookDelivery, WebhookEndpoint


def endpoint_list(*, user: AbstractBaseUser) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=user).order_by("-created_at", "-id")


def endpoint_get(*, user: AbstractBaseUser, endpoint_id: str) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(owner=user, pk=endpoint_id).first()


def delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's delivery log with its attempts (one extra query, not one per delivery)."""
    return WebhookDelivery.objects.filter(endpoint=endpoint).prefetch_related("attempts")


def delivery_get(*, user: AbstractBaseUser, endpoint_id: str, delivery_id: str) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(
        owner=user, endpoint__owner=user, endpoint_id=endpoint_id, pk=delivery_id
    ).first()
