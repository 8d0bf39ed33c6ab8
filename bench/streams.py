"""Resumable streams: the WebSocket, Server-Sent Events and the GraphQL subscription side by side.

    .venv/bin/python bench/streams.py [--count 100] [--replay 1000] [--idle 1000] [--idle-seconds 30]

Builds the world of bench/core.py (its own SQLite DB, private Redis, daphne, one worker) and measures:
1. how long after a report's `finished_at` its `report.succeeded` reaches a client on `/ws/reports/`, then one on
   `GET /api/v1/events/stream`, then one subscribed to `reportEvents` over graphql-transport-ws on `/graphql`, each
   alone, then all three connected at once, over --count one-page reports each, submitted one at a time;
2. the replay of --replay missed events: from opening the connection with the cursor (`?after=` on the WebSocket,
   `Last-Event-ID` on SSE) to the last missed event received;
3. --idle idle SSE streams and --idle idle WebSockets held by the one daphne: its memory before and after, and its
   CPU over --idle-seconds with all of them open and nothing happening (SSE keep-alive comments included).
Prints a table and writes bench/results/streams-<timestamp>.json. Talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402

from bench.core import REPORT_BODY, RESULTS, World, cpu_seconds, machine_info, parse_time, say, summarize  # noqa: E402

TERMINAL = {"report.succeeded", "report.failed", "report.cancelled"}
STREAMS = ("websocket", "sse", "graphql")
STREAM_TIMEOUT = httpx.Timeout(10.0, read=120.0)
HANDSHAKES_AT_ONCE = 50
WRITE_EVENTS = """
from django.contrib.auth.models import User
from events.log import event_record
user = User.objects.get(username="bench")
ids = [event_record(user_id=user.pk, event_type="ping", data={{"n": n}}).id for n in range({count})]
print("FIRST=" + ids[0])
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _sse_lines(response: httpx.Response):
    """(event name, data) of each event of an open SSE response."""
    name, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif line == "" and data:
            yield name, data
            name, data = "", ""


GRAPHQL_FOLLOW = "subscription { reportEvents { type report { id } } }"


async def open_graphql_subscription(stack: contextlib.AsyncExitStack, port: int, token: str):
    """A graphql-transport-ws socket on /graphql, acknowledged and subscribed to the user's `reportEvents`."""
    url = f"ws://127.0.0.1:{port}/graphql"
    socket = await stack.enter_async_context(websockets.connect(url, subprotocols=["graphql-transport-ws"]))
    await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Token {token}"}}))
    if json.loads(await socket.recv())["type"] != "connection_ack":
        raise RuntimeError("the GraphQL socket was not acknowledged")
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": GRAPHQL_FOLLOW}}))
    return socket


async def measure_latency(world: World, streams: tuple[str, ...], count: int, warmup: int, timeout: float) -> dict:
    """finished_at → report.succeeded on each of `streams` ("websocket", "sse", "graphql"), connected for the whole
    run."""
    arrivals: dict[str, dict[str, float]] = {stream: {} for stream in streams}
    ws_url = f"ws://127.0.0.1:{world.port}/ws/reports/"
    async with contextlib.AsyncExitStack() as stack:
        # Reads wait as long as a stream is quiet (the SSE keep-alive comes every 15 s); connecting does not.
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=world.base_url, headers=world.headers, timeout=STREAM_TIMEOUT)
        )
        readers = []
        if "websocket" in streams:
            headers = {"Authorization": f"Token {world.token}"}
            socket = await stack.enter_async_context(websockets.connect(ws_url, additional_headers=headers))

            async def read_ws() -> None:
                async for message in socket:
                    received = time.time()
                    event = json.loads(message)
                    if event["type"] in TERMINAL:
                        arrivals["websocket"][event["data"]["report"]["id"]] = received

            readers.append(asyncio.create_task(read_ws()))
        if "sse" in streams:
            sse = await stack.enter_async_context(client.stream("GET", "/api/v1/events/stream"))

            async def read_sse() -> None:
                async for name, data in _sse_lines(sse):
                    received = time.time()
                    if name in TERMINAL:
                        arrivals["sse"][json.loads(data)["data"]["report"]["id"]] = received

            readers.append(asyncio.create_task(read_sse()))
        if "graphql" in streams:
            subscription = await open_graphql_subscription(stack, world.port, world.token)

            async def read_graphql() -> None:
                async for message in subscription:
                    received = time.time()
                    event = json.loads(message).get("payload", {}).get("data", {}).get("reportEvents")
                    if event and event["type"] in TERMINAL:
                        arrivals["graphql"][event["report"]["id"]] = received

            readers.append(asyncio.create_task(read_graphql()))
        samples: dict[str, list[float]] = {stream: [] for stream in streams}
        try:
            for index in range(warmup + count):
                response = await client.post("/api/v1/reports", json=REPORT_BODY, timeout=10)
                report_id = response.json()["id"]
                deadline = time.monotonic() + timeout
                while not all(report_id in seen for seen in arrivals.values()):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{report_id}: no terminal event on every stream within {timeout}s")
                    await asyncio.sleep(0.005)
                if index < warmup:
                    continue
                report = (await client.get(f"/api/v1/reports/{report_id}", timeout=10)).json()
                finished = parse_time(report["finished_at"])
                for stream, seen in arrivals.items():
                    samples[stream].append((seen[report_id] - finished) * 1000)
        finally:
            for reader in readers:
                reader.cancel()
    return {stream: summarize(values) for stream, values in samples.items()}


async def measure_replay(world: World, count: int) -> dict:
    """Open a stream with a cursor `count` events back; time until the last missed event arrives."""
    out = world.manage("shell", code=WRITE_EVENTS.format(count=count + 1))
    first = out.split("FIRST=")[1].split()[0]
    results = {}
    started = time.monotonic()
    ws_url = f"ws://127.0.0.1:{world.port}/ws/reports/?after={first}"
    async with websockets.connect(ws_url, additional_headers={"Authorization": f"Token {world.token}"}) as socket:
        for _ in range(count):
            await socket.recv()
    results["websocket_ms"] = (time.monotonic() - started) * 1000
    started = time.monotonic()
    async with (
        httpx.AsyncClient(base_url=world.base_url, headers=world.headers, timeout=60) as client,
        client.stream("GET", "/api/v1/events/stream", headers={"Last-Event-ID": first}) as sse,
    ):
        received = 0
        async for _ in _sse_lines(sse):
            received += 1
            if received == count:
                break
    results["sse_ms"] = (time.monotonic() - started) * 1000
    return results


async def measure_idle(world: World, count: int, seconds: float) -> dict:
    """`count` idle SSE streams and `count` idle WebSockets on the one daphne: memory and CPU while idle."""
    pid = world.daphne.pid
    before_mb = rss_mb(pid)
    release = asyncio.Event()
    opened = {"sse": 0, "websocket": 0}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    ws_url = f"ws://127.0.0.1:{world.port}/ws/reports/"

    async with httpx.AsyncClient(
        base_url=world.base_url, headers=world.headers, timeout=STREAM_TIMEOUT, limits=limits
    ) as client:
        # At most this many handshakes at once: clients arrive over a while, not in one burst (each stream's start
        # reads its position in the log, one query on daphne's thread for synchronous code).
        opening = asyncio.Semaphore(HANDSHAKES_AT_ONCE)

        async def hold_sse() -> None:
            async with contextlib.AsyncExitStack() as stack:
                async with opening:
                    sse = await stack.enter_async_context(client.stream("GET", "/api/v1/events/stream"))
                    await sse.aiter_lines().__anext__()  # the stream is up: its first line (retry:) arrived
                opened["sse"] += 1
                await release.wait()

        async def hold_ws() -> None:
            headers = {"Authorization": f"Token {world.token}"}
            async with contextlib.AsyncExitStack() as stack:
                async with opening:
                    await stack.enter_async_context(websockets.connect(ws_url, additional_headers=headers))
                opened["websocket"] += 1
                await release.wait()

        tasks = []
        for _ in range(count):
            tasks += [asyncio.create_task(hold_sse()), asyncio.create_task(hold_ws())]
        deadline = time.monotonic() + 120
        while min(opened.values()) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if min(opened.values()) < count:
            raise RuntimeError(f"only {opened} streams opened")
        await asyncio.sleep(2)  # settle
        held_mb = rss_mb(pid)
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu_used = cpu_seconds(pid) - cpu_before
        wall = time.monotonic() - wall_before
        release.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "streams": opened,
        "rss_before_mb": round(before_mb, 1),
        "rss_held_mb": round(held_mb, 1),
        "rss_added_mb": round(held_mb - before_mb, 1),
        "idle_seconds": round(wall, 1),
        "idle_cpu_percent_of_a_core": round(100 * cpu_used / wall, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--replay", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    world = World()
    try:
        world.start()
        latency = {}
        for stream in STREAMS:
            say(f"{args.count} reports, each followed on {stream} alone")
            latency.update(asyncio.run(measure_latency(world, (stream,), args.count, args.warmup, args.timeout)))
        say(f"{args.count} reports, each followed on all three at once")
        together = asyncio.run(measure_latency(world, STREAMS, args.count, args.warmup, args.timeout))
        world.stop_worker()
        say(f"replay of {args.replay} missed events")
        replay = asyncio.run(measure_replay(world, args.replay))
        say(f"{args.idle} idle SSE streams and {args.idle} idle WebSockets for {args.idle_seconds:g} s")
        idle = asyncio.run(measure_idle(world, args.idle, args.idle_seconds))
    finally:
        world.stop()
    result = {
        "benchmark": "streams",
        "machine": machine_info(),
        "count": args.count,
        "latency": latency,
        "latency_together": together,
        "replay": {"events": args.replay, **replay},
        "idle": idle,
    }
    print(f"\nfinished_at -> report.succeeded over {args.count} one-page reports")
    print(f"  {'stream':22} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
    rows = [(f"{name} alone", figures) for name, figures in latency.items()]
    rows += [(f"{name}, all at once", figures) for name, figures in together.items()]
    for label, f in rows:
        print(f"  {label:22} {f['p50']:8.2f} {f['p99']:8.2f} {f['mean']:8.2f} {f['max']:8.2f}")
    ws_ms, sse_ms = replay["websocket_ms"], replay["sse_ms"]
    print(f"replay of {args.replay} missed events: WebSocket {ws_ms:.0f} ms, SSE {sse_ms:.0f} ms")
    print(
        f"idle: {idle['streams']} held; daphne {idle['rss_before_mb']} -> {idle['rss_held_mb']} MB "
        f"(+{idle['rss_added_mb']} MB), {idle['idle_cpu_percent_of_a_core']} % of a core over {idle['idle_seconds']} s"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"streams-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"written {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
