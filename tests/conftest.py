"""Fixtures shared by the suite: users and API clients, and a real RQ worker process on the test database."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import django_rq
import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rq import Worker

from common import access_cache
from notifications.messages import sms
from reports import estimates
from scripts.private_redis import free_port

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = {"succeeded", "failed", "cancelled", "expired"}


@pytest.fixture(autouse=True)
def forget_cached_access(request) -> Iterator[None]:
    """No test sees permissions or report-type settings cached by another: the database is rolled back or
    flushed between tests without the signals that keep the cache right (reports/access_cache.py). A server
    process outlives a test, so after one that used it every process is told to forget."""
    access_cache.clear()
    estimates.forget_figures()  # build times and worker counts read for Retry-After estimates
    yield
    access_cache.clear()
    if "live_server_url" in request.fixturenames:
        access_cache.forget_everywhere()


def _database_url() -> str:
    """The URL of the test database pytest-django created, for processes started by the tests."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user, password = settings.get("USER") or "", settings.get("PASSWORD") or ""
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{settings['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    """Environment for a child process (worker, server) that must see what the tests see."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DATABASE_URL": _database_url(),
        # The test process's mode and key (tests/settings.py): sessions and signatures made here are good there.
        "DJANGO_DEBUG": os.environ["DJANGO_DEBUG"],
        "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
        # The tests' webhook receivers listen on loopback.
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "WEBHOOK_TIMEOUT": "2",
    }
    env.update(extra)
    return env


class WorkerProcess:
    """`manage.py rqworker` as production runs it, on the test database and the private Redis."""

    def __init__(self, queues: tuple[str, ...] = ("reports", "notifications"), env: dict[str, str] | None = None):
        self.queues = queues
        self.env = env or process_env()
        self.process: subprocess.Popen | None = None
        self.log_path = Path(os.environ["REPORTSITE_TEST_RUN_DIR"]) / f"worker-{time.monotonic_ns()}.log"

    def start(self, timeout: float = 30.0, *, may_exit: bool = False) -> "WorkerProcess":
        """Start and wait until the worker registered. `may_exit`: a worker meant to die (a fault point) may do so
        before the test sees it registered."""
        connection_ = django_rq.get_connection("reports")
        before = {worker.name for worker in Worker.all(connection=connection_)}
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", *self.queues, "--with-scheduler"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if may_exit:
                    return self
                raise RuntimeError(f"worker exited early:\n{self.log_text()}")
            if {worker.name for worker in Worker.all(connection=connection_)} - before:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker did not register within {timeout}s:\n{self.log_text()}")

    def log_text(self) -> str:
        """The whole log: tests look for lines in it, and a busy worker's tail soon scrolls past them."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


@pytest.fixture
def rq_worker(django_db_setup) -> Iterator[WorkerProcess]:
    """A real worker for one test; the test needs committed data (`transactional_db`).

    One per test rather than per session: a worker left running would race the tests that build reports
    in-process or inspect the queues. Jobs and flags left in Redis by earlier tests are dropped first.
    """
    django_rq.get_connection("reports").flushdb()
    worker = WorkerProcess().start()
    yield worker
    worker.stop()


SERVER_START_TIMEOUT = 30.0


def _wait_for_port(process: subprocess.Popen, port: int, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne did not listen within {timeout}s:\n{log_path.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="module")
def live_server_url(django_db_setup) -> Iterator[str]:
    """daphne serving HTTP and WebSocket on one port, on the test database and Redis, as production runs it."""
    port = free_port()
    env = process_env(DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost", DJANGO_DEBUG="1")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = Path(os.environ["REPORTSITE_TEST_RUN_DIR"]) / f"daphne-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "reportsite.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(process, port, log_path, SERVER_START_TIMEOUT)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(username: str = "ada", *, perms: tuple[str, ...] = ("auth.view_user",), **fields) -> User:
        user = User.objects.create_user(username=username, password="pw-" + username, **fields)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return User.objects.get(pk=user.pk)  # fresh, without a stale permission cache

    return make


@pytest.fixture
def user(make_user) -> User:
    return make_user("ada", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def local_webhooks(settings) -> None:
    """Webhooks to receivers on 127.0.0.1, retried once at once, with short timeouts."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0]
    settings.WEBHOOK_TIMEOUT = 1.0
    settings.WEBHOOK_CONNECT_TIMEOUT = 1.0


def staff_browser_for(user: User) -> Client:
    """A browser signed in to the web UI as the user, made staff (the web UI is for staff)."""
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.is_staff = True
    client = Client()
    client.force_login(user)
    return client


def field_errors(html: str, name: str) -> list[str]:
    """The messages a web UI form shows under its field `name`."""
    block = re.search(rf'id="id_{name}_errors">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", block.group(1)) if block else []


def client_for(user: User) -> APIClient:
    """An API client authenticated with the user's token, as an integrator would be."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def api(user) -> APIClient:
    return client_for(user)


def wait_for_report(client: APIClient, url: str, *, timeout: float = 30.0, statuses=TERMINAL) -> dict:
    """Poll the report as a client would, until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        if body["status"] in statuses:
            return body
        time.sleep(0.05)
    raise AssertionError(f"report still {body.get('status')} after {timeout}s: {body}")


@pytest.fixture
def sms_outbox(settings) -> Iterator[list]:
    """The in-memory SMS backend, with its outbox emptied: the SMS twin of Django's `mail.outbox`."""
    settings.SMS_BACKEND = "locmem"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture
def clean_queues(django_db_setup) -> Iterator[None]:
    """Empty Redis (queues, scheduled jobs) before and after a test that inspects what was enqueued."""
    django_rq.get_connection("notifications").flushdb()
    yield
    django_rq.get_connection("notifications").flushdb()
