"""Webhook delivery (SPEC §7) against real HTTP receivers on 127.0.0.1, through the delivery run the worker uses."""

import json
import socket
import time
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from events.engine import run_deliveries
from events.log import event_record
from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from notifications.models import WebhookEndpoint
from notifications.webhooks import services
from reports.services import report_create, report_render
from tests.conftest import wait_for_report
from tests.fake_dns import install_fake_dns
from tests.webhook_receivers import receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0, 0]
    settings.WEBHOOK_TIMEOUT = 1.0
    settings.WEBHOOK_CONNECT_TIMEOUT = 1.0
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 50
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _event(user, event_type: str = "report.succeeded", data: dict | None = None) -> Event:
    """An event of the user's stream, committed at once: its fan-out makes the deliveries."""
    return event_record(user_id=user.pk, event_type=event_type, data=data or {"report": {"id": "rep_test"}})


def _endpoint_delivery(endpoint: WebhookEndpoint) -> Delivery:
    return Delivery.objects.get(channel=services.ENDPOINT_CHANNEL, target=endpoint.pk)


def test_delivery_is_signed_per_standard_webhooks(user):
    with receiver() as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        event = _event(user)

        run_deliveries(max_seconds=10)

    assert len(hook.received) == 1
    got = hook.received[0]
    assert Webhook(endpoint.secret).verify(got.body, got.headers) == event.envelope
    assert got.headers["webhook-id"] == event.id
    delivery = _endpoint_delivery(endpoint)
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 1, 200)


def test_500_twice_then_200_sends_the_same_id_three_times_and_logs_three_attempts(user):
    with receiver((500, {}, "boom"), (500, {}, "boom again"), (200, {}, "fine")) as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        event = _event(user)

        run_deliveries(max_seconds=10)

    assert [got.headers["webhook-id"] for got in hook.received] == [event.id] * 3
    delivery = _endpoint_delivery(endpoint)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code, a.error, a.response_excerpt) for a in attempts] == [
        (1, 500, "HTTP 500", "boom"),
        (2, 500, "HTTP 500", "boom again"),
        (3, 200, "", "fine"),
    ]


def test_hanging_endpoint_is_cut_at_the_timeout_while_another_gets_its_event_at_once(user):
    with receiver("hang") as slow, receiver() as fast:
        slow_endpoint = services.endpoint_create(owner=user, url=slow.url)
        services.endpoint_create(owner=user, url=fast.url)
        _event(user)
        started = time.monotonic()

        run_deliveries(max_seconds=3)

        assert len(fast.received) == 1
        # The fast endpoint's request arrived well before the slow one's timeout (1 s) ran out.
        assert fast.received[0].at - started < 0.9
    slow_delivery = _endpoint_delivery(slow_endpoint)
    first = slow_delivery.attempts.order_by("number").first()
    assert first.error.startswith("Timed out")
    assert first.status_code is None


def test_callback_url_receives_the_terminal_event_signed_with_the_callback_secret(user):
    with receiver() as hook:
        report = report_create(user=user, report_type="user_access", parameters={}, callback_url=hook.url)
        report_render(report.id)

        run_deliveries(max_seconds=10)

    secret = services.callback_secret_for(user=user).secret
    assert len(hook.received) == 1  # queued, running and progress are not terminal
    event = Webhook(secret).verify(hook.received[0].body, hook.received[0].headers)
    assert event["type"] == "report.succeeded"
    assert event["data"]["report"]["id"] == report.id


def test_410_disables_the_endpoint(user):
    with receiver((410, {}, "gone")) as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        _event(user)

        run_deliveries(max_seconds=10)

    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert endpoint.disabled_reason == "The endpoint answered 410 Gone."
    assert len(hook.received) == 1
    assert _endpoint_delivery(endpoint).status == DeliveryStatus.FAILED


def test_failure_streak_disables_and_emails_the_owner_and_reenabling_sends_what_was_missed(user, settings, mailoutbox):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0]
    user.email = "ada@example.com"
    user.save()
    with receiver((503, {}, "down")) as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        _event(user)
        run_deliveries(max_seconds=10)
        endpoint.refresh_from_db()
        assert endpoint.enabled is False

        # The owner's email goes through the delivery engine: a delivery run after the disabling sends it
        run_deliveries(max_seconds=10)
        assert len(mailoutbox) == 1
        assert mailoutbox[0].to == ["ada@example.com"]
        assert hook.url in mailoutbox[0].subject

        # While disabled, a new event is kept, not sent
        missed = _event(user, "report.failed")
        run_deliveries(max_seconds=2)
        assert len(hook.received) == 2
        missed_delivery = Delivery.objects.get(event=missed, channel=services.ENDPOINT_CHANNEL)
        assert missed_delivery.status == DeliveryStatus.SKIPPED

        # When it is enabled again and answers, the missed event arrives
        hook.answers = [(200, {}, "ok")]
        services.endpoint_enable(endpoint=WebhookEndpoint.objects.get(pk=endpoint.pk))
        run_deliveries(max_seconds=10)

    assert json.loads(hook.received[-1].body)["id"] == missed.id
    assert Delivery.objects.get(event=missed, channel=services.ENDPOINT_CHANNEL).status == DeliveryStatus.SUCCEEDED


def test_delivery_time_check_refuses_a_host_that_now_resolves_privately(user, monkeypatch):
    answers = install_fake_dns(monkeypatch, {"hooks.example.test": "127.0.0.1"})
    with receiver() as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url.replace("127.0.0.1", "hooks.example.test"))
        _event(user)
        # DNS rebinding: by delivery time the name points at the metadata service.
        answers["hooks.example.test"] = "169.254.169.254"

        run_deliveries(max_seconds=5)

    assert hook.received == []
    attempt = DeliveryAttempt.objects.get(delivery=_endpoint_delivery(endpoint), number=1)
    assert attempt.error == "Refused: The URL's host does not resolve to a public internet address."


def test_redirect_to_a_private_address_is_not_followed(user, monkeypatch):
    connected = []
    real_create_connection = socket.create_connection

    def guarded(address, *args, **kwargs):
        connected.append(address[0])
        assert address[0] == "127.0.0.1", f"a connection to {address} was attempted"
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    with receiver((302, {"location": "http://169.254.169.254/latest/meta-data/"}, "")) as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        _event(user)
        run_deliveries(max_seconds=5)

    first = DeliveryAttempt.objects.get(delivery=_endpoint_delivery(endpoint), number=1)
    assert first.status_code == 302
    assert first.error == "Redirect to http://169.254.169.254/latest/meta-data/ not followed."
    assert set(connected) <= {"127.0.0.1"}


def test_real_worker_delivers_the_terminal_event_of_a_report_requested_over_the_api(api, user, rq_worker):
    # Given an endpoint registered for the terminal events, and a report requested through the API
    with receiver() as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        created = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").json()

        # When the worker builds it, the same worker's delivery run sends the event
        deadline = time.monotonic() + 30
        while not hook.received and time.monotonic() < deadline:
            time.sleep(0.05)

    # Then the endpoint got report.succeeded for that report, signed, and the delivery log says so
    assert len(hook.received) == 1, rq_worker.log_text()
    event = Webhook(endpoint.secret).verify(hook.received[0].body, hook.received[0].headers)
    assert (event["type"], event["data"]["report"]["id"]) == ("report.succeeded", created["id"])
    assert event["data"]["report"]["file"]["pages"] == 1


def test_webhook_health_report_shows_each_endpoint_with_its_success_rate(make_user):
    # Given one endpoint that succeeded and one that failed
    from io import BytesIO

    from pypdf import PdfReader

    operator = make_user("op", perms=("events.view_delivery",))
    with receiver() as good, receiver((500, {}, "no")) as bad:
        services.endpoint_create(owner=operator, url=good.url)
        services.endpoint_create(owner=operator, url=bad.url)
        _event(operator)
        run_deliveries(max_seconds=10)

    # When the webhook_health report is built
    report = report_render(report_create(user=operator, report_type="webhook_health", parameters={}).id)

    # Then the PDF lists both endpoints with their success rates, and the failures
    assert report.status == "succeeded", report.error_message
    text = PdfReader(BytesIO(report.file.read())).pages[0].extract_text()
    assert good.url in text and bad.url in text
    assert "100%" in text and "0%" in text
    assert "Recent failures" in text and "500" in text


def test_a_backlog_for_a_hanging_endpoint_never_hides_the_others_due_deliveries(user, settings):
    # Given more due deliveries for a hanging endpoint than one claim looks at, and the same for a fast one
    settings.DELIVERY_MAX_CONCURRENCY = 4
    settings.DELIVERY_TARGET_CONCURRENCY = 2
    with receiver("hang") as slow, receiver() as fast:
        services.endpoint_create(owner=user, url=slow.url)
        services.endpoint_create(owner=user, url=fast.url)
        for index in range(40):
            _event(user, data={"index": index})
        started = time.monotonic()

        run_deliveries(max_seconds=1.5)

        # Then every fast delivery went out before the first hanging attempt was even cut (1 s)
        assert len(fast.received) == 40
        assert fast.received[-1].at - started < 1.0


def test_retry_after_on_429_is_honoured(user, settings):
    # Given a receiver that asks us to come back in 120 s, and a schedule that would retry at once
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0]
    with receiver((429, {"retry-after": "120"}, "slow down")) as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        _event(user)
        before = timezone.now()

        run_deliveries(max_seconds=3)

    # Then it was asked once, and the next attempt waits at least the 120 s it asked for
    assert len(hook.received) == 1
    delivery = _endpoint_delivery(endpoint)
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at >= before + timedelta(seconds=120)


def test_a_run_stuck_on_a_hanging_endpoint_yields_to_a_waiting_report(user, settings):
    # Given a delivery run whose only attempt hangs, and a report that starts waiting for the worker meanwhile
    settings.WEBHOOK_TIMEOUT = 20.0
    waiting = {"report": False}
    with receiver("hang") as slow:
        endpoint = services.endpoint_create(owner=user, url=slow.url)
        _event(user)

        def reports_waiting() -> bool:
            if slow.received:  # the hanging attempt is in flight: now a report arrives
                waiting["report"] = True
            return waiting["report"]

        outcomes = run_deliveries(max_seconds=30, yield_to=reports_waiting)

        # Then the run gave the worker back while the attempt was still hanging, unrecorded and handed back
        assert outcomes["abandoned"] == 1
        assert not slow.release.is_set()
    delivery = _endpoint_delivery(endpoint)
    assert (delivery.status, delivery.attempt_count, delivery.claimed_by) == (DeliveryStatus.PENDING, 0, "")
    assert delivery.next_attempt_at <= timezone.now()


def test_real_worker_builds_a_report_while_a_webhook_attempt_hangs(api, user, django_db_setup):
    # Given a worker whose webhook attempts may take 60 s, busy with one that hangs
    from tests.conftest import WorkerProcess, process_env

    django_rq.get_connection("reports").flushdb()  # no jobs or flags left by earlier tests
    worker = WorkerProcess(env=process_env(WEBHOOK_TIMEOUT="60")).start()
    try:
        with receiver("hang") as slow:
            services.endpoint_create(owner=user, url=slow.url)
            _event(user)
            deadline = time.monotonic() + 30
            while not slow.received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert slow.received, worker.log_text()

            # When a report is requested
            created = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").json()
            finished = wait_for_report(api, created["url"], timeout=30)

            # Then it is built while the attempt still hangs: the delivery run gave the worker back
            assert finished["status"] == "succeeded"
            assert not slow.release.is_set()
    finally:
        worker.stop()
