"""Circuit breakers for the delivery engine (SPEC §19): one per provider (the email backend, the SMS provider) and
one per webhook host, their state in Redis so that every worker sees the same.

Without them an SMTP server or a host that hangs makes every queued send to it wait out its whole timeout, one
after the other. With them, DELIVERY_BREAKER_FAILURES failed attempts within DELIVERY_BREAKER_WINDOW_SECONDS open
the breaker: for DELIVERY_BREAKER_COOLDOWN_SECONDS its sends are deferred (no attempt made or counted). Then one
attempt is let through as a trial: a success closes the breaker, a failure opens it again.

Written for the engine rather than taken from pybreaker: pybreaker wraps a call and learns of failure through an
exception, while the engine sends on a pool and records outcomes later, and its half-open state lets every
concurrent caller through instead of one trial. Redis being away leaves every breaker closed: sends go on as if
there were none.
"""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from redis.exceptions import RedisError

from common.queues import DELIVERY_QUEUE, queue_for

logger = logging.getLogger(__name__)

PREFIX = "delivery-breaker:"
# How long a trial attempt holds the half-open breaker before another may try (its send has timed out by then).
TRIAL_LEASE_SECONDS = 60
# How long a process trusts what it last read of a breaker: a run attempting hundreds of deliveries a second asks
# Redis about each breaker about once a second, not once a delivery.
LOCAL_SECONDS = 1.0

# Per process, touched only by a delivery run's own thread: name -> (open_until or None, read at).
_seen: dict[str, tuple[float | None, float]] = {}
# Breakers this process has reported trouble for (or holds the trial of): only their successes need Redis.
_troubled: set[str] = set()


@dataclass(frozen=True)
class Breaker:
    name: str
    state: str  # "open" or "half-open"; closed breakers are not listed
    seconds_left: float
    failures: int


def _redis():
    return queue_for(DELIVERY_QUEUE).connection


def _keys(name: str) -> tuple[str, str, str]:
    return f"{PREFIX}{name}:failures", f"{PREFIX}{name}:open-until", f"{PREFIX}{name}:trial"


def breaker_admit(name: str) -> float | None:
    """None when an attempt through this breaker may go now (closed, or this caller holds the half-open trial);
    else the seconds to defer it."""
    _, open_key, trial_key = _keys(name)
    now = time.time()
    try:
        seen = _seen.get(name)
        if seen is None or now - seen[1] > LOCAL_SECONDS:
            value = _redis().get(open_key)
            seen = (float(value) if value is not None else None, now)
            _seen[name] = seen
        open_until = seen[0]
        if open_until is None:
            return None
        if open_until > now:
            return open_until - now
        if _redis().set(trial_key, "1", nx=True, ex=TRIAL_LEASE_SECONDS):
            _troubled.add(name)
            _seen.pop(name, None)  # what the trial decides is read again
            return None
        return float(min(settings.DELIVERY_BREAKER_COOLDOWN_SECONDS, TRIAL_LEASE_SECONDS))
    except RedisError:
        logger.warning("Breaker %s not checked: Redis is unavailable", name, exc_info=True)
        return None


def breaker_record(name: str, *, healthy: bool) -> None:
    """Count an attempt's outcome: a healthy one closes the breaker; failures open it at the threshold, and a failed
    trial opens it again at once."""
    failures_key, open_key, trial_key = _keys(name)
    if healthy and name not in _troubled:
        return  # the common case, without a round trip: nothing of ours to undo
    try:
        redis = _redis()
        if healthy:
            _troubled.discard(name)
            _seen.pop(name, None)
            if redis.delete(open_key):
                logger.warning("Breaker %s closed: the attempt through it succeeded", name)
            redis.delete(failures_key, trial_key)
            return
        _troubled.add(name)
        _seen.pop(name, None)
        if redis.delete(trial_key):  # the trial failed
            _open(redis, name, open_key, failures_key, "its trial attempt failed")
            return
        window = settings.DELIVERY_BREAKER_WINDOW_SECONDS
        failures = redis.incr(failures_key)
        if failures == 1:  # the window starts at the first failure (EXPIRE NX needs Redis 7)
            redis.expire(failures_key, window)
        if failures >= settings.DELIVERY_BREAKER_FAILURES and not redis.exists(open_key):
            _open(redis, name, open_key, failures_key, f"{failures} attempts failed within {window} s")
    except RedisError:
        logger.warning("Breaker %s not updated: Redis is unavailable", name, exc_info=True)


def _open(redis, name: str, open_key: str, failures_key: str, why: str) -> None:
    cooldown = settings.DELIVERY_BREAKER_COOLDOWN_SECONDS
    redis.set(open_key, repr(time.time() + cooldown), ex=cooldown + TRIAL_LEASE_SECONDS * 10)
    redis.delete(failures_key)
    logger.warning("Breaker %s opened for %d s: %s; its sends are deferred", name, cooldown, why)


def breakers_open() -> list[Breaker]:
    """The breakers that are not closed, for queue health: open ones first, by name."""
    try:
        redis = _redis()
        names = sorted(
            key.decode()[len(PREFIX) : -len(":open-until")] for key in redis.scan_iter(f"{PREFIX}*:open-until")
        )
        found = []
        for name in names:
            failures_key, open_key, _ = _keys(name)
            open_until = redis.get(open_key)
            if open_until is None:
                continue
            left = float(open_until) - time.time()
            state = "open" if left > 0 else "half-open"
            found.append(Breaker(name, state, max(0.0, left), int(redis.get(failures_key) or 0)))
        return sorted(found, key=lambda breaker: (breaker.state != "open", breaker.name))
    except RedisError:
        logger.warning("Breakers unknown: Redis is unavailable", exc_info=True)
        return []


def breaker_cooldown_end(name: str) -> None:
    """End a breaker's cool-down now (its next attempt is the trial): for an operator who knows the provider is
    back, and for tests."""
    _, open_key, _ = _keys(name)
    _redis().set(open_key, repr(time.time()), keepttl=True)
    _seen.pop(name, None)


def breakers_reset() -> None:
    """Close every breaker (and forget what this process read of them)."""
    _seen.clear()
    _troubled.clear()
    redis = _redis()
    keys = list(redis.scan_iter(f"{PREFIX}*"))
    if keys:
        redis.delete(*keys)
