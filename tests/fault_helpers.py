"""What the fault tests share: a Redis of their own that they may stop and start, workers on it, and the count of
builds that the counted test types write."""

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

from common import queues
from scripts.private_redis import PrivateRedis, free_port
from tests.conftest import TERMINAL, WorkerProcess, process_env
from tests.testapp.report_types import builds_log

# Workers in these tests prove they are alive every second, so a killed one is found in seconds.
HEARTBEAT_SECONDS = 1
LOST_AFTER_SECONDS = 3


def own_redis(settings, tmp_path: Path) -> Iterator[PrivateRedis]:
    """For a fixture: a redis-server on a free loopback port for one test, which this process (queues, cache, channel
    layer) and the workers the test starts all use; the suite's own Redis is left alone while it is stopped."""
    server = PrivateRedis(tmp_path / "redis", port=free_port()).start()
    settings.REDIS_URL = server.url
    settings.RQ_QUEUES = {
        name: {**config, "HOST": server.host, "PORT": server.port} for name, config in settings.RQ_QUEUES.items()
    }
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    settings.CHANNEL_LAYERS = {
        "default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {"hosts": [server.url], "prefix": "reportsite"}}
    }
    queues.forget_queues()
    yield server
    server.stop()
    queues.forget_queues()


def fault_worker(server: PrivateRedis, **env: str) -> WorkerProcess:
    """A real `manage.py rqworker` on the fault Redis, started and registered."""
    return WorkerProcess(
        env=process_env(
            REDIS_URL=server.url,
            REPORT_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
            REPORT_LOST_AFTER_SECONDS=str(LOST_AFTER_SECONDS),
            **env,
        )
    ).start()


def builds(report_ids: list[str]) -> dict[str, Counter]:
    """{report id: Counter of "start" and "end"} from the builds log, for these reports."""
    counts = {report_id: Counter() for report_id in report_ids}
    path = builds_log()
    if path.exists():
        for line in path.read_text().splitlines():
            event, report_id, _pid = line.split()
            if report_id in counts:
                counts[report_id][event] += 1
    return counts


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s")


def all_terminal(statuses: dict[str, str]) -> bool:
    return all(status in TERMINAL for status in statuses.values())


def record_figures(name: str, figures: dict) -> None:
    """Keep a fault test's figures with the run (the source of the numbers in docs/reliability.md)."""
    path = Path(os.environ["REPORTSITE_TEST_RUN_DIR"]) / "reliability.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded[name] = {"database": connection.vendor, **figures}
    path.write_text(json.dumps(recorded, indent=2))
