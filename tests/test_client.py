"""The client against the running system: a real daphne (HTTP and WebSocket on one port) and a real RQ worker on
the test database and Redis, as production runs them. Each wait mode, the deadline, Retry-After from the real API,
download with its sha256, the CLI's exit codes, and webhooks (an endpoint and a callback URL) received and verified.
"""

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from rest_framework.authtoken.models import Token

from client import Backoff, DeadlineExceeded, ReportsClient, TransportError, WebhookReceiver
from client.backoff import Deadline
from client.streams import follow_websocket
from reports.models import ReportTypeConfig
from scripts.private_redis import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = "test_slow"  # sleeps `seconds`, reporting progress (tests/testapp/report_types.py)


@pytest.fixture(scope="module")
def site_url(live_server_url) -> str:
    """daphne serving the site on a free 127.0.0.1 port (tests/conftest.py)."""
    return live_server_url


@pytest.fixture
def token(make_user) -> str:
    """An integrator allowed the built-in user_access type and the tests' slow type. The slow type's own 2 s limit
    is raised (as an admin would) so that a slow report on a busy machine is never failed by it."""
    ReportTypeConfig.objects.create(key=SLOW, timeout_seconds=60)
    user = make_user("integrator", perms=("auth.view_user", "reports.add_report"))
    return Token.objects.create(user=user).key


class RecordedSleep:
    """Sleeps for real (the system is real), keeping what the client asked for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def client(site_url: str, token: str, sleep: RecordedSleep) -> Iterator[ReportsClient]:
    with ReportsClient(site_url, token, backoff=Backoff(initial=0.2, maximum=2), sleep=sleep) as client:
        yield client


def test_polling_waits_at_least_the_servers_retry_after_until_succeeded(client, sleep, rq_worker):
    # Given a report that takes a second to build
    created = client.submit(SLOW, {"seconds": 1})
    assert created["status"] == "queued"

    # When the client waits by polling
    finished = client.wait(created["id"], timeout=30, long_poll=False)

    # Then it ends succeeded, having polled at least once before, never sooner than the API's Retry-After (1 s)
    assert (finished["status"], finished["progress"]) == ("succeeded", 100)
    assert sleep.calls
    assert all(seconds >= 1.0 for seconds in sleep.calls)


def test_download_streams_the_pdf_and_checks_its_sha256(client, rq_worker, tmp_path):
    created = client.submit("user_access", {"include_inactive": True})
    finished = client.wait(created["id"], timeout=30)

    downloaded = client.download(created["id"], tmp_path)

    content = downloaded.path.read_bytes()
    assert downloaded.path == tmp_path / f"user_access-{created['id']}.pdf"
    assert content.startswith(b"%PDF-")
    assert downloaded.sha256 == hashlib.sha256(content).hexdigest() == finished["file"]["sha256"]
    assert downloaded.size_bytes == len(content) == finished["file"]["size_bytes"]
    assert [path.name for path in tmp_path.iterdir()] == [downloaded.path.name]  # no partial file left


def client_warnings(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "client"]


def test_websocket_wait_learns_the_end_from_the_socket_without_polling(client, sleep, rq_worker, caplog):
    created = client.submit(SLOW, {"seconds": 1})
    assert created["links"]["events"] == f"{client.base_url.replace('http', 'ws')}/ws/reports/{created['id']}/"
    requests: list[str] = []
    client.http.event_hooks["request"].append(lambda request: requests.append(f"{request.method} {request.url.path}"))

    with caplog.at_level(logging.WARNING, logger="client"):
        finished = client.wait(created["id"], timeout=30, websocket=True)

    # Then it learnt the outcome from the socket: one GET for the link, one for the result, no polling in between,
    # no fallback; and it answers the API's own resource
    assert finished["status"] == "succeeded"
    assert finished["url"] == f"{client.base_url}/api/v1/reports/{created['id']}"
    assert requests == [f"GET /api/v1/reports/{created['id']}"] * 2
    assert sleep.calls == []
    assert client_warnings(caplog) == []


def test_the_snapshot_tells_a_late_subscriber_the_outcome(client, rq_worker):
    # Given a report that already finished
    created = client.submit("user_access")
    finished = client.wait(created["id"], timeout=30)

    # When the socket is followed only now, the snapshot is the first message and says it all
    snapshot = next(follow_websocket(client, url=created["links"]["events"], deadline=Deadline(10)))
    report = snapshot["data"]["report"]

    assert (snapshot["type"], report["id"], report["status"]) == ("report.snapshot", created["id"], "succeeded")
    assert report["file"]["sha256"] == finished["file"]["sha256"]


def test_websocket_failure_falls_back_to_polling(client, sleep, rq_worker, caplog, monkeypatch):
    # Given a report whose events link points at a port where nothing listens
    dead = f"ws://127.0.0.1:{free_port()}/ws/reports/x/"
    original = client.get_report

    def with_dead_link(report_id: str) -> dict:
        report = original(report_id)
        return {**report, "links": {**report["links"], "events": dead}}

    monkeypatch.setattr(client, "get_report", with_dead_link)
    created = client.submit(SLOW, {"seconds": 1})

    # When the client waits over the WebSocket
    with caplog.at_level(logging.WARNING, logger="client"):
        finished = client.wait(created["id"], timeout=30, websocket=True)

    # Then it says the socket failed, polls instead, and still gets the outcome
    assert finished["status"] == "succeeded"
    assert [message.split(" failed")[0] for message in client_warnings(caplog)] == [f"WebSocket {dead}"]
    assert sleep.calls and all(seconds >= 1.0 for seconds in sleep.calls)

    # And without the fallback, the failure is the caller's to handle
    with pytest.raises(TransportError, match=f"WebSocket {dead}"):
        client.wait(client.submit(SLOW, {"seconds": 1})["id"], timeout=30, websocket=True, fallback=False)


@pytest.mark.parametrize("websocket", [False, True], ids=["polling", "websocket"])
def test_a_deadline_shorter_than_the_render_is_exceeded(client, rq_worker, websocket):
    # Given a report that takes 3 s to build
    created = client.submit(SLOW, {"seconds": 3})

    # When the client allows it 0.5 s
    with pytest.raises(DeadlineExceeded) as raised:
        client.wait(created["id"], timeout=0.5, websocket=websocket)

    # Then it gives up with the last state it saw, unfinished, and the report goes on to succeed regardless
    assert raised.value.report["id"] == created["id"]
    assert raised.value.report["status"] in {"queued", "running"}
    assert client.wait(created["id"], timeout=30)["status"] == "succeeded"


def cli(site_url: str, token: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "REPORTS_URL": site_url, "REPORTS_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "client", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _without_link(report: dict) -> dict:
    """The report without its signed download link, which is made anew (with its own expiry) on every read."""
    return {**report, "file": {name: value for name, value in report["file"].items() if name != "download_url"}}


def test_cli_submit_wait_download(site_url, token, rq_worker, tmp_path):
    submitted = cli(site_url, token, "submit", "user_access", '{"include_inactive": true}', "-q")
    assert submitted.returncode == 0, submitted.stderr
    report_id = submitted.stdout.strip()

    polled = cli(site_url, token, "wait", report_id, "--timeout", "30")
    followed = cli(site_url, token, "wait", report_id, "--websocket", "--timeout", "30")
    downloaded = cli(site_url, token, "download", report_id, "-o", str(tmp_path / "access.pdf"))

    assert polled.returncode == 0, polled.stderr
    assert json.loads(polled.stdout)["status"] == "succeeded"
    assert followed.returncode == 0, followed.stderr
    assert _without_link(json.loads(followed.stdout)) == _without_link(json.loads(polled.stdout))
    assert downloaded.returncode == 0, downloaded.stderr
    sha256 = hashlib.sha256((tmp_path / "access.pdf").read_bytes()).hexdigest()
    assert sha256 == json.loads(polled.stdout)["file"]["sha256"]
    assert downloaded.stdout.strip().endswith(f"sha256 {sha256} (verified)")


def test_cli_exit_codes_for_a_deadline_a_failure_and_a_refusal(site_url, token, rq_worker):
    exploded = cli(site_url, token, "submit", "test_exploding", "-q").stdout.strip()
    failed = cli(site_url, token, "wait", exploded, "--timeout", "30")
    slow = cli(site_url, token, "submit", SLOW, '{"seconds": 4}', "-q").stdout.strip()
    overdue = cli(site_url, token, "wait", slow, "--timeout", "0.3")
    refused = cli(site_url, token, "submit", "user_access", '{"include_inactive": "yes"}')
    no_token = cli(site_url, "", "get", slow)

    assert overdue.returncode == 3
    assert overdue.stderr.startswith("error: report not finished after 0.3 s (last status: ")
    assert json.loads(overdue.stdout)["id"] == slow
    assert failed.returncode == 4
    assert json.loads(failed.stdout)["status"] == "failed"
    assert "is failed: " in failed.stderr
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.startswith("error: 400 Invalid parameters: Some parameters are not valid.\n")
    assert "  parameters.include_inactive: " in refused.stderr
    assert no_token.returncode == 2


def test_cli_reports_an_unreachable_server(token):
    result = cli(f"http://127.0.0.1:{free_port()}", token, "get", "rep_x", timeout=30)

    assert result.returncode == 1
    assert result.stderr.startswith("error: GET http://127.0.0.1:")


@pytest.fixture
def receiver_port() -> int:
    return free_port()


def receive(secret: str, port: int) -> tuple[WebhookReceiver, list[dict], threading.Event]:
    events: list[dict] = []
    arrived = threading.Event()

    def on_event(event: dict) -> None:
        events.append(event)
        if event["type"] != "report.running":
            arrived.set()

    return WebhookReceiver(secret, on_event, port=port).start(), events, arrived


def test_webhook_endpoint_delivery_is_received_and_verified(client, site_url, token, rq_worker, receiver_port):
    # Given an endpoint registered for this receiver's URL (the secret is shown once, at creation)
    url = f"http://127.0.0.1:{receiver_port}/hooks"
    created = httpx.post(
        f"{site_url}/api/v1/webhook-endpoints",
        json={"url": url, "description": "client test"},
        headers={"Authorization": f"Token {token}"},
    )
    assert created.status_code == 201, created.text
    receiver, events, arrived = receive(created.json()["secret"], receiver_port)
    try:
        # When a report is requested and built
        report = client.submit("user_access")
        finished = client.wait(report["id"], timeout=30)
        assert arrived.wait(30), "no webhook arrived"
    finally:
        receiver.stop()

    # Then its terminal event arrived once, signed with the endpoint's secret, carrying the finished report
    [event] = events
    assert event["type"] == "report.succeeded"
    assert event["id"].startswith("evt_")
    assert event["data"]["report"]["id"] == report["id"]
    assert event["data"]["report"]["file"]["sha256"] == finished["file"]["sha256"]


def test_callback_url_delivery_is_signed_with_the_callback_secret(client, site_url, token, rq_worker, receiver_port):
    secret = httpx.get(f"{site_url}/api/v1/callback-secret", headers={"Authorization": f"Token {token}"})
    assert secret.status_code == 200
    receiver, events, arrived = receive(secret.json()["secret"], receiver_port)
    try:
        report = client.submit("user_access", callback_url=receiver.url, notify={"email": False})
        assert arrived.wait(30), "no callback arrived"
    finally:
        receiver.stop()

    [event] = events
    assert (event["type"], event["data"]["report"]["id"]) == ("report.succeeded", report["id"])
