"""Writes on webhook endpoints and callback secrets, and the test ping. The API, the admin and the delivery
channels use these; deliveries themselves are the event log's (events/engine.py)."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from common import access_cache
from common.ids import new_id
from common.netsafety import resolve_destination
from common.rate_limits import RateLimited, rate_wait
from events.engine import attempt_now, due_again
from events.jobs import kick_delivery
from events.log import event_record
from events.models import Delivery, DeliveryStatus
from notifications.models import CallbackSecret, WebhookEndpoint
from notifications.webhooks.signing import new_secret
from reports.events import REPORT_EVENT_TYPES, TERMINAL_EVENT_TYPES

ENDPOINT_CHANNEL = "webhook"
CALLBACK_CHANNEL = "callback"
# Written to the owner's stream when an endpoint is disabled for failing; the email channel tells them.
ENDPOINT_DISABLED_EVENT = "webhook_endpoint.disabled"


class EventTypeUnknown(ValueError):
    pass


class EndpointTestRateLimited(RateLimited):
    """More tests of one endpoint than WEBHOOK_TEST_RATE: each one is a request to someone's server, made now."""


class EndpointLimitReached(ValueError):
    """The owner has WEBHOOK_MAX_ENDPOINTS_PER_USER endpoints already (SPEC §19)."""


def _check_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(REPORT_EVENT_TYPES))
    if unknown:
        raise EventTypeUnknown(f"Unknown event types: {', '.join(unknown)}.")
    return sorted(set(event_types))


def endpoint_deliveries(endpoint: WebhookEndpoint):
    return Delivery.objects.filter(channel=ENDPOINT_CHANNEL, target=endpoint.pk)


def endpoint_create(
    *,
    owner: AbstractBaseUser,
    url: str,
    description: str = "",
    event_types: list[str] | None = None,
    enabled: bool = True,
    rate_limit: int | None = None,
) -> WebhookEndpoint:
    """Register an endpoint; its URL is checked (and resolved) now, and refused with a reason if unsafe. A user has
    at most WEBHOOK_MAX_ENDPOINTS_PER_USER: each event is sent to each of them."""
    resolve_destination(url)
    with transaction.atomic():
        # Two requests of one owner count one after the other. NO KEY UPDATE: rows that merely reference the user
        # (a report, an event) are not held up by it.
        get_user_model().objects.select_for_update(no_key=True).filter(pk=owner.pk).first()
        limit = settings.WEBHOOK_MAX_ENDPOINTS_PER_USER
        if WebhookEndpoint.objects.filter(owner=owner).count() >= limit:
            raise EndpointLimitReached(f"You have {limit} endpoints, the most allowed; delete one to add another.")
        return _endpoint_insert(owner, url, description, event_types, enabled, rate_limit)


def _endpoint_insert(
    owner: AbstractBaseUser,
    url: str,
    description: str,
    event_types: list[str] | None,
    enabled: bool,
    rate_limit: int | None = None,
) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        rate_limit=rate_limit,
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
    with transaction.atomic():
        endpoint_deliveries(endpoint).delete()
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


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str, tell_owner: bool = False) -> WebhookEndpoint:
    """Stop sending; what it misses from now on is kept (status skipped) and sent once it is enabled again.

    `tell_owner` (an endpoint disabled for failing): the owner's stream gets a `webhook_endpoint.disabled` event in
    the same transaction, so the email that tells them is delivered like any other, with retries."""
    with transaction.atomic():
        disabled = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
            enabled=False, disabled_reason=reason[:200], disabled_at=timezone.now()
        )
        endpoint_deliveries(endpoint).filter(status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SKIPPED, claimed_by=""
        )
        access_cache.changed()  # an update() sends no signal
        endpoint.refresh_from_db()
        if disabled and tell_owner:
            event_record(
                user_id=endpoint.owner_id,
                event_type=ENDPOINT_DISABLED_EVENT,
                data={
                    "endpoint": {
                        "id": endpoint.id,
                        "url": endpoint.url,
                        "description": endpoint.description,
                        "disabled_reason": endpoint.disabled_reason,
                        "consecutive_failures": endpoint.consecutive_failures,
                    }
                },
            )
    return endpoint


def endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Send again, starting with what was missed while disabled (each with a fresh set of retries)."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            enabled=True, disabled_reason="", disabled_at=None, consecutive_failures=0
        )
        endpoint_deliveries(endpoint).filter(status=DeliveryStatus.SKIPPED).update(**due_again())
        access_cache.changed()  # an update() sends no signal
        transaction.on_commit(kick_delivery)
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
    """What the fan-out needs of an endpoint, kept in the per-process cache (common/access_cache.py): every
    event of every report looks them up."""

    id: str
    url: str
    enabled: bool
    event_types: tuple[str, ...]

    def subscribed(self, event_type: str) -> bool:
        return event_type in (self.event_types or TERMINAL_EVENT_TYPES)


def _read_routes(user_id: int) -> tuple[EndpointRoute, ...]:
    fields = ("id", "url", "enabled", "event_types")
    endpoints = WebhookEndpoint.objects.filter(owner_id=user_id).order_by("created_at", "id").values_list(*fields)
    return tuple(
        EndpointRoute(id=pk, url=url, enabled=enabled, event_types=tuple(event_types or ()))
        for pk, url, enabled, event_types in endpoints
    )


def endpoint_routes(*, user_id: int) -> tuple[EndpointRoute, ...]:
    return access_cache.current().get(("webhook_endpoints", user_id), lambda: _read_routes(user_id))


def event_routes(*, user_id: int, event_type: str) -> list[EndpointRoute]:
    """The user's endpoints an event goes to: those subscribed to it, one per distinct URL (SPEC §19), so that
    registering one URL many times multiplies nothing. Of endpoints with the same URL, the oldest enabled one takes
    the event; when all of them are disabled, the oldest (its delivery is recorded as skipped)."""
    chosen: dict[str, EndpointRoute] = {}
    for route in endpoint_routes(user_id=user_id):
        if not route.subscribed(event_type):
            continue
        first = chosen.get(route.url)
        if first is None or (route.enabled and not first.enabled):
            chosen[route.url] = route
    return list(chosen.values())


def endpoint_send_test(*, endpoint: WebhookEndpoint) -> Delivery:
    """Send a signed `ping` to the endpoint now and return its delivery with the first attempt recorded.

    The ping is an event of the owner's stream like any other; its one delivery is made with it, already held by
    this request (claimed, not yet due), so that no delivery run sends it meanwhile. A failed ping is retried like
    any delivery; it does not count towards disabling the endpoint. At most WEBHOOK_TEST_RATE per endpoint of a user,
    else EndpointTestRateLimited and nothing is sent or written."""
    rate = settings.WEBHOOK_TEST_RATE
    wait = rate_wait(scope="webhook_test", ident=f"{endpoint.owner_id}:{endpoint.id}", rate=rate)
    if wait is not None:
        raise EndpointTestRateLimited(
            f"This endpoint was tested {rate} already; try again in {wait} s.", retry_after=wait
        )
    with transaction.atomic():
        event = event_record(
            user_id=endpoint.owner_id, event_type="ping", data={"endpoint": {"id": endpoint.id, "url": endpoint.url}}
        )
        delivery = Delivery.objects.create(
            event=event,
            channel=ENDPOINT_CHANNEL,
            target=endpoint.id,
            claimed_by=new_id("run"),
            next_attempt_at=timezone.now() + timedelta(seconds=settings.WEBHOOK_TIMEOUT + 30),
        )
    delivery = attempt_now(delivery)
    if delivery.status == DeliveryStatus.PENDING:
        kick_delivery()  # its retry
    return delivery
