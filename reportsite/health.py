"""Probes for load balancers and orchestrators: `/healthz` (the process answers: restart it if not) and `/readyz`
(it can reach the database and Redis: send it traffic only if so).

Answered by a middleware at the top of the stack, before host validation, the HTTPS redirect, sessions and
authentication: a probe comes from the load balancer by IP address over plain HTTP, carries no credentials, and
must learn about the process rather than about its Host header. Anyone may call it, so its cost is bounded: an
answer is reused for HEALTH_CHECK_CACHE_SECONDS, and the checks keep their connections.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import redis
from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)


def check_database() -> None:
    """SELECT 1 on the connection of the check's own thread, kept open between checks: a public probe must not cost
    a connection per call. One that broke since (the server restarted) is replaced and the query tried once more, so
    that only a database a fresh connection cannot reach reads as down."""
    connection = connections["default"]
    attempts = 2 if connection.connection is not None else 1
    for attempt in range(1, attempts + 1):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            return
        except DatabaseError:
            connection.close()
            if attempt == attempts:
                raise


_redis_clients: dict[tuple[str, float], redis.Redis] = {}


def check_redis() -> None:
    """PING through a client of the probe's own, kept with its pool: the shared clients (django-rq's) have no socket
    timeout and retry with backoff, which suits a request but would hide an outage from a probe, or hang it. One
    immediate retry replaces a pooled connection that a Redis restart closed."""
    key = (settings.REDIS_URL, settings.HEALTH_CHECK_TIMEOUT)
    client = _redis_clients.get(key)
    if client is None:
        client = _redis_clients[key] = redis.Redis.from_url(
            key[0], socket_connect_timeout=key[1], socket_timeout=key[1], retry=Retry(NoBackoff(), 1)
        )
    client.ping()


READINESS_CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "redis": check_redis}


def _run_check(name: str) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        READINESS_CHECKS[name]()
    except Exception as exc:  # noqa: BLE001 - whatever a dependency raises, the answer is "not ready"
        # The class name only: the probe is public, the message (hosts, ports) goes to the log.
        logger.warning("Readiness check %s failed: %r", name, exc)
        result: dict[str, Any] = {"status": "error", "error": type(exc).__name__}
    else:
        result = {"status": "ok"}
    result["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


class _CheckThread:
    """Each check runs on a thread of its own, always the same one (so the database connection it keeps is one per
    process), and at most once at a time: a hanging dependency holds this thread, not one more per probe."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"readyz-{name}")
        self.running: Future | None = None

    def start(self) -> Future:
        if self.running is None or self.running.done():
            self.running = self.executor.submit(_run_check, self.name)
        return self.running


_check_threads: dict[str, _CheckThread] = {}
_lock = threading.Lock()
_kept: tuple[float, dict[str, Any], int] | None = None  # (made at, body, status)


def _check_all() -> tuple[dict[str, Any], int]:
    started = time.perf_counter()
    futures = {name: _check_threads.setdefault(name, _CheckThread(name)).start() for name in READINESS_CHECKS}
    wait(futures.values(), timeout=settings.HEALTH_CHECK_TIMEOUT)
    checks = {}
    for name, future in futures.items():
        if future.done():
            checks[name] = future.result()
        else:  # still running: this answer does not wait for it, and the next one does not start another
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            checks[name] = {"status": "error", "error": "timeout", "duration_ms": elapsed}
    ready = all(check["status"] == "ok" for check in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503


def readiness() -> tuple[dict[str, Any], int]:
    """The answer made less than HEALTH_CHECK_CACHE_SECONDS ago, else a new one: the probe is public, and a flood
    of it costs a check of each dependency per interval and process. Callers that come while an answer is being
    made wait for it (at most HEALTH_CHECK_TIMEOUT) rather than check again."""
    global _kept
    with _lock:
        if _kept is not None and time.monotonic() - _kept[0] < settings.HEALTH_CHECK_CACHE_SECONDS:
            return _kept[1], _kept[2]
        body, status = _check_all()
        _kept = (time.monotonic(), body, status)
        return body, status


def forget_readiness(timeout: float = 10.0) -> None:
    """Drop the kept answer and close the checks' connections (tests: between settings, before the test database
    is dropped, which PostgreSQL refuses while a connection is open)."""
    global _kept
    with _lock:
        _kept = None
        for check_thread in _check_threads.values():
            if check_thread.running is not None:
                wait([check_thread.running], timeout=timeout)
            check_thread.executor.submit(connections.close_all).result(timeout)
        for client in _redis_clients.values():
            client.close()
        _redis_clients.clear()


def _answer(body: dict[str, Any], status: int) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


async def healthz(request: HttpRequest) -> HttpResponse:
    """Up: nothing is checked but that this process handles a request."""
    return _answer({"status": "ok"}, 200)


async def readyz(request: HttpRequest) -> HttpResponse:
    """200 when every dependency answered within HEALTH_CHECK_TIMEOUT seconds, else 503; the checks run at once,
    and their answer is kept for HEALTH_CHECK_CACHE_SECONDS."""
    body, status = await asyncio.to_thread(readiness)
    return _answer(body, status)


PROBES: dict[str, Callable[[HttpRequest], Awaitable[HttpResponse]]] = {"/healthz": healthz, "/readyz": readyz}


class HealthCheckMiddleware:
    """First in MIDDLEWARE: answers GET and HEAD of the probe paths itself and hands everything else on."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _probe(self, request: HttpRequest) -> Callable[[HttpRequest], Awaitable[HttpResponse]] | None:
        return PROBES.get(request.path_info) if request.method in ("GET", "HEAD") else None

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        probe = self._probe(request)
        return self.get_response(request) if probe is None else async_to_sync(probe)(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        probe = self._probe(request)
        return await (self.get_response(request) if probe is None else probe(request))
