"""Webhook endpoints and deliveries in the admin: actions through the same services, and only with permission."""

import re

import pytest
from django.contrib.admin.utils import quote  # the admin escapes "_" in ids: rep_40... is not rep@...
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from notifications import services
from notifications.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
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


def _act(client: Client, model: str, action: str, ids: list[str]):
    return client.post(
        f"/admin/notifications/{model}/", {"action": action, "_selected_action": ids, "index": 0}, follow=True
    )


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
    ping = WebhookDelivery.objects.get(endpoint=endpoint, event_type="ping")
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
    assert not WebhookDelivery.objects.filter(event_type="ping").exists()  # no test sent


def test_deliveries_are_a_read_only_log_with_redeliver(user):
    endpoint = services.endpoint_create(owner=user, url="http://127.0.0.1:9/hooks")
    services.webhooks_fan_out({"id": "evt_1", "type": "report.succeeded", "data": {}}, user_id=user.pk)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    viewer = _staff("viewer", "view_webhookdelivery")
    operator = _staff("operator", "view_webhookdelivery", "change_webhookdelivery")

    page = viewer.get(f"/admin/notifications/webhookdelivery/{quote(delivery.pk)}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # no way to edit the log
    assert viewer.get("/admin/notifications/webhookdelivery/add/").status_code == 403

    _act(viewer, "webhookdelivery", "redeliver", [delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED

    _act(operator, "webhookdelivery", "redeliver", [delivery.pk])
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
    delivery = WebhookDelivery.objects.create(
        id="wd_40ab", owner=user, url="http://127.0.0.1:9/hooks", event_id="evt_x", event_type="report.failed",
        payload={}, status=DeliveryStatus.FAILED, next_attempt_at=timezone.now(),
    )  # fmt: skip
    WebhookAttempt.objects.create(delivery=delivery, number=1, attempted_at=timezone.now(), error="refused")
    viewer = _staff("viewer", "view_webhookattempt", "view_webhookdelivery")

    # When a viewer follows the attempt's link to its delivery
    listing = viewer.get("/admin/notifications/webhookattempt/").content.decode()
    link = re.search(r'<a href="([^"]+)">wd_40ab</a>', listing).group(1)
    page = viewer.get(link)

    # Then it opens that delivery
    assert page.status_code == 200
    assert "wd_40ab" in page.content.decode()
