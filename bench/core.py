"""Core benchmark: submit-to-finished latency of one-page reports, and POST /api/v1/reports throughput next to the
trivial GET /api/v1/me on the same daphne.

Run from the repository root with the project's virtualenv:

    .venv/bin/python bench/core.py                 # full run, about 2.5 minutes
    .venv/bin/python bench/core.py --help          # sizes, durations, poll interval, ...

It builds its own world in a temp dir and removes it at the end: a migrated SQLite DB, a private Redis, a media
root, collected static files, the demo users plus a `bench` user with auth.view_user and a DRF token, daphne on a
free 127.0.0.1 port and one `manage.py rqworker reports notifications`, all with DJANGO_DEBUG=0 (production-like).
Requests carry `X-Forwarded-Proto: https`, as they would behind the TLS-terminating proxy that production settings
expect (SECURE_SSL_REDIRECT answers plain http with a redirect otherwise; the run checks and records that).

(a) latency: reports submitted one at a time, each polled until finished before the next.
(b) throughput: wrk, 50 connections, GET /me and POST /reports in alternating rounds, with the worker stopped so
    that only the web tier is measured; the queued reports and jobs are deleted afterwards.

Prints a table and writes bench/results/core-<timestamp>.json. Sends traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
sys.path.insert(0, str(ROOT))

try:
    import httpx
    import redis

    from scripts.private_redis import PrivateRedis, free_port
except ImportError as error:  # pragma: no cover - wrong interpreter
    raise SystemExit(f"bench: {error}. Run it with the project's virtualenv: .venv/bin/python bench/core.py") from None

HOST = "127.0.0.1"
TERMINAL = {"succeeded", "failed", "cancelled", "expired"}
REPORT_BODY = {"report_type": "user_access", "parameters": {}}

SETUP_USER = r"""
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
user = User.objects.create_user("bench", email="bench@example.com", first_name="Bench", last_name="Runner")
user.user_permissions.add(Permission.objects.get(content_type__app_label="auth", codename="view_user"))
print("BENCH_TOKEN=" + Token.objects.create(user=user).key)
"""

CLEAN_QUEUE = r"""
import django_rq
from reports.models import Report
queue = django_rq.get_queue("reports")
jobs = queue.count
queue.empty()
# The reports alone: delete() also counts the events and deliveries that go with them.
_, per_model = Report.objects.filter(status="queued").delete()
deleted = per_model.get("reports.Report", 0)
print(f"BENCH_CLEAN jobs={jobs} reports={deleted} left={Report.objects.count()}")
"""


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


# --- Machine ------------------------------------------------------------------------------------------------------


def machine_info() -> dict:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    def version(name: str) -> str | None:
        try:
            from importlib.metadata import version as v

            return v(name)
        except Exception:
            return None

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout
        except OSError:
            return ""

    wrk = shutil.which("wrk")
    wrk_version = ""
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        wrk_version = (out.stdout + out.stderr).splitlines()[0] if (out.stdout + out.stderr) else ""
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {
            name: version(name)
            for name in (
                "Django",
                "djangorestframework",
                "daphne",
                "rq",
                "django-rq",
                "xhtml2pdf",
                "reportlab",
                "pypdf",
                "redis",
                "httpx",
            )
        },
        "wrk": wrk_version,
        "git_commit": git("rev-parse", "--short", "HEAD").strip(),
        "git_dirty_files": [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()],
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> tuple[float, float, float]:
    """(busy, total, steal) CPU seconds of the whole machine so far, from /proc/stat. Steal is time the hypervisor
    gave this VM's CPUs to someone else; it is counted in busy (it was not ours, nor idle)."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick, values[7] / tick


# --- The world ----------------------------------------------------------------------------------------------------


class World:
    """Temp dir, SQLite DB, private Redis, media and static roots, daphne and one RQ worker."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix="bench-core-"))
        self.redis: PrivateRedis | None = None
        self.daphne: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.logs: list = []
        self.port = 0
        self.token = ""
        self.env: dict[str, str] = {}

    # Environment shared by every process of the world: production-like settings, nothing from the caller's
    # DJANGO_*/DATABASE_URL/REDIS_URL.
    def make_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DJANGO_") and k not in {"DATABASE_URL", "REDIS_URL", "PYTHONPATH"}
        }
        env.update(
            DJANGO_SETTINGS_MODULE="reportsite.settings",
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=f"sqlite:///{self.dir / 'db.sqlite3'}",
            REDIS_URL=self.redis.url,
            DJANGO_MEDIA_ROOT=str(self.dir / "media"),
            DJANGO_STATIC_ROOT=str(self.dir / "static"),
            # Measured here: how fast the system goes, not its limits. No per-user rate, no load shedding.
            REPORT_CREATE_RATE="",
            REPORT_QUEUE_MAX_BACKLOG="0",
            # model_table.py asks for up to 10,000 rows by id (60 KB of ids): the PDF's speed is measured, not the cap.
            REPORT_MAX_PARAMETERS_BYTES=str(1024 * 1024),
            # The requesters' emails go nowhere: the figures are the service's, not those of an SMTP server.
            DJANGO_EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        )
        return env

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}", "X-Forwarded-Proto": "https"}

    def manage(self, *args: str, code: str | None = None) -> str:
        command = [sys.executable, "manage.py", *args]
        if code is not None:
            command += ["-c", code]
        result = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
        return result.stdout

    def spawn(self, name: str, command: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        log = (self.dir / f"{name}.log").open("wb")
        self.logs.append(log)
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def start(self) -> None:
        self.start_data()
        self.start_daphne()
        self.start_worker()

    def start_data(self) -> None:
        """Redis, DB, static and users: everything but the server and the worker."""
        say(f"world in {self.dir}")
        (self.dir / "media").mkdir()
        self.redis = PrivateRedis(self.dir / "redis", port=free_port()).start()
        say(f"private Redis on {self.redis.url}")
        self.env = self.make_env()
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        self.manage("demo_setup")  # admin + alice, bob, carol, dave: a handful of users, one page
        out = self.manage("shell", code=SETUP_USER)
        self.token = re.search(r"BENCH_TOKEN=(\w+)", out).group(1)
        say("DB migrated, static collected, demo users and the bench user (auth.view_user + token) created")

    def start_daphne(self, timeout: float = 60.0) -> None:
        self.port = free_port()
        # `python -m daphne` = the Procfile's `daphne ...`, with this interpreter whatever the script's shebang says.
        command = [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(self.port), "reportsite.asgi:application"]
        self.daphne = self.spawn("daphne", command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.daphne.poll() is not None:
                raise RuntimeError(f"daphne exited early:\n{self.log_tail('daphne')}")
            try:
                if httpx.get(f"{self.base_url}/api/v1/me", headers=self.headers, timeout=2).status_code == 200:
                    say(f"daphne on {self.base_url} (pid {self.daphne.pid})")
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"daphne did not answer within {timeout}s:\n{self.log_tail('daphne')}")

    def workers_registered(self) -> int:
        client = redis.Redis.from_url(self.redis.url)
        try:
            return client.scard("rq:workers")
        finally:
            client.close()

    def start_worker(self, timeout: float = 60.0, extra_args: tuple[str, ...] = ()) -> None:
        before = self.workers_registered()
        command = [sys.executable, "manage.py", "rqworker", *extra_args, "reports", "notifications"]
        # As the Procfile runs it: the worker keeps its database connection between jobs.
        self.worker = self.spawn("worker", command, extra_env={"DATABASE_CONN_MAX_AGE": "60"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_tail('worker')}")
            if self.workers_registered() > before:
                say(f"worker registered (pid {self.worker.pid})")
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker did not register within {timeout}s:\n{self.log_tail('worker')}")

    @staticmethod
    def _stop(process: subprocess.Popen | None, timeout: float = 20.0) -> None:
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def stop_worker(self) -> None:
        self._stop(self.worker)
        say("worker stopped")

    def stop(self) -> None:
        self._stop(self.worker)
        self._stop(self.daphne)
        if self.redis is not None:
            self.redis.stop()
        for log in self.logs:
            log.close()
        if self.keep:
            say(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# --- Production-mode checks ---------------------------------------------------------------------------------------


def debug_off_checks(world: World) -> list[dict]:
    """What DEBUG=0 changes for a client: recorded, and anything surprising printed."""
    checks = []
    auth = {"Authorization": f"Token {world.token}"}
    proxied = world.headers
    cases = [
        ("GET /api/v1/me over plain http (no proxy header)", "/api/v1/me", auth, {301}),
        ("GET /api/v1/me behind TLS proxy", "/api/v1/me", proxied, {200}),
        ("GET /static/admin/css/base.css (whitenoise, collected)", "/static/admin/css/base.css", proxied, {200}),
        ("GET /admin/login/", "/admin/login/", {"X-Forwarded-Proto": "https"}, {200}),
        ("GET /api/docs", "/api/docs", proxied, {200}),
        ("GET /api/v1/no-such-thing (problem+json 404)", "/api/v1/no-such-thing", proxied, {404}),
    ]
    with httpx.Client(base_url=world.base_url, timeout=10) as client:
        for label, path, headers, expected in cases:
            response = client.get(path, headers=headers)
            entry = {
                "check": label,
                "status": response.status_code,
                "expected": sorted(expected),
                "ok": response.status_code in expected,
                "content_type": response.headers.get("content-type", ""),
            }
            if response.status_code in (301, 302):
                entry["location"] = response.headers.get("location", "")
            checks.append(entry)
    for entry in checks:
        mark = "ok " if entry["ok"] else "!! "
        extra = f" -> {entry['location']}" if "location" in entry else ""
        say(f"  {mark}{entry['check']}: {entry['status']}{extra}")
    return checks


# --- (a) latency --------------------------------------------------------------------------------------------------


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def summarize(values_ms: list[float]) -> dict:
    ordered = sorted(values_ms)

    def pct(p: float) -> float:
        if not ordered:
            return float("nan")
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))  # nearest-rank
        return ordered[rank]

    return {
        "n": len(ordered),
        "p50": pct(50),
        "p99": pct(99),
        "mean": statistics.fmean(ordered) if ordered else float("nan"),
        "max": ordered[-1] if ordered else float("nan"),
        "min": ordered[0] if ordered else float("nan"),
    }


def run_latency(world: World, count: int, warmup: int, poll_interval: float, timeout: float = 60.0) -> dict:
    samples = []
    with httpx.Client(base_url=world.base_url, headers=world.headers, timeout=30) as client:
        for index in range(warmup + count):
            sent_wall = time.time()
            sent = time.perf_counter()
            response = client.post("/api/v1/reports", json=REPORT_BODY)
            answered = time.perf_counter()
            if response.status_code != 201:
                raise RuntimeError(f"POST answered {response.status_code}: {response.text[:500]}")
            created = response.json()
            path = f"/api/v1/reports/{created['id']}"
            polls = 0
            while True:
                body = client.get(path).json()
                polls += 1
                if body["status"] in TERMINAL:
                    seen = time.perf_counter()
                    break
                if time.perf_counter() - sent > timeout:
                    raise RuntimeError(f"report {created['id']} not finished after {timeout}s: {body}")
                time.sleep(poll_interval)
            if body["status"] != "succeeded":
                raise RuntimeError(f"report {created['id']} ended {body['status']}: {body.get('error')}")
            pages = (body.get("file") or {}).get("pages")
            if pages != 1:
                raise RuntimeError(f"report {created['id']} has {pages} pages, expected 1")
            created_at, started_at, finished_at = (
                parse_time(body[k]) for k in ("created_at", "started_at", "finished_at")
            )
            if index < warmup:
                continue
            samples.append(
                {
                    "id": created["id"],
                    "sent_at": sent_wall,
                    "created_at": created_at,
                    "started_at": started_at,
                    "finished_at": finished_at,
                    "post_rtt_ms": (answered - sent) * 1000,
                    "send_to_created_ms": (created_at - sent_wall) * 1000,
                    "created_to_started_ms": (started_at - created_at) * 1000,
                    "started_to_finished_ms": (finished_at - started_at) * 1000,
                    "send_to_finished_ms": (finished_at - sent_wall) * 1000,
                    "send_to_client_saw_ms": (seen - sent) * 1000,
                    "polls": polls,
                    "pages": pages,
                    "size_bytes": body["file"]["size_bytes"],
                }
            )
    keys = [
        "send_to_finished_ms",
        "post_rtt_ms",
        "send_to_created_ms",
        "created_to_started_ms",
        "started_to_finished_ms",
        "send_to_client_saw_ms",
        "polls",
    ]
    return {
        "count": count,
        "warmup": warmup,
        "poll_interval_ms": poll_interval * 1000,
        "summary": {key: summarize([s[key] for s in samples]) for key in keys},
        "samples": samples,
    }


# --- (b) throughput -----------------------------------------------------------------------------------------------


def processes_cpu_seconds(pids: list[int]) -> float:
    """cpu_seconds of several processes together; one that is gone counts nothing."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def run_wrk(
    world: World,
    path: str,
    body: dict | None,
    clients: int,
    duration: float,
    threads: int,
    *,
    base_url: str | None = None,
    processes: dict[str, list[int]] | None = None,
) -> dict:
    """wrk against the world's daphne, or against `base_url` with the CPU of `processes` (name: pids) counted
    instead of daphne's (bench/split_layout.py); Redis's is counted either way."""
    command = [
        "wrk", "-t", str(threads), "-c", str(clients), "-d", f"{duration:g}s", "--timeout", "10s",
        "-s", str(BENCH / "wrk_count.lua"),
        "-H", f"Authorization: Token {world.token}", "-H", "X-Forwarded-Proto: https",
        f"{base_url or world.base_url}{path}",
    ]  # fmt: skip
    env = {**os.environ, "BENCH_BODY": json.dumps(body) if body is not None else ""}
    pids = {**(processes or {"daphne": [world.daphne.pid]}), "redis": [world.redis.process.pid]}
    cpu_before = {name: processes_cpu_seconds(group) for name, group in pids.items()}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, total_before, steal_before = system_busy_seconds()
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 60, check=False)
    elapsed = time.perf_counter() - started
    busy_after, total_after, steal_after = system_busy_seconds()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {name: processes_cpu_seconds(group) - cpu_before[name] for name, group in pids.items()}
    cpu["wrk"] = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    machine_busy = busy_after - busy_before
    cpu["steal"] = steal_after - steal_before
    cpu["other"] = max(0.0, machine_busy - sum(cpu.values()))
    match = re.search(r"^BENCH_RESULT (.*)$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    expected = 201 if body is not None else 200
    statuses = {int(k): v for k, v in data["statuses"].items()}
    socket_errors = sum(data["errors"][k] for k in ("connect", "read", "write", "timeout"))
    return {
        "path": path,
        "method": "POST" if body is not None else "GET",
        "clients": clients,
        "threads": threads,
        "duration_s": seconds,
        "requests": data["requests"],
        "requests_per_s": data["requests"] / seconds,
        "expected_status": expected,
        "statuses": statuses,
        "unexpected_responses": sum(v for k, v in statuses.items() if k != expected),
        "socket_errors": data["errors"],
        "errors_total": sum(v for k, v in statuses.items() if k != expected) + socket_errors,
        "latency_ms": {k: v / 1000 for k, v in data["latency_us"].items()},
        "daphne_cpu_ms_per_request": round(cpu.get("daphne", 0.0) * 1000 / max(1, data["requests"]), 2),
        "cpu_ms_per_request": {k: round(v * 1000 / max(1, data["requests"]), 2) for k, v in cpu.items()},
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "cpu_cores_busy": {k: round(v / elapsed, 2) for k, v in cpu.items()},
        "machine_cpu_busy_fraction": round(machine_busy / max(1e-9, total_after - total_before), 3),
    }


def run_throughput(world: World, clients: int, duration: float, rounds: int, threads: int, warmup: float) -> dict:
    world.stop_worker()  # web tier only: reports stay queued, nobody renders them
    say("worker stopped for the throughput runs: POSTed reports stay queued and are deleted afterwards")
    runs = {"me": [], "reports": []}
    targets = {"me": ("/api/v1/me", None), "reports": ("/api/v1/reports", REPORT_BODY)}
    warmup_201 = 0
    if warmup > 0:
        for path, body in targets.values():
            run = run_wrk(world, path, body, clients, warmup, threads)
            if body is not None:
                warmup_201 += run["statuses"].get(201, 0)
        say(f"warm-up: {warmup:g} s of each endpoint (not counted)")
    for round_index in range(rounds):
        for name, (path, body) in targets.items():
            run = run_wrk(world, path, body, clients, duration, threads)
            runs[name].append(run)
            say(
                f"round {round_index + 1}/{rounds} {run['method']} {path}: {run['requests_per_s']:.0f} req/s, "
                f"{run['requests']} requests, errors {run['errors_total']}, statuses {run['statuses']}, "
                f"daphne {run['cpu_cores_busy']['daphne']:.2f} cores ({run['daphne_cpu_ms_per_request']:.1f} ms CPU "
                f"per request), wrk {run['cpu_cores_busy']['wrk']:.2f}, other {run['cpu_cores_busy']['other']:.2f}, "
                f"steal {run['cpu_cores_busy']['steal']:.2f}"
            )
    out = world.manage("shell", code=CLEAN_QUEUE)
    clean = re.search(r"BENCH_CLEAN jobs=(\d+) reports=(\d+) left=(\d+)", out)
    cleaned = {"jobs": int(clean.group(1)), "reports": int(clean.group(2)), "rows_left": int(clean.group(3))}
    say(f"deleted {cleaned['jobs']} queued jobs and {cleaned['reports']} queued reports")

    def total(name: str) -> dict:
        requests = sum(r["requests"] for r in runs[name])
        seconds = sum(r["duration_s"] for r in runs[name])
        return {
            "requests": requests,
            "seconds": seconds,
            "requests_per_s": requests / seconds,
            "errors_total": sum(r["errors_total"] for r in runs[name]),
            "per_round_requests_per_s": [round(r["requests_per_s"], 1) for r in runs[name]],
            "daphne_cpu_ms_per_request": round(
                sum(r["cpu_seconds"]["daphne"] for r in runs[name]) * 1000 / max(1, requests), 2
            ),
        }

    me, reports = total("me"), total("reports")
    # Every 201 (warm-up included) must have left one queued row and one job. A few more rows than 201s is normal:
    # requests still in flight when wrk stops (at most one per connection and run) are completed by the server but
    # not counted by wrk.
    responses_201 = warmup_201 + sum(r["statuses"].get(201, 0) for r in runs["reports"])
    post_runs = rounds + (1 if warmup > 0 else 0)
    unanswered = cleaned["reports"] - responses_201
    posts_check = {
        "responses_201": responses_201,
        "queued_reports_deleted": cleaned["reports"],
        "jobs_deleted": cleaned["jobs"],
        "completed_after_wrk_stopped": unanswered,
        "consistent": cleaned["reports"] == cleaned["jobs"] and 0 <= unanswered <= clients * post_runs,
    }
    say(
        f"{'ok' if posts_check['consistent'] else '!!'} {responses_201} responses 201, {cleaned['reports']} queued "
        f"reports, {cleaned['jobs']} jobs ({unanswered} completed after wrk stopped, at most {clients * post_runs})"
    )
    return {
        "clients": clients,
        "duration_s": duration,
        "rounds": rounds,
        "wrk_threads": threads,
        "worker": "stopped during the runs; queued jobs and reports deleted afterwards",
        "me": me,
        "reports": reports,
        "ratio": reports["requests_per_s"] / me["requests_per_s"],
        # The same comparison from daphne's CPU per request: less disturbed by other load on a shared machine.
        "ratio_by_cpu": me["daphne_cpu_ms_per_request"] / max(1e-9, reports["daphne_cpu_ms_per_request"]),
        "posts_created_vs_201": posts_check,
        "runs": runs,
    }


# --- Report -------------------------------------------------------------------------------------------------------


def print_table(result: dict) -> None:
    m = result["machine"]
    print()
    print(
        f"Core benchmark  {m['date_utc']}  {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"Python {m['python']}, commit {m['git_commit']}{' (dirty)' if m['git_dirty_files'] else ''}"
    )
    lat = result.get("latency")
    if lat:
        print()
        print(
            f"(a) Latency, {lat['count']} one-page user_access reports one at a time "
            f"({lat['warmup']} warm-up not counted, poll every {lat['poll_interval_ms']:g} ms), ms"
        )
        labels = [
            ("send_to_finished_ms", "POST sent -> finished_at (total)"),
            ("post_rtt_ms", "  POST round trip (client)"),
            ("send_to_created_ms", "  POST sent -> created_at"),
            ("created_to_started_ms", "  created_at -> started_at (queue+fork)"),
            ("started_to_finished_ms", "  started_at -> finished_at (render)"),
            ("send_to_client_saw_ms", "POST sent -> client saw succeeded"),
        ]
        print(f"  {'part':42} {'p50':>8} {'p99':>8} {'mean':>8} {'max':>8}")
        for key, label in labels:
            s = lat["summary"][key]
            print(f"  {label:42} {s['p50']:8.1f} {s['p99']:8.1f} {s['mean']:8.1f} {s['max']:8.1f}")
        s = lat["summary"]["polls"]
        print(f"  {'GET polls per report':42} {s['p50']:8.0f} {s['p99']:8.0f} {s['mean']:8.1f} {s['max']:8.0f}")
        p50 = lat["summary"]["send_to_finished_ms"]["p50"]
        print(f"  target p50 < 100 ms: {'MET' if p50 < 100 else 'MISSED'} ({p50:.1f} ms)")
    tp = result.get("throughput")
    if tp:
        print()
        print(
            f"(b) Throughput, wrk {tp['clients']} connections, {tp['rounds']} x {tp['duration_s']:g} s per "
            f"endpoint alternating; worker {tp['worker']}"
        )
        print(
            f"  {'endpoint':26} {'req/s':>8} {'rounds':>18} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'CPU ms/req':>10}"
        )
        for name, label in (("me", "GET /api/v1/me"), ("reports", "POST /api/v1/reports")):
            t = tp[name]
            runs = tp["runs"][name]
            p50 = statistics.median(r["latency_ms"]["p50"] for r in runs)
            p99 = max(r["latency_ms"]["p99"] for r in runs)
            rounds = "/".join(f"{x:.0f}" for x in t["per_round_requests_per_s"])
            print(
                f"  {label:26} {t['requests_per_s']:8.1f} {rounds:>18} {t['requests']:9d} {t['errors_total']:7d} "
                f"{p50:8.1f} {p99:8.1f} {t['daphne_cpu_ms_per_request']:10.1f}"
            )
        for name in ("me", "reports"):
            for r in tp["runs"][name]:
                bad = {k: v for k, v in r["statuses"].items() if k != r["expected_status"]}
                sock = {k: v for k, v in r["socket_errors"].items() if v}
                if bad or sock:
                    print(f"  !! {r['method']} {r['path']}: unexpected statuses {bad}, socket errors {sock}")
        print(
            f"  POST / GET ratio: {tp['ratio']:.2f}  target >= 0.60: {'MET' if tp['ratio'] >= 0.6 else 'MISSED'}"
            f"   (from daphne CPU per request: {tp['ratio_by_cpu']:.2f})"
        )
        for index in range(tp["rounds"]):
            cpu = tp["runs"]["reports"][index]["cpu_cores_busy"]
            cpu_me = tp["runs"]["me"][index]["cpu_cores_busy"]
            print(
                f"  CPU cores busy, round {index + 1} (GET | POST): daphne {cpu_me['daphne']} | {cpu['daphne']}, "
                f"redis {cpu_me['redis']} | {cpu['redis']}, wrk {cpu_me['wrk']} | {cpu['wrk']}, "
                f"other processes {cpu_me['other']} | {cpu['other']}, steal {cpu_me['steal']} | {cpu['steal']}"
            )
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100, help="reports measured for latency (default 100)")
    parser.add_argument("--warmup-reports", type=int, default=5, help="reports before those, not counted")
    parser.add_argument("--poll-interval", type=float, default=0.005, help="seconds between GET polls (0.005)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections for throughput (50)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per throughput run (15)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating GET/POST rounds (2)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads; 1 leaves a core to the server")
    parser.add_argument("--throughput-warmup", type=float, default=3.0, help="seconds of untimed load per endpoint")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DB) for inspection")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/core-<timestamp>.json)")
    args = parser.parse_args()
    os.chdir(ROOT)

    if not args.skip_throughput and shutil.which("wrk") is None:
        raise SystemExit(
            "bench: wrk is needed for the throughput part. Install it with `apt-get install wrk` (Debian/Ubuntu), "
            "or run with --skip-throughput."
        )

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or RESULTS / f"core-{stamp}.json"
    result: dict = {
        "benchmark": "core",
        "command": " ".join([".venv/bin/python", "bench/core.py", *sys.argv[1:]]),
        "machine": machine_info(),
    }
    result["settings"] = {
        "DJANGO_DEBUG": "0",
        "database": "SQLite (WAL) in a temp dir",
        "redis": "private",
        "server": "daphne, 1 process",
        "worker": "1 x manage.py rqworker reports notifications",
        "proxy_header": "X-Forwarded-Proto: https",
    }

    world = World(keep=args.keep)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        world.start()
        say("DEBUG=0 checks:")
        result["debug_off_checks"] = debug_off_checks(world)
        if not args.skip_latency:
            say(f"latency: {args.warmup_reports} warm-up + {args.reports} reports, one at a time")
            result["latency"] = run_latency(world, args.reports, args.warmup_reports, args.poll_interval)
        if not args.skip_throughput:
            say(f"throughput: {args.rounds} rounds x {args.duration:g} s per endpoint, {args.clients} connections")
            result["throughput"] = run_throughput(
                world, args.clients, args.duration, args.rounds, args.wrk_threads, args.throughput_warmup
            )
        worker_log = world.log_tail("worker", 10**7)
        daphne_log = world.log_tail("daphne", 10**7)
        result["log_problems"] = {
            "worker": len(re.findall(r"Traceback|ERROR|CRITICAL", worker_log)),
            "daphne": len(re.findall(r"Traceback|ERROR|CRITICAL", daphne_log)),
        }
        if any(result["log_problems"].values()):
            say(f"!! errors in logs: {result['log_problems']} (rerun with --keep to read them)")
    except BaseException:
        for name in ("daphne", "worker"):
            print(f"--- end of the {name} log ---\n{world.log_tail(name)}", file=sys.stderr)
        raise
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
