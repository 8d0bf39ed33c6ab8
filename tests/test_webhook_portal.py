"""The webhooks pages of the staff UI (SPEC §9, §7): endpoints with their health, the secret shown once, edit,
enable and disable, delete, test; the delivery log with filters, its live refresh and each delivery's attempts;
recover; the callback secret revealed on request; the event catalog. Through Django's test client, against real
local receivers; the browser test is tests/browser/test_webhook_portal.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Delivery, DeliveryStatus
from events.types import event_type_catalog
from notifications.models import CallbackSecret, WebhookEndpoint, WebhookRecovery
from notifications.webhooks import services
from tests.conftest import staff_browser_for
from tests.webhook_receivers import receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user, local_webhooks):
    return staff_browser_for(user)


def _endpoint(user, url: str = "http://127.0.0.1:9/hooks", **fields) -> WebhookEndpoint:
    return services.endpoint_create(owner=user, url=url, **fields)


def test_adding_an_endpoint_shows_its_secret_once_and_never_again(browser, user):
    page = browser.post(
        "/webhooks/new/",
        {"url": "http://127.0.0.1:9/hooks", "description": "Billing", "event_types": ["report.failed"]},
    )

    endpoint = WebhookEndpoint.objects.get(owner=user)
    assert page.status_code == 200
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in page.content.decode()
    assert (endpoint.description, endpoint.event_types) == ("Billing", ["report.failed"])
    for later in (f"/webhooks/{endpoint.id}/", "/webhooks/", f"/webhooks/{endpoint.id}/edit/"):
        assert endpoint.secret not in browser.get(later).content.decode()


def test_a_private_address_or_a_bad_rate_is_refused_on_the_form(browser, user, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    private = browser.post("/webhooks/new/", {"url": "http://127.0.0.1:9/hooks"})
    rate = browser.post("/webhooks/new/", {"url": "https://example.com/hooks", "rate_limit": "0"})

    assert private.status_code == 400 and b"id_url_errors" in private.content
    assert rate.status_code == 400 and b"id_rate_limit_errors" in rate.content
    assert not WebhookEndpoint.objects.exists()


def test_the_list_shows_each_endpoints_health_and_why_it_is_disabled(browser, user):
    healthy, broken = _endpoint(user, description="Healthy"), _endpoint(user, description="Broken")
    services.endpoint_disable(endpoint=broken, reason="Failed 20 times in a row.")
    with receiver((200, {}, "ok")) as ok:
        services.endpoint_update(endpoint=healthy, url=ok.url)
        for _ in range(3):
            services.endpoint_send_test(endpoint=healthy)

    page = browser.get("/webhooks/").content.decode()

    assert 'data-success-rate="100"' in page and "of 3 attempts" in page
    assert "Failed 20 times in a row." in page
    assert 'href="/webhooks/">Webhooks</a>' in browser.get("/").content.decode()


def test_edit_disable_enable_and_delete(browser, user):
    endpoint = _endpoint(user)

    edited = browser.post(f"/webhooks/{endpoint.id}/edit/", {"url": "http://127.0.0.1:9/v2", "rate_limit": "5"})
    endpoint.refresh_from_db()
    assert edited.status_code == 302 and (endpoint.url, endpoint.rate_limit) == ("http://127.0.0.1:9/v2", 5)

    browser.post(f"/webhooks/{endpoint.id}/toggle/")
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason == "Disabled by its owner."
    browser.post(f"/webhooks/{endpoint.id}/toggle/")
    endpoint.refresh_from_db()
    assert endpoint.enabled

    deleted = browser.post(f"/webhooks/{endpoint.id}/delete/")
    assert deleted.status_code == 302 and not WebhookEndpoint.objects.exists()


def test_another_users_endpoint_is_not_found_on_any_page(browser, make_user):
    theirs = _endpoint(make_user("bob"))

    for path in ("", "edit/", "deliveries/"):
        assert browser.get(f"/webhooks/{theirs.id}/{path}").status_code == 404
    for path in ("toggle/", "delete/", "test/", "rotate-secret/", "recover/"):
        assert browser.post(f"/webhooks/{theirs.id}/{path}").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=theirs.pk, enabled=True).exists()


def test_a_test_event_shows_its_outcome_and_the_failed_attempt_with_the_answers_body(browser, user):
    with receiver((503, {}, "maintenance until 10:00")) as failing:
        endpoint = _endpoint(user, url=failing.url)
        answer = browser.post(f"/webhooks/{endpoint.id}/test/", follow=True)

    delivery = Delivery.objects.get(target=endpoint.id)
    assert "Test event not delivered: HTTP 503" in answer.content.decode()
    log = browser.get(f"/webhooks/{endpoint.id}/").content.decode()
    assert f'data-delivery="{delivery.id}"' in log and "HTTP 503" in log
    attempts = browser.get(f"/webhooks/{endpoint.id}/deliveries/{delivery.id}/").content.decode()
    assert "maintenance until 10:00" in attempts
    assert f"webhook-id: {delivery.event_id}" in attempts
    assert "&quot;type&quot;: &quot;ping&quot;" in attempts  # the body as sent


def test_the_delivery_log_filters_and_answers_304_until_something_changes(browser, user):
    with receiver((200, {}, "ok")) as ok:
        endpoint = _endpoint(user, url=ok.url)
        services.endpoint_send_test(endpoint=endpoint)
        rows = browser.get(f"/webhooks/{endpoint.id}/deliveries/")
        unchanged = browser.get(f"/webhooks/{endpoint.id}/deliveries/", headers={"If-None-Match": rows["ETag"]})
        services.endpoint_send_test(endpoint=endpoint)
        changed = browser.get(f"/webhooks/{endpoint.id}/deliveries/", headers={"If-None-Match": rows["ETag"]})
    failed_only = browser.get(f"/webhooks/{endpoint.id}/deliveries/", {"status": "failed"})

    assert rows.status_code == 200 and rows.content.count(b"data-delivery=") == 1
    assert unchanged.status_code == 304
    assert changed.status_code == 200 and changed.content.count(b"data-delivery=") == 2
    assert failed_only.content.count(b"data-delivery=") == 0 and b"match these filters" in failed_only.content


def test_sending_a_delivery_again_keeps_its_event_id(browser, user):
    with receiver((500, {}, "no"), (200, {}, "ok")) as flaky:
        endpoint = _endpoint(user, url=flaky.url)
        services.endpoint_send_test(endpoint=endpoint)
        delivery = Delivery.objects.get(target=endpoint.id)
        Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, claimed_by="")
        browser.post(f"/webhooks/{endpoint.id}/deliveries/{delivery.id}/send-again/")

    delivery.refresh_from_db()
    assert delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.SUCCEEDED)
    assert Delivery.objects.filter(target=endpoint.id).count() == 1


def test_recover_starts_one_recovery_and_a_second_is_refused_while_it_runs(browser, user):
    endpoint = _endpoint(user)
    since = (timezone.localtime() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")

    first = browser.post(f"/webhooks/{endpoint.id}/recover/", {"since": since, "status": "failed"}, follow=True)
    second = browser.post(f"/webhooks/{endpoint.id}/recover/", {"since": since, "status": "all"}, follow=True)
    bad = browser.post(f"/webhooks/{endpoint.id}/recover/", {"since": "yesterday"}, follow=True)

    assert "Recovery started" in first.content.decode() and 'id="recovery"' in first.content.decode()
    assert "Nothing was recovered" in second.content.decode()
    assert "Nothing was recovered. Since:" in bad.content.decode()
    assert WebhookRecovery.objects.filter(endpoint=endpoint).count() == 1


def test_the_callback_secret_is_masked_until_revealed_and_can_be_rotated(browser, user):
    secret = services.callback_secret_for(user=user).secret

    masked = browser.get("/webhooks/callback-secret/").content.decode()
    revealed = browser.post("/webhooks/callback-secret/", {"reveal": "1"}).content.decode()
    rotated = browser.post("/webhooks/callback-secret/", {"rotate": "1"}).content.decode()

    new = CallbackSecret.objects.get(user=user)
    assert secret not in masked and secret in revealed
    assert new.secret != secret and new.previous_secret == secret and new.secret in rotated


def test_the_catalog_page_lists_every_event_type_with_its_example(browser):
    page = browser.get("/webhooks/event-types/").content.decode()

    for known in event_type_catalog():
        assert f'id="type-{known.name}"' in page
    assert "&quot;sequence&quot;: 42" in page


def test_the_catalog_sends_an_example_to_one_of_the_users_endpoints(browser, user):
    with receiver((200, {}, "ok")) as hooks:
        endpoint = _endpoint(user, url=hooks.url, description="Receiver")
        catalog = browser.get("/webhooks/event-types/").content.decode()
        answer = browser.post(
            "/webhooks/event-types/send/", {"endpoint": endpoint.id, "event_type": "report.succeeded"}, follow=True
        )

    assert f'<option value="{endpoint.id}">Receiver</option>' in catalog
    assert "Example report.succeeded delivered: HTTP 200" in answer.content.decode()
    assert '"type":"report.succeeded"' in hooks.received[0].body
