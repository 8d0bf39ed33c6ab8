"""Webhook deliveries per second from one worker to a fast local receiver, alone and with a hanging endpoint beside.

    .venv/bin/python bench/webhooks.py [--events 1000]

Builds its own world (bench/core.py's: SQLite, private Redis, one `rqworker`), registers endpoints on receivers
that run as separate processes on 127.0.0.1 (bench/receiver.py), writes the events to the log with
`events.log.event_record` (each fanned out on its commit, as every event is: one `Delivery` per endpoint), starts
one worker, and times until every delivery to the fast receiver succeeded.
Run B adds an endpoint that accepts connections and never answers (cut at WEBHOOK_TIMEOUT each time), subscribed
to the same events. Prints a table and writes bench/results/webhooks-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.core import RESULTS, World, machine_info, say  # noqa: E402
from scripts.private_redis import free_port  # noqa: E402

WEBHOOK_TIMEOUT = "5"


def start_receiver(world: World, mode: str) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    count_file = world.dir / f"receiver-{port}.count"
    command = [sys.executable, "bench/receiver.py", "--port", str(port), "--mode", mode]
    command += ["--count-file", str(count_file)]
    process = world.spawn(f"receiver-{mode}-{port}", command)
    deadline = time.monotonic() + 10
    while not count_file.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"receiver did not start:\n{world.log_tail(f'receiver-{mode}-{port}')}")
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}/hooks", count_file


def run(world: World, events: int, with_hanging: bool) -> dict:
    from django.contrib.auth.models import User

    from events.log import event_record
    from events.models import Delivery, DeliveryStatus, Event
    from notifications.models import WebhookEndpoint
    from notifications.webhooks import services
    from notifications.webhooks.services import ENDPOINT_CHANNEL

    Event.objects.all().delete()  # the previous run's events, with their deliveries
    WebhookEndpoint.objects.all().delete()
    user = User.objects.get(username="bench")
    fast_process, fast_url, fast_count = start_receiver(world, "fast")
    processes = [fast_process]
    fast = services.endpoint_create(owner=user, url=fast_url)
    if with_hanging:
        hang_process, hang_url, _ = start_receiver(world, "hang")
        processes.append(hang_process)
        services.endpoint_create(owner=user, url=hang_url)
    # Deliveries are created before the worker starts, so the timing covers delivery only.
    world.stop_worker()
    for index in range(events):
        # Its own transaction; fanned out on commit (one delivery per endpoint, and a delivery run queued).
        event_record(user_id=user.pk, event_type="report.succeeded", data={"report": {"id": f"rep_{index}"}})
    made = Delivery.objects.filter(channel=ENDPOINT_CHANNEL, target=fast.pk).count()
    if made != events:
        raise RuntimeError(f"{events} events written but {made} deliveries to the fast endpoint made")
    say(f"{events} events written and fanned out ({'fast + hanging' if with_hanging else 'fast'} endpoint)")
    started = time.monotonic()
    world.start_worker(extra_args=("--with-scheduler",))
    worker_ready = time.monotonic()
    deadline = worker_ready + 600
    done = 0
    while time.monotonic() < deadline:
        done = Delivery.objects.filter(
            channel=ENDPOINT_CHANNEL, target=fast.pk, status=DeliveryStatus.SUCCEEDED
        ).count()
        if done >= events:
            break
        time.sleep(0.05)
    finished = time.monotonic()
    received = int(fast_count.read_text() or 0)
    for process in processes:
        world._stop(process, timeout=5)
    seconds = finished - worker_ready
    return {
        "events": events,
        "with_hanging_endpoint": with_hanging,
        "fast_delivered": done,
        "fast_received_by_receiver": received,
        "seconds_from_worker_ready": round(seconds, 3),
        "deliveries_per_second": round(done / seconds, 1) if seconds else None,
        "worker_start_seconds": round(worker_ready - started, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the world's folder (logs) afterwards")
    args = parser.parse_args()
    world = World(keep=args.keep)
    try:
        world.start_data()
        # The receivers are on loopback; the hanging endpoint must stay enabled for the whole run.
        world.env.update(
            WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
            WEBHOOK_TIMEOUT=WEBHOOK_TIMEOUT,
            WEBHOOK_DISABLE_AFTER_FAILURES="100000",
        )
        os.environ.update(world.env)
        import django

        django.setup()
        results = [run(world, args.events, with_hanging=False), run(world, args.events, with_hanging=True)]
    finally:
        world.stop()
    alone, beside = results
    cost = 1 - beside["deliveries_per_second"] / alone["deliveries_per_second"]
    result = {
        "benchmark": "webhooks",
        "machine": machine_info(),
        "webhook_timeout_s": float(WEBHOOK_TIMEOUT),
        "runs": results,
        "hanging_endpoint_cost": round(cost, 3),
    }
    print(f"\nWebhook deliveries from one worker, {args.events} events (timeout {WEBHOOK_TIMEOUT} s)")
    print(f"  {'run':34} {'delivered':>9} {'seconds':>8} {'per second':>11}")
    for row, label in ((alone, "fast endpoint alone"), (beside, "fast beside a hanging endpoint")):
        print(
            f"  {label:34} {row['fast_delivered']:>9} {row['seconds_from_worker_ready']:>8.2f} "
            f"{row['deliveries_per_second']:>11.1f}"
        )
    print(f"  the hanging endpoint costs the fast one {cost:.1%} of its rate")
    RESULTS.mkdir(parents=True, exist_ok=True)
    output = RESULTS / f"webhooks-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    output.write_text(json.dumps(result, indent=2))
    print(f"written {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
