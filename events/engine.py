"""The delivery engine: one loop for every channel that retries (webhook endpoints, callback URLs, email, SMS).

A delivery run lives inside one RQ job on the delivery queue. It claims due deliveries with a lease, has each
channel prepare them (on the run's own thread, the only one that touches the database), sends them on a thread
pool, and records every attempt. A slow or dead target holds one thread until its timeout while everything else
goes on, and each target gets at most DELIVERY_TARGET_CONCURRENCY of the threads, so one never starves another. A
target with a rate limit (a webhook endpoint's `rate_limit`) gets no more attempts a second than that, counted
across workers (events/throttle.py): the others are handed back, due later, with no attempt counted. The run keeps
claiming while attempts are in flight. Failed attempts are retried on the channel's schedule (unless the delivery
asked for one attempt only); the last one, or a permanent refusal, gives up with its reason. A run that dies leaves
its claims to expire: each is due again when its lease ends.
"""

import heapq
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from common.ids import new_id
from events import channels
from events.breakers import breaker_admit, breaker_record
from events.channels import DeliveryChannel, Outcome, SkipDelivery
from events.models import Delivery, DeliveryAttempt, DeliveryStatus
from events.throttle import rate_admit, rate_backlog_wait

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.02
# A run with nothing in flight waits for deliveries it deferred for a rate limit when they are due within this long,
# rather than ending and leaving them to the wake-up job.
RATE_LINGER_SECONDS = 2.0
# ...looking for other due deliveries this often meanwhile.
RATE_LINGER_STEP_SECONDS = 0.05
YIELD_CHECK_SECONDS = 0.2
# A claim lasts the channel's lease plus this, so a live attempt never outlives its claim.
LEASE_MARGIN_SECONDS = 30
ERROR_LIMIT = 500


class DeliveryInFlight(Exception):
    """The delivery is being sent right now; it can be sent again once this attempt is recorded."""


def _send(channel: DeliveryChannel, prepared: Any) -> Outcome:
    """One attempt, on a pool thread. Whatever the channel raises is a failed attempt with that error."""
    started = time.monotonic()
    try:
        outcome = channel.send(prepared)
    except Exception as error:  # noqa: BLE001 - a backend's error of any kind (SMTP, socket, provider API)
        text = f"{type(error).__name__}: {error}".strip(": ")
        return Outcome(False, error=text[:ERROR_LIMIT], latency_ms=int((time.monotonic() - started) * 1000))
    if outcome.latency_ms is None:
        outcome = Outcome(**{**outcome.__dict__, "latency_ms": int((time.monotonic() - started) * 1000)})
    return outcome


def _claim(run_id: str, limit: int, in_flight: Counter, held_back: Sequence[str] = ()) -> list[Delivery]:
    """Take up to `limit` due deliveries, at most DELIVERY_TARGET_CONCURRENCY in flight per target, none of the
    targets `held_back` (at their rate limit for now: a claim would only hand them back)."""
    live = {channel.name: channel for channel in channels.delivery_channels()}
    if not live or limit <= 0:
        return []
    now = timezone.now()
    share = settings.DELIVERY_TARGET_CONCURRENCY
    saturated = [target for target, count in in_flight.items() if count >= share] + list(held_back)
    candidates = (
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, channel__in=list(live))
        # Targets already at their share are left out in the query itself, or a backlog for one of them would fill
        # the window and hide everyone else's due deliveries.
        .exclude(target__in=saturated)
        .order_by("next_attempt_at")
        .values_list("id", "channel", "target")[: limit * 4]
    )
    taken: Counter = Counter()
    by_channel: dict[str, list[str]] = {}
    count = 0
    for delivery_id, channel_name, target in candidates:
        if in_flight[target] + taken[target] >= share:
            continue
        taken[target] += 1
        by_channel.setdefault(channel_name, []).append(delivery_id)
        count += 1
        if count >= limit:
            break
    for channel_name, ids in by_channel.items():
        lease_until = now + timedelta(seconds=live[channel_name].lease_seconds + LEASE_MARGIN_SECONDS)
        # Only rows still due are taken: another run that selected the same ids gets none of them.
        Delivery.objects.filter(id__in=ids, status=DeliveryStatus.PENDING, next_attempt_at__lte=now).update(
            claimed_by=run_id, next_attempt_at=lease_until
        )
    ids = [delivery_id for group in by_channel.values() for delivery_id in group]
    if not ids:
        return []
    return list(Delivery.objects.filter(id__in=ids, claimed_by=run_id).select_related("event"))


def _skip(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk, claimed_by=delivery.claimed_by).update(
        status=DeliveryStatus.SKIPPED, claimed_by=""
    )


def _retry_delay(channel: DeliveryChannel, delivery: Delivery, outcome: Outcome) -> float | None:
    """Seconds until the next attempt, or None to give up."""
    schedule = channel.retry_schedule()
    position = delivery.schedule_position + 1  # attempts of this round so far, this one included
    if outcome.permanent or not delivery.retry_on_failure or position >= len(schedule):
        return None
    delay = float(schedule[position])
    if outcome.retry_after is not None:
        delay = max(delay, outcome.retry_after)
    return delay


def _attempt_row(delivery: Delivery, outcome: Outcome, attempted_at: datetime) -> DeliveryAttempt:
    return DeliveryAttempt(
        delivery_id=delivery.id,
        number=delivery.attempt_count + 1,
        attempted_at=attempted_at,
        succeeded=outcome.succeeded,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error[:ERROR_LIMIT],
        response_excerpt=outcome.excerpt,
    )


def _record_failure(channel: DeliveryChannel, delivery: Delivery, outcome: Outcome, attempted_at: datetime) -> None:
    now = timezone.now()
    delay = _retry_delay(channel, delivery, outcome)
    update: dict[str, Any] = {
        "attempt_count": delivery.attempt_count + 1,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:ERROR_LIMIT],
        "last_attempt_at": attempted_at,
        "claimed_by": "",
    }
    if delay is None:
        update.update(status=DeliveryStatus.FAILED, finished_at=now, next_attempt_at=None)
    else:
        update.update(status=DeliveryStatus.PENDING, next_attempt_at=now + timedelta(seconds=delay))
    with transaction.atomic():
        _attempt_row(delivery, outcome, attempted_at).save(force_insert=True)
        Delivery.objects.filter(pk=delivery.pk, claimed_by=delivery.claimed_by).update(**update)
    if delay is None:
        logger.warning(
            "%s delivery %s gave up after %d attempt(s): %s",
            *_names(delivery),
            update["attempt_count"],
            outcome.error or outcome.status_code,
        )
    try:
        channel.failed(delivery, outcome, gave_up=delay is None)
    except Exception:
        logger.exception("The %s channel's failure hook failed for %s", delivery.channel, delivery.id)


def _names(delivery: Delivery) -> tuple[str, str]:
    return delivery.channel, delivery.id


def _record_successes(run_id: str, finished: list[tuple[Delivery, Outcome, datetime]]) -> None:
    """The common case in bulk: one insert for the attempts, one update per (status code, receipt) group."""
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.bulk_create(
            _attempt_row(delivery, outcome, attempted_at) for delivery, outcome, attempted_at in finished
        )
        groups: dict[tuple[int | None, str], list[str]] = {}
        for delivery, outcome, _ in finished:
            groups.setdefault((outcome.status_code, outcome.receipt), []).append(delivery.id)
        for (status_code, receipt), ids in groups.items():
            Delivery.objects.filter(id__in=ids, claimed_by=run_id).update(
                status=DeliveryStatus.SUCCEEDED,
                attempt_count=F("attempt_count") + 1,
                last_status_code=status_code,
                last_error="",
                last_attempt_at=now,
                receipt=receipt[:200],
                claimed_by="",
                finished_at=now,
                next_attempt_at=None,
            )
    by_channel: dict[str, list[Delivery]] = {}
    for delivery, _, _ in finished:
        by_channel.setdefault(delivery.channel, []).append(delivery)
    for name, deliveries in by_channel.items():
        channel = channels.get(name)
        if isinstance(channel, DeliveryChannel):
            try:
                channel.delivered(deliveries)
            except Exception:
                logger.exception("The %s channel's delivered hook failed", name)


def _release(run_id: str, abandoned: list[Delivery]) -> None:
    """Hand back deliveries whose attempt was abandoned: due again at once (receivers deduplicate on the event id)."""
    Delivery.objects.filter(id__in=[delivery.id for delivery in abandoned], claimed_by=run_id).update(
        claimed_by="", next_attempt_at=timezone.now()
    )


def _defer(run_id: str, delivery: Delivery, seconds: float) -> None:
    """Hand a delivery back unattempted, due when its breaker lets attempts through again."""
    Delivery.objects.filter(pk=delivery.pk, claimed_by=run_id).update(
        claimed_by="", next_attempt_at=timezone.now() + timedelta(seconds=seconds)
    )


def _rate_wait(
    prepared: tuple[DeliveryChannel, Any], delivery: Delivery, refused: dict[str, tuple[float, int]]
) -> float | None:
    """None when the target's rate limit lets this attempt go now; else the seconds to defer it.

    `refused` is the run's memory, per target, of when its first refused delivery is due (monotonic time) and how
    many were refused since: while that time is ahead, the target is known to be full, and the next one refused is
    given the next place at its rate without asking Redis. So a backlog is spread over the seconds to come once,
    rather than all of it coming back together to be refused again."""
    channel, what = prepared
    per_second = channel.rate_limit(delivery, what)
    if not per_second:
        return None
    name = f"{delivery.channel}:{delivery.target}"
    now = time.monotonic()
    known = refused.get(name)
    if known is not None and known[0] > now:
        first_due, count = known
        refused[name] = (first_due, count + 1)
        return rate_backlog_wait(first_due - now, count, per_second)
    wait = rate_admit(name, per_second)
    if wait is None:
        refused.pop(name, None)
    else:
        refused[name] = (now + wait, 1)
    return wait


def _prepared(delivery: Delivery) -> tuple[DeliveryChannel, Any] | Outcome | None:
    """(channel, what to send), or the failed Outcome of a delivery that cannot even be prepared, or None when
    skipped."""
    channel = channels.get(delivery.channel)
    assert isinstance(channel, DeliveryChannel)
    try:
        return channel, channel.prepare(delivery)
    except SkipDelivery:
        _skip(delivery)
        return None
    except Exception as error:
        logger.exception("The %s channel could not prepare delivery %s", delivery.channel, delivery.id)
        return Outcome(False, error=f"Not prepared: {type(error).__name__}: {error}"[:ERROR_LIMIT])


def attempt_now(delivery: Delivery) -> Delivery:
    """Attempt one delivery that the caller already holds (claimed), now, in this thread; recorded like any other."""
    delivery = Delivery.objects.select_related("event").get(pk=delivery.pk)
    channel = channels.get(delivery.channel)
    assert isinstance(channel, DeliveryChannel)
    attempted_at = timezone.now()
    prepared = _prepared(delivery)
    if isinstance(prepared, tuple):
        outcome = _send(*prepared)
        if outcome.succeeded:
            _record_successes(delivery.claimed_by, [(delivery, outcome, attempted_at)])
        else:
            _record_failure(channel, delivery, outcome, attempted_at)
    elif isinstance(prepared, Outcome):
        _record_failure(channel, delivery, prepared, attempted_at)
    delivery.refresh_from_db()
    return delivery


def run_deliveries(*, max_seconds: float = 50.0, yield_to: Callable[[], bool] | None = None) -> Counter:
    """Attempt due deliveries until none is due and none in flight, or until max_seconds have passed.

    `yield_to` is asked a few times a second; when it says True (reports are waiting for this worker), the run stops
    at once, abandoning attempts still in flight: they are handed back and sent again by the next run, so a slow
    target never keeps a report waiting.
    """
    run_id = new_id("run")
    outcomes: Counter = Counter()
    in_flight: dict[Future, tuple[DeliveryChannel, Delivery, datetime, str | None]] = {}
    per_target: Counter = Counter()
    deadline = time.monotonic() + max_seconds
    next_yield_check = 0.0
    rate_due: list[float] = []  # a heap: when the deliveries this run deferred for a rate limit are due again
    refused: dict[str, tuple[float, int]] = {}  # per rate-limited target: see _rate_wait
    threads = settings.DELIVERY_MAX_CONCURRENCY
    pool = ThreadPoolExecutor(threads, thread_name_prefix="delivery")
    try:
        while True:
            if yield_to is not None and time.monotonic() >= next_yield_check:
                next_yield_check = time.monotonic() + YIELD_CHECK_SECONDS
                if yield_to():
                    _release(run_id, [delivery for _, delivery, _, _ in in_flight.values()])
                    outcomes["abandoned"] += len(in_flight)
                    in_flight.clear()
                    break
            room = threads - len(in_flight)
            # Claim in batches: a claim costs a few queries, so wait until a quarter of the threads are free.
            claimed: list[Delivery] = []
            if (room >= max(1, threads // 4) or not in_flight) and time.monotonic() < deadline:
                now = time.monotonic()
                held_back = [name.split(":", 1)[1] for name, (first_due, _) in refused.items() if first_due > now]
                claimed = _claim(run_id, room, per_target, held_back)
                for delivery in claimed:
                    attempted_at = timezone.now()
                    prepared = _prepared(delivery)
                    if prepared is None:
                        outcomes["skipped"] += 1
                    elif isinstance(prepared, Outcome):
                        channel = channels.get(delivery.channel)
                        _record_failure(channel, delivery, prepared, attempted_at)
                        outcomes["failed"] += 1
                    else:
                        # The rate limit first: a deferred delivery must not hold a half-open breaker's trial.
                        wait_seconds = _rate_wait(prepared, delivery, refused)
                        if wait_seconds is not None:
                            _defer(run_id, delivery, wait_seconds)
                            outcomes["rate_limited"] += 1
                            heapq.heappush(rate_due, time.monotonic() + wait_seconds + POLL_SECONDS)
                            continue
                        breaker = prepared[0].breaker(delivery, prepared[1])
                        wait_seconds = breaker_admit(breaker) if breaker else None
                        if wait_seconds is not None:
                            _defer(run_id, delivery, wait_seconds)
                            outcomes["deferred"] += 1
                            continue
                        future = pool.submit(_send, *prepared)
                        in_flight[future] = (prepared[0], delivery, attempted_at, breaker)
                        per_target[delivery.target] += 1
            if not in_flight:
                if claimed:  # all of them skipped, failed unsent or deferred: there may be more due behind them
                    continue
                now = time.monotonic()
                while rate_due and rate_due[0] < now - POLL_SECONDS:  # due already, and claimed or taken by another
                    heapq.heappop(rate_due)
                if rate_due and rate_due[0] - now <= RATE_LINGER_SECONDS and now < deadline:
                    # Only deliveries held back by a rate limit are left, due in a moment: wait for them here, a
                    # little at a time, so that new deliveries of other targets (and waiting reports) are taken at
                    # once: each turn claims again.
                    time.sleep(max(POLL_SECONDS, min(rate_due[0] - now, RATE_LINGER_STEP_SECONDS, deadline - now)))
                    continue
                break
            done, _ = wait(list(in_flight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            succeeded = []
            for future in done:
                channel, delivery, attempted_at, breaker = in_flight.pop(future)
                per_target[delivery.target] -= 1
                outcome = future.result()
                if breaker:
                    breaker_record(breaker, healthy=not channel.breaker_failure(outcome))
                if outcome.succeeded:
                    succeeded.append((delivery, outcome, attempted_at))
                else:
                    _record_failure(channel, delivery, outcome, attempted_at)
                outcomes["succeeded" if outcome.succeeded else "failed"] += 1
            if succeeded:
                _record_successes(run_id, succeeded)
    finally:
        # Abandoned attempts keep their threads until they time out; nothing waits for them.
        pool.shutdown(wait=not outcomes["abandoned"], cancel_futures=True)
    return outcomes


def next_due_at() -> datetime | None:
    return (
        Delivery.objects.filter(status=DeliveryStatus.PENDING, channel__in=channels.names(channels.delivery_channels()))
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def due_again(*, retries: bool = True) -> dict[str, Any]:
    """The fields that put finished or skipped deliveries back in the engine's hands, due now, with a fresh round of
    attempts: retried on the channel's schedule, or (`retries` off) one attempt whose failure is final."""
    return {
        "status": DeliveryStatus.PENDING,
        "next_attempt_at": timezone.now(),
        "claimed_by": "",
        "finished_at": None,
        "schedule_start": F("attempt_count"),
        "retry_on_failure": retries,
    }


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Send a delivery again now, with the same event id and a fresh set of retries, whatever its outcome so far;
    not while it is being sent."""
    from events.jobs import kick_delivery  # the jobs run this module

    now = timezone.now()
    not_in_flight = Q(claimed_by="") | Q(next_attempt_at__lt=now)
    updated = Delivery.objects.filter(pk=delivery.pk).filter(not_in_flight).update(**due_again())
    if not updated:
        raise DeliveryInFlight("The delivery is being sent right now; try again in a moment.")
    transaction.on_commit(kick_delivery)
    delivery.refresh_from_db()
    return delivery


def deliveries_redeliver(*, deliveries) -> tuple[int, list[str]]:
    """Send these deliveries again (the admin's actions). Returns how many were queued and the ids of those being
    sent right now, which are left alone."""
    queued, busy = 0, []
    for delivery in deliveries:
        try:
            delivery_redeliver(delivery=delivery)
        except DeliveryInFlight:
            busy.append(delivery.id)
        else:
            queued += 1
    return queued, busy
