"""An endpoint's rate limit as the delivery engine keeps it, and what it costs the others: a burst of events to an
unlimited endpoint, alone, then while another user's endpoint limited to N/s works through a backlog held back by
its limit; from one worker.

    .venv/bin/python bench/webhook_rate_limit.py [--events 200] [--rate 20]

Builds its own world (bench/core.py's), registers the endpoints on local receivers (bench/receiver.py), writes the
events to the log, and reports per endpoint, by the attempt times the delivery log records: from the burst written
to its last delivery (the unlimited endpoint), from the first attempt to the last, the rate achieved, and the most
attempts in any one second. Writes bench/results/webhook-rate-limit-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.core import RESULTS, World, machine_info, say  # noqa: E402
from bench.webhooks import WEBHOOK_TIMEOUT, start_receiver  # noqa: E402


def most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for other in times[i:] if other - start < 1.0) for i, start in enumerate(times)), default=0)


def _attempt_times(endpoint) -> list[float]:
    from events.models import DeliveryAttempt

    attempts = DeliveryAttempt.objects.filter(delivery__target=endpoint.pk).values_list("attempted_at", flat=True)
    return sorted(moment.timestamp() for moment in attempts)


def _all_delivered(endpoint, count: int) -> bool:
    from events.models import Delivery, DeliveryStatus

    return Delivery.objects.filter(target=endpoint.pk, status=DeliveryStatus.SUCCEEDED).count() >= count


def run(world: World, events: int, rate: int | None) -> dict:
    """A burst of `events` events to an unlimited endpoint, once the worker is up; with `rate`, while another
    user's endpoint limited to `rate` a second works through a backlog of as many, held back by its limit."""
    from django.contrib.auth import get_user_model

    from events.log import event_record
    from notifications.models import WebhookEndpoint
    from notifications.webhooks import services

    users = get_user_model().objects
    owner = users.get(username="bench")
    other = users.get_or_create(username="bench-limited")[0]
    for earlier in WebhookEndpoint.objects.filter(owner__in=[owner, other]):
        services.endpoint_delete(endpoint=earlier)
    endpoints = {"unlimited": services.endpoint_create(owner=owner, url=start_receiver(world, "fast")[1])}
    if rate:
        endpoints["limited"] = services.endpoint_create(
            owner=other, url=start_receiver(world, "fast")[1], rate_limit=rate
        )
        for number in range(events):
            event_record(user_id=other.pk, event_type="report.succeeded", data={"report": {"id": f"rep_held{number}"}})
    world.start_worker()
    started = time.monotonic()
    if rate:  # until its limit holds it back: a backlog waits for its places
        while len(_attempt_times(endpoints["limited"])) < rate and time.monotonic() < started + 30:
            time.sleep(0.05)
    burst_at = time.time()
    for number in range(events):
        event_record(user_id=owner.pk, event_type="report.succeeded", data={"report": {"id": f"rep_burst{number}"}})
    deadline = time.monotonic() + events / (rate or events) * 2 + 60
    while not all(_all_delivered(endpoint, events) for endpoint in endpoints.values()):
        if time.monotonic() > deadline:
            raise RuntimeError("not every event was delivered in time")
        time.sleep(0.05)
    world.stop_worker()
    rows = {}
    for name, endpoint in endpoints.items():
        times = _attempt_times(endpoint)
        spread = times[-1] - times[0]
        rows[name] = {
            "rate_limit": endpoint.rate_limit,
            "attempts": len(times),
            "burst_to_last_attempt_s": round(times[-1] - burst_at, 3) if name == "unlimited" else None,
            "first_to_last_attempt_s": round(spread, 2),
            "achieved_per_second": round((len(times) - 1) / spread, 1) if spread else None,
            "most_in_any_second": most_in_any_second(times),
        }
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the world's folder (logs) afterwards")
    args = parser.parse_args()
    world = World(keep=args.keep)
    try:
        world.start_data()
        world.env.update(WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8", WEBHOOK_TIMEOUT=WEBHOOK_TIMEOUT)
        os.environ.update(world.env)
        import django

        django.setup()
        say(f"a burst of {args.events} events to an unlimited endpoint, alone")
        alone = run(world, args.events, None)["unlimited"]
        say(f"the same, while another user's endpoint limited to {args.rate}/s works through {args.events} events")
        rows = run(world, args.events, args.rate)
    finally:
        world.stop()
    rows = {"unlimited alone": alone, "unlimited beside": rows["unlimited"], "limited": rows["limited"]}
    print(f"\n{args.events} events, one worker")
    print(f"  {'endpoint':16} {'limit':>6} {'attempts':>8} {'burst s':>8} {'per second':>11} {'max in 1 s':>10}")
    for name, row in rows.items():
        print(
            f"  {name:16} {row['rate_limit'] or '-':>6} {row['attempts']:>8} "
            f"{row['burst_to_last_attempt_s'] or '-':>8} {row['achieved_per_second'] or '-':>11} "
            f"{row['most_in_any_second']:>10}"
        )
    result = {
        "benchmark": "webhook_rate_limit",
        "machine": machine_info(),
        "events": args.events,
        "rate": args.rate,
        "runs": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    output = RESULTS / f"webhook-rate-limit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    output.write_text(json.dumps(result, indent=2))
    print(f"written {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
