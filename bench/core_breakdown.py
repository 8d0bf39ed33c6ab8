"""Where the time of bench/core.py goes: step timings of the render, of a POST, and of the real pipeline.

    .venv/bin/python bench/core_breakdown.py            # about 1.5 minutes
    .venv/bin/python bench/core_breakdown.py --help

Same world as bench/core.py (temp SQLite DB, private Redis, DJANGO_DEBUG=0). Three parts:

1. render steps, in a child process with Django set up like the worker's parent (reports.worker.preload(), then
   a fork per report): DB connect, claim, build, template, xhtml2pdf, pypdf page count, sha256, storage save, final
   update; the same calls report_render makes, timed one by one, next to report_render timed whole. Inside the claim,
   the progress moves and the final update, each event's write (reports.lifecycle.record_report_event) and its
   fan-out after the commit (events.fanout.fan_out_after_commit) are timed too, by event type. Also the
   xhtml2pdf call on the same HTML in process (and without `-pdf-keep-in-frame-mode: shrink`, if the template
   has it, to cost it).
2. POST /api/v1/reports and GET /api/v1/me through Django's in-process test client (no daphne), with the POST's
   steps timed (auth, type and permission lookup, JSON Schema validation, insert, the report.queued event's write,
   and after the commit its enqueue and fan-out, output serialization) and the SQL queries and Redis commands
   counted.
3. the real pipeline: daphne + the project's worker wrapped by bench/timed_worker.py, reports submitted one at a
   time, each report's timeline from the client's send to the parent worker reaping the horse.

Prints tables and writes bench/results/core-breakdown-<timestamp>.json. Sends traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))


def stats(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def pct(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]

    return {
        "n": len(ordered),
        "p50": pct(50),
        "p99": pct(99),
        "mean": statistics.fmean(ordered),
        "max": ordered[-1],
        "min": ordered[0],
    }


class Steps:
    """Named durations, in ms, several samples each."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    @contextmanager
    def time(self, name: str, cpu: bool = False):
        """Wall time under `name`; with cpu=True also this process's CPU time under `name (CPU)`, which other
        load on the machine disturbs less than wall time."""
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - start) * 1000)
            if cpu:
                self.add(f"{name} (CPU)", (time.process_time() - start_cpu) * 1000)

    def add(self, name: str, ms: float) -> None:
        self.samples.setdefault(name, []).append(ms)

    def summary(self) -> dict:
        return {name: stats(values) for name, values in self.samples.items()}


# ==================================================================================================================
# Inner: runs with the world's environment, Django set up.
# ==================================================================================================================


def inner(count: int, warmup: int) -> dict:
    import django
    from django.core import checks

    django.setup()
    # `manage.py rqworker` runs the system checks before it starts, which imports the URLconf; do the same, so that
    # the forked children below start from what a real worker's parent has loaded.
    checks.run_checks()
    return {"render": inner_render(count, warmup), "post": inner_post(count * 3, warmup)}


def _time_event_log(steps: Steps) -> None:
    """Time each event's write (reports.lifecycle.record_report_event, inside the transaction of its change) and
    its fan-out (events.fanout.fan_out_after_commit, once that transaction commits), by event type. Patched on the
    modules, where report_transition and event_record look them up at each call: in this child only."""
    from events import fanout
    from reports import lifecycle

    original_write = lifecycle.record_report_event
    original_fan_out = fanout.fan_out_after_commit
    fanned_out = []

    def timed_write(report, event_type=None):
        with steps.time(f"event_write {event_type or f'report.{report.status}'}", cpu=True):
            return original_write(report, event_type)

    def timed_fan_out(event):
        # The first fan-out in a horse (its report.running) also starts the live publisher's thread.
        first = " (first in the horse)" if not fanned_out else ""
        fanned_out.append(1)
        with steps.time(f"fan_out {event.type}{first}", cpu=True):
            return original_fan_out(event)

    lifecycle.record_report_event = timed_write
    fanout.fan_out_after_commit = timed_fan_out


def _replica_render(report_id: str, steps: Steps) -> None:
    """The body of reports.services.report_render with each step timed (success path only, the single-layout
    render that a one-page report takes): claim (report_transition START), build with its progress moves, the HTML
    and PDF of reports.rendering.render_report, the file saved, and report_transition SUCCEED. Each transition
    writes its event and fans it out after its commit; those are timed too (event_write ..., fan_out ...), inside
    the step that made them."""
    import hashlib
    import io

    from django.conf import settings
    from django.core.files.base import ContentFile
    from django.db import connection
    from django.utils import timezone as dj_timezone
    from pypdf import PdfReader
    from xhtml2pdf import pisa

    from reports import lifecycle, services
    from reports.lifecycle import report_transition
    from reports.pdf import link_callback, resource_policy
    from reports.registry import BuildContext, report_types
    from reports.rendering import report_html

    _time_event_log(steps)
    with steps.time("db_connect", cpu=True):
        connection.ensure_connection()
    with steps.time("claim", cpu=True):
        report = services._claim(report_id)
    assert report is not None, "the report was not queued"
    report_type = report_types.get(report.report_type)
    setter = services._progress_setter(report.id)

    def timed_setter(percent: int) -> None:
        with steps.time("progress_update"):
            setter(percent)

    with steps.time("build_incl_progress", cpu=True):
        context = report_type.build(
            BuildContext(
                report_id=report.id,
                parameters=report.parameters,
                requested_by=report.requested_by,
                set_progress=timed_setter,
            )
        )
    processes = settings.REPORT_RENDER_PROCESSES
    parts = report_type.split_context(context, processes) if processes > 1 else None
    assert not parts or len(parts) < 2, "the replica covers the single-layout render only"
    with steps.time("template", cpu=True):
        html = report_html(report, report_type, context)
    with steps.time("xhtml2pdf", cpu=True):
        buffer = io.BytesIO()
        status = pisa.CreatePDF(
            html, dest=buffer, link_callback=link_callback, resource_policy=resource_policy(), encoding="utf-8"
        )
        content = buffer.getvalue()
    assert not status.err
    with steps.time("pypdf_page_count", cpu=True):
        pages = len(PdfReader(io.BytesIO(content)).pages)
    with steps.time("sha256"):
        sha = hashlib.sha256(content).hexdigest()
    with steps.time("storage_save", cpu=True):
        name = report.file.field.generate_filename(report, f"{report.id}.pdf")
        stored = report.file.storage.save(name, ContentFile(content))
    with steps.time("finish_update", cpu=True):
        finished = report_transition(
            report.id,
            lifecycle.SUCCEED,
            fields={
                "progress": 100,
                "finished_at": dj_timezone.now(),
                "file": stored,
                "file_size": len(content),
                "file_pages": pages,
                "file_sha256": sha,
            },
            when=lambda locked: locked.attempts == report.attempts,
        )
    assert finished.status == "succeeded", finished.status
    steps.add("_html_bytes", len(html))
    steps.add("_pdf_bytes", len(content))
    steps.add("_pages", pages)
    (Path(os.environ["BENCH_ARTIFACTS"]) / "report.html").write_text(html)


def _fork_run(target, report_id: str) -> dict:
    """Fork like RQ does, run target(report_id, steps) in the child, return its timings and the fork cost."""
    from django.db import connections

    connections.close_all()
    read_end, write_end = os.pipe()
    before_fork = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        child_start = time.perf_counter()
        steps = Steps()
        code = 0
        try:
            with steps.time("child_total", cpu=True):
                target(report_id, steps)
            steps.add("fork_to_child_start", (child_start - before_fork) * 1000)
        except BaseException as error:
            steps.add("_error", 1)
            steps.samples["_error_text"] = [repr(error)]  # type: ignore[list-item]
            code = 1
        os.write(write_end, json.dumps(steps.samples).encode())
        os._exit(code)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    reaped = time.perf_counter()
    result = json.loads(b"".join(chunks))
    if "_error" in result:
        raise RuntimeError(f"child failed: {result.get('_error_text')}")
    result["fork_to_reaped"] = [(reaped - before_fork) * 1000]
    return result


def inner_render(count: int, warmup: int) -> dict:
    import io

    from django.contrib.auth import get_user_model
    from xhtml2pdf import pisa

    from reports import services
    from reports.models import Report
    from reports.pdf import link_callback, resource_policy
    from reports.worker import preload

    user = get_user_model().objects.get(username="bench")
    parameters = {"include_inactive": True, "staff_only": False}  # what the POST stores for {}
    preload()  # as the worker's parent does: warm-up render, templates, gc.freeze()

    def new_report() -> str:
        report_id = Report.objects.create(requested_by=user, report_type="user_access", parameters=parameters).id
        return report_id

    def whole(report_id: str, steps: Steps) -> None:
        with steps.time("report_render_whole", cpu=True):
            result = services.report_render(report_id)
        assert result.status == "succeeded", result.status

    replica, real = Steps(), Steps()
    for index in range(warmup + count):
        # Alternate: the replica with timed steps, then the real function timed whole.
        for target, sink in ((_replica_render, replica), (whole, real)):
            samples = _fork_run(target, new_report())
            if index >= warmup:
                for name, values in samples.items():
                    for value in values:
                        sink.add(name, value)

    # Same HTML, in this process (after the forks), with and without the shrink-to-fit mode of the data tables.
    html = (Path(os.environ["BENCH_ARTIFACTS"]) / "report.html").read_text()
    variants = {"as_is": html}
    if "-pdf-keep-in-frame-mode: shrink;" in html:  # the data tables' shrink-to-fit mode, when the template has it
        variants["no_keep_in_frame_shrink"] = html.replace("-pdf-keep-in-frame-mode: shrink;", "")
    css = Steps()
    for index in range(warmup + count):
        for name, source in variants.items():
            start = time.perf_counter()
            buffer = io.BytesIO()
            status = pisa.CreatePDF(
                source, dest=buffer, link_callback=link_callback, resource_policy=resource_policy(), encoding="utf-8"
            )
            elapsed = (time.perf_counter() - start) * 1000
            assert not status.err
            if index >= warmup:
                css.add(name, elapsed)
    return {
        "replica_steps": replica.summary(),
        "report_render_whole": real.summary(),
        "xhtml2pdf_variants_in_process": css.summary(),
        "html_sample": html,
    }


def inner_post(count: int, warmup: int) -> dict:
    import django_rq
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from redis.client import Pipeline, Redis
    from rest_framework.authentication import TokenAuthentication
    from rest_framework.authtoken.models import Token

    from reports import jobs, parameters, services
    from reports.api import views
    from reports.models import Report

    token = Token.objects.get(user__username="bench").key
    steps = Steps()

    def wrap(owner, name: str, label: str):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            with steps.time(label):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    wrap(TokenAuthentication, "authenticate", "auth_token_lookup")
    wrap(services, "report_type_for_user", "type_and_permission_lookup")
    wrap(services, "validate_parameters", "jsonschema_validation")
    wrap(jobs, "enqueue_render", "enqueue_on_commit")
    wrap(views, "_report_response", "output_serialization")
    wrap(services, "report_create", "report_create_total")
    # The report.queued event: written in the POST's transaction, fanned out (published live, deliveries made)
    # once it commits. report_enter and event_record look both up on their modules at each call.
    from events import fanout
    from reports import lifecycle

    wrap(lifecycle, "record_report_event", "event_write")
    wrap(fanout, "fan_out_after_commit", "fan_out_on_commit")
    original_save = Report.save

    def timed_save(self, *args, **kwargs):
        with steps.time("insert"):
            return original_save(self, *args, **kwargs)

    Report.save = timed_save

    # Redis round trips: single commands and pipelines (one round trip each).
    counters = {"commands": 0, "pipelines": 0}
    original_execute = Redis.execute_command
    original_pipeline_execute = Pipeline.execute

    def counting_execute(self, *args, **kwargs):
        counters["commands"] += 1
        return original_execute(self, *args, **kwargs)

    def counting_pipeline(self, *args, **kwargs):
        counters["pipelines"] += 1
        return original_pipeline_execute(self, *args, **kwargs)

    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_X_FORWARDED_PROTO="https", SERVER_NAME="127.0.0.1")
    body = json.dumps({"report_type": "user_access", "parameters": {}})
    whole = Steps()
    queries = {"post": [], "me": []}
    redis_round_trips = []
    for index in range(warmup + count):
        steps_before = {k: len(v) for k, v in steps.samples.items()}
        Redis.execute_command, Pipeline.execute = counting_execute, counting_pipeline
        counters.update(commands=0, pipelines=0)
        with CaptureQueriesContext(connection) as captured:
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.post("/api/v1/reports", data=body, content_type="application/json")
            post_ms = (time.perf_counter() - start) * 1000
            post_cpu = (time.process_time() - start_cpu) * 1000
        Redis.execute_command, Pipeline.execute = original_execute, original_pipeline_execute
        assert response.status_code == 201, response.content
        post_queries = [q["sql"] for q in captured.captured_queries]
        with CaptureQueriesContext(connection) as captured:
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get("/api/v1/me")
            me_ms = (time.perf_counter() - start) * 1000
            me_cpu = (time.process_time() - start_cpu) * 1000
        assert response.status_code == 200
        if index < warmup:
            for name, before in steps_before.items():
                del steps.samples[name][before:]
            for name in list(steps.samples):
                if name not in steps_before:
                    del steps.samples[name]
            continue
        whole.add("POST /api/v1/reports (in-process)", post_ms)
        whole.add("POST /api/v1/reports (in-process) (CPU)", post_cpu)
        whole.add("GET /api/v1/me (in-process)", me_ms)
        whole.add("GET /api/v1/me (in-process) (CPU)", me_cpu)
        queries["post"] = post_queries
        queries["me"] = [q["sql"] for q in captured.captured_queries]
        redis_round_trips.append(counters["commands"] + counters["pipelines"])
    Report.save = original_save

    # The cost of building a JSON Schema validator on each call, next to validating with one built once.
    from jsonschema import Draft202012Validator

    from reports.registry import report_types

    schema = report_types.get("user_access").parameters_schema
    merged = {"include_inactive": True, "staff_only": False}
    micro = Steps()
    cached = Draft202012Validator(schema, format_checker=parameters._FORMAT_CHECKER)
    for _ in range(200):
        with micro.time("validate_parameters (builds a validator per call)"):
            parameters.validate_parameters(schema, {})
        with micro.time("validation with a validator built once"):
            list(cached.iter_errors(merged))
    queue = django_rq.get_queue("reports")
    queue.empty()
    return {
        "whole_requests": whole.summary(),
        "post_steps": steps.summary(),
        "queries": {name: {"count": len(sqls), "sql": sqls} for name, sqls in queries.items()},
        "redis_round_trips_per_post": stats(redis_round_trips),
        "validation_micro": micro.summary(),
    }


# ==================================================================================================================
# Outer
# ==================================================================================================================


def pipeline_timeline(world, count: int, warmup: int, poll_interval: float) -> dict:
    import core

    log = world.dir / "timing.jsonl"
    world.env["BENCH_TIMING_LOG"] = str(log)
    world.start_daphne()
    world.start_worker(extra_args=("--worker-class", "bench.timed_worker.TimedWorker"))
    latency = core.run_latency(world, count, warmup, poll_interval)
    time.sleep(0.5)  # the last horse's and parent's lines
    records: dict[str, dict] = {}
    for line in log.read_text().splitlines():
        record = json.loads(line)
        records.setdefault(record["job"], {}).update({k: v for k, v in record.items() if k not in {"side", "job"}})
    points = [
        ("sent_at", "client sends POST"),
        ("created_at", "created_at (row saved, in the POST's transaction)"),
        ("enqueued_at", "RQ enqueued_at (after commit, on_commit)"),
        ("dequeued", "worker parent: job dequeued"),
        ("before_fork", "worker parent: about to fork"),
        ("horse_start", "horse: running after fork"),
        ("prepared", "horse: RQ bookkeeping done (prepare_job_execution)"),
        ("started_at", "started_at (claim)"),
        ("finished_at", "finished_at (final update)"),
        ("job_returned", "horse: job function returned"),
        ("performed", "horse: RQ finalize done"),
        ("reaped", "worker parent: horse reaped, idle again"),
    ]
    intervals: dict[str, list[float]] = {}
    for sample in latency["samples"]:
        merged = {**sample, **records.get(sample["id"], {})}
        for (a, label_a), (b, label_b) in itertools.pairwise(points):
            if merged.get(a) is not None and merged.get(b) is not None:
                intervals.setdefault(f"{label_a} -> {label_b}", []).append((merged[b] - merged[a]) * 1000)
    world.stop_worker()
    world._stop(world.daphne)
    return {
        "latency_summary": latency["summary"],
        "poll_interval_ms": poll_interval * 1000,
        "intervals": {name: stats(values) for name, values in intervals.items()},
        "order": [f"{a[1]} -> {b[1]}" for a, b in itertools.pairwise(points)],
    }


def print_summary(name: str, summary: dict, keys: list[str] | None = None) -> None:
    """Wall-time percentiles per step; `CPU p50` is the step's own process CPU time where it was recorded."""
    print(f"  {name}")
    print(f"    {'step':62} {'p50':>8} {'mean':>8} {'p99':>8} {'max':>8} {'CPU p50':>8}")
    for key in keys or summary:
        s = summary.get(key)
        if not s or key.startswith("_") or key.endswith("(CPU)") or not s.get("n"):
            continue
        cpu = summary.get(f"{key} (CPU)")
        cpu_text = f"{cpu['p50']:8.2f}" if cpu else f"{'':8}"
        print(f"    {key[:62]:62} {s['p50']:8.2f} {s['mean']:8.2f} {s['p99']:8.2f} {s['max']:8.2f} {cpu_text}")


def main() -> int:
    import core

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40, help="samples per measurement (40; the POST part 3x)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pipeline-reports", type=int, default=60, help="reports through the real pipeline (60)")
    parser.add_argument("--poll-interval", type=float, default=0.005)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.inner:
        print("BENCH_INNER " + json.dumps(inner(args.count, args.warmup)))
        return 0

    os.chdir(ROOT)
    result: dict = {
        "benchmark": "core-breakdown",
        "command": " ".join([".venv/bin/python", "bench/core_breakdown.py", *sys.argv[1:]]),
        "machine": core.machine_info(),
    }
    world = core.World(keep=args.keep)
    try:
        world.start_data()
        artifacts = world.dir / "artifacts"
        artifacts.mkdir()
        core.say("in-process step timings (render with fork, POST and GET via Django's test client)")
        env = {**world.env, "BENCH_ARTIFACTS": str(artifacts)}
        out = subprocess.run(
            [
                sys.executable,
                str(HERE / "core_breakdown.py"),
                "--inner",
                "--count",
                str(args.count),
                "--warmup",
                str(args.warmup),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_INNER ")), None)
        if out.returncode != 0 or line is None:
            raise RuntimeError(f"inner run failed:\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")
        result.update(json.loads(line.removeprefix("BENCH_INNER ")))
        core.say(f"real pipeline with the timed worker: {args.pipeline_reports} reports")
        result["pipeline"] = pipeline_timeline(world, args.pipeline_reports, args.warmup, args.poll_interval)
    finally:
        world.stop()
    result["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]

    m = result["machine"]
    print(f"\nCore breakdown  {m['date_utc']}  {m['cpu_model']}, {m['cores']} cores; times in ms\n")
    render = result["render"]
    print("1. Render, one-page user_access, in a forked child like the RQ horse")
    print_summary(
        "steps (replica of report_render)",
        render["replica_steps"],
        [
            "fork_to_child_start",
            "db_connect",
            "claim",
            "build_incl_progress",
            "progress_update",
            "template",
            "xhtml2pdf",
            "pypdf_page_count",
            "sha256",
            "storage_save",
            "finish_update",
            *sorted(k for k in render["replica_steps"] if k.startswith(("event_write ", "fan_out "))),
            "child_total",
            "fork_to_reaped",
        ],
    )
    print_summary(
        "report_render called whole",
        render["report_render_whole"],
        ["fork_to_child_start", "report_render_whole", "fork_to_reaped"],
    )
    print_summary("xhtml2pdf on the same HTML, in process", render["xhtml2pdf_variants_in_process"])
    post = result["post"]
    print("\n2. POST and GET in process (Django test client, no daphne)")
    print_summary("whole requests", post["whole_requests"])
    print_summary(
        "POST steps",
        post["post_steps"],
        [
            "auth_token_lookup",
            "type_and_permission_lookup",
            "jsonschema_validation",
            "insert",
            "event_write",
            "enqueue_on_commit",
            "fan_out_on_commit",
            "report_create_total",
            "output_serialization",
        ],
    )
    print(
        f"    SQL queries: POST {post['queries']['post']['count']}, GET /me {post['queries']['me']['count']}; "
        f"Redis round trips per POST: {post['redis_round_trips_per_post'].get('p50')}"
    )
    print_summary("JSON Schema validation", post["validation_micro"])
    pipe = result["pipeline"]
    print(f"\n3. Real pipeline (daphne + timed worker), poll every {pipe['poll_interval_ms']:g} ms")
    print_summary("timeline of one report", pipe["intervals"], pipe["order"])
    s = pipe["latency_summary"]["send_to_finished_ms"]
    print(f"    POST sent -> finished_at: p50 {s['p50']:.1f}, mean {s['mean']:.1f}, p99 {s['p99']:.1f}")
    print()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = core.RESULTS / f"core-breakdown-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    core.say(f"wrote {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
