"""Scale-out on one machine: two web processes and 1, 2, then 3 workers against one PostgreSQL and one Redis.

    .venv/bin/python bench/scale_out.py                      # 2,000 reports per run, ~10 min on 2 cores
    .venv/bin/python bench/scale_out.py --reports 200 --workers 1,2   # a quick look

The world is what docs/deployment.md describes, on 127.0.0.1: a fresh database on the PostgreSQL at
127.0.0.1:5432 (user `postgres`; dropped at the end), a private Redis, one media folder that every process shares
(the stand-in for shared storage), two daphne processes on their own ports (no proxy in front), and workers started
with the Procfile's command. Everything runs with DJANGO_DEBUG=0; requests carry `X-Forwarded-Proto: https`.

For each worker count: start the workers, submit the reports (`user_access`, one page) from concurrent clients,
every other one to the other web process, through the project's client (`client.ReportsClient`); wait until every
report is finished, check that all succeeded, let the notifications queue drain, and stop the workers. Throughput
is reports / (last `finished_at` - first `created_at`), the figure an integrator sees; the workers' own rate (from
the first `started_at`) and the submit rate are printed beside it, with the machine's load.

Prints a table and writes bench/results/scale_out-<timestamp>.json. Sends traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402

from bench.core import RESULTS, World, cpu_seconds, machine_info, say, system_busy_seconds  # noqa: E402
from client import ReportsClient  # noqa: E402
from scripts.private_redis import free_port  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
REPORT_TYPE = "user_access"
ASGI_APPLICATION = "reportsite.asgi:application"
STATUS_QUERY = """
    SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'cancelled', 'expired')),
           count(*) FILTER (WHERE status = 'succeeded'),
           min(created_at), min(started_at), max(finished_at)
    FROM reports_report WHERE id = ANY(%s)
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


class ScaleOutWorld(World):
    """bench.core's world on PostgreSQL, with two web processes and any number of workers."""

    def __init__(self, keep: bool = False) -> None:
        super().__init__(keep=keep)
        self.database = f"reports_scale_out_{secrets.token_hex(4)}"
        self.webs: list[tuple[subprocess.Popen, int]] = []
        self.workers: list[subprocess.Popen] = []

    def make_env(self) -> dict[str, str]:
        env = super().make_env()
        env["DATABASE_URL"] = f"{POSTGRES}/{self.database}"
        # Every report mails its requester; the message is built and "sent" without a mail server.
        env["DJANGO_EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
        return env

    def start_data(self) -> None:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')
        say(f"database {self.database} created on {POSTGRES}")
        super().start_data()

    def web_env(self) -> dict[str, str]:
        """daphne runs each request's database work on a thread of its own: a persistent connection is left behind
        with every thread, and two busy web processes exhaust PostgreSQL's 100 connections in seconds. Web
        processes connect per request, as docs/deployment.md says; workers (one thread) keep theirs."""
        return {**self.env, "DATABASE_CONN_MAX_AGE": "0"}

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = (self.dir / f"{name}.log").open("wb")
        self.logs.append(log)
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def web_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.webs[index][1]}"

    def start_webs(self, count: int = 2, timeout: float = 60.0) -> None:
        for index in range(count):
            port = free_port()
            # The Procfile's web command, bound to loopback.
            command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), ASGI_APPLICATION]
            self.webs.append((self.spawn(f"web-{index + 1}", command, env=self.web_env()), port))
        deadline = time.monotonic() + timeout
        for index, (process, _port) in enumerate(self.webs):
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"web-{index + 1} did not become ready:\n{self.log_tail(f'web-{index + 1}')}")
                try:
                    # The load balancer's question: database and Redis reachable from this process.
                    if httpx.get(f"{self.web_url(index)}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            say(f"web-{index + 1} ready on {self.web_url(index)} (pid {process.pid})")

    def start_workers(self, count: int, timeout: float = 60.0) -> None:
        before = self.workers_registered()
        for _ in range(count):
            index = len(self.workers) + 1
            # The Procfile's worker command.
            command = [sys.executable, "manage.py", "rqworker", "reports", "notifications", "--with-scheduler"]
            self.workers.append(self.spawn(f"worker-{index}", command))
        deadline = time.monotonic() + timeout
        while self.workers_registered() < before + count:
            if time.monotonic() > deadline or any(worker.poll() is not None for worker in self.workers):
                raise RuntimeError(f"workers did not register:\n{self.log_tail(f'worker-{len(self.workers)}')}")
            time.sleep(0.1)
        say(f"{count} worker(s) registered")

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            self._stop(worker)
        deadline = time.monotonic() + 30
        while self.workers_registered() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.workers = []

    def queues_idle(self) -> bool:
        client = redis.Redis.from_url(self.redis.url)
        try:
            waiting = sum(client.llen(f"rq:queue:{name}") for name in ("reports", "notifications"))
            started = sum(client.zcard(f"rq:wip:{name}") for name in ("reports", "notifications"))
            return waiting == 0 and started == 0
        finally:
            client.close()

    def stop(self) -> None:
        self.stop_workers()
        for process, _port in self.webs:
            self._stop(process)
        super().stop()
        try:
            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            say(f"database {self.database} dropped")
        except psycopg.Error as error:
            say(f"!! could not drop {self.database}: {error}")


def submit_all(world: ScaleOutWorld, count: int, clients: int) -> tuple[list[str], float, list[int]]:
    """`count` reports from `clients` threads, each with its own client; report i goes to web process i % 2."""
    local = threading.local()
    made: list[ReportsClient] = []
    per_web = [0] * len(world.webs)
    lock = threading.Lock()

    def submit(index: int) -> str:
        web = index % len(world.webs)
        if not hasattr(local, "clients"):
            local.clients = [ReportsClient(world.web_url(i), world.token) for i in range(len(world.webs))]
            for client in local.clients:
                client.http.headers["X-Forwarded-Proto"] = "https"  # as behind the TLS-terminating proxy
            with lock:
                made.extend(local.clients)
        report = local.clients[web].submit(REPORT_TYPE, {})
        with lock:
            per_web[web] += 1
        return report["id"]

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            ids = list(pool.map(submit, range(count)))
    finally:
        for client in made:
            client.close()
    return ids, time.perf_counter() - started, per_web


def run(world: ScaleOutWorld, workers: int, count: int, clients: int, timeout: float) -> dict:
    load_before, uptime_before = Path("/proc/loadavg").read_text().split()[:3], uptime()
    world.start_workers(workers)
    pids = {"web-1": world.webs[0][0].pid, "web-2": world.webs[1][0].pid}
    pids.update({f"worker-{i + 1}": worker.pid for i, worker in enumerate(world.workers)})
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    busy_before, total_before, steal_before = system_busy_seconds()
    wall_start = time.perf_counter()

    ids, submit_seconds, per_web = submit_all(world, count, clients)
    say(f"{count} reports submitted in {submit_seconds:.1f} s ({count / submit_seconds:.1f}/s), per web {per_web}")

    deadline = time.monotonic() + timeout
    with psycopg.connect(f"{POSTGRES}/{world.database}", autocommit=True) as connection:
        while True:
            finished, succeeded, first_created, first_started, last_finished = connection.execute(
                STATUS_QUERY, (ids,)
            ).fetchone()
            if finished == count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {finished} of {count} reports finished after {timeout:g} s")
            time.sleep(0.25)
        failures = connection.execute(
            "SELECT status, error_code, count(*) FROM reports_report WHERE id = ANY(%s) AND status <> 'succeeded' "
            "GROUP BY status, error_code",
            (ids,),
        ).fetchall()
    all_finished = time.perf_counter()
    busy_after, total_after, steal_after = system_busy_seconds()
    cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in pids.items()}
    while not world.queues_idle() and time.monotonic() < deadline:
        time.sleep(0.25)
    drained = time.perf_counter()
    world.stop_workers()

    end_to_end = (last_finished - first_created).total_seconds()
    workers_only = (last_finished - first_started).total_seconds()
    result = {
        "workers": workers,
        "reports": count,
        "succeeded": succeeded,
        "not_succeeded": [{"status": s, "error_code": c, "count": n} for s, c, n in failures],
        "submit_clients": clients,
        "submitted_per_web": per_web,
        "submit_seconds": round(submit_seconds, 2),
        "submit_per_s": round(count / submit_seconds, 1),
        "created_to_last_finished_s": round(end_to_end, 2),
        "throughput_per_s": round(count / end_to_end, 2),
        "first_started_to_last_finished_s": round(workers_only, 2),
        "worker_throughput_per_s": round(count / workers_only, 2),
        "notifications_drained_after_s": round(drained - all_finished, 1),
        "cpu_seconds": cpu,
        "machine_cpu_busy_fraction": round((busy_after - busy_before) / max(1e-9, total_after - total_before), 3),
        "steal_seconds": round(steal_after - steal_before, 1),
        "wall_seconds": round(all_finished - wall_start, 1),
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "uptime_before": uptime_before,
        "uptime_after": uptime(),
    }
    say(
        f"{workers} worker(s): {succeeded}/{count} succeeded, {result['throughput_per_s']} reports/s end to end "
        f"({result['worker_throughput_per_s']}/s from the first start), machine CPU busy "
        f"{result['machine_cpu_busy_fraction']:.0%}, {result['uptime_after']}"
    )
    if succeeded != count:
        raise RuntimeError(f"not every report succeeded: {result['not_succeeded']}")
    return result


def print_table(result: dict) -> None:
    m = result["machine"]
    print()
    print(
        f"Scale-out  {m['date_utc']}  {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"commit {m['git_commit']}{' (dirty)' if m['git_dirty_files'] else ''}"
    )
    print(f"2 web processes (daphne), PostgreSQL, one Redis; {result['runs'][0]['reports']} {REPORT_TYPE} per run")
    header = (
        f"  {'workers':>7} {'reports/s':>10} {'x 1 worker':>10} {'workers/s':>10} {'submit/s':>9} "
        f"{'CPU busy':>9} {'load before -> after':>24}"
    )
    print(header)
    base = result["runs"][0]["throughput_per_s"]
    for run_ in result["runs"]:
        load = f"{' '.join(run_['loadavg_before'])} -> {' '.join(run_['loadavg_after'])}"
        print(
            f"  {run_['workers']:>7} {run_['throughput_per_s']:>10.1f} {run_['throughput_per_s'] / base:>10.2f} "
            f"{run_['worker_throughput_per_s']:>10.1f} {run_['submit_per_s']:>9.1f} "
            f"{run_['machine_cpu_busy_fraction']:>9.0%} {load:>24}"
        )
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=2000, help="reports per run (2000)")
    parser.add_argument("--workers", default="1,2,3", help="worker counts, one run each (1,2,3)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent submitting clients (8)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one run may take (1800)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) for inspection")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/scale_out-<timestamp>.json)")
    args = parser.parse_args()
    os.chdir(ROOT)
    counts = [int(value) for value in args.workers.split(",")]

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or RESULTS / f"scale_out-{stamp}.json"
    result: dict = {
        "benchmark": "scale_out",
        "command": " ".join([".venv/bin/python", "bench/scale_out.py", *sys.argv[1:]]),
        "machine": {**machine_info(), "uptime_at_start": uptime()},
        "settings": {
            "DJANGO_DEBUG": "0",
            "database": "PostgreSQL at 127.0.0.1:5432, a fresh database",
            "redis": "private, one for all processes",
            "web": "2 x daphne, each on its own port, no proxy",
            "worker": "N x manage.py rqworker reports notifications --with-scheduler",
            "email": "django.core.mail.backends.dummy.EmailBackend",
        },
    }

    world = ScaleOutWorld(keep=args.keep)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        world.start_data()
        world.start_webs(2)
        result["runs"] = []
        for workers in counts:
            say(f"run: {workers} worker(s), {args.reports} reports, {args.clients} clients across both web processes")
            result["runs"].append(run(world, workers, args.reports, args.clients, args.timeout))
        logs = {path.stem: path.read_text(errors="replace") for path in world.dir.glob("*.log")}
        result["log_problems"] = {
            name: len(re.findall(r"Traceback|ERROR|CRITICAL", text)) for name, text in logs.items()
        }
        if any(result["log_problems"].values()):
            say(f"!! errors in logs: {result['log_problems']} (rerun with --keep to read them)")
    except BaseException:
        for path in sorted(world.dir.glob("*.log")):
            print(f"--- end of {path.name} ---\n{world.log_tail(path.stem)}", file=sys.stderr)
        raise
    finally:
        world.stop()
    result["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    result["machine"]["uptime_at_end"] = uptime()

    print_table(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    say(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
