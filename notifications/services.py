"""Writes on webhook endpoints, callback secrets and deliveries. The API, the admin and the worker use these."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from common import access_cache
from common.ids import new_id
from common.netsafety import resolve_destination
from notifications import jobs
from notifications.models import CallbackSecret, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from notifications.signing import new_secret
from reports.events import REPORT_EVENT_TYPES, TERMINAL_EVENT_TYPES, envelope


class EventTypeUnknown(ValueError):
    pass


def _check_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(REPORT_EVENT_TYPES))
    if unknown:
        raise EventTypeUnknown(f"Unknown event types: {', '.join(unknown)}.")
    return sorted(set(event_types))


class DeliveryInFlight(Exception):
    """The delivery is being sent right now; it can be sent again once this attempt is recorded."""


def endpoint_create(
    *,
    owner: AbstractBaseUser,
    url: str,
    description: str = "",
    event_types: list[str] | None = None,
    enabled: bool = True,
) -> WebhookEndpoint:
    """Register an endpoint; its URL is checked (and resolved) now, and refused with a reason if unsafe."""
    resolve_destination(url)
    return WebhookEndpoint.objects.create(
        owner=owner,
        url=url,
        description=description,
        event_types=_check_event_types(event_types or []),
        enabled=enabled,
        disabled_reason="" if enabled else "Disabled by its owner.",
        disabled_at=None if enabled else timezone.now(),
        secret=new_secret(),
    )


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove the endpoint and its delivery log."""
    endpoint.delete()


def endpoint_update(*, endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    if "url" in changes:
        resolve_destination(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = _check_event_types(changes["event_types"] or [])
    enabled = changes.pop("enabled", None)
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint.save()
    if enabled is True and not endpoint.enabled:
        endpoint_enable(endpoint=endpoint)
    elif enabled is False and endpoint.enabled:
        endpoint_disable(endpoint=endpoint, reason="Disabled by its owner.")
    endpoint.refresh_from_db()
    return endpoint


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> WebhookEndpoint:
    """Stop sending; what it misses from now on is kept (status skipped) and sent once it is enabled again."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            enabled=False, disabled_reason=reason[:200], disabled_at=timezone.now()
        )
        WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SKIPPED, claimed_by=""
        )
        access_cache.changed()  # an update() sends no signal
    endpoint.refresh_from_db()
    return endpoint


def endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Send again, starting with what was missed while disabled."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            enabled=True, disabled_reason="", disabled_at=None, consecutive_failures=0
        )
        WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.SKIPPED).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), attempt_count=0, claimed_by=""
        )
        access_cache.changed()  # an update() sends no signal
        transaction.on_commit(jobs.kick_delivery)
    endpoint.refresh_from_db()
    return endpoint


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; the old one keeps signing beside it for WEBHOOK_SECRET_OVERLAP_HOURS."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return endpoint


def callback_secret_for(*, user: AbstractBaseUser) -> CallbackSecret:
    """The user's callback secret, made on first use."""
    try:
        return CallbackSecret.objects.get_or_create(user=user, defaults={"secret": new_secret()})[0]
    except IntegrityError:  # made by a concurrent first use
        return CallbackSecret.objects.get(user=user)


def callback_secret_rotate(*, user: AbstractBaseUser) -> CallbackSecret:
    secret = callback_secret_for(user=user)
    secret.previous_secret = secret.secret
    secret.previous_secret_expires_at = timezone.now() + timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    secret.secret = new_secret()
    secret.rotated_at = timezone.now()
    secret.save()
    return secret


def signing_secrets(current: str, previous: str, previous_expires_at) -> list[str]:
    if previous and previous_expires_at and previous_expires_at > timezone.now():
        return [current, previous]
    return [current]


@dataclass(frozen=True)
class EndpointRoute:
    """What the fan-out needs of an endpoint, kept in the per-process cache (reports/access_cache.py): every
    event of every report looks them up."""

    id: str
    url: str
    enabled: bool
    event_types: tuple[str, ...]

    def subscribed(self, event_type: str) -> bool:
        return event_type in (self.event_types or TERMINAL_EVENT_TYPES)


def _read_routes(user_id: int) -> tuple[EndpointRoute, ...]:
    fields = ("id", "url", "enabled", "event_types")
    return tuple(
        EndpointRoute(id=pk, url=url, enabled=enabled, event_types=tuple(event_types or ()))
        for pk, url, enabled, event_types in WebhookEndpoint.objects.filter(owner_id=user_id).values_list(*fields)
    )


def endpoint_routes(*, user_id: int) -> tuple[EndpointRoute, ...]:
    return access_cache.current().get(("webhook_endpoints", user_id), lambda: _read_routes(user_id))


def webhooks_fan_out(event: dict[str, Any], *, user_id: int, callback_url: str = "") -> list[WebhookDelivery]:
    """One delivery per (event, endpoint) of the user subscribed to it, and one for the report's callback_url on a
    terminal event. Idempotent: the same event twice creates nothing new."""
    now = timezone.now()
    deliveries = []
    for endpoint in endpoint_routes(user_id=user_id):
        if not endpoint.subscribed(event["type"]):
            continue
        deliveries.append(
            WebhookDelivery(
                owner_id=user_id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                event_id=event["id"],
                event_type=event["type"],
                payload=event,
                status=DeliveryStatus.PENDING if endpoint.enabled else DeliveryStatus.SKIPPED,
                next_attempt_at=now,
            )
        )
    if callback_url and event["type"] in TERMINAL_EVENT_TYPES:
        deliveries.append(
            WebhookDelivery(
                owner_id=user_id,
                url=callback_url,
                event_id=event["id"],
                event_type=event["type"],
                payload=event,
                next_attempt_at=now,
            )
        )
    if not deliveries:
        return []
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    if any(delivery.status == DeliveryStatus.PENDING for delivery in deliveries):
        jobs.kick_delivery()
    return deliveries


def endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a signed `ping` to the endpoint now and return the delivery with its first attempt recorded.

    A failed ping is retried like any delivery; it does not count towards disabling the endpoint."""
    from notifications.delivery import attempt_once  # the delivery module builds on these services

    event = envelope("ping", {"endpoint": {"id": endpoint.id, "url": endpoint.url}})
    # Created already held (claimed, not yet due), so that no delivery run sends it while this one does.
    delivery = WebhookDelivery.objects.create(
        owner=endpoint.owner,
        endpoint=endpoint,
        url=endpoint.url,
        event_id=event["id"],
        event_type="ping",
        payload=event,
        claimed_by=new_id("run"),
        next_attempt_at=timezone.now() + timedelta(seconds=settings.WEBHOOK_TIMEOUT + 30),
    )
    delivery = attempt_once(delivery)
    if delivery.status == DeliveryStatus.PENDING:
        transaction.on_commit(jobs.kick_delivery)  # its retry
    return delivery


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, with the same event id, whatever its outcome so far; not while it is being sent."""
    now = timezone.now()
    not_in_flight = Q(claimed_by="") | Q(next_attempt_at__lt=now)
    updated = (
        WebhookDelivery.objects.filter(pk=delivery.pk)
        .filter(not_in_flight)
        .update(status=DeliveryStatus.PENDING, next_attempt_at=now, claimed_by="", finished_at=None)
    )
    if not updated:
        raise DeliveryInFlight("The delivery is being sent right now; try again in a moment.")
    transaction.on_commit(jobs.kick_delivery)
    delivery.refresh_from_db()
    return delivery


def notify_owner_of_disabled_endpoint(endpoint: WebhookEndpoint) -> None:
    owner = endpoint.owner
    if not owner.email:
        return
    send_mail(
        subject=f"Webhook endpoint disabled: {endpoint.url}",
        message=(
            f"Your webhook endpoint {endpoint.url} ({endpoint.id}) failed {endpoint.consecutive_failures} deliveries "
            f"in a row and has been disabled.\n\nReason: {endpoint.disabled_reason}\n\n"
            "Events that happen while it is disabled are kept; enable the endpoint again to receive them."
        ),
        from_email=None,
        recipient_list=[owner.email],
        fail_silently=True,
    )
