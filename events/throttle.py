"""Per-target rate limits for the delivery engine: a target limited to N deliveries a second (a webhook endpoint's
`rate_limit`) gets no more than N attempts in any one-second window, whichever worker makes them.

A sliding log in Redis, checked and written by one script so that two workers never both take the last place: the
times of the attempts let through in the last WINDOW_SECONDS, kept in a sorted set per target. An attempt over the
rate is not made: the engine hands its delivery back, due when a place frees up, without counting an attempt. Other
targets are not held up by it, since a deferred delivery holds no thread. Redis being away lets attempts through
unlimited, as the circuit breakers do (events/breakers.py): the limit is a courtesy to a receiver, not a guarantee
we keep at the price of delivering nothing.
"""

import logging

from redis.exceptions import RedisError

from common.ids import new_id
from common.queues import DELIVERY_QUEUE, queue_for

logger = logging.getLogger(__name__)

PREFIX = "delivery-rate:"
# The log keeps a little more than a second: an attempt is let through here, then sent a moment later from a pool
# thread (a thread to start, a connection to open), and that moment varies. Without the margin, a batch let through
# late and the next one on time arrive closer than a second apart: measured up to 0.15 s on loopback. The cost: a
# limited target gets N attempts per 1.2 s at most, not per 1.0 s.
WINDOW_SECONDS = 1.2

# KEYS[1]: the target's log. ARGV: rate, window (s), a unique member. Returns -1 when let through (and logged),
# else the seconds until the oldest logged attempt leaves the window. Redis's own clock: the same for every worker.
_ADMIT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < rate then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
    return '-1'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""

_scripts: dict[int, object] = {}


def _script():
    connection = queue_for(DELIVERY_QUEUE).connection
    key = id(connection)
    if key not in _scripts:
        _scripts[key] = connection.register_script(_ADMIT)
    return _scripts[key]


def rate_admit(name: str, per_second: int) -> float | None:
    """None when one more attempt at the target `name` may go now (and it is counted); else the seconds until one
    may."""
    try:
        answer = _script()(keys=[PREFIX + name], args=[per_second, WINDOW_SECONDS, new_id("att")])
    except RedisError:
        logger.warning("Rate limit of %s not checked: Redis is unavailable", name, exc_info=True)
        return None
    wait = float(answer)
    return None if wait < 0 else max(wait, 0.001)


def rate_backlog_wait(first_wait: float, position: int, per_second: int) -> float:
    """When the `position`-th (0-based) of a target's deliveries refused while it is full should be tried again,
    the first being due in `first_wait` seconds: each window lets `per_second` through, so they are spread over the
    seconds to come instead of all coming back at once to be refused again."""
    return first_wait + (position // per_second) * WINDOW_SECONDS
