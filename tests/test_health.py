"""/healthz and /readyz (docs/deployment.md) and django-rq's Prometheus metrics. Redis outages are made on
127.0.0.1: a port nobody listens on (refused) and a socket that accepts but never answers (hangs)."""

import socket
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import AsyncClient, Client

from reportsite.health import forget_readiness
from scripts.private_redis import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_readiness() -> Iterator[None]:
    """Each test gets an answer of its own settings, not one kept from the test before (tests/test_readyz_cache.py)."""
    forget_readiness()
    yield
    forget_readiness()


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A Redis URL whose server takes the connection and never replies."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes handshakes; nobody ever reads or writes
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_healthz_answers_without_credentials_or_dependencies(client: Client, settings, django_assert_num_queries):
    # Given Redis unreachable
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    # When the process is asked whether it is up, without credentials
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    # Then it is, and nothing was asked of the database or Redis
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_is_200_with_every_check_ok(client: Client):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {"database": "ok", "redis": "ok"}
    assert all(check["duration_ms"] >= 0 for check in body["checks"].values())


def test_readyz_is_503_when_redis_refuses(client: Client, settings):
    # Given a Redis URL whose port nobody listens on
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = client.get("/readyz")

    # Then the probe says not ready, names the failing check, and tells no host or port to the public
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"] == {
        "status": "error",
        "error": "ConnectionError",
        "duration_ms": body["checks"]["redis"]["duration_ms"],
    }
    assert "127.0.0.1" not in response.content.decode()


def test_readyz_is_503_within_the_timeout_when_redis_hangs(client: Client, settings, silent_redis: str):
    # Given a Redis that accepts connections and never answers, and a short probe timeout
    settings.REDIS_URL = silent_redis
    settings.HEALTH_CHECK_TIMEOUT = 0.3

    response = client.get("/readyz")

    # Then the probe gives up at its timeout rather than waiting on the dependency
    assert response.status_code == 503
    redis_check = response.json()["checks"]["redis"]
    assert redis_check["status"] == "error"
    assert redis_check["error"] in {"TimeoutError", "timeout"}


def test_readyz_is_503_when_the_database_fails(client: Client, monkeypatch):
    # Given a database whose every query fails (as when the server is gone)
    def execute(self, sql, params=None):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(CursorWrapper, "execute", execute)

    response = client.get("/readyz")

    monkeypatch.undo()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "error"
    assert checks["database"]["error"] == "OperationalError"
    assert checks["redis"]["status"] == "ok"


def test_probes_skip_host_validation_and_the_https_redirect(client: Client, settings):
    # Given production's host list and HTTPS redirect, and a load balancer probing by IP over plain HTTP
    settings.ALLOWED_HOSTS = ["reports.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    # Then the probes answer
    assert client.get("/healthz", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.head("/healthz", HTTP_HOST="10.0.0.7:8000").status_code == 200
    # And nothing else does: the exception is the two probe paths only
    assert client.get("/api/v1/me", HTTP_HOST="10.0.0.7:8000").status_code == 400
    assert client.get("/healthz/", HTTP_HOST="reports.example.com").status_code == 301  # to https
    assert client.post("/healthz", HTTP_HOST="reports.example.com").status_code == 301


def test_probes_answer_through_the_asgi_stack():
    """Under daphne the middleware runs in its async mode; the test client above runs the sync one."""
    client = AsyncClient()

    health = async_to_sync(client.get)("/healthz")
    ready = async_to_sync(client.get)("/readyz")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


def test_prometheus_metrics_need_staff_or_the_bearer_token(client: Client, settings):
    settings.RQ_API_TOKEN = "metrics-token-for-tests"

    anonymous = client.get("/django-rq/metrics/")
    wrong = client.get("/django-rq/metrics/", HTTP_AUTHORIZATION="Bearer not-the-token")
    scraper = client.get("/django-rq/metrics/", HTTP_AUTHORIZATION="Bearer metrics-token-for-tests")
    client.force_login(User.objects.create_user("root", is_staff=True))
    staff = client.get("/django-rq/metrics/")

    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    for response in (scraper, staff):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        text = response.content.decode()
        assert 'rq_jobs{queue="reports",status="queued"}' in text
        assert 'rq_jobs{queue="notifications",status="queued"}' in text


def test_prometheus_metrics_are_closed_without_a_token_configured(client: Client, settings):
    # Given no RQ_API_TOKEN (the default), a bearer token of any kind must not open the metrics
    settings.RQ_API_TOKEN = ""

    assert client.get("/django-rq/metrics/", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/django-rq/metrics/", HTTP_AUTHORIZATION="Bearer anything").status_code == 401
