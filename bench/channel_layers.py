"""Which Channels layer carries an event from a worker to a WebSocket consumer faster: core or pubsub?

Publishes through `common.live.group_send` (the path the worker and the web use) from this process, and receives
in a separate process through the layer's own `receive`, as a consumer in daphne does; the time from publish to
receipt is measured on the one clock of this machine. Each layer gets its own private Redis.

    .venv/bin/python bench/channel_layers.py [--events 500]

Prints a table and writes bench/results/channel-layers-<timestamp>.json. Talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reportsite.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # the settings refuse to load without one

from scripts.private_redis import PrivateRedis, free_port  # noqa: E402

LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
GROUP = "bench.layer"


def _configure(backend: str) -> None:
    import django
    from django.conf import settings

    django.setup()
    settings.CHANNEL_LAYERS["default"]["BACKEND"] = backend


def _receive(backend: str, events: int, results: multiprocessing.Queue) -> None:
    _configure(backend)
    from channels.layers import get_channel_layer

    async def main() -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(GROUP, channel)
        results.put("ready")
        latencies = []
        for _ in range(events):
            message = await asyncio.wait_for(layer.receive(channel), timeout=10)
            latencies.append((time.time() - message["sent_at"]) * 1000)
        results.put(latencies)

    asyncio.run(main())


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(backend: str, events: int, gap: float) -> dict:
    with tempfile.TemporaryDirectory() as run_dir, PrivateRedis(Path(run_dir), port=free_port()) as redis_server:
        os.environ["REDIS_URL"] = redis_server.url
        results: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
        receiver = multiprocessing.get_context("spawn").Process(target=_receive, args=(backend, events, results))
        receiver.start()
        if results.get(timeout=30) != "ready":
            raise RuntimeError("receiver did not start")
        _configure(backend)
        from common import live

        time.sleep(0.2)
        for _ in range(events):
            live.group_send([(GROUP, {"type": "bench.event", "sent_at": time.time()})])
            time.sleep(gap)
        latencies = results.get(timeout=60)
        receiver.join(10)
    return {
        "events": len(latencies),
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--gap", type=float, default=0.005, help="seconds between events")
    args = parser.parse_args()
    figures = {}
    for name in LAYERS:
        # A fresh interpreter per layer: the layer object is cached per process.
        figures[name] = run_isolated(name, args.events, args.gap)
    print(f"{'layer':8} {'events':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, row in figures.items():
        print(f"{name:8} {row['events']:>7} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['max_ms']:>8.2f}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    output = results / f"channel-layers-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    output.write_text(json.dumps({"benchmark": "channel_layers", "figures": figures}, indent=2))
    print(f"written {output.relative_to(ROOT)}")


def run_isolated(name: str, events: int, gap: float) -> dict:
    import subprocess

    code = f"import json, bench.channel_layers as b; print(json.dumps(b.measure({LAYERS[name]!r}, {events}, {gap})))"
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
