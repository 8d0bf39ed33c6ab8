"""/readyz is public and answered before host validation, so its cost per call is bounded: one answer per process is
reused for HEALTH_CHECK_CACHE_SECONDS, and the checks keep their database and Redis connections between answers."""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.db.backends.signals import connection_created
from django.test import Client

from reportsite import health
from scripts.private_redis import PrivateRedis, free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_readiness() -> Iterator[None]:
    health.forget_readiness()
    yield
    health.forget_readiness()


@pytest.fixture
def counted_checks(monkeypatch) -> Counter:
    """The real checks, counted each time they run."""
    calls: Counter = Counter()

    def counted(name: str, check: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            calls[name] += 1
            check()

        return run

    for name, check in list(health.READINESS_CHECKS.items()):
        monkeypatch.setitem(health.READINESS_CHECKS, name, counted(name, check))
    return calls


def connections_received(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["total_connections_received"])
    finally:
        client.close()


def test_calls_within_the_cache_window_make_one_check_of_each_dependency(client: Client, counted_checks: Counter):
    # When a load balancer (or anyone: the probe is public) asks 20 times within the window
    answers = [client.get("/readyz") for _ in range(20)]

    # Then every answer is the same ready one, and each dependency was asked once
    assert {(answer.status_code, answer.json()["status"]) for answer in answers} == {(200, "ok")}
    assert counted_checks == Counter({"database": 1, "redis": 1})


def test_checks_after_the_window_reuse_their_connections(client: Client, settings, counted_checks: Counter):
    # Given no cache at all, so that every call checks
    settings.HEALTH_CHECK_CACHE_SECONDS = 0
    client.get("/readyz")  # the checks' connections are made here, once
    database_connections = []
    connection_created.connect(database_connections.append)
    redis_before = connections_received(settings.REDIS_URL)

    # When the probe is asked five more times
    statuses = [client.get("/readyz").status_code for _ in range(5)]

    # Then it checked each time, on the connections it already had
    connection_created.disconnect(database_connections.append)
    assert statuses == [200] * 5
    assert counted_checks == Counter({"database": 6, "redis": 6})
    assert connections_received(settings.REDIS_URL) - redis_before == 1  # this count's own connection
    assert database_connections == []


def test_the_answer_turns_503_when_redis_stops_once_the_window_is_over(client: Client, settings, tmp_path: Path):
    # Given a Redis of this test's own, and an answer kept half a second
    server = PrivateRedis(tmp_path / "redis", port=free_port()).start()
    settings.REDIS_URL = server.url
    settings.HEALTH_CHECK_CACHE_SECONDS = 0.5
    try:
        assert client.get("/readyz").status_code == 200

        # When Redis stops
        server.stop()
        stopped_at = time.monotonic()
        within_window = client.get("/readyz")
        time.sleep(max(0.0, stopped_at + 0.6 - time.monotonic()))
        after_window = client.get("/readyz")
    finally:
        server.stop()

    # Then the kept answer holds until the window is over, and the next one says Redis is not there
    assert within_window.status_code == 200
    assert after_window.status_code == 503
    assert after_window.json()["checks"]["redis"]["status"] == "error"
    assert after_window.json()["checks"]["database"]["status"] == "ok"
