"""Live push: how long after a report's `finished_at` its WebSocket event reaches a client, and POST to event;
then the same for the integrator's client waiting by polling and by long polling.

    .venv/bin/python bench/live.py [--count 200] [--polled 30] [--held 500]

Builds the same production-like world as bench/core.py (its own SQLite DB, private Redis, daphne, one worker),
subscribes to `/ws/reports/` with the bench user's token, and submits one-page `user_access` reports one at a
time. For each: the client's clock at the POST, at the arrival of `report.succeeded`, and the report's
`finished_at` from the event itself. Then --polled more reports, each waited for by the integrator's client
(client/) polling (backoff with jitter and Retry-After), then as many waited for by its default, long polling
(`Prefer: wait=N`): when it learned of the end, and with how many GETs. Last, --held long polls held at once by the
one daphne on a report that stays queued (the worker stopped): daphne's memory before and while they are held.
Same machine, one clock. Prints a table and writes bench/results/live-<timestamp>.json. Talks to 127.0.0.1 only.
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
from bench.streams import rss_mb  # noqa: E402
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


def measure_client(world: World, count: int, *, long_poll: bool) -> dict:
    """The same one-page reports, waited for by the integrator's client (client/), polling or long polling: how long
    after `finished_at` it learns of the end, and how many GETs that took."""
    samples = []
    with ReportsClient(world.base_url, world.token) as client:
        client.http.headers["X-Forwarded-Proto"] = "https"  # as behind the TLS proxy, like every bench request
        requests = {"count": 0}
        client.http.event_hooks["request"].append(lambda request: requests.__setitem__("count", requests["count"] + 1))
        for _ in range(count):
            report_id = client.submit("user_access", {})["id"]
            requests["count"] = 0
            report = client.wait(report_id, timeout=60, long_poll=long_poll)
            seen = time.time()
            if report["status"] != "succeeded":
                raise RuntimeError(f"{report_id} ended {report['status']}")
            samples.append(
                {"finished_to_seen_ms": (seen - parse_time(report["finished_at"])) * 1000, "gets": requests["count"]}
            )
    backoff = client.backoff
    return {
        "description": (
            "`ReportsClient.wait`, long polling: `Prefer: wait=25`, asked again at once until the end"
            if long_poll
            else f"`ReportsClient.wait(long_poll=False)`: full-jitter backoff from {backoff.initial:g} s, "
            f"×{backoff.multiplier:g}, at most {backoff.maximum:g} s, never sooner than the server's `Retry-After`"
        ),
        "finished_to_seen_ms": summarize([sample["finished_to_seen_ms"] for sample in samples]),
        "requests": summarize([sample["gets"] for sample in samples]),
    }


async def measure_held(world: World, count: int, wait: int) -> dict:
    """`count` long polls at once on a report that stays queued: daphne's memory before and while they are held, and
    whether each was held for its whole wait."""
    async with httpx.AsyncClient(base_url=world.base_url, headers=world.headers, timeout=wait + 30) as client:
        report_id = (await client.post("/api/v1/reports", json=REPORT_BODY)).json()["id"]
        before_mb = rss_mb(world.daphne.pid)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=world.base_url, headers=world.headers, timeout=wait + 30, limits=limits
        ) as polls:
            started = time.monotonic()
            tasks = [
                asyncio.create_task(polls.get(f"/api/v1/reports/{report_id}", headers={"Prefer": f"wait={wait}"}))
                for _ in range(count)
            ]
            await asyncio.sleep(wait / 2)  # all of them opened and held by now
            held_mb = rss_mb(world.daphne.pid)
            me = await client.get("/api/v1/me")  # and other requests go on meanwhile
            answers = await asyncio.gather(*tasks)
            took = time.monotonic() - started
    applied = sum(answer.headers.get("Preference-Applied") == f"wait={wait}" for answer in answers)
    return {
        "long_polls": count,
        "wait_seconds": wait,
        "held_for_the_whole_wait": applied,
        "all_answered_after_s": round(took, 1),
        "other_request_meanwhile": me.status_code,
        "rss_before_mb": round(before_mb, 1),
        "rss_held_mb": round(held_mb, 1),
        "rss_added_mb": round(held_mb - before_mb, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one report's events")
    parser.add_argument("--polled", type=int, default=30, help="reports waited for by each kind of client")
    parser.add_argument("--held", type=int, default=500, help="long polls held at once")
    parser.add_argument("--held-wait", type=int, default=20, help="seconds each of those asks to be held")
    args = parser.parse_args()
    world = World()
    try:
        world.start()
        say(f"{args.count} reports, one at a time, each followed on /ws/reports/")
        result = asyncio.run(measure(world, args.count, args.warmup, args.timeout))
        say(f"{args.polled} reports, one at a time, each waited for by the polling client")
        polling = measure_client(world, args.polled, long_poll=False)
        say(f"{args.polled} reports, one at a time, each waited for by the long-polling client")
        long_polling = measure_client(world, args.polled, long_poll=True)
        world.stop_worker()
        say(f"{args.held} long polls held at once for {args.held_wait} s")
        held = asyncio.run(measure_held(world, args.held, args.held_wait))
    finally:
        world.stop()
    result = {"benchmark": "live", "machine": machine_info(), **result}
    result["polling_client"] = polling["description"]
    result["long_polling_client"] = long_polling["description"]
    result["summary"].update(
        {
            "finished_to_polling_client_ms": polling["finished_to_seen_ms"],
            "polling_requests": polling["requests"],
            "finished_to_long_poll_ms": long_polling["finished_to_seen_ms"],
            "long_poll_requests": long_polling["requests"],
        }
    )
    result["held_long_polls"] = held
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
    row, long_gets = result["summary"]["finished_to_long_poll_ms"], result["summary"]["long_poll_requests"]
    label = "finished_at -> long poll saw"
    print(f"  {label:26} {row['p50']:>8.2f} {row['p99']:>8.2f} {row['mean']:>8.2f} {row['max']:>8.2f}")
    print(f"  GETs per report: polling p50 {gets['p50']:.0f} (max {gets['max']:.0f}), long polling p50 "
          f"{long_gets['p50']:.0f} (max {long_gets['max']:.0f})")  # fmt: skip
    print(
        f"  {held['long_polls']} long polls held: daphne {held['rss_before_mb']} -> {held['rss_held_mb']} MB "
        f"(+{held['rss_added_mb']} MB); {held['held_for_the_whole_wait']} held {held['wait_seconds']} s; "
        f"GET /api/v1/me meanwhile: {held['other_request_meanwhile']}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    output = RESULTS / f"live-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    output.write_text(json.dumps(result, indent=2))
    print(f"written {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
