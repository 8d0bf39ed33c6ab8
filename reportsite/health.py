"""Probes for load balancers and orchestrators: `/healthz` (the process answers: restart it if not) and `/readyz`
(it can reach the database and Redis: send it traffic only if so).

Answered by a middleware at the top of the stack, before host validation, the HTTPS redirect, sessions and
authentication: a probe comes from the load balancer by IP address over plain HTTP, carries no credentials, and
must learn about the process rather than about its Host header.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)


def check_database() -> None:
    """A round trip on a connection of this thread's own, closed afterwards: probes run on a pool thread that
    Django's request cycle never cleans up after."""
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def check_redis() -> None:
    """PING on a fresh connection with the probe's timeout and no retries: the shared clients retry and wait
    longer, which suits a request but would hide an outage from a probe."""
    timeout = settings.HEALTH_CHECK_TIMEOUT
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
    finally:
        client.close()


READINESS_CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "redis": check_redis}


async def _run_check(name: str, check: Callable[[], None], timeout: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        # A thread of the loop's pool, not the request thread: a hanging dependency holds up this probe only.
        await asyncio.wait_for(asyncio.to_thread(check), timeout)
    except TimeoutError:
        error = "timeout"
    except Exception as exc:  # noqa: BLE001 - whatever a dependency raises, the answer is "not ready"
        # The class name only: the probe is public, the message (hosts, ports) goes to the log.
        error = type(exc).__name__
        logger.warning("Readiness check %s failed: %r", name, exc)
    else:
        error = None
    result: dict[str, Any] = {"status": "ok" if error is None else "error"}
    if error is not None:
        result["error"] = error
    result["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _answer(body: dict[str, Any], status: int) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


async def healthz(request: HttpRequest) -> HttpResponse:
    """Up: nothing is checked but that this process handles a request."""
    return _answer({"status": "ok"}, 200)


async def readyz(request: HttpRequest) -> HttpResponse:
    """200 when every dependency answers within HEALTH_CHECK_TIMEOUT seconds, else 503; the checks run at once."""
    timeout = settings.HEALTH_CHECK_TIMEOUT
    results = await asyncio.gather(*(_run_check(name, check, timeout) for name, check in READINESS_CHECKS.items()))
    checks = dict(zip(READINESS_CHECKS, results, strict=True))
    ready = all(result["status"] == "ok" for result in results)
    return _answer({"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503)


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
