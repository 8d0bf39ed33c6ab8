"""The split layout against daphne alone: GET /api/v1/me and POST /api/v1/reports req/s on one machine, in one run.

    .venv/bin/python bench/split_layout.py                                  # about 2.5 minutes
    .venv/bin/python bench/split_layout.py --duration 5 --rounds 1          # a look
    .venv/bin/python bench/split_layout.py --variants gthread sync gthread4 # gunicorn's workers side by side

The world is bench/core.py's (SQLite, a private Redis, DJANGO_DEBUG=0, the bench user and its token), with two ways
of serving it at once, each measured while the other idles:

- daphne alone: one daphne process, as the Procfile's `web` runs it;
- split: nginx on one port in front of gunicorn (deploy/gunicorn.conf.py: one process per core, two threads each) for
  plain HTTP and daphne for the WebSocket, the event stream and long polls (scripts/split_layout.py,
  deploy/nginx-site.conf.template).

wrk, 50 connections (bench/wrk_count.lua), in rounds: each round measures every layout on both endpoints, the
layouts' order reversed from one round to the next, so that drift in the machine's load falls on both. No RQ worker:
the web tier alone; the queued reports and jobs are deleted at the end. The CPU of each layout's processes is
counted per request. Prints a table and writes bench/results/split-layout-<timestamp>.json. 127.0.0.1 only.

Target: the split layout's POST req/s at least twice daphne's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.core import CLEAN_QUEUE, REPORT_BODY, RESULTS, World, machine_info, run_wrk, say  # noqa: E402
from scripts.split_layout import NginxMissing, SplitLayout, find_nginx  # noqa: E402

TARGET = 2.0  # split POST req/s / daphne POST req/s
ENDPOINTS = {"me": ("/api/v1/me", None), "reports": ("/api/v1/reports", REPORT_BODY)}
LABELS = {"me": "GET /api/v1/me", "reports": "POST /api/v1/reports"}
# gunicorn's worker classes that --variants can name, each a split layout of its own: deploy/gunicorn.conf.py as it
# is (gthread, two threads per worker), sync workers, four threads.
VARIANTS = {
    "gthread": (),
    "sync": ("--worker-class", "sync", "--threads", "1"),
    "gthread4": ("--threads", "4"),
}
DEFAULT_VARIANT = "gthread"


def layout_name(variant: str) -> str:
    return "split" if variant == DEFAULT_VARIANT else f"split-{variant}"


def check_routes(url: str, token: str) -> dict:
    """What the split layout answers before it is measured: plain HTTP from gunicorn, over https as the proxy says."""
    headers = {"Authorization": f"Token {token}"}
    me = httpx.get(f"{url}/api/v1/me", headers=headers, timeout=10)
    if me.status_code != 200 or me.headers.get("X-Served-By") != "gunicorn":
        raise RuntimeError(f"GET /api/v1/me through the proxy: {me.status_code} from {me.headers.get('X-Served-By')}")
    return {"me_status": me.status_code, "served_by": me.headers["X-Served-By"]}


def summarize(runs: list[dict], groups: list[str]) -> dict:
    requests = sum(run["requests"] for run in runs)
    seconds = sum(run["duration_s"] for run in runs)
    return {
        "requests": requests,
        "seconds": seconds,
        "requests_per_s": requests / seconds,
        "errors_total": sum(run["errors_total"] for run in runs),
        "per_round_requests_per_s": [round(run["requests_per_s"], 1) for run in runs],
        "latency_p50_ms": statistics.median(run["latency_ms"]["p50"] for run in runs),
        "latency_p99_ms": max(run["latency_ms"]["p99"] for run in runs),
        # The layout's own processes, per request: what serving costs, whatever else the machine did.
        "server_cpu_ms_per_request": round(
            sum(run["cpu_seconds"][group] for run in runs for group in groups) * 1000 / max(1, requests), 2
        ),
        "cpu_ms_per_request": {
            group: round(sum(run["cpu_seconds"][group] for run in runs) * 1000 / max(1, requests), 2)
            for group in groups
        },
    }


def run(args: argparse.Namespace, world: World) -> dict:
    layouts: dict[str, SplitLayout] = {}
    try:
        return measure(args, world, layouts)
    finally:
        for layout in layouts.values():
            layout.stop()


def measure(args: argparse.Namespace, world: World, layouts: dict[str, SplitLayout]) -> dict:
    world.start_data()
    world.start_daphne()
    for variant in args.variants:
        name = layout_name(variant)
        layouts[name] = SplitLayout(world.dir / name, world.env, gunicorn_args=VARIANTS[variant]).start()
        options = " ".join(VARIANTS[variant]) or "(deploy/gunicorn.conf.py)"
        say(f"{name}: nginx on {layouts[name].url}, gunicorn {options}")
    checks = {name: check_routes(layout.url, world.token) for name, layout in layouts.items()}

    def targets() -> dict[str, tuple[str, dict[str, list[int]]]]:
        found = {"daphne": (world.base_url, {"daphne": [world.daphne.pid]})}
        for name, layout in layouts.items():
            found[name] = (layout.url, layout.pids())
        return found

    order = list(targets())
    groups = {name: list(processes) for name, (_, processes) in targets().items()}
    runs: dict[str, dict[str, list[dict]]] = {name: {"me": [], "reports": []} for name in order}
    if args.warmup > 0:
        for base_url, processes in targets().values():
            for path, body in ENDPOINTS.values():
                run_wrk(world, path, body, args.clients, args.warmup, args.wrk_threads, base_url=base_url,
                        processes=processes)  # fmt: skip
        say(f"warm-up: {args.warmup:g} s of each endpoint on each layout (not counted)")
    for round_index in range(args.rounds):
        current = targets()
        for name in order if round_index % 2 == 0 else reversed(order):
            base_url, processes = current[name]
            for endpoint, (path, body) in ENDPOINTS.items():
                result = run_wrk(world, path, body, args.clients, args.duration, args.wrk_threads, base_url=base_url,
                                 processes=processes)  # fmt: skip
                runs[name][endpoint].append(result)
                busy = ", ".join(f"{group} {result['cpu_cores_busy'][group]:.2f}" for group in groups[name])
                say(
                    f"round {round_index + 1}/{args.rounds} {name:14} {LABELS[endpoint]:22} "
                    f"{result['requests_per_s']:7.1f} req/s, errors {result['errors_total']}, cores busy: {busy}, "
                    f"wrk {result['cpu_cores_busy']['wrk']:.2f}, other {result['cpu_cores_busy']['other']:.2f}"
                )
    out = world.manage("shell", code=CLEAN_QUEUE)
    say(out.strip().splitlines()[-1] if out.strip() else "queue cleaned")
    logs = {"daphne": world.log_tail("daphne", 10**7)}
    for name, layout in layouts.items():
        for process in ("nginx", "gunicorn", "daphne"):
            logs[f"{name}/{process}"] = layout.log_text(process)
    summary = {
        name: {endpoint: summarize(runs[name][endpoint], groups[name]) for endpoint in ENDPOINTS} for name in order
    }
    post = {name: summary[name]["reports"]["requests_per_s"] for name in order}
    return {
        "clients": args.clients,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "wrk_threads": args.wrk_threads,
        "layouts": {
            "daphne": "one daphne process (the Procfile's web)",
            **{
                layout_name(variant): "nginx -> gunicorn "
                + (" ".join(VARIANTS[variant]) or "(deploy/gunicorn.conf.py)")
                + f", {os.cpu_count()} cores; daphne for the WebSocket, the event stream and long polls"
                for variant in args.variants
            },
        },
        "route_checks": checks,
        "summary": summary,
        "post_ratio": {name: post[name] / post["daphne"] for name in order if name != "daphne"},
        "target_ratio": TARGET,
        "log_problems": {
            name: len(re.findall(r"Traceback|\[(?:error|critical|crit|alert|emerg)\]", text, re.IGNORECASE))
            for name, text in logs.items()
        },
        "runs": runs,
    }


def print_table(result: dict) -> None:
    machine, split = result["machine"], result["split_layout"]
    print()
    print(
        f"Split layout  {machine['date_utc']}  {machine['cpu_model']}, {machine['cores']} cores, "
        f"commit {machine['git_commit']}{' (dirty)' if machine['git_dirty_files'] else ''}"
    )
    print(
        f"wrk {split['clients']} connections, {split['rounds']} x {split['duration_s']:g} s per endpoint and layout, "
        "alternating; no worker (web tier only)"
    )
    print(f"  {'layout':16} {'endpoint':22} {'req/s':>8} {'rounds':>18} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'CPU ms/req':>10}")  # fmt: skip
    for name, endpoints in split["summary"].items():
        for endpoint, row in endpoints.items():
            rounds = "/".join(f"{value:.0f}" for value in row["per_round_requests_per_s"])
            print(
                f"  {name:16} {LABELS[endpoint]:22} {row['requests_per_s']:8.1f} {rounds:>18} {row['errors_total']:7d} "
                f"{row['latency_p50_ms']:8.1f} {row['latency_p99_ms']:8.1f} {row['server_cpu_ms_per_request']:10.2f}"
            )
    for name, ratio in split["post_ratio"].items():
        met = "MET" if ratio >= split["target_ratio"] else "MISSED"
        print(f"  {name} POST / daphne POST: {ratio:.2f}  target >= {split['target_ratio']:g}: {met}")
    problems = {name: count for name, count in split["log_problems"].items() if count}
    if problems:
        print(f"  !! errors in logs: {problems} (rerun with --keep to read them)")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections (50)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint, layout and round (10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every layout and endpoint (3)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of untimed load per endpoint and layout")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[DEFAULT_VARIANT],
        choices=sorted(VARIANTS),
        help="gunicorn worker classes to measure, each a split layout of its own (gthread: deploy/gunicorn.conf.py's)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DB) for inspection")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/split-layout-<timestamp>.json)")
    args = parser.parse_args()
    os.chdir(ROOT)
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is needed: `apt-get install wrk` (Debian/Ubuntu).")
    try:
        find_nginx()
    except NginxMissing as error:
        raise SystemExit(f"bench: {error}") from None

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or RESULTS / f"split-layout-{stamp}.json"
    result: dict = {
        "benchmark": "split_layout",
        "command": " ".join([".venv/bin/python", "bench/split_layout.py", *sys.argv[1:]]),
        "machine": machine_info(),
    }
    world = World(keep=args.keep)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        result["split_layout"] = run(args, world)
    finally:
        world.stop()
    result["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    print_table(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
