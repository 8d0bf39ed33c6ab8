"""PDF render time by size: `model_table` reports through the real worker (the rows drawn by ReportLab,
reports/pdf_tables.py), next to today's path (the HTML table laid out by xhtml2pdf, in parts at the same time from
400 rows on) and one bare xhtml2pdf call on that HTML.

    .venv/bin/python bench/model_table.py [--rows 100 2000 10000 50000] [--repeat 3] [--slow-paths-up-to 10000]

Builds bench/core.py's world (SQLite, private Redis, daphne, one worker, DJANGO_DEBUG=0), adds a set of users per
size (bulk_create), and for each size requests `model_table` reports of that set over the API, one at a time,
selected by a filter (more rows than a request may name by id). "new path" is the report's own `started_at` to
`finished_at` (build, render, store), median of --repeat reports timed with nothing else measuring them.
"today's path" is the same report's build and `render_report(..., table_path=False)` in a fresh
`manage.py shell` of the same world, once: the worker would run the same code, forking its layout processes from
itself. "bare" is a single `pisa.CreatePDF(html)` on the HTML today's path lays out, without the project's resource
policy or anything else, in a fresh shell too, best of --repeat. Today's path and the bare call take minutes at
50,000 rows: sizes above --slow-paths-up-to show them as "not run". Peak memory is the highest PSS of the process
and its children (the worker, or the shell with its layout processes), sampled every 100 ms during one more run of
that size: reading /proc takes CPU from the processes it reads, so that run is not timed. "web" is daphne's after
the requests. Prints a table and writes bench/results/model-table-<timestamp>.json. Talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.core import RESULTS, World, machine_info, parse_time, say  # noqa: E402

# The timed reports are measured by their own started_at and finished_at; the client only has to learn that they
# finished, and a GET every 50 ms would cost daphne a tenth of a core, taken from the render being timed.
TIMED_POLL_INTERVAL = 0.5
# The type's own timeout: a report still running after it has failed.
REPORT_TIMEOUT = 900.0

# One set of users per size, told apart by their first name, which the reports filter on.
ADD_USERS = r"""
from django.contrib.auth.models import User
for size in {sizes}:
    User.objects.bulk_create(
        [User(username=f"s{{size}}-{{number:05d}}", email=f"row{{number}}@example.test", first_name=f"Size{{size}}",
              last_name=str(number)) for number in range(size)],
        batch_size=5000,
    )
print("BENCH_USERS=" + str(User.objects.filter(first_name__startswith="Size").count()))
"""

# A finished report's context, rebuilt the way the worker built it; then today's path, or one bare xhtml2pdf call.
REBUILD = r"""
import io, json, time
from reports.models import Report
from reports.registry import BuildContext, report_types
from reports.pdf import warm_up
warm_up()
report = Report.objects.select_related("requested_by").get(pk="{report_id}")
report_type = report_types.get(report.report_type)
started = time.perf_counter()
context = report_type.build(BuildContext(report_id=report.id, parameters=report.parameters,
                                         requested_by=report.requested_by, set_progress=lambda percent: None))
build_seconds = time.perf_counter() - started
"""

TODAYS_PATH = (
    REBUILD
    + r"""
from reports.rendering import render_report
started = time.perf_counter()
rendered = render_report(report, report_type, context, table_path=False)
print("BENCH_TODAY=" + json.dumps({{"build_seconds": build_seconds, "render_seconds": time.perf_counter() - started,
                                    "pages": rendered.pages}}))
"""
)

BARE_RENDER = (
    REBUILD
    + r"""
from xhtml2pdf import pisa
from pypdf import PdfReader
from reports.rendering import report_html
html = report_html(report, report_type, context)
best = None
for _ in range({repeat}):
    buffer = io.BytesIO()
    started = time.perf_counter()
    status = pisa.CreatePDF(html, dest=buffer)
    elapsed = time.perf_counter() - started
    assert not status.err
    best = elapsed if best is None else min(best, elapsed)
print("BENCH_BARE=" + json.dumps({{"seconds": best, "pages": len(PdfReader(io.BytesIO(buffer.getvalue())).pages),
                                   "html_bytes": len(html.encode())}}))
"""
)


def tree_memory_bytes(pid: int) -> int:
    """Memory of a process and its children (the worker and the processes laying out parts), as PSS: pages a
    forked child still shares with its parent count once, split between them, not once per process as RSS would."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE).group(1)) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total


class PeakMemory:
    """Samples a process tree's memory (PSS) every 100 ms on a thread; `peak` is the highest sum seen. Not more often:
    reading /proc costs CPU, taken from the processes being measured."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_memory_bytes(self.pid))
            time.sleep(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_report(client: httpx.Client, rows: int, timeout: float, poll: float = TIMED_POLL_INTERVAL) -> dict:
    parameters = {"model": "auth.user", "filters": {"first_name": f"Size{rows}"}}
    response = client.post("/api/v1/reports", json={"report_type": "model_table", "parameters": parameters})
    response.raise_for_status()
    url = f"/api/v1/reports/{response.json()['id']}"  # behind the TLS proxy header, its own URL says https
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["status"] in {"succeeded", "failed", "cancelled"}:
            if body["status"] != "succeeded":
                raise RuntimeError(f"report {body['id']} {body['status']}: {body['error']}")
            return body
        time.sleep(poll)
    raise RuntimeError(f"report not finished within {timeout}s")


def shell_result(world: World, name: str, code: str, marker: str, *, sampled: bool = False) -> tuple[dict, float]:
    """Run `code` in a fresh `manage.py shell` of the world; returns what it printed after `marker` (JSON) and, when
    `sampled`, the peak memory of the shell and its children (0 otherwise)."""
    if not sampled:
        out = world.manage("shell", code=code)
        return json.loads(out.split(marker)[1].strip().splitlines()[0]), 0.0
    process = world.spawn(name, [sys.executable, "manage.py", "shell", "-c", code])
    with PeakMemory(process.pid) as memory:
        process.wait()
    out = world.log_tail(name, chars=100_000)
    if process.returncode != 0 or marker not in out:
        raise RuntimeError(f"{name} failed:\n{out[-4000:]}")
    return json.loads(out.split(marker)[1].strip().splitlines()[0]), memory.peak


def measure(world: World, client: httpx.Client, rows: int, repeat: int, slow_paths: bool, timeout: float) -> dict:
    worker_seconds, last = [], {}
    for _ in range(repeat):
        last = run_report(client, rows, timeout)
        worker_seconds.append(parse_time(last["finished_at"]) - parse_time(last["started_at"]))
    with PeakMemory(world.worker.pid) as memory:
        run_report(client, rows, timeout, poll=0.05)
    result = {
        "rows": rows,
        "pages": last["file"]["pages"],
        "worker_seconds_median": statistics.median(worker_seconds),
        "worker_seconds": worker_seconds,
        "worker_peak_mb": memory.peak / 2**20,
        "web_mb": tree_memory_bytes(world.daphne.pid) / 2**20,
        "today_seconds": None,
        "today_build_seconds": None,
        "today_pages": None,
        "today_peak_mb": None,
        "bare_seconds_best": None,
        "bare_pages": None,
        "html_bytes": None,
        "ratio": None,
    }
    if slow_paths:
        code = TODAYS_PATH.format(report_id=last["id"])
        today, _ = shell_result(world, f"today-{rows}", code, "BENCH_TODAY=")
        _, today_peak = shell_result(world, f"today-{rows}-sampled", code, "BENCH_TODAY=", sampled=True)
        bare, _ = shell_result(
            world, f"bare-{rows}", BARE_RENDER.format(report_id=last["id"], repeat=repeat), "BENCH_BARE="
        )
        result.update(
            today_seconds=today["build_seconds"] + today["render_seconds"],
            today_build_seconds=today["build_seconds"],
            today_pages=today["pages"],
            today_peak_mb=today_peak / 2**20,
            bare_seconds_best=bare["seconds"],
            bare_pages=bare["pages"],
            html_bytes=bare["html_bytes"],
            ratio=result["worker_seconds_median"] / bare["seconds"],
        )
    return result


def figure(value: float | None, spec: str) -> str:
    return "not run" if value is None else format(value, spec)


def seconds(value: float | None) -> str:
    return "not run" if value is None else f"{value:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100, 2000, 10000, 50000])
    parser.add_argument("--repeat", type=int, default=3, help="reports per size, and bare calls per size (best of)")
    parser.add_argument(
        "--slow-paths-up-to",
        type=int,
        default=10000,
        help="run today's path and the bare call only up to this many rows (minutes each at 50,000)",
    )
    parser.add_argument("--timeout", type=float, default=REPORT_TIMEOUT)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/model-table-<timestamp>.json)")
    args = parser.parse_args()

    world = World(keep=args.keep)
    results = []
    try:
        world.start_data()
        sizes = sorted(set(args.rows))
        out = world.manage("shell", code=ADD_USERS.format(sizes=sizes))
        say(f"{int(out.split('BENCH_USERS=')[1].strip()):,} users added, {len(sizes)} sets")
        world.start_daphne()
        world.start_worker()
        with httpx.Client(base_url=world.base_url, headers=world.headers, timeout=30) as client:
            run_report(client, sizes[0], args.timeout)  # warm-up
            for rows in args.rows:
                result = measure(world, client, rows, args.repeat, rows <= args.slow_paths_up_to, args.timeout)
                results.append(result)
                say(
                    f"{rows} rows: new path {result['worker_seconds_median']:.2f} s, today's path "
                    f"{seconds(result['today_seconds'])}, bare {seconds(result['bare_seconds_best'])}, "
                    f"new path peak {result['worker_peak_mb']:.0f} MB"
                )
    finally:
        world.stop()

    print(f"\nmodel_table render by size  {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(
        f"  {'rows':>6} {'pages':>6} {'new path s':>11} {'today s':>8} {'bare s':>8} {'new / bare':>11}"
        f" {'new peak MB':>12} {'today peak MB':>14} {'web MB':>7}"
    )
    for result in results:
        print(
            f"  {result['rows']:>6} {result['pages']:>6} {result['worker_seconds_median']:>11.2f}"
            f" {figure(result['today_seconds'], '.2f'):>8} {figure(result['bare_seconds_best'], '.2f'):>8}"
            f" {figure(result['ratio'], '.2f'):>11} {result['worker_peak_mb']:>12.0f}"
            f" {figure(result['today_peak_mb'], '.0f'):>14} {result['web_mb']:>7.0f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = args.output or RESULTS / f"model-table-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"machine": machine_info(), "results": results}, indent=2))
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
