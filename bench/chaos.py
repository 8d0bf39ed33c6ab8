"""Chaos run: reports requested over HTTP while their worker is SIGKILLed every few seconds; every terminal event
must still reach every channel (webhook endpoint, callback URL, email). Lost must be 0; duplicates are allowed
(delivery is at least once) and counted.

    .venv/bin/python bench/chaos.py                          # 200 reports, a kill every 2-5 s: several minutes
    .venv/bin/python bench/chaos.py --reports 30 --keep      # a smaller look, keeping the logs, DB and emails
    .venv/bin/python bench/chaos.py --help

It builds its own world in a temp dir (bench/core.py's World: a migrated SQLite DB, a private Redis, media and
static roots, the `bench` user with its email address and a token, daphne on a free 127.0.0.1 port, DJANGO_DEBUG=0)
and runs the Procfile's processes in it, with every interval short for every process of the world (SHORT_SETTINGS):
the scheduler (`manage.py rqcron reportsite.cron`: the reaper and the event sweep every 2 s) and one worker
(`manage.py rqworker reports notifications --with-scheduler`) under a small supervisor that starts it again
whenever it exits. Two receivers (bench/receiver.py, separate processes) append the `webhook-id` header of every
request they get to a file: one holds the endpoint registered for the terminal events, the other takes each
report's `callback_url`. The workers' email backend is Django's file backend, in the temp dir; every report email
carries `X-Event-Id`. Email is on for success and failure (the default preferences).

1. The reports are POSTed to daphne at --rate per second, each with the callback URL, while a killer SIGKILLs the
   worker's whole process group (RQ's scheduler child with it) at random intervals in --kill-every, until every
   report is terminal. A report whose worker is lost twice ends failed with `worker_lost`: terminal, and notified.
2. The killing stops; the last worker runs until every terminal event is fanned out and none of its deliveries is
   pending (or --settle-timeout), then everything is stopped.
3. Figures, from the database, the receivers' files and the email files: reports by status, kills, events written
   and fanned out, and per channel the terminal events delivered (distinct event ids received), the duplicates
   (received less distinct) and the lost (terminal events in the log that the channel never received); the
   deliveries in the database by channel and status.

Prints a table and writes bench/results/chaos-<timestamp>.json; exits 1 when a channel lost an event or a report
did not end. Sends traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.core import RESULTS, World, machine_info, say  # noqa: E402
from scripts.private_redis import free_port  # noqa: E402

TERMINAL_STATUSES = ("succeeded", "failed", "cancelled", "expired")
# Every process of the world gets these: the safety nets run every 2 s, a silent render is lost after 4 s, and
# retries come within seconds, so a run takes minutes instead of hours.
SHORT_SETTINGS = {
    "EVENT_SWEEP_INTERVAL_SECONDS": "2",
    "EVENT_FANOUT_GRACE_SECONDS": "2",
    "REPORT_REAPER_INTERVAL_SECONDS": "2",
    "REPORT_HEARTBEAT_SECONDS": "1",
    "REPORT_LOST_AFTER_SECONDS": "4",
    "REPORT_REQUEUE_AFTER_SECONDS": "5",
    "WEBHOOK_RETRY_SCHEDULE": "0,1,2,5,10",
    "NOTIFY_RETRY_SCHEDULE": "0,1,2,5,10",
    # A delivery claimed by a killed run is due again when its lease ends: the channel's timeout plus 30 s for
    # webhooks (email: 60 + 30 s, fixed). The receivers answer at once; 5 s is plenty.
    "WEBHOOK_TIMEOUT": "5",
    # The receivers are on loopback (refused by default with DEBUG off).
    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
}
WORKER_COMMAND = ["manage.py", "rqworker", "reports", "notifications", "--with-scheduler"]  # the Procfile's
SCHEDULER_COMMAND = ["manage.py", "rqcron", "reportsite.cron"]  # the Procfile's
CHANNELS = (("endpoint", "webhook"), ("callback", "callback"), ("email", "email"))  # (label, Delivery.channel)


class ChaosWorld(World):
    """bench/core.py's world, with the short intervals and the file email backend for every process."""

    @property
    def emails(self) -> Path:
        return self.dir / "emails"

    def make_env(self) -> dict[str, str]:
        env = super().make_env()
        env.update(SHORT_SETTINGS)
        env.update(
            DJANGO_EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            DJANGO_EMAIL_FILE_PATH=str(self.emails),
        )
        return env


class Supervisor:
    """Runs the worker as the Procfile does, in a process group of its own, and starts it again whenever it exits
    (as systemd's Restart=always would, after RESTART_DELAY). Its output goes to worker.log, each start marked."""

    RESTART_DELAY = 0.2

    def __init__(self, world: World) -> None:
        self.world = world
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.started_wall = datetime.now(UTC)
        self.starts = 0
        self.exits: list[int] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen:
        with (self.world.dir / "worker.log").open("ab") as log:
            stamp = datetime.now(UTC).isoformat()
            log.write(f"--- supervisor: worker start {self.starts + 1} at {stamp} ---\n".encode())
            log.flush()
            return subprocess.Popen(
                [sys.executable, *WORKER_COMMAND],
                cwd=ROOT,
                # As the Procfile runs it: the worker keeps its database connection between jobs.
                env={**self.world.env, "DATABASE_CONN_MAX_AGE": "60"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: RQ's scheduler child is killed with it
            )

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                self.process = self._spawn()
                self.started_at = time.monotonic()
                self.started_wall = datetime.now(UTC)
                self.starts += 1
            self.exits.append(self.process.wait())
            if self._stopping.wait(self.RESTART_DELAY):
                return

    def uptime(self) -> float:
        return time.monotonic() - self.started_at

    def kill(self) -> bool:
        """SIGKILL the worker's whole process group; False when no worker is running right now."""
        with self._lock:
            process = self.process
            if process is None or process.poll() is not None:
                return False
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                return False
            return True

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGTERM)  # RQ's warm shutdown
                process.wait(timeout)
            with contextlib.suppress(ProcessLookupError):  # whatever is left of its group (its scheduler child)
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        if self._thread.ident is not None:
            self._thread.join(10)


class Killer:
    """SIGKILLs the worker at random intervals in [low, high] seconds until stopped; notes what each kill hit."""

    def __init__(self, supervisor: Supervisor, low: float, high: float, rng: random.Random) -> None:
        self.supervisor = supervisor
        self.low, self.high = low, high
        self.rng = rng
        self.kills: list[dict] = []
        self.missed = 0  # the worker was between two starts
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="killer", daemon=True)
        self._t0 = time.monotonic()

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join(30)

    def _run(self) -> None:
        from django.db import connections

        from reports.models import Report

        try:
            while not self._stopping.wait(self.rng.uniform(self.low, self.high)):
                uptime = self.supervisor.uptime()
                start, started_wall = self.supervisor.starts, self.supervisor.started_wall
                if self.supervisor.kill():
                    # Read right after the kill: the reports this worker had started and left running (the reaper
                    # finds them 4 s later). Those an earlier worker left are not counted again.
                    running = Report.objects.filter(status="running", started_at__gte=started_wall)
                    self.kills.append(
                        {
                            "at_s": round(time.monotonic() - self._t0, 2),
                            "worker_start": start,
                            "worker_uptime_s": round(uptime, 2),
                            "running_reports": list(running.values_list("id", flat=True)),
                        }
                    )
                else:
                    self.missed += 1
        finally:
            connections.close_all()  # this thread's own


def start_receiver(world: World, name: str) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    count_file = world.dir / f"receiver-{name}.count"
    ids_file = world.dir / f"receiver-{name}.ids"
    command = [sys.executable, "bench/receiver.py", "--port", str(port), "--mode", "fast"]
    command += ["--count-file", str(count_file), "--ids-file", str(ids_file)]
    process = world.spawn(f"receiver-{name}", command)
    deadline = time.monotonic() + 10
    while not count_file.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"receiver {name} did not start:\n{world.log_tail(f'receiver-{name}')}")
        time.sleep(0.05)
    return process, port, ids_file


def wait_for(condition, timeout: float, progress=None, every: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    next_progress = time.monotonic() + every
    while time.monotonic() < deadline:
        if condition():
            return True
        if progress is not None and time.monotonic() >= next_progress:
            progress()
            next_progress = time.monotonic() + every
        time.sleep(0.5)
    return condition()


def read_ids(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line]
    except FileNotFoundError:
        return []


def read_email_event_ids(folder: Path) -> tuple[list[str], int]:
    """The X-Event-Id of every email the file backend wrote, and the number of files."""
    ids, files = [], 0
    for path in sorted(folder.glob("*")) if folder.exists() else []:
        files += 1
        ids += re.findall(r"^X-Event-Id: (\S+)\s*$", path.read_text(errors="replace"), re.MULTILINE)
    return ids, files


def problems_in(text: str) -> dict:
    lines = [line for line in text.splitlines() if re.search(r"Traceback|ERROR|CRITICAL", line)]
    return {"count": len(lines), "first": lines[:10]}


# --- The run --------------------------------------------------------------------------------------------------------


def run(world: ChaosWorld, args: argparse.Namespace, low: float, high: float, result: dict) -> None:
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per POST otherwise (the settings' root INFO)
    from django.contrib.auth.models import User

    from notifications.webhooks.services import endpoint_create
    from reports.events import TERMINAL_EVENT_TYPES
    from reports.models import Report

    world.emails.mkdir()
    user = User.objects.get(username="bench")
    endpoint_process, endpoint_port, endpoint_ids = start_receiver(world, "endpoint")
    callback_process, callback_port, callback_ids = start_receiver(world, "callback")
    receivers = [endpoint_process, callback_process]
    endpoint = endpoint_create(
        owner=user, url=f"http://127.0.0.1:{endpoint_port}/hooks", event_types=list(TERMINAL_EVENT_TYPES)
    )
    callback_url = f"http://127.0.0.1:{callback_port}/callback"
    say(f"receivers: endpoint {endpoint.id} on port {endpoint_port}, callback URL {callback_url}")
    scheduler = world.spawn("scheduler", [sys.executable, *SCHEDULER_COMMAND])
    world.start_daphne()
    supervisor = Supervisor(world)
    rng = random.Random(args.seed)
    killer = Killer(supervisor, low, high, rng)
    report_ids: list[str] = []
    phases: dict[str, float] = {}
    try:
        supervisor.start()
        if not wait_for(lambda: world.workers_registered() > 0, 60):
            raise RuntimeError(f"the worker did not register:\n{world.log_tail('worker')}")
        say(f"scheduler (pid {scheduler.pid}) and a supervised worker up; killing every {low:g}-{high:g} s")
        started = time.monotonic()
        killer.start()

        def status_line() -> str:
            counts = Counter(Report.objects.filter(pk__in=report_ids).values_list("status", flat=True))
            shown = ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
            return f"{len(report_ids)} POSTed: {shown}; {len(killer.kills)} kills, {supervisor.starts} worker starts"

        # 1. POST the reports at --rate, the killer at work.
        body = {"report_type": "user_access", "parameters": {}, "callback_url": callback_url}
        with httpx.Client(base_url=world.base_url, headers=world.headers, timeout=30) as client:
            for index in range(args.reports):
                due = started + index / args.rate
                time.sleep(max(0.0, due - time.monotonic()))
                response = client.post("/api/v1/reports", json=body)
                if response.status_code != 201:
                    raise RuntimeError(f"POST answered {response.status_code}: {response.text[:500]}")
                report_ids.append(response.json()["id"])
        phases["posting_s"] = time.monotonic() - started
        say(f"{args.reports} reports POSTed in {phases['posting_s']:.1f} s; killing until every one is terminal")

        def all_terminal() -> bool:
            return not Report.objects.filter(pk__in=report_ids).exclude(status__in=TERMINAL_STATUSES).exists()

        terminal = wait_for(all_terminal, args.terminal_timeout, lambda: say(status_line()))
        phases["until_terminal_s"] = time.monotonic() - started
        killer.stop()
        say(f"{'every report terminal' if terminal else '!! not every report terminal'}: {status_line()}")
        say("killing stopped; the last worker delivers what is left")
        result["every_report_terminal"] = terminal

        # 2. The last worker runs until every terminal event is fanned out and none of its deliveries is pending.
        settle_started = time.monotonic()
        settled = wait_for(
            lambda: deliveries_settled(report_ids),
            args.settle_timeout,
            lambda: say(f"settling: {settle_line(report_ids)}"),
        )
        phases["settle_s"] = time.monotonic() - settle_started
        result["deliveries_settled"] = settled
        say(f"{'settled' if settled else '!! not settled'} after {phases['settle_s']:.1f} s: {settle_line(report_ids)}")
        time.sleep(1.0)  # nothing should be in flight; a last moment for the receivers' files all the same
    finally:
        killer.stop()
        supervisor.stop()
        for process in [scheduler, *receivers]:
            world._stop(process, timeout=10)
    result["phases"] = {name: round(value, 1) for name, value in phases.items()}
    result["kills"] = {
        "count": len(killer.kills),
        "while_a_report_was_running": sum(bool(kill["running_reports"]) for kill in killer.kills),
        "tried_between_two_starts": killer.missed,
        "worker_starts": supervisor.starts,
        "worker_exit_codes": dict(Counter(str(code) for code in supervisor.exits)),
        "each": killer.kills,
    }
    result["figures"] = figures(world, report_ids, endpoint_ids, callback_ids)


def _terminal_events(report_ids: list[str]):
    from events.models import Event
    from reports.events import TERMINAL_EVENT_TYPES

    return Event.objects.filter(report_id__in=report_ids, type__in=TERMINAL_EVENT_TYPES)


def deliveries_settled(report_ids: list[str]) -> bool:
    from events.models import Delivery, DeliveryStatus

    events = _terminal_events(report_ids)
    if events.filter(fanned_out_at__isnull=True).exists():
        return False
    return not Delivery.objects.filter(event__in=events, status=DeliveryStatus.PENDING).exists()


def settle_line(report_ids: list[str]) -> str:
    from events.models import Delivery

    events = _terminal_events(report_ids)
    waiting = events.filter(fanned_out_at__isnull=True).count()
    statuses = Counter(Delivery.objects.filter(event__in=events).values_list("status", flat=True))
    return f"{waiting} terminal events not fanned out; deliveries {dict(sorted(statuses.items()))}"


def figures(world: ChaosWorld, report_ids: list[str], endpoint_file: Path, callback_file: Path) -> dict:
    from django.db.models import Count, Sum

    from events.models import Delivery, DeliveryAttempt, Event
    from notifications.messages.channels import REPORT_OUTCOME_EVENTS
    from reports.events import TERMINAL_EVENT_TYPES
    from reports.models import Report

    reports = Report.objects.filter(pk__in=report_ids)
    by_status = Counter(reports.values_list("status", flat=True))
    failed_by_code = Counter(reports.filter(status="failed").values_list("error_code", flat=True))
    attempts = Counter(reports.values_list("attempts", flat=True))
    events = Event.objects.all()
    terminal = events.filter(type__in=TERMINAL_EVENT_TYPES)
    terminal_of_ours = terminal.filter(report_id__in=report_ids)
    per_report = Counter(terminal_of_ours.values_list("report_id", flat=True))
    terminal_types = dict(terminal_of_ours.values_list("id", "type"))
    worker_log = world.log_tail("worker", 10**9)
    sweep_lines = re.findall(r"The sweep fanned out (\d+) event", worker_log)
    # Jobs that a killed worker had taken (RQ's status: started) and that RQ's own registry cleanup gave up on, at a
    # worker's start or maintenance, once the job's timeout plus 60 s had passed.
    abandoned = re.findall(r"StartedJobRegistry cleanup: (\S+) Moved to FailedJobRegistry", worker_log)
    durations = sorted(
        ((finished - created).total_seconds(), report_id, tries)
        for report_id, created, finished, tries in reports.exclude(finished_at=None).values_list(
            "id", "created_at", "finished_at", "attempts"
        )
    )

    email_ids, email_files = read_email_event_ids(world.emails)
    received = {
        "endpoint": read_ids(endpoint_file),
        "callback": read_ids(callback_file),
        "email": email_ids,
    }
    expected = {
        "endpoint": set(terminal_types),
        "callback": set(terminal_types),
        "email": {event_id for event_id, kind in terminal_types.items() if kind in REPORT_OUTCOME_EVENTS},
    }
    channels = {}
    for label, channel in CHANNELS:
        ids = received[label]
        distinct = set(ids)
        lost = sorted(expected[label] - distinct)
        rows = Delivery.objects.filter(channel=channel)
        channels[label] = {
            "delivery_channel": channel,
            "terminal_events": len(expected[label]),
            "received": len(ids),
            "distinct": len(distinct),
            "delivered": len(expected[label] & distinct),
            "duplicates": len(ids) - len(distinct),
            "events_received_more_than_once": sum(count > 1 for count in Counter(ids).values()),
            "unexpected": sorted(distinct - expected[label]),
            "lost": len(lost),
            "lost_event_ids": lost,
            "lost_detail": [
                {
                    "event": event_id,
                    "type": terminal_types[event_id],
                    "deliveries": list(
                        rows.filter(event_id=event_id).values(
                            "id", "status", "attempt_count", "last_status_code", "last_error", "claimed_by"
                        )
                    ),
                }
                for event_id in lost[:20]
            ],
            "terminal_events_without_a_delivery_row": len(
                expected[label] - set(rows.filter(event_id__in=expected[label]).values_list("event_id", flat=True))
            ),
        }
    channels["email"]["files"] = email_files
    deliveries = {}
    for row in Delivery.objects.values("channel", "status").annotate(n=Count("id"), attempts=Sum("attempt_count")):
        entry = deliveries.setdefault(row["channel"], {"attempts": 0})
        entry[row["status"]] = row["n"]
        entry["attempts"] += row["attempts"] or 0
    for channel, entry in deliveries.items():
        entry["retried"] = Delivery.objects.filter(channel=channel, attempt_count__gt=1).count()
        entry["failed_attempts"] = DeliveryAttempt.objects.filter(delivery__channel=channel, succeeded=False).count()
    return {
        "reports": {
            "posted": len(report_ids),
            "by_status": dict(sorted(by_status.items())),
            "failed_by_code": dict(sorted(failed_by_code.items())),
            "attempts": {str(k): v for k, v in sorted(attempts.items())},
            "not_terminal": sorted(reports.exclude(status__in=TERMINAL_STATUSES).values_list("id", flat=True)),
            "with_one_terminal_event": sum(per_report[report_id] == 1 for report_id in report_ids),
            "with_more_than_one_terminal_event": sum(per_report[report_id] > 1 for report_id in report_ids),
            "created_to_finished_s": {
                "p50": round(durations[len(durations) // 2][0], 2) if durations else None,
                "max": round(durations[-1][0], 2) if durations else None,
                "over_60_s": sum(seconds > 60 for seconds, _, _ in durations),
                "slowest": [
                    {"report": report_id, "seconds": round(seconds, 2), "attempts": tries}
                    for seconds, report_id, tries in reversed(durations[-5:])
                ],
            },
            "rq_jobs_abandoned_by_a_killed_worker_cleaned_by_rq": abandoned,
        },
        "events": {
            "written": events.count(),
            "fanned_out": events.filter(fanned_out_at__isnull=False).count(),
            "terminal": terminal.count(),
            "terminal_fanned_out": terminal.filter(fanned_out_at__isnull=False).count(),
            "by_type": dict(sorted(Counter(events.values_list("type", flat=True)).items())),
            "fanned_out_by_the_sweep": sum(int(n) for n in sweep_lines),
        },
        "channels": channels,
        "deliveries": deliveries,
        "log_problems": {name: problems_in(world.log_tail(name, 10**9)) for name in ("worker", "scheduler", "daphne")},
    }


# --- Report ---------------------------------------------------------------------------------------------------------


def print_table(result: dict) -> None:
    m, f, k = result["machine"], result["figures"], result["kills"]
    r, e = f["reports"], f["events"]
    commit = m["git_commit"] + (" (dirty)" if m["git_dirty_files"] else "")
    if m["git_commit_at_end"] != m["git_commit"]:
        commit += f" -> {m['git_commit_at_end']} (committed during the run)"
    print()
    print(
        f"Chaos run  {m['date_utc']}  commit {commit}, "
        f"{m['cores']} cores, load average {' '.join(m['loadavg_at_start'])} -> {' '.join(m['loadavg_at_end'])}"
    )
    print(
        f"  {r['posted']} reports POSTed at {result['settings']['rate_per_s']:g}/s, the worker SIGKILLed every "
        f"{result['settings']['kill_every_s']} s (seed {result['settings']['seed']})"
    )
    ended = "every report terminal" if result["every_report_terminal"] else "!! NOT every report terminal"
    settled = "deliveries settled" if result["deliveries_settled"] else "!! deliveries NOT settled"
    print(
        f"  kills {k['count']} ({k['while_a_report_was_running']} with a report running), worker starts "
        f"{k['worker_starts']}; {ended} after {result['phases'].get('until_terminal_s', 0):.0f} s, "
        f"{settled} {result['phases'].get('settle_s', 0):.0f} s after the last kill"
    )
    if r["not_terminal"]:
        print(f"  !! {len(r['not_terminal'])} report(s) never ended: {', '.join(r['not_terminal'])}")
    statuses = ", ".join(f"{status} {count}" for status, count in r["by_status"].items())
    codes = ", ".join(f"{code} {count}" for code, count in r["failed_by_code"].items())
    print(f"  reports: {statuses}{f' (failed: {codes})' if codes else ''}; attempts {r['attempts']}")
    times = r["created_to_finished_s"]
    slowest = times["slowest"][0] if times["slowest"] else None
    print(
        f"  created -> finished: p50 {times['p50']} s, max {times['max']} s"
        + (f" ({slowest['report']}, {slowest['attempts']} attempt(s))" if slowest else "")
        + f"; {times['over_60_s']} over 60 s"
    )
    print(
        f"  events written {e['written']} (terminal {e['terminal']}), fanned out {e['fanned_out']} "
        f"(terminal {e['terminal_fanned_out']}); the sweep fanned out {e['fanned_out_by_the_sweep']}"
    )
    print()
    print(
        f"  {'channel':9} {'terminal events':>15} {'delivered':>9} {'received':>8} {'duplicates':>10} {'lost':>5}   "
        f"database: deliveries by status, attempts"
    )
    for label, _ in CHANNELS:
        c = f["channels"][label]
        d = f["deliveries"].get(c["delivery_channel"], {})
        by_status = ", ".join(
            f"{status} {d[status]}" for status in ("succeeded", "failed", "pending", "skipped") if d.get(status)
        )
        print(
            f"  {label:9} {c['terminal_events']:>15} {c['delivered']:>9} {c['received']:>8} {c['duplicates']:>10} "
            f"{c['lost']:>5}   {by_status or 'none'}; {d.get('attempts', 0)} attempts "
            f"({d.get('failed_attempts', 0)} failed)"
        )
        if c["unexpected"]:
            print(f"  !! {label}: {len(c['unexpected'])} ids received that are no terminal event of this run")
    lost = sum(f["channels"][label]["lost"] for label, _ in CHANNELS)
    print()
    print(f"  lost on every channel: {'0' if not lost else f'{lost} !!'}")
    for name, problems in f["log_problems"].items():
        if problems["count"]:
            print(f"  {name} log: {problems['count']} error lines, first: {problems['first'][0][:150]}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=200, help="reports POSTed (200)")
    parser.add_argument("--kill-every", default="2-5", help="seconds between kills, a random pick in LOW-HIGH (2-5)")
    parser.add_argument("--rate", type=float, default=4.0, help="reports POSTed per second (4)")
    parser.add_argument("--seed", type=int, help="seed of the killer's intervals (default: random, recorded)")
    parser.add_argument("--terminal-timeout", type=float, default=1200.0, help="seconds for every report to end")
    parser.add_argument("--settle-timeout", type=float, default=600.0, help="seconds for the deliveries after that")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DB, emails, receivers' ids)")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/chaos-<timestamp>.json)")
    args = parser.parse_args()
    try:
        low, high = (float(x) for x in args.kill_every.split("-"))
    except ValueError:
        parser.error("--kill-every takes LOW-HIGH in seconds, such as 2-5")
    if not 0 < low <= high:
        parser.error("--kill-every: 0 < LOW <= HIGH")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    os.chdir(ROOT)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or RESULTS / f"chaos-{stamp}.json"
    result: dict = {
        "benchmark": "chaos",
        "command": " ".join([".venv/bin/python", "bench/chaos.py", *sys.argv[1:]]),
        "machine": machine_info(),
        "settings": {
            "reports": args.reports,
            "rate_per_s": args.rate,
            "kill_every_s": f"{low:g}-{high:g}",
            "seed": args.seed,
            "report_type": "user_access",
            "database": "SQLite (WAL) in a temp dir",
            "worker": "1 x " + " ".join(WORKER_COMMAND) + ", restarted when it exits",
            "scheduler": " ".join(SCHEDULER_COMMAND),
            "environment": SHORT_SETTINGS,
            "email_backend": "django.core.mail.backends.filebased.EmailBackend",
        },
    }
    world = ChaosWorld(keep=args.keep)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        world.start_data()
        os.environ.update(world.env)  # this process reads the same database to count
        run(world, args, low, high, result)
    except BaseException:
        for name in ("worker", "scheduler", "daphne"):
            print(f"--- end of the {name} log ---\n{world.log_tail(name)}", file=sys.stderr)
        raise
    finally:
        world.stop()
    result["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    # Workers started during the run load the code as it is then: a commit made meanwhile shows here.
    result["machine"]["git_commit_at_end"] = machine_info()["git_commit"]

    print_table(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    say(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    lost = sum(channel["lost"] for channel in result["figures"]["channels"].values())
    ok = lost == 0 and result["every_report_terminal"] and result["deliveries_settled"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
