"""Webhook endpoints and deliveries in the admin: actions through the same services, and only with permission."""

import re

import pytest
from django.contrib.admin.utils import quote  # the admin escapes "_" in ids: rep_40... is not rep@...
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from events.log import event_record
from events.models import Delivery, DeliveryAttempt, DeliveryStatus
from notifications.models import WebhookEndpoint
from notifications.webhooks import services
from tests.webhook_receivers import receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 60]


def _staff(username: str, *codenames: str) -> Client:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def _act(client: Client, model: str, action: str, ids: list[str], app: str = "notifications"):
    return client.post(f"/admin/{app}/{model}/", {"action": action, "_selected_action": ids, "index": 0}, follow=True)


def test_enable_disable_rotate_and_test_actions_with_permission(user):
    with receiver() as hook:
        endpoint = services.endpoint_create(owner=user, url=hook.url)
        secret = endpoint.secret
        admin = _staff("root", "view_webhookendpoint", "change_webhookendpoint")

        _act(admin, "webhookendpoint", "disable_endpoints", [endpoint.pk])
        endpoint.refresh_from_db()
        assert endpoint.enabled is False
        assert endpoint.disabled_reason == "Disabled by root."

        _act(admin, "webhookendpoint", "enable_endpoints", [endpoint.pk])
        endpoint.refresh_from_db()
        assert endpoint.enabled is True

        _act(admin, "webhookendpoint", "rotate_secret", [endpoint.pk])
        endpoint.refresh_from_db()
        assert endpoint.secret != secret
        assert endpoint.previous_secret == secret

        response = _act(admin, "webhookendpoint", "send_test", [endpoint.pk])
        assert response.status_code == 200
    assert len(hook.received) == 1
    assert hook.received[0].headers["webhook-id"].startswith("evt_")
    ping = Delivery.objects.get(channel=services.ENDPOINT_CHANNEL, target=endpoint.pk, event__type="ping")
    assert ping.status == DeliveryStatus.SUCCEEDED


@pytest.mark.parametrize("action", ["enable_endpoints", "disable_endpoints", "send_test", "rotate_secret"])
def test_actions_are_refused_without_the_change_permission(user, action):
    endpoint = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hooks")
    if action == "enable_endpoints":
        services.endpoint_disable(endpoint=endpoint, reason="Disabled by its owner.")
    before = WebhookEndpoint.objects.values().get(pk=endpoint.pk)
    viewer = _staff("viewer", "view_webhookendpoint")

    page = viewer.get("/admin/notifications/webhookendpoint/").content.decode()
    response = _act(viewer, "webhookendpoint", action, [endpoint.pk])

    assert f'value="{action}"' not in page
    assert response.status_code == 200  # the changelist, with no such action offered
    assert WebhookEndpoint.objects.values().get(pk=endpoint.pk) == before  # nothing changed, no secret rotated
    assert not Delivery.objects.filter(event__type="ping").exists()  # no test sent


def test_deliveries_are_a_read_only_log_with_redeliver(user, django_capture_on_commit_callbacks):
    endpoint = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hooks")
    with django_capture_on_commit_callbacks(execute=True):  # the commit fans the event out
        event_record(user_id=user.pk, event_type="report.succeeded", data={})
    delivery = Delivery.objects.get(channel=services.ENDPOINT_CHANNEL, target=endpoint.pk)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    viewer = _staff("viewer", "view_delivery")
    operator = _staff("operator", "view_delivery", "redeliver_delivery")

    page = viewer.get(f"/admin/events/delivery/{quote(delivery.pk)}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # no way to edit the log
    assert viewer.get("/admin/events/delivery/add/").status_code == 403

    _act(viewer, "delivery", "redeliver", [delivery.pk], app="events")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED

    _act(operator, "delivery", "redeliver", [delivery.pk], app="events")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING


def test_secrets_never_appear_in_the_admin(user):
    endpoint = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hooks")
    admin = _staff("root", "view_webhookendpoint", "change_webhookendpoint")

    page = admin.get(f"/admin/notifications/webhookendpoint/{quote(endpoint.pk)}/change/")

    assert page.status_code == 200
    assert endpoint.secret.encode() not in page.content


def test_the_attempt_log_links_to_a_delivery_whose_id_looks_escaped(user):
    # Given a delivery whose id the admin's URL unescaping would misread ("_40" is how it writes "@")
    event = event_record(user_id=user.pk, event_type="report.failed", data={})
    delivery = Delivery.objects.create(
        id="dlv_40ab", event=event, channel="callback", target="http://127.0.0.1:9/hooks",
        status=DeliveryStatus.FAILED, next_attempt_at=timezone.now(),
    )  # fmt: skip
    DeliveryAttempt.objects.create(delivery=delivery, number=1, attempted_at=timezone.now(), error="refused")
    viewer = _staff("viewer", "view_deliveryattempt", "view_delivery")

    # When a viewer follows the attempt's link to its delivery
    listing = viewer.get("/admin/events/deliveryattempt/").content.decode()
    link = re.search(r'<a href="([^"]+)">dlv_40ab</a>', listing).group(1)
    page = viewer.get(link)

    # Then it opens that delivery
    assert page.status_code == 200
    assert "dlv_40ab" in page.content.decode()
