"""The two webhook channels of the delivery engine (SPEC §7): the user's registered endpoints, and a report's own
`callback_url`. Both POST the §5 envelope signed per Standard Webhooks, to the address the URL resolves to now
(checked again at each attempt), with explicit timeouts and no redirects, on WEBHOOK_RETRY_SCHEDULE."""

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.netsafety import DEFAULT_PORTS
from events.channels import DeliveryChannel, Outcome, SkipDelivery, Target
from events.models import Delivery, Event
from notifications.models import WebhookEndpoint
from notifications.webhooks import transport
from notifications.webhooks.services import (
    CALLBACK_CHANNEL,
    ENDPOINT_CHANNEL,
    callback_secret_for,
    endpoint_disable,
    event_routes,
    signing_secrets,
)
from notifications.webhooks.signing import signature_headers
from reports.events import TERMINAL_EVENT_TYPES

# Answers whose Retry-After we honour (a longer wait than the schedule's, never a shorter one).
RETRY_AFTER_STATUSES = (429, 503)


@dataclass(frozen=True)
class SignedPost:
    url: str
    headers: dict[str, str]
    body: str
    # The endpoint's deliveries a second at most; None: no limit.
    rate_limit: int | None = None


# Clients kept per (timeouts, scheme, host name, port); the least recently used beyond this many are closed.
MAX_CLIENTS = 256


@dataclass
class _PooledClient:
    client: httpx.Client
    users: int = 0
    evicted: bool = False


_clients: OrderedDict[tuple[float, float, str, str, int | None], _PooledClient] = OrderedDict()
_clients_pid = os.getpid()
_clients_lock = threading.Lock()


def _client_key(url: str) -> tuple[float, float, str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None  # refused by the transport before any connection
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    return settings.WEBHOOK_TIMEOUT, settings.WEBHOOK_CONNECT_TIMEOUT, scheme, host, port or DEFAULT_PORTS.get(scheme)


@contextmanager
def _client(url: str) -> Iterator[httpx.Client]:
    """The client for the URL's host name, shared by the run's threads and kept from one run to the next.

    One per host name, not one for all: the request goes to the checked address, so a client's pool keys its
    connections by address, and two names on one address would share a connection made (and for TLS verified) for
    only one of them. A client pushed out of the cache is closed once no thread is using it."""
    global _clients_pid
    key = _client_key(url)
    evicted: list[httpx.Client] = []
    with _clients_lock:
        if _clients_pid != os.getpid():  # a forked child: the parent's connections are not its to use or close
            _clients.clear()
            _clients_pid = os.getpid()
        pooled = _clients.get(key)
        if pooled is None:
            pooled = _clients[key] = _PooledClient(transport.new_client())
            while len(_clients) > MAX_CLIENTS:
                _, oldest = _clients.popitem(last=False)
                oldest.evicted = True
                if not oldest.users:
                    evicted.append(oldest.client)
        else:
            _clients.move_to_end(key)
        pooled.users += 1
    for client in evicted:
        client.close()
    try:
        yield pooled.client
    finally:
        with _clients_lock:
            pooled.users -= 1
            done = pooled.evicted and not pooled.users
        if done:
            pooled.client.close()


def mask_url(url: str) -> str:
    """Scheme and host only: a callback URL's path and query may carry the integrator's own secrets."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"


class _WebhookChannel(DeliveryChannel):
    @property
    def lease_seconds(self) -> float:  # type: ignore[override]
        return settings.WEBHOOK_TIMEOUT

    def retry_schedule(self) -> Sequence[float]:
        return settings.WEBHOOK_RETRY_SCHEDULE

    def _signed(self, delivery: Delivery, url: str, secrets: list[str], rate_limit: int | None = None) -> SignedPost:
        body = delivery.event.envelope_json
        headers = signature_headers(secrets, message_id=delivery.event_id, timestamp=timezone.now(), body=body)
        return SignedPost(url=url, headers=headers, body=body, rate_limit=rate_limit)

    def rate_limit(self, delivery: Delivery, prepared: SignedPost) -> int | None:
        return prepared.rate_limit

    def send(self, prepared: SignedPost) -> Outcome:
        with _client(prepared.url) as client:
            result = transport.send(client, prepared.url, prepared.headers, prepared.body)
        return Outcome(
            succeeded=result.succeeded,
            status_code=result.status_code,
            error=result.error,
            excerpt=result.excerpt,
            latency_ms=result.latency_ms,
            retry_after=result.retry_after if result.status_code in RETRY_AFTER_STATUSES else None,
            permanent=self.is_gone(result.status_code),
        )

    def is_gone(self, status_code: int | None) -> bool:
        return False

    def breaker(self, delivery: Delivery, prepared: SignedPost) -> str:
        """One breaker per host name: a host that hangs defers its own deliveries, no one else's."""
        return f"webhook:{(urlsplit(prepared.url).hostname or '').lower()}"


class EndpointChannel(_WebhookChannel):
    """The user's registered endpoints, each for the event types it subscribed to (empty: the terminal ones)."""

    name = ENDPOINT_CHANNEL

    def targets(self, event: Event) -> Iterable[Target]:
        return [
            Target(route.id, skipped=not route.enabled)
            for route in event_routes(user_id=event.user_id, event_type=event.type)
        ]

    def prepare(self, delivery: Delivery) -> SignedPost:
        endpoint = WebhookEndpoint.objects.filter(pk=delivery.target).first()
        if endpoint is None or not endpoint.enabled:
            raise SkipDelivery(delivery.target)
        secrets = signing_secrets(endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_expires_at)
        return self._signed(delivery, endpoint.url, secrets, endpoint.rate_limit)

    def is_gone(self, status_code: int | None) -> bool:
        return status_code == 410

    def delivered(self, deliveries: list[Delivery]) -> None:
        """A success ends the endpoint's run of failures."""
        WebhookEndpoint.objects.filter(pk__in={delivery.target for delivery in deliveries}).exclude(
            consecutive_failures=0
        ).update(consecutive_failures=0)

    def failed(self, delivery: Delivery, outcome: Outcome, *, gave_up: bool) -> None:
        """Every failed attempt counts towards disabling the endpoint (tests of it, pings, do not): at once for a
        410 Gone, or after WEBHOOK_DISABLE_AFTER_FAILURES in a row. Its owner is told."""
        if delivery.event.type == "ping":
            return
        with transaction.atomic():
            WebhookEndpoint.objects.filter(pk=delivery.target).update(
                consecutive_failures=F("consecutive_failures") + 1
            )
            endpoint = WebhookEndpoint.objects.filter(pk=delivery.target).first()
        if endpoint is None or not endpoint.enabled:
            return
        reason = ""
        if outcome.status_code == 410:
            reason = "The endpoint answered 410 Gone."
        elif endpoint.consecutive_failures >= settings.WEBHOOK_DISABLE_AFTER_FAILURES:
            last = outcome.error or outcome.status_code
            reason = f"{endpoint.consecutive_failures} deliveries in a row failed (last: {last})."
        if reason:
            endpoint_disable(endpoint=endpoint, reason=reason, tell_owner=True)

    def mask(self, target: str) -> str:
        return target  # the endpoint's id: its owner's own name for it


class CallbackChannel(_WebhookChannel):
    """A report's `callback_url` (SPEC §7.2): its terminal events, signed with the requester's callback secret."""

    name = CALLBACK_CHANNEL

    def targets(self, event: Event) -> Iterable[Target]:
        if event.type not in TERMINAL_EVENT_TYPES or event.report_id is None:
            return []
        if event.report.requested_by_id != event.user_id:  # only the requester's own stream carries its callback
            return []
        callback_url = event.report.callback_url
        if not callback_url:
            return []
        # One delivery per distinct URL of a user per event (SPEC §19): an endpoint with this URL already has it.
        if any(
            route.enabled and route.url == callback_url
            for route in event_routes(user_id=event.user_id, event_type=event.type)
        ):
            return []
        return [Target(callback_url)]

    def prepare(self, delivery: Delivery) -> SignedPost:
        secret = callback_secret_for(user=delivery.event.user)
        secrets = signing_secrets(secret.secret, secret.previous_secret, secret.previous_secret_expires_at)
        return self._signed(delivery, delivery.target, secrets)

    def mask(self, target: str) -> str:
        return mask_url(target)
