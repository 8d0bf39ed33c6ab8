"""An endpoint's rate limit as the delivery engine keeps it: a burst of events to an endpoint limited to N/s beside an
unlimited one, from one worker; and first the unlimited one alone, to show that the limited one does not slow it.

    .venv/bin/python bench/webhook_rate_limit.py [--events 200] [--rate 20]

Builds its own world (bench/core.py's), registers the endpoints on local receivers (bench/receiver.py), writes the
events to the log, starts one worker, and reports per endpoint: seconds until all were delivered, from the first
attempt to the last, the rate achieved, and the most attempts in any one second (by their recorded attempt times).
Writes bench/results/webhook-rate-limit-<timestamp>.json.
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


def run(world: World, events: int, rate: int | None) -> dict:
    """`events` events to an unlimited endpoint, beside one limited to `rate` a second (None: alone)."""
    from django.contrib.auth import get_user_model

    from events.log import event_record
    from events.models import Delivery, DeliveryAttempt, DeliveryStatus
    from notifications.models import WebhookEndpoint
    from notifications.webhooks import services

    owner = get_user_model().objects.get(username="bench")
    for earlier in WebhookEndpoint.objects.filter(owner=owner):
        services.endpoint_delete(endpoint=earlier)
    endpoints = {"unlimited": services.endpoint_create(owner=owner, url=start_receiver(world, "fast")[1])}
    if rate:
        endpoints["limited"] = services.endpoint_create(
            owner=owner, url=start_receiver(world, "fast")[1], rate_limit=rate
        )
    for number in range(events):
        event_record(user_id=owner.pk, event_type="report.succeeded", data={"report": {"id": f"rep_bench{number}"}})
    started = time.monotonic()
    world.start_worker()
    finished: dict[str, float] = {}
    deadline = started + events / (rate or events) * 2 + 60
    while len(finished) < len(endpoints) and time.monotonic() < deadline:
        for name, endpoint in endpoints.items():
            done = Delivery.objects.filter(target=endpoint.pk, status=DeliveryStatus.SUCCEEDED).count()
            if name not in finished and done >= events:
                finished[name] = time.monotonic() - started
        time.sleep(0.05)
    world.stop_worker()
    rows = {}
    for name, endpoint in endpoints.items():
        times = [
            moment.timestamp()
            for moment in DeliveryAttempt.objects.filter(delivery__target=endpoint.pk).values_list(
                "attempted_at", flat=True
            )
        ]
        spread = (max(times) - min(times)) if times else 0.0
        rows[name] = {
            "rate_limit": endpoint.rate_limit,
            "attempts": len(times),
            "seconds_from_worker_start": round(finished.get(name, float("nan")), 2),
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
        say(f"{args.events} events to an unlimited endpoint alone")
        alone = run(world, args.events, None)["unlimited"]
        say(f"{args.events} events to an endpoint limited to {args.rate}/s and to an unlimited one")
        rows = run(world, args.events, args.rate)
    finally:
        world.stop()
    rows = {"unlimited alone": alone, "unlimited beside": rows["unlimited"], "limited": rows["limited"]}
    print(f"\n{args.events} events, one worker")
    print(f"  {'endpoint':16} {'limit':>6} {'attempts':>8} {'seconds':>8} {'per second':>11} {'max in 1 s':>10}")
    for name, row in rows.items():
        print(
            f"  {name:16} {row['rate_limit'] or '-':>6} {row['attempts']:>8} {row['seconds_from_worker_start']:>8} "
            f"{row['achieved_per_second'] or '-':>11} {row['most_in_any_second']:>10}"
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
