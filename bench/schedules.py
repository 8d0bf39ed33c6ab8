"""Scheduled reports: 1,000 schedules due in the same minute, and what one tick costs.

    .venv/bin/python bench/schedules.py [--schedules 1000]

Builds the data of bench/core.py's world (its own SQLite DB and private Redis; no server or worker is needed) and,
in one `manage.py shell`, makes --schedules weekly schedules all due at the same minute, then runs one tick at that
minute: how long it takes, how many SQL queries, that every schedule got exactly one run with its start enqueued on
RQ (a scheduled job at its due time plus its jitter), and how those starts spread over the minute. A second tick at
the same minute must make nothing. Prints a table and writes bench/results/schedules-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.core import RESULTS, World, machine_info, say  # noqa: E402

TICK = """
import json, time
from datetime import timedelta
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rq.registry import ScheduledJobRegistry
from common.queues import REPORTS_QUEUE, queue_for
from schedules.models import Schedule, ScheduleRun
from schedules.services import jitter_seconds, schedules_tick

owner = User.objects.get(username="bench")
due = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
Schedule.objects.bulk_create(
    [Schedule(owner=owner, name=f"Bench {n}", report_type="user_access", cron="0 7 * * 1", timezone="Europe/Berlin",
              next_run_at=due) for n in range({count})],
    batch_size=500,
)
with CaptureQueriesContext(connection) as queries:
    started = time.perf_counter()
    made = schedules_tick(now=due + timedelta(seconds=1))
    seconds = time.perf_counter() - started
again = schedules_tick(now=due + timedelta(seconds=2))
registry = ScheduledJobRegistry(queue=queue_for(REPORTS_QUEUE))
offsets = sorted(jitter_seconds(schedule_id) for schedule_id in Schedule.objects.values_list("id", flat=True))
print("RESULT=" + json.dumps({
    "schedules": {count},
    "runs_made": made,
    "runs_in_db": ScheduleRun.objects.count(),
    "second_tick_made": again,
    "starts_scheduled_on_rq": registry.count,
    "tick_seconds": round(seconds, 3),
    "tick_queries": len(queries.captured_queries),
    "start_offsets_seconds": {"min": offsets[0], "max": offsets[-1], "distinct": len(set(offsets))},
}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=1000)
    args = parser.parse_args()
    world = World()
    try:
        world.start_data()
        say(f"{args.schedules} schedules due in the same minute, one tick")
        out = world.manage("shell", code=TICK.replace("{count}", str(args.schedules)))
    finally:
        world.stop()
    result = {"benchmark": "schedules", "machine": machine_info(), **json.loads(out.split("RESULT=", 1)[1])}
    spread = result["start_offsets_seconds"]
    print(f"\nOne tick with {result['schedules']} schedules due at the same minute")
    made, again = result["runs_made"], result["second_tick_made"]
    print(f"  runs made {made} (in the DB {result['runs_in_db']}; a second tick made {again})")
    scheduled = result["starts_scheduled_on_rq"]
    print(f"  starts scheduled on RQ: {scheduled}, {spread['min']}-{spread['max']} s after the due time")
    print(f"  the tick took {result['tick_seconds']:.2f} s and {result['tick_queries']} SQL queries")
    RESULTS.mkdir(parents=True, exist_ok=True)
    output = RESULTS / f"schedules-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    output.write_text(json.dumps(result, indent=2))
    print(f"written {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
