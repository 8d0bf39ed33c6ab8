"""Every benchmark of SPEC §13, one after the other, then docs/benchmarks.md written from their results.

    .venv/bin/python bench/run_all.py            # about 15 minutes
    .venv/bin/python bench/run_all.py --quick    # smaller runs, about 5 minutes, for a look rather than figures

Runs bench/core.py (submit latency and throughput), bench/live.py (report end to WebSocket event, beside a
polling client), bench/webhooks.py (deliveries per second, and beside a hanging endpoint), bench/streams.py (the
WebSocket, Server-Sent Events and the GraphQL subscription side by side, replay, idle streams), bench/model_table.py
(PDF render by size: the rows drawn by ReportLab, today's HTML path and bare xhtml2pdf, worker and web memory),
bench/split_layout.py (req/s under daphne alone and under nginx with gunicorn and daphne),
bench/webhook_rate_limit.py (an endpoint's rate limit, and an unlimited endpoint beside it), each in a world of its
own, and writes their figures with the machine, the commit and the load into docs/benchmarks.md. The JSON of every
run stays in bench/results/. The machine should be quiet: other load shows in the figures (the load average is
recorded).
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

from bench.core import RESULTS, machine_info, say  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"


def run(script: str, *args: str) -> dict:
    """Run one benchmark script; returns the JSON it wrote (the newest results file it made)."""
    started = time.time()
    say(f"running bench/{script} {' '.join(args)}")
    subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, check=True)
    prefix = script.removesuffix(".py").replace("_", "-")
    made = [path for path in RESULTS.glob(f"{prefix}-*.json") if path.stat().st_mtime >= started]
    if not made:
        raise RuntimeError(f"bench/{script} wrote no results file")
    return json.loads(max(made, key=lambda path: path.stat().st_mtime).read_text())


def latest(script: str) -> dict:
    """The newest results file a script wrote earlier, for a benchmark not run again (--reuse)."""
    prefix = script.removesuffix(".py").replace("_", "-")
    made = sorted(RESULTS.glob(f"{prefix}-*.json"), key=lambda path: path.stat().st_mtime)
    if not made:
        raise SystemExit(f"--reuse {prefix}: no bench/results/{prefix}-*.json yet; run it first")
    say(f"reusing {made[-1].relative_to(ROOT)}")
    return json.loads(made[-1].read_text())


def provenance(result: dict) -> str:
    """When and from which commit a benchmark's figures are, and how loaded the machine was as it started."""
    machine = result["machine"]
    load = machine.get("loadavg_at_start") or ["?"]
    dirty = " with uncommitted changes" if machine.get("git_dirty_files") else ""
    return (
        f"Run {machine['date_utc'][:16].replace('T', ' ')} UTC, commit `{machine['git_commit']}`{dirty}, "
        f"load average {load[0]} at the start."
    )


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


STREAM_NAMES = {"websocket": "WebSocket", "sse": "SSE", "graphql": "GraphQL subscription"}


def _streams_section(streams: dict) -> list[str]:
    replay, idle = streams["replay"], streams["idle"]
    lines = [
        "## Resumable streams: the WebSocket, Server-Sent Events and GraphQL (`bench/streams.py`)",
        "",
        provenance(streams),
        "",
        f"{streams['count']} one-page reports, one at a time, followed on `/ws/reports/`, then as many on `GET "
        "/api/v1/events/stream`, then as many subscribed to `reportEvents` on `/graphql` (graphql-transport-ws), then "
        "as many on all of them at once. Times in ms from the report's `finished_at` to its `report.succeeded`.",
        "",
        "| stream | p50 | p99 | mean | max |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    rows = [(name, "", figures) for name, figures in streams["latency"].items()]
    together = streams.get("latency_together", {})
    at_once = ", both at once" if len(together) == 2 else ", all at once"
    rows += [(name, at_once, figures) for name, figures in together.items()]
    for name, when, figures in rows:
        label = STREAM_NAMES[name] + when
        lines.append(
            f"| {label} | {figures['p50']:.2f} | {figures['p99']:.2f} | {figures['mean']:.2f} | {figures['max']:.2f} |"
        )
    lines += [
        "",
        f"A client {replay['events']:,} events behind reconnects with its cursor: {replay['websocket_ms']:.0f} ms on "
        f"the WebSocket (`?after=`), {replay['sse_ms']:.0f} ms on SSE (`Last-Event-ID`) from opening the connection "
        "to the last missed event. Held idle by the one daphne: "
        f"{idle['streams']['sse']:,} SSE streams and {idle['streams']['websocket']:,} WebSockets took it from "
        f"{idle['rss_before_mb']:.0f} to {idle['rss_held_mb']:.0f} MB, and {idle['idle_cpu_percent_of_a_core']:.2f} "
        f"% of a core over {idle['idle_seconds']:.0f} s with nothing happening (SSE keep-alive comments included).",
        "",
    ]
    return lines


SPLIT_LAYOUT_TARGET = 2.0  # the split layout's POST req/s / daphne alone's


def _split_layout_target(result: dict) -> str:
    split, daphne = (
        result["split_layout"]["summary"][name]["reports"]["requests_per_s"] for name in ("split", "daphne")
    )
    ratio = split / daphne
    return (
        f"| split layout: POST /api/v1/reports ≥ {SPLIT_LAYOUT_TARGET:g} × daphne alone | {split:.1f} / "
        f"{daphne:.1f} req/s = {ratio:.2f} | {verdict(ratio >= SPLIT_LAYOUT_TARGET)} |"
    )


def _split_layout_section(result: dict) -> list[str]:
    split = result["split_layout"]
    labels = {"me": "GET /api/v1/me", "reports": "POST /api/v1/reports"}
    lines = [
        "## The split layout: plain HTTP on gunicorn behind nginx (`bench/split_layout.py`)",
        "",
        provenance(result),
        "",
        f"wrk, {split['clients']} connections, {split['rounds']} × {split['duration_s']:g} s per endpoint and "
        "layout, the layouts alternating, no worker (the web tier alone). **daphne**: one daphne, as the Procfile's "
        "`web`. **split**: nginx in front of gunicorn (`deploy/gunicorn.conf.py`: one process per core, two threads "
        "each) for plain HTTP and daphne for the rest ([deployment.md](deployment.md#http-on-gunicorn-the-split-"
        "layout)). CPU per request counts the layout's own processes (nginx, gunicorn, daphne).",
        "",
        "| layout | endpoint | req/s | errors | p50 ms | p99 ms | CPU ms per request |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, endpoints in split["summary"].items():
        for endpoint, row in endpoints.items():
            lines.append(
                f"| {name} | {labels[endpoint]} | {row['requests_per_s']:.1f} | {row['errors_total']} | "
                f"{row['latency_p50_ms']:.1f} | {row['latency_p99_ms']:.1f} | {row['server_cpu_ms_per_request']:.2f} |"
            )
    ratios = ", ".join(f"{name} {ratio:.2f}" for name, ratio in split["post_ratio"].items())
    lines += ["", f"POST req/s over daphne alone's: {ratios}.", ""]
    return lines


# An unlimited endpoint's burst, while another endpoint's backlog waits for its rate limit, takes at most this much
# longer than alone.
RATE_LIMIT_NEIGHBOUR_SLOWDOWN = 1.10


def _rate_limit_neighbour(result: dict) -> float:
    """How much longer the unlimited endpoint's burst took, written to last delivered, beside the limited backlog."""
    alone, beside = (
        result["runs"][name]["burst_to_last_attempt_s"] for name in ("unlimited alone", "unlimited beside")
    )
    return beside / alone if alone else 1.0


def _rate_limit_targets(result: dict) -> list[str]:
    limited = result["runs"]["limited"]
    most, rate = limited["most_in_any_second"], limited["rate_limit"]
    slowdown = _rate_limit_neighbour(result)
    return [
        f"| webhooks: an endpoint limited to {rate}/s receives no more in any second | {most} at most | "
        f"{verdict(most <= rate)} |",
        f"| webhooks: another endpoint's burst beside its held-back backlog ≤ {RATE_LIMIT_NEIGHBOUR_SLOWDOWN:.2f} × "
        f"alone | {slowdown:.2f} × | {verdict(slowdown <= RATE_LIMIT_NEIGHBOUR_SLOWDOWN)} |",
    ]


def _rate_limit_section(result: dict) -> list[str]:
    lines = [
        "## Webhooks: an endpoint's rate limit (`bench/webhook_rate_limit.py`)",
        "",
        provenance(result),
        "",
        f"A burst of {result['events']:,} events to an unlimited endpoint, alone; then the same while another user's "
        f"endpoint, limited to {result['rate']}/s, works through a backlog of {result['events']:,} held back by its "
        "limit. Fast receivers on 127.0.0.1, one worker; times as the delivery log records the attempts.",
        "",
        "| endpoint | limit | attempts | burst written → last delivered, s | first to last attempt, s | per second | "
        "most in any 1 s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in result["runs"].items():
        burst = row.get("burst_to_last_attempt_s")
        lines.append(
            f"| {name} | {row['rate_limit'] or '—'} | {row['attempts']:,} | "
            f"{'—' if burst is None else f'{burst:.2f}'} | {row['first_to_last_attempt_s']:.2f} | "
            f"{row['achieved_per_second'] or '—'} | {row['most_in_any_second']} |"
        )
    return [*lines, ""]


def _schedules_section(result: dict) -> list[str]:
    spread = result["start_offsets_seconds"]
    return [
        "## Scheduled reports: one tick (`bench/schedules.py`)",
        "",
        provenance(result),
        "",
        f"{result['schedules']:,} weekly schedules all due at the same minute, one tick at that minute: "
        f"{result['runs_made']:,} runs made in {result['tick_seconds']:.2f} s and {result['tick_queries']:,} SQL "
        f"queries, each run's start scheduled on RQ ({result['starts_scheduled_on_rq']:,}) at its due time plus its "
        f"schedule's jitter, {spread['min']} to {spread['max']} s ({spread['distinct']} different seconds). A second "
        f"tick at the same minute made {result['second_tick_made']}.",
        "",
    ]


def render(results: dict, machine: dict, command: str) -> str:
    core, live, hooks, tables = results["core"], results["live"], results["webhooks"], results["model_table"]
    lat, tp = core["latency"]["summary"], core["throughput"]
    fin, post_event = live["summary"]["finished_to_event_ms"], live["summary"]["post_to_event_ms"]
    polling = live["summary"].get("finished_to_polling_client_ms")
    fast, hanging = hooks["runs"][0], hooks["runs"][1]
    by_rows = {row["rows"]: row for row in tables["results"]}
    two_thousand, ten_thousand, fifty_thousand = by_rows.get(2000), by_rows.get(10000), by_rows.get(50000)
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {machine['date_utc'][:16].replace('T', ' ')} UTC. "
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']}, Python {machine['python']}. Each section says when its figures were taken, "
        "from which commit, and how loaded the machine was.",
        "Every figure comes from the scripts in `bench/` (how to run each: bench/README.md); the JSON of each run is "
        "in bench/results/. Each script builds its own world: a SQLite database, a private Redis, daphne and one "
        "`manage.py rqworker`, with `DJANGO_DEBUG=0`, talking to 127.0.0.1 only. The machine may be shared: treat "
        "differences under ~15 % between runs as noise. Earlier runs and their analysis: "
        "[benchmark-history.md](benchmark-history.md).",
        "",
        "## Targets",
        "",
        "| target | figure | |",
        "| --- | --- | --- |",
        f"| submit: p50 POST sent → `finished_at` < 100 ms | {lat['send_to_finished_ms']['p50']:.1f} ms | "
        f"{verdict(lat['send_to_finished_ms']['p50'] < 100)} |",
        f"| submit: POST throughput ≥ 0.60 × GET /api/v1/me | {tp['reports']['requests_per_s']:.1f} / "
        f"{tp['me']['requests_per_s']:.1f} req/s = {tp['ratio']:.2f} | {verdict(tp['ratio'] >= 0.6)} |",
        f"| live: `finished_at` → WebSocket event p50 ≤ 3 ms | {fin['p50']:.2f} ms | {verdict(fin['p50'] <= 3)} |",
        f"| live: same, p99 ≤ 10 ms | {fin['p99']:.2f} ms | {verdict(fin['p99'] <= 10)} |",
        f"| live: POST → WebSocket event p50 < 100 ms | {post_event['p50']:.1f} ms | "
        f"{verdict(post_event['p50'] < 100)} |",
        f"| webhooks: ≥ 300 deliveries/s from one worker | {fast['deliveries_per_second']:.0f}/s | "
        f"{verdict(fast['deliveries_per_second'] >= 300)} |",
        f"| webhooks: a hanging endpoint costs the others < 10 % | {hooks['hanging_endpoint_cost'] * 100:.1f} % | "
        f"{verdict(hooks['hanging_endpoint_cost'] < 0.10)} |",
    ]
    long_poll = live["summary"].get("finished_to_long_poll_ms")
    held = live.get("held_long_polls")
    if long_poll:
        lines.append(
            f"| long poll: `finished_at` → the client's answer p50 ≤ 5 ms | {long_poll['p50']:.2f} ms | "
            f"{verdict(long_poll['p50'] <= 5)} |"
        )
    if held:
        all_held = held["held_for_the_whole_wait"] == held["long_polls"]
        lines.append(
            f"| long poll: {held['long_polls']} held at once by one daphne, < 100 MB more | "
            f"+{held['rss_added_mb']:.0f} MB | {verdict(held['rss_added_mb'] < 100 and all_held)} |"
        )
    streams = results.get("streams")
    if streams:
        ws, sse, idle = streams["latency"]["websocket"], streams["latency"]["sse"], streams["idle"]
        replay = streams["replay"]
        slowest = max(replay["websocket_ms"], replay["sse_ms"])
        lines += [
            f"| streams: `finished_at` → event p50 ≤ 3 ms, WebSocket / SSE | {ws['p50']:.2f} / {sse['p50']:.2f} ms | "
            f"{verdict(max(ws['p50'], sse['p50']) <= 3)} |",
            f"| streams: same, p99 ≤ 10 ms | {ws['p99']:.2f} / {sse['p99']:.2f} ms | "
            f"{verdict(max(ws['p99'], sse['p99']) <= 10)} |",
        ]
        graphql = streams["latency"].get("graphql")
        if graphql:
            lines.append(
                f"| streams: `finished_at` → GraphQL subscription event p50 ≤ 5 ms (WebSocket in the same run) | "
                f"{graphql['p50']:.2f} ms ({ws['p50']:.2f} ms) | {verdict(graphql['p50'] <= 5)} |"
            )
        lines += [
            f"| streams: {replay['events']:,} missed events replayed < 1 s | {replay['websocket_ms']:.0f} / "
            f"{replay['sse_ms']:.0f} ms | {verdict(slowest < 1000)} |",
            f"| streams: {idle['streams']['sse']:,} idle SSE + {idle['streams']['websocket']:,} idle WebSockets on one "
            f"daphne: < 200 MB more, < 5 % of a core | +{idle['rss_added_mb']:.0f} MB, "
            f"{idle['idle_cpu_percent_of_a_core']:.1f} % | "
            f"{verdict(idle['rss_added_mb'] < 200 and idle['idle_cpu_percent_of_a_core'] < 5)} |",
        ]
    schedules = results.get("schedules")
    if schedules:
        all_made = schedules["runs_made"] == schedules["starts_scheduled_on_rq"] == schedules["schedules"]
        lines.append(
            f"| schedules: {schedules['schedules']:,} due in the same minute, every run enqueued within 60 s | "
            f"one tick, {schedules['tick_seconds']:.1f} s, {schedules['runs_made']:,} runs | "
            f"{verdict(all_made and schedules['tick_seconds'] < 60 and schedules['second_tick_made'] == 0)} |"
        )
    split_layout = results.get("split_layout")
    if split_layout:
        lines.append(_split_layout_target(split_layout))
    rate_limit = results.get("webhook_rate_limit")
    if rate_limit:
        lines += _rate_limit_targets(rate_limit)
    for row, most in ((two_thousand, 0.6), (ten_thousand, 0.2)):
        if row and row.get("ratio") is not None:
            lines.append(
                f"| PDF: {row['rows']:,}-row `model_table` ≤ {most} × one bare xhtml2pdf call on today's HTML | "
                f"{row['worker_seconds_median']:.2f} s / {row['bare_seconds_best']:.2f} s = "
                f"{row['ratio']:.2f} | {verdict(row['ratio'] <= most)} |"
            )
    for row in (ten_thousand, fifty_thousand):
        if row:
            lines.append(
                f"| PDF: {row['rows']:,}-row `model_table` within its timeout (900 s), worker < 500 MB | "
                f"{row['worker_seconds_median']:.1f} s, peak {row['worker_peak_mb']:.0f} MB | "
                f"{verdict(row['worker_seconds_median'] < 900 and row['worker_peak_mb'] < 500)} |"
            )
    lines += [
        "",
        "## Submit: latency and throughput (`bench/core.py`)",
        "",
        provenance(core),
        "",
        f"{core['latency']['count']} one-page `user_access` reports, one at a time; the client polls every "
        f"{core['latency']['poll_interval_ms']:g} ms. Times in ms.",
        "",
        "| part | p50 | p99 | mean | max |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, label in (
        ("send_to_finished_ms", "**POST sent → `finished_at`**"),
        ("post_rtt_ms", "POST round trip"),
        ("send_to_created_ms", "POST sent → `created_at`"),
        ("created_to_started_ms", "`created_at` → `started_at` (queue, worker picks it up)"),
        ("started_to_finished_ms", "`started_at` → `finished_at` (build, render, store)"),
    ):
        row = lat[key]
        lines.append(f"| {label} | {row['p50']:.1f} | {row['p99']:.1f} | {row['mean']:.1f} | {row['max']:.1f} |")
    lines += [
        "",
        f"Throughput: wrk, {tp['clients']} connections, {tp['rounds']} × {tp['duration_s']:g} s per endpoint in "
        "alternating rounds against one daphne, the worker stopped (the web tier alone).",
        "",
        "| endpoint | req/s | requests | errors | daphne CPU ms per request |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, label in (("me", "GET /api/v1/me"), ("reports", "POST /api/v1/reports")):
        row = tp[key]
        lines.append(
            f"| {label} | {row['requests_per_s']:.1f} | {row['requests']:,} | {row['errors_total']} | "
            f"{row['daphne_cpu_ms_per_request']:.1f} |"
        )
    lines += [
        "",
        f"POST / GET: {tp['ratio']:.2f} by requests, {tp['ratio_by_cpu']:.2f} by daphne CPU per request.",
        "",
        *(_split_layout_section(split_layout) if split_layout else []),
        "## Live push: the end of a report, on the WebSocket, by polling and by long polling (`bench/live.py`)",
        "",
        provenance(live),
        "",
        f"{live['count']} one-page reports, one at a time, followed on `/ws/reports/` (events in order: "
        f"{live['events_in_order']}). Times in ms from the report's `finished_at`, same clock.",
        "",
        "| interval | p50 | p99 | mean | max |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| `finished_at` → WebSocket event | {fin['p50']:.2f} | {fin['p99']:.2f} | {fin['mean']:.2f} | "
        f"{fin['max']:.2f} |",
        f"| POST sent → WebSocket event | {post_event['p50']:.1f} | {post_event['p99']:.1f} | "
        f"{post_event['mean']:.1f} | {post_event['max']:.1f} |",
    ]
    if polling:
        lines.append(
            f"| `finished_at` → polling client saw it | {polling['p50']:.1f} | {polling['p99']:.1f} | "
            f"{polling['mean']:.1f} | {polling['max']:.1f} |"
        )
    if long_poll:
        lines.append(
            f"| `finished_at` → long-polling client saw it | {long_poll['p50']:.1f} | {long_poll['p99']:.1f} | "
            f"{long_poll['mean']:.1f} | {long_poll['max']:.1f} |"
        )
    if polling:
        requests = live["summary"]["polling_requests"]
        lines += [
            "",
            f"The polling client is `client/`'s wait ({live.get('polling_client', 'exponential backoff')}); it "
            f"made {requests['p50']:.0f} GETs per report at the median ({requests['max']:.0f} at most) where the "
            "WebSocket needed one connection for all of them.",
        ]
    if long_poll:
        long_requests = live["summary"]["long_poll_requests"]
        lines += [
            "",
            f"The long-polling client is the same wait's default ({live['long_polling_client']}): "
            f"{long_requests['p50']:.0f} GET per report at the median ({long_requests['max']:.0f} at most).",
        ]
    if held:
        lines += [
            "",
            f"{held['long_polls']} long polls held at once (`Prefer: wait={held['wait_seconds']}`) on a report that "
            f"stays queued took daphne from {held['rss_before_mb']:.0f} to {held['rss_held_mb']:.0f} MB; "
            f"{held['held_for_the_whole_wait']} were held their whole wait, and `GET /api/v1/me` answered "
            f"{held['other_request_meanwhile']} meanwhile.",
        ]
    lines += [
        "",
        "## Webhooks (`bench/webhooks.py`)",
        "",
        provenance(hooks),
        "",
        f"{fast['events']:,} events fanned out to a fast receiver on 127.0.0.1, delivered by one worker; then the "
        f"same with a second endpoint that never answers (timeout {hooks['webhook_timeout_s']:g} s).",
        "",
        "| run | delivered | seconds | deliveries/s |",
        "| --- | ---: | ---: | ---: |",
        f"| fast endpoint alone | {fast['fast_delivered']:,} | {fast['seconds_from_worker_ready']:.2f} | "
        f"{fast['deliveries_per_second']:.0f} |",
        f"| fast endpoint beside a hanging one | {hanging['fast_delivered']:,} | "
        f"{hanging['seconds_from_worker_ready']:.2f} | {hanging['deliveries_per_second']:.0f} |",
        "",
        *(_rate_limit_section(rate_limit) if rate_limit else []),
        *(_streams_section(streams) if streams else []),
        *(_schedules_section(schedules) if schedules else []),
        "## PDF render by size, and memory (`bench/model_table.py`)",
        "",
        provenance(tables),
        "",
        "`model_table` reports of N users through the API and the worker (`started_at` → `finished_at`, median): "
        "the new path, its rows drawn by ReportLab inside the template's layout (reports/pdf_tables.py). Beside it, "
        "today's path, the same report built and rendered as an HTML table by xhtml2pdf (in parts at the same time "
        "from 400 rows on, REPORT_RENDER_PROCESSES, one per CPU), once in a shell of the same world; and one bare "
        '`pisa.CreatePDF` on that HTML (best of the runs). "not run": too slow at that size to be worth the '
        "minutes. The timed runs have nothing else measuring them; peak memory is the PSS of the worker (or the "
        "shell) and its children during one more run of that size (sampled every 100 ms, not timed); web is "
        "daphne's.",
        "",
        "| rows | pages | new path s | today's path s | bare xhtml2pdf s | new / bare | new path peak MB | "
        "today's path peak MB | web MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def figure(value: float | None, spec: str) -> str:
        return "not run" if value is None else format(value, spec)

    for row in tables["results"]:
        lines.append(
            f"| {row['rows']:,} | {row['pages']} | {row['worker_seconds_median']:.2f} | "
            f"{figure(row.get('today_seconds'), '.2f')} | {figure(row.get('bare_seconds_best'), '.2f')} | "
            f"{figure(row.get('ratio'), '.2f')} | {row['worker_peak_mb']:.0f} | "
            f"{figure(row.get('today_peak_mb'), '.0f')} | {row['web_mb']:.0f} |"
        )
    lines += ["", "## Reading", ""]
    if tp["ratio"] < 0.6:
        lines += [
            f"- **POST / GET below 0.60.** Both answers pay the same fixed cost under daphne (Django's ASGI handler "
            f"runs each request's sync code on a thread of its own, with a new database connection): about "
            f"{tp['me']['daphne_cpu_ms_per_request']:.0f} ms of CPU for GET /api/v1/me. A POST adds the work that "
            "makes it a POST: the type and permission lookups, the insert under SQLite's write lock, the enqueue, "
            "the live event and the webhook fan-out. Making the common part faster lowers the ratio; the "
            "profiles and the ideas tried are in [benchmark-history.md](benchmark-history.md).",
        ]
    else:
        lines += [
            "- **What a POST costs beyond a GET** is mostly waiting, not work: under 50 connections every SQL query "
            "and Redis round trip sends the request's thread back to queue for the GIL behind all the others (perf "
            "counted 470 context switches per POST against 215 per GET before the change below). So a POST makes "
            "as few as it can: the permissions, groups, report-type settings and webhook endpoints it needs come "
            "from each process's memory (common/access_cache.py, emptied through a Redis channel on every "
            "change), the enqueue is one round trip, the event one publish handed to a background thread. What is "
            "left: the token lookup (as for GET), the INSERT and the enqueue.",
        ]
    if ten_thousand and ten_thousand.get("ratio") is not None:
        lines += [
            "- **The rows drawn by ReportLab.** xhtml2pdf turns each HTML row into ReportLab's table rows at about "
            "2.4 ms a row; ReportLab builds them from the rows' text directly, a page's worth at a time, in one "
            f"process: {ten_thousand['ratio']:.2f} of one bare call at 10,000 rows, build and storage included. "
            "Laying it out in two parts at once no longer paid: at 10,000 rows two parts and their join took as long "
            "as the whole, and at 50,000 they saved about a quarter of the time for both cores and 1.75 × the "
            "memory, in a document already far inside its timeout.",
        ]
    lines += [
        "- **The event log** (every event written in the transaction of its change, then fanned out) costs a POST "
        "its event's INSERT, the next number of the user's stream and, after the commit, a mark that the event was "
        "fanned out; a finished report, the same before its WebSocket event leaves. Measured against the commit "
        "before it on one machine, in alternating runs: [benchmark-history.md](benchmark-history.md#the-event-log-"
        "what-it-costs-2026-12-03).",
        "",
        "Scale-out across web and worker processes on PostgreSQL: [deployment.md](deployment.md).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs: a look, not figures to keep")
    parser.add_argument("--output", type=Path, default=DOC, help="the Markdown to write (docs/benchmarks.md)")
    parser.add_argument(
        "--reuse",
        nargs="+",
        default=[],
        choices=[
            "core",
            "live",
            "webhooks",
            "webhook_rate_limit",
            "streams",
            "schedules",
            "model_table",
            "split_layout",
        ],
        help="take these from their newest results file instead of running them again",
    )
    args = parser.parse_args()

    machine = machine_info()
    quick = args.quick
    plan = {
        "core": ("core.py", ["--reports", "30", "--duration", "5", "--rounds", "1"] if quick else []),
        "live": ("live.py", ["--count", "50"] if quick else []),
        "webhooks": ("webhooks.py", ["--events", "300"] if quick else []),
        "webhook_rate_limit": ("webhook_rate_limit.py", ["--events", "60"] if quick else []),
        "streams": (
            "streams.py",
            ["--count", "30", "--replay", "1000", "--idle", "200", "--idle-seconds", "10"] if quick else [],
        ),
        "schedules": ("schedules.py", ["--schedules", "200"] if quick else []),
        "split_layout": ("split_layout.py", ["--duration", "5", "--rounds", "1"] if quick else []),
        "model_table": (
            "model_table.py",
            ["--rows", "100", "2000", "--repeat", "1"] if quick else ["--rows", "100", "2000", "10000", "50000"],
        ),
    }
    results = {
        name: latest(script) if name in args.reuse else run(script, *script_args)
        for name, (script, script_args) in plan.items()
    }
    command = "python bench/run_all.py" + (" --quick" if quick else "")
    args.output.write_text(render(results, machine, command))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"run-all-{stamp}.json").write_text(json.dumps({"machine": machine, **results}, indent=2))
    say(f"wrote {os.path.relpath(args.output, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
