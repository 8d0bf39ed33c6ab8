"""Live push: how long after a report's `finished_at` its WebSocket event reaches a client, and POST to event.

    .venv/bin/python bench/live.py [--count 200]

Builds the same production-like world as bench/core.py (its own SQLite DB, private Redis, daphne, one worker),
subscribes to `/ws/reports/` with the bench user's token, and submits one-page `user_access` reports one at a
time. For each: the client's clock at the POST, at the arrival of `report.succeeded`, and the report's
`finished_at` from the event itself. Then --polled more reports, each waited for by the integrator's polling
client (client/, backoff with jitter and Retry-After): when it learned of the end, and with how many GETs. Same
machine, one clock. Prints a table and writes
bench/results/live-<timestamp>.json. Talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402

from bench.core import REPORT_BODY, RESULTS, World, machine_info, parse_time, say, summarize  # noqa: E402
from client.api import ReportsClient  # noqa: E402


async def measure(world: World, count: int, warmup: int, timeout: float) -> dict:
    ws_url = f"ws://127.0.0.1:{world.port}/ws/reports/"
    samples = []
    async with (
        websockets.connect(ws_url, additional_headers={"Authorization": f"Token {world.token}"}) as socket,
        httpx.AsyncClient(base_url=world.base_url, headers=world.headers, timeout=10) as client,
    ):
        for index in range(warmup + count):
            sent = time.time()
            response = await client.post("/api/v1/reports", json=REPORT_BODY)
            if response.status_code != 201:
                raise RuntimeError(f"POST answered {response.status_code}: {response.text[:300]}")
            report_id = response.json()["id"]
            seen: list[str] = []
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"no terminal event for {report_id} within {timeout}s (saw {seen})")
                event = json.loads(await asyncio.wait_for(socket.recv(), remaining))
                received = time.time()
                if event["data"]["report"]["id"] != report_id:
                    continue
                seen.append(event["type"])
                if event["type"] in {"report.succeeded", "report.failed", "report.cancelled"}:
                    break
            report = event["data"]["report"]
            if index < warmup:
                continue
            if event["type"] != "report.succeeded" or report["file"]["pages"] != 1:
                raise RuntimeError(f"{report_id} ended {event['type']} with {report['file']}")
            samples.append(
                {
                    "id": report_id,
                    "events": seen,
                    "post_to_event_ms": (received - sent) * 1000,
                    "finished_to_event_ms": (received - parse_time(report["finished_at"])) * 1000,
                    "post_to_finished_ms": (parse_time(report["finished_at"]) - sent) * 1000,
                }
            )
    in_order = all(
        sample["events"] == ["report.queued", "report.running", "report.progress", "report.succeeded"]
        for sample in samples
    )
    return {
        "count": len(samples),
        "warmup": warmup,
        "events_in_order": in_order,
        "summary": {
            name: summarize([sample[name] for sample in samples])
            for name in ("finished_to_event_ms", "post_to_event_ms", "post_to_finished_ms")
        },
        "samples": samples,
    }


def measure_polling(world: World, count: int) -> dict:
    """The same one-page reports, waited for by the integrator's polling client (client/): how long after
    `finished_at` it learns of the end, and how many GETs that took."""
    samples = []
    with ReportsClient(world.base_url, world.token) as client:
        client.http.headers["X-Forwarded-Proto"] = "https"  # as behind the TLS proxy, like every bench request
        requests = {"count": 0}
        client.http.event_hooks["request"].append(lambda request: requests.__setitem__("count", requests["count"] + 1))
        for _ in range(count):
            report_id = client.submit("user_access", {})["id"]
            requests["count"] = 0
            report = client.wait(report_id, timeout=60)
            seen = time.time()
            if report["status"] != "succeeded":
                raise RuntimeError(f"{report_id} ended {report['status']}")
            samples.append(
                {"finished_to_seen_ms": (seen - parse_time(report["finished_at"])) * 1000, "gets": requests["count"]}
            )
    backoff = client.backoff
    return {
        "polling_client": (
            f"`ReportsClient.wait`: full-jitter backoff from {backoff.initial:g} s, ×{backoff.multiplier:g}, at most "
            f"{backoff.maximum:g} s, never sooner than the server's `Retry-After`"
        ),
        "finished_to_polling_client_ms": summarize([sample["finished_to_seen_ms"] for sample in samples]),
        "polling_requests": summarize([sample["gets"] for sample in samples]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one report's events")
    parser.add_argument("--polled", type=int, default=30, help="reports waited for by the polling client")
    args = parser.parse_args()
    world = World()
    try:
        world.start()
        say(f"{args.count} reports, one at a time, each followed on /ws/reports/")
        result = asyncio.run(measure(world, args.count, args.warmup, args.timeout))
        say(f"{args.polled} reports, one at a time, each waited for by the polling client")
        polling = measure_polling(world, args.polled)
    finally:
        world.stop()
    result = {"benchmark": "live", "machine": machine_info(), **result}
    result["polling_client"] = polling.pop("polling_client")
    result["summary"].update(polling)
    print(f"\nLive push over {result['count']} one-page reports (events in order: {result['events_in_order']})")
    print(f"  {'interval':26} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
    for name, label in (
        ("finished_to_event_ms", "finished_at -> WS event"),
        ("post_to_event_ms", "POST sent -> WS event"),
        ("post_to_finished_ms", "POST sent -> finished_at"),
    ):
        row = result["summary"][name]
        print(f"  {label:26} {row['p50']:>8.2f} {row['p99']:>8.2f} {row['mean']:>8.2f} {row['max']:>8.2f}")
    row, gets = result["summary"]["finished_to_polling_client_ms"], result["summary"]["polling_requests"]
    label = "finished_at -> poller saw"
    print(f"  {label:26} {row['p50']:>8.2f} {row['p99']:>8.2f} {row['mean']:>8.2f} {row['max']:>8.2f}")
    print(f"  polling client GETs per report: p50 {gets['p50']:.0f}, max {gets['max']:.0f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    output = RESULTS / f"live-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    output.write_text(json.dumps(result, indent=2))
    print(f"written {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
