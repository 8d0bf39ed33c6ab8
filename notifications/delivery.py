"""The webhook delivery run: attempts every due delivery concurrently, records each attempt, schedules retries.

One run lives inside one RQ job on the `notifications` queue. HTTP attempts run on a thread pool, so a slow or dead
endpoint occupies one thread until its timeout while every other delivery goes on; the run keeps claiming new due
deliveries while attempts are in flight. Each endpoint gets a bounded share of the threads. The database is only
touched from the run's own thread.
"""

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.ids import new_id
from notifications import transport
from notifications.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.services import (
    callback_secret_for,
    endpoint_disable,
    notify_owner_of_disabled_endpoint,
    signing_secrets,
)
from notifications.signing import signature_headers

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.02
YIELD_CHECK_SECONDS = 0.2
LEASE_MARGIN_SECONDS = 30


def _claim(run_id: str, limit: int, per_endpoint: Counter) -> list[WebhookDelivery]:
    """Take up to `limit` due deliveries, at most WEBHOOK_ENDPOINT_CONCURRENCY in flight per destination, so that
    one slow endpoint can never hold more than its share of the threads."""
    now = timezone.now()
    share = settings.WEBHOOK_ENDPOINT_CONCURRENCY
    saturated = {key for key, count in per_endpoint.items() if count >= share}
    candidates = (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .exclude(endpoint__enabled=False)
        # Destinations already at their share are left out in the query itself, or a backlog for one of them
        # would fill the window and hide everyone else's due deliveries.
        .exclude(endpoint_id__in=saturated)
        .exclude(endpoint__isnull=True, url__in=saturated)
        .order_by("next_attempt_at")
        .values_list("id", "endpoint_id", "url")[: limit * 4]
    )
    taken: Counter = Counter()
    ids = []
    for delivery_id, endpoint_id, url in candidates:
        key = endpoint_id or url
        if per_endpoint[key] + taken[key] >= share:
            continue
        taken[key] += 1
        ids.append(delivery_id)
        if len(ids) >= limit:
            break
    if not ids:
        return []
    lease_until = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT + LEASE_MARGIN_SECONDS)
    # Only rows still due are taken: another run that selected the same ids gets none of them.
    WebhookDelivery.objects.filter(id__in=ids, status=DeliveryStatus.PENDING, next_attempt_at__lte=now).update(
        claimed_by=run_id, next_attempt_at=lease_until
    )
    return list(
        WebhookDelivery.objects.filter(id__in=ids, claimed_by=run_id).select_related(
            "endpoint", "owner__callback_secret"
        )
    )


def _secrets_for(delivery: WebhookDelivery) -> list[str]:
    if delivery.endpoint is not None:
        endpoint = delivery.endpoint
        return signing_secrets(endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_expires_at)
    secret = callback_secret_for(user=delivery.owner)
    return signing_secrets(secret.secret, secret.previous_secret, secret.previous_secret_expires_at)


def _request(delivery: WebhookDelivery) -> tuple[str, dict[str, str], str]:
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
    headers = signature_headers(
        _secrets_for(delivery), message_id=delivery.event_id, timestamp=timezone.now(), body=body
    )
    return delivery.url, headers, body


def _record(delivery: WebhookDelivery, result: transport.AttemptResult, attempted_at) -> None:
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    number = delivery.attempt_count + 1
    now = timezone.now()
    update: dict = {
        "attempt_count": number,
        "last_status_code": result.status_code,
        "last_error": result.error[:500],
        "claimed_by": "",
    }
    endpoint = delivery.endpoint
    disable_reason = ""
    if result.succeeded:
        update.update(status=DeliveryStatus.SUCCEEDED, finished_at=now, next_attempt_at=None)
    elif result.status_code == 410 and endpoint is not None:
        update.update(status=DeliveryStatus.FAILED, finished_at=now, next_attempt_at=None)
        disable_reason = "The endpoint answered 410 Gone."
    elif number >= len(schedule):
        update.update(status=DeliveryStatus.FAILED, finished_at=now, next_attempt_at=None)
    else:
        delay = schedule[number]
        if result.status_code in (429, 503) and result.retry_after is not None:
            delay = max(delay, result.retry_after)
        update.update(status=DeliveryStatus.PENDING, next_attempt_at=now + timedelta(seconds=delay))

    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery_id=delivery.id,
            number=number,
            attempted_at=attempted_at,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error[:500],
            response_excerpt=result.excerpt,
        )
        WebhookDelivery.objects.filter(pk=delivery.pk, claimed_by=delivery.claimed_by).update(**update)
        if endpoint is None or delivery.event_type == "ping":
            return  # callbacks have no endpoint to disable; tests of an endpoint do not count against it
        if result.succeeded:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).exclude(consecutive_failures=0).update(
                consecutive_failures=0
            )
            return
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
        failures = WebhookEndpoint.objects.values_list("consecutive_failures", flat=True).get(pk=endpoint.pk)
        if not disable_reason and failures >= settings.WEBHOOK_DISABLE_AFTER_FAILURES:
            disable_reason = f"{failures} deliveries in a row failed (last: {result.error or result.status_code})."
    if disable_reason and endpoint.enabled:
        endpoint = endpoint_disable(endpoint=endpoint, reason=disable_reason)
        notify_owner_of_disabled_endpoint(endpoint)


def attempt_once(delivery: WebhookDelivery) -> WebhookDelivery:
    """Attempt one delivery that the caller already holds (claimed), now, in this thread; recorded like any other."""
    delivery = WebhookDelivery.objects.select_related("endpoint", "owner").get(pk=delivery.pk)
    url, headers, body = _request(delivery)
    attempted_at = timezone.now()
    with transport.new_client() as client:
        result = transport.send(client, url, headers, body)
    _record(delivery, result, attempted_at)
    delivery.refresh_from_db()
    return delivery


def _record_successes(run_id: str, finished: list[tuple[WebhookDelivery, transport.AttemptResult, object]]) -> None:
    """The common case in bulk: one insert for the attempts, one update per status code, one endpoint reset."""
    now = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(
            WebhookAttempt(
                delivery_id=delivery.id,
                number=delivery.attempt_count + 1,
                attempted_at=attempted_at,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                response_excerpt=result.excerpt,
            )
            for delivery, result, attempted_at in finished
        )
        by_code: dict[int, list[str]] = {}
        for delivery, result, _ in finished:
            by_code.setdefault(result.status_code, []).append(delivery.id)
        for code, ids in by_code.items():
            WebhookDelivery.objects.filter(id__in=ids, claimed_by=run_id).update(
                status=DeliveryStatus.SUCCEEDED,
                attempt_count=F("attempt_count") + 1,
                last_status_code=code,
                last_error="",
                claimed_by="",
                finished_at=now,
                next_attempt_at=None,
            )
        endpoint_ids = {delivery.endpoint_id for delivery, _, _ in finished if delivery.endpoint_id}
        WebhookEndpoint.objects.filter(pk__in=endpoint_ids).exclude(consecutive_failures=0).update(
            consecutive_failures=0
        )


def _release(run_id: str, abandoned: list[WebhookDelivery]) -> None:
    """Hand back deliveries whose attempt was abandoned: due again at once (receivers deduplicate on webhook-id)."""
    WebhookDelivery.objects.filter(id__in=[delivery.id for delivery in abandoned], claimed_by=run_id).update(
        claimed_by="", next_attempt_at=timezone.now()
    )


def run_deliveries(*, max_seconds: float = 50.0, yield_to: Callable[[], bool] | None = None) -> Counter:
    """Attempt due deliveries until none is due and none in flight, or until max_seconds have passed.

    `yield_to` is asked a few times a second; when it says True (reports are waiting for this worker), the run stops
    at once, abandoning attempts still in flight: they are handed back and sent again by the next run, so a slow
    endpoint never keeps a report waiting.
    """
    run_id = new_id("run")
    outcomes: Counter = Counter()
    in_flight: dict[Future, tuple[WebhookDelivery, object]] = {}
    per_endpoint: Counter = Counter()
    deadline = time.monotonic() + max_seconds
    next_yield_check = 0.0
    client = transport.new_client()
    pool = ThreadPoolExecutor(settings.WEBHOOK_MAX_CONCURRENCY, thread_name_prefix="webhook")
    try:
        while True:
            if yield_to is not None and time.monotonic() >= next_yield_check:
                next_yield_check = time.monotonic() + YIELD_CHECK_SECONDS
                if yield_to():
                    _release(run_id, [delivery for delivery, _ in in_flight.values()])
                    outcomes["abandoned"] += len(in_flight)
                    in_flight.clear()
                    break
            room = settings.WEBHOOK_MAX_CONCURRENCY - len(in_flight)
            # Claim in batches: a claim costs a few queries, so wait until a quarter of the threads are free.
            batch = max(1, settings.WEBHOOK_MAX_CONCURRENCY // 4)
            if (room >= batch or not in_flight) and time.monotonic() < deadline:
                for delivery in _claim(run_id, room, per_endpoint):
                    url, headers, body = _request(delivery)
                    future = pool.submit(transport.send, client, url, headers, body)
                    in_flight[future] = (delivery, timezone.now())
                    per_endpoint[delivery.endpoint_id or delivery.url] += 1
            if not in_flight:
                break
            done, _ = wait(list(in_flight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            succeeded = []
            for future in done:
                delivery, attempted_at = in_flight.pop(future)
                per_endpoint[delivery.endpoint_id or delivery.url] -= 1
                result = future.result()
                if result.succeeded:
                    succeeded.append((delivery, result, attempted_at))
                else:
                    _record(delivery, result, attempted_at)
                outcomes["succeeded" if result.succeeded else "failed"] += 1
            if succeeded:
                _record_successes(run_id, succeeded)
    finally:
        # Abandoned attempts keep their threads until they time out; nothing waits for them.
        pool.shutdown(wait=not outcomes["abandoned"], cancel_futures=True)
        if not outcomes["abandoned"]:
            client.close()
    return outcomes


def next_due_at():
    return (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
