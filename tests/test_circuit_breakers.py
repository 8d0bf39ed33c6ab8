"""Circuit breakers of the delivery engine (SPEC §19): a provider or a webhook host that hangs opens its breaker
after a few failed attempts; while it is open, its sends are deferred instead of each waiting out its timeout;
once it recovers, they go out and nothing is lost. The state lives in Redis, shared by every worker."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from events import breakers
from events.engine import run_deliveries
from events.log import event_record
from events.models import Delivery, DeliveryStatus
from reports.queue_health import queue_health
from tests.webhook_receivers import receiver

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class SmtpServer:
    """A tiny SMTP server on 127.0.0.1: while `hanging`, it accepts connections and never says a word."""

    port: int = 0
    hanging: bool = True
    messages: list[str] = field(default_factory=list)
    connections: int = 0


def _serve_one(conn: socket.socket, state: SmtpServer) -> None:
    with conn, conn.makefile("rb") as reader:
        if state.hanging:
            reader.readline()  # until the client gives up and closes
            return
        conn.sendall(b"220 test ESMTP\r\n")
        data: list[bytes] = []
        in_data = False
        for line in reader:
            if in_data:
                if line in (b".\r\n", b".\n"):
                    in_data = False
                    state.messages.append(b"".join(data).decode(errors="replace"))
                    data = []
                    conn.sendall(b"250 queued\r\n")
                else:
                    data.append(line)
                continue
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250 test\r\n")
            elif verb == b"DATA":
                in_data = True
                conn.sendall(b"354 go on\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    state = SmtpServer()
    listener = socket.create_server(("127.0.0.1", 0))
    state.port = listener.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            state.connections += 1
            threading.Thread(target=_serve_one, args=(conn, state), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(2)
        listener.close()


@pytest.fixture(autouse=True)
def breaker_settings(settings):
    settings.DELIVERY_BREAKER_FAILURES = 3
    settings.DELIVERY_BREAKER_WINDOW_SECONDS = 60
    settings.DELIVERY_BREAKER_COOLDOWN_SECONDS = 1
    settings.DELIVERY_MAX_CONCURRENCY = 1  # one send at a time: the breaker's effect is plain to count
    settings.NOTIFY_RETRY_SCHEDULE = [0, 0, 0, 0, 0]
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0, 0, 0]
    breakers.breakers_reset()
    yield
    breakers.breakers_reset()


def _disabled_endpoint_events(users) -> list:
    """One event per user that the email channel sends whatever the preferences: an endpoint was disabled."""
    return [
        event_record(
            user_id=user.pk,
            event_type="webhook_endpoint.disabled",
            data={"endpoint": {"id": "whe_x", "url": "https://hooks.example.com/"}},
        )
        for user in users
    ]


def test_an_smtp_server_that_hangs_opens_the_breaker_then_sends_resume_and_nothing_is_lost(make_user, settings):
    with smtp_server() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", smtp.port, 1
        settings.DELIVERY_BREAKER_COOLDOWN_SECONDS = 300  # ended below, once the server is back
        users = [make_user(f"user{index}", email=f"user{index}@example.com") for index in range(8)]

        # Given eight emails to send while the SMTP server hangs
        _disabled_endpoint_events(users)
        run_deliveries(max_seconds=30)

        # Then three attempts wait out their timeout, the breaker opens, and the other five are deferred unattempted
        emails = Delivery.objects.filter(channel="email")
        assert emails.count() == 8
        assert sorted(emails.values_list("attempt_count", flat=True)) == [0] * 5 + [1] * 3
        assert set(emails.values_list("status", flat=True)) == {DeliveryStatus.PENDING}
        assert smtp.connections == 3
        assert all(delivery.next_attempt_at > timezone.now() for delivery in emails.filter(attempt_count=0))
        # And queue health shows the open breaker
        assert [(breaker.name, breaker.state) for breaker in queue_health().breakers] == [("email", "open")]

        # When the server recovers and the cool-down has passed
        smtp.hanging = False
        breakers.breaker_cooldown_end("email")
        Delivery.objects.filter(channel="email").update(next_attempt_at=timezone.now())
        run_deliveries(max_seconds=30)

        # Then every email was sent once, and the breaker is closed again
        assert set(Delivery.objects.filter(channel="email").values_list("status", flat=True)) == {
            DeliveryStatus.SUCCEEDED
        }
        assert len(smtp.messages) == 8
        assert queue_health().breakers == []


def test_a_hanging_webhook_host_is_broken_alone(make_user, settings):
    from notifications.webhooks import services as webhooks

    settings.WEBHOOK_TIMEOUT = 0.5
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    settings.DELIVERY_MAX_CONCURRENCY = 4
    settings.DELIVERY_TARGET_CONCURRENCY = 1  # one attempt at a time per endpoint: the breaker's effect is countable
    ada = make_user("ada")
    with receiver("hang") as hanging, receiver() as healthy:
        webhooks.endpoint_create(owner=ada, url=hanging.url.replace("127.0.0.1", "localhost"))
        webhooks.endpoint_create(owner=ada, url=healthy.url)
        for _ in range(6):
            event_record(user_id=ada.pk, event_type="report.succeeded", data={"report": {"id": "rep_x"}})
        run_deliveries(max_seconds=30)
        hanging.release.set()

    # The healthy host got all six; the hanging one at most the breaker's three before it opened
    assert len(healthy.received) == 6
    assert len(hanging.received) <= 3
    assert [breaker.name for breaker in queue_health().breakers] == ["webhook:localhost"]
