"""A webhook URL may be a capability (`?token=…`): no log record of ours or of the HTTP client names it, even at
DEBUG. Deliveries go to receivers on 127.0.0.1 only."""

import logging

import pytest

from events.engine import run_deliveries
from events.log import event_record
from events.models import Delivery, DeliveryStatus
from notifications.webhooks import services
from reports.services import report_create, report_render
from tests.fake_dns import install_fake_dns
from tests.webhook_receivers import receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("local_webhooks")]

SECRET = "s3cret"


def logged(caplog) -> str:
    """Everything the records say, message and arguments alike."""
    return "\n".join(f"{record.name} {record.getMessage()} {record.args!r}" for record in caplog.records)


def test_a_delivery_to_a_capability_url_logs_no_part_of_its_query(user, caplog):
    caplog.set_level(logging.DEBUG)
    with receiver() as hook:
        # Given an endpoint and a report's callback URL that carry a token in their query
        endpoint = services.endpoint_create(owner=user, url=f"{hook.url}?token={SECRET}")
        report = report_create(
            user=user, report_type="user_access", parameters={}, callback_url=f"{hook.url}?cb_token={SECRET}"
        )
        report_render(report.id)

        # When their events are delivered
        run_deliveries(max_seconds=10)

    # Then both were delivered, and no log record holds the token
    assert (
        Delivery.objects.get(channel=services.ENDPOINT_CHANNEL, target=endpoint.pk).status == DeliveryStatus.SUCCEEDED
    )
    assert Delivery.objects.get(channel=services.CALLBACK_CHANNEL).status == DeliveryStatus.SUCCEEDED
    assert any(got.body for got in hook.received)
    assert caplog.records  # the run did log (at DEBUG), just not the token
    assert SECRET not in logged(caplog)


def test_a_refused_capability_url_logs_no_part_of_its_query(user, caplog, monkeypatch):
    # Given an endpoint whose name, by delivery time, points at the metadata service (nothing connects there)
    answers = install_fake_dns(monkeypatch, {"hooks.example.test": "127.0.0.1"})
    endpoint = services.endpoint_create(owner=user, url=f"http://hooks.example.test:9/hooks?token={SECRET}")
    event_record(user_id=user.pk, event_type="report.succeeded", data={"report": {"id": "rep_test"}})
    answers["hooks.example.test"] = "169.254.169.254"
    caplog.set_level(logging.DEBUG)

    # When the delivery is tried until it gives up
    run_deliveries(max_seconds=5)

    # Then the refusal and the giving up are logged, without the token
    assert Delivery.objects.get(channel=services.ENDPOINT_CHANNEL, target=endpoint.pk).status == DeliveryStatus.FAILED
    text = logged(caplog)
    assert "169.254.169.254" in text
    assert SECRET not in text


def test_a_redirect_back_to_the_capability_url_logs_no_part_of_its_query(user, caplog):
    # Given a receiver that sends plain http on to https, query and all (as many servers do)
    caplog.set_level(logging.DEBUG)
    with receiver((301, {"location": f"https://example.com/hooks?token={SECRET}"}, "")) as hook:
        endpoint = services.endpoint_create(owner=user, url=f"{hook.url}?token={SECRET}")
        event_record(user_id=user.pk, event_type="report.succeeded", data={"report": {"id": "rep_test"}})

        # When the delivery is tried until it gives up
        run_deliveries(max_seconds=10)

    # Then the redirect is not followed, and neither the attempt nor the log holds the token
    delivery = Delivery.objects.get(channel=services.ENDPOINT_CHANNEL, target=endpoint.pk)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "Redirect to https://example.com/hooks?… not followed."
    assert SECRET not in logged(caplog)
