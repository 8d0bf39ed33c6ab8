"""Webhook connections are pooled per host name: the request goes to the checked address (the URL is pinned to it),
so a pool shared by two names on one address would send one name's deliveries over a connection made, and for TLS
verified, for the other. The receivers listen on 127.0.0.1; the names resolve there by a patched resolver."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from events.engine import run_deliveries
from events.log import event_record
from events.models import Delivery, DeliveryStatus
from notifications.webhooks import channels, services
from tests.fake_dns import install_fake_dns

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_RETRY_SCHEDULE = [0]
    settings.WEBHOOK_TIMEOUT = 2.0
    settings.WEBHOOK_CONNECT_TIMEOUT = 1.0


@pytest.fixture
def names_on_loopback(monkeypatch) -> None:
    """alpha.example.test and beta.example.test both resolve to 127.0.0.1."""
    install_fake_dns(monkeypatch, {"alpha.example.test": "127.0.0.1", "beta.example.test": "127.0.0.1"})


@dataclass
class Seen:
    # (Host header, the client's port: one per TCP connection)
    requests: list[tuple[str, int]] = field(default_factory=list)
    port: int = 0


@contextmanager
def keep_alive_receiver() -> Iterator[Seen]:
    """An HTTP/1.1 receiver that keeps connections open, and records which connection each request came on."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.requests.append((self.headers["host"], self.client_address[1]))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen.port = server.server_address[1]
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def _deliver_one(user) -> None:
    event_record(user_id=user.pk, event_type="report.succeeded", data={"report": {"id": "rep_test"}})
    run_deliveries(max_seconds=5)


def test_two_host_names_on_one_address_never_share_a_connection(make_user, names_on_loopback):
    ada, bob = make_user("ada"), make_user("bob")
    with keep_alive_receiver() as receiver:
        # Given two endpoints whose host names resolve to the same address and port
        services.endpoint_create(owner=ada, url=f"http://alpha.example.test:{receiver.port}/hooks")
        services.endpoint_create(owner=bob, url=f"http://beta.example.test:{receiver.port}/hooks")

        # When alpha gets a delivery, then beta, then alpha again, one after the other
        _deliver_one(ada)
        _deliver_one(bob)
        _deliver_one(ada)

    # Then all three arrived; alpha's second reused alpha's connection, and beta's came on a connection of its own
    assert Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 3
    (host_1, alpha_1), (host_2, beta), (host_3, alpha_2) = receiver.requests
    assert (host_1, host_2, host_3) == (
        f"alpha.example.test:{receiver.port}",
        f"beta.example.test:{receiver.port}",
        f"alpha.example.test:{receiver.port}",
    )
    assert alpha_1 == alpha_2
    assert beta != alpha_1


def test_a_client_pushed_out_of_the_cache_is_closed_once_its_last_user_is_done(monkeypatch):
    monkeypatch.setattr(channels, "MAX_CLIENTS", 2)
    monkeypatch.setattr(channels, "_clients", type(channels._clients)())

    with channels._client("https://one.example.test/a") as one:
        with channels._client("https://one.example.test/b?x=1") as same:
            assert same is one  # path and query do not matter, only scheme, host name and port
        with channels._client("https://ONE.example.test:443/") as same:
            assert same is one
        with channels._client("http://one.example.test/"), channels._client("https://one.example.test:8443/"):
            pass
        # Two more clients were made: `one` is out of the cache, but still open while it is in use
        assert not one.is_closed
    assert one.is_closed
    with channels._client("https://one.example.test/") as again:
        assert again is not one
