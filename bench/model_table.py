"""PDF render time by size: `model_table` reports through the real worker, next to one bare xhtml2pdf call on the
same HTML.

    .venv/bin/python bench/model_table.py [--rows 100 500 2000 10000] [--repeat 3]

Builds bench/core.py's world (SQLite, private Redis, daphne, one worker, DJANGO_DEBUG=0), adds the users to
export, and for each size requests `model_table` reports of that many users over the API, one at a time.
"worker" is the report's own `started_at` to `finished_at` (build, render, store), median of --repeat reports
timed with nothing else measuring them. "bare" is a single `pisa.CreatePDF(html)` on the HTML that report renders,
without the project's resource policy or anything else, in a fresh `manage.py shell` of the same world, best of
--repeat. "worker peak" is the highest memory (PSS) of the worker and its children (the parts' layout processes),
sampled every 100 ms during one more report of that size: reading /proc takes CPU from the processes it reads, so
that report is not timed. "web" is daphne's after the requests. Prints a table and writes
bench/results/model-table-<timestamp>.json. Talks to 127.0.0.1 only.
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

ADD_USERS = r"""
from django.contrib.auth.models import User
User.objects.bulk_create(
    [User(username=f"row{number:05d}", email=f"row{number}@example.test", first_name="Row", last_name=str(number))
     for number in range({count})]
)
print("BENCH_IDS=" + ",".join(str(pk) for pk in User.objects.filter(username__startswith="row").order_by("pk")
                                            .values_list("pk", flat=True)))
"""

# The HTML of a finished report, rebuilt the way the worker built it, then one bare xhtml2pdf call on it.
BARE_RENDER = r"""
import io, json, time
from xhtml2pdf import pisa
from pypdf import PdfReader
from reports.models import Report
from reports.registry import BuildContext, report_types
from reports.rendering import report_html
from reports.pdf import warm_up
warm_up()
report = Report.objects.select_related("requested_by").get(pk="{report_id}")
report_type = report_types.get(report.report_type)
context = report_type.build(BuildContext(report_id=report.id, parameters=report.parameters,
                                         requested_by=report.requested_by, set_progress=lambda percent: None))
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


def run_report(client: httpx.Client, ids: list[int], timeout: float, poll: float = TIMED_POLL_INTERVAL) -> dict:
    response = client.post(
        "/api/v1/reports", json={"report_type": "model_table", "parameters": {"model": "auth.user", "ids": ids}}
    )
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100, 500, 2000, 10000])
    parser.add_argument("--repeat", type=int, default=3, help="reports per size, and bare calls per size (best of)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/model-table-<timestamp>.json)")
    args = parser.parse_args()

    world = World(keep=args.keep)
    results = []
    try:
        world.start_data()
        out = world.manage("shell", code=ADD_USERS.replace("{count}", str(max(args.rows))))
        all_ids = [int(pk) for pk in out.split("BENCH_IDS=")[1].strip().split(",")]
        world.start_daphne()
        world.start_worker()
        with httpx.Client(base_url=world.base_url, headers=world.headers, timeout=30) as client:
            run_report(client, all_ids[:10], args.timeout)  # warm-up
            for rows in args.rows:
                worker_seconds, last = [], {}
                for _ in range(args.repeat):
                    last = run_report(client, all_ids[:rows], args.timeout)
                    worker_seconds.append(parse_time(last["finished_at"]) - parse_time(last["started_at"]))
                with PeakMemory(world.worker.pid) as memory:
                    run_report(client, all_ids[:rows], args.timeout, poll=0.05)
                bare_out = world.manage("shell", code=BARE_RENDER.format(report_id=last["id"], repeat=args.repeat))
                bare = json.loads(bare_out.split("BENCH_BARE=")[1].strip())
                result = {
                    "rows": rows,
                    "pages": last["file"]["pages"],
                    "worker_seconds_median": statistics.median(worker_seconds),
                    "worker_seconds": worker_seconds,
                    "bare_seconds_best": bare["seconds"],
                    "bare_pages": bare["pages"],
                    "html_bytes": bare["html_bytes"],
                    "worker_peak_mb": memory.peak / 2**20,
                    "web_mb": tree_memory_bytes(world.daphne.pid) / 2**20,
                }
                result["ratio"] = result["worker_seconds_median"] / result["bare_seconds_best"]
                results.append(result)
                say(
                    f"{rows} rows: worker {result['worker_seconds_median']:.2f} s, bare {bare['seconds']:.2f} s, "
                    f"worker peak {result['worker_peak_mb']:.0f} MB"
                )
    finally:
        world.stop()

    print(f"\nmodel_table render by size  {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(
        f"  {'rows':>6} {'pages':>6} {'worker s (median)':>18} {'bare xhtml2pdf s (best)':>24} {'worker / bare':>14}"
        f" {'worker peak MB':>15} {'web MB':>7}"
    )
    for result in results:
        print(
            f"  {result['rows']:>6} {result['pages']:>6} {result['worker_seconds_median']:>18.2f}"
            f" {result['bare_seconds_best']:>24.2f} {result['ratio']:>14.2f}"
            f" {result['worker_peak_mb']:>15.0f} {result['web_mb']:>7.0f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = args.output or RESULTS / f"model-table-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"machine": machine_info(), "results": results}, indent=2))
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
