"""The webhooks portal in headless Chromium (SPEC §9, §7): a staff user adds an endpoint pointed at a local receiver
and sees its secret once, sends a test event and sees it delivered, sees the failing attempts (with the answer's
body) while the receiver is down, recovers since a time and sees them delivered, live; and finds the callback
secret. A real worker runs the deliveries' retries and the recovery."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from notifications.models import CallbackSecret, WebhookEndpoint
from tests.conftest import WorkerProcess, process_env
from tests.webhook_receivers import receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_without_retries(django_db_setup):
    """A worker that gives a failed delivery up after its next attempt: a failure is final within the test."""
    worker = WorkerProcess(env=process_env(WEBHOOK_RETRY_SCHEDULE="0")).start()
    yield worker
    worker.stop()


def test_an_integrator_runs_their_endpoint_from_the_portal(browser_context, worker_without_retries):
    User.objects.create_user("ops", password="pw-ops", is_staff=True, email="ops@example.com")
    page = browser_context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill("pw-ops")
    page.get_by_role("button", name="Sign in").click()

    with receiver((200, {}, "ok")) as hooks:
        # Add it: the secret is shown once
        page.get_by_role("link", name="Webhooks").click()
        page.get_by_role("link", name="Add endpoint").click()
        page.get_by_label("URL").fill(hooks.url)
        page.get_by_label("Description").fill("Billing receiver")
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.get_by_role("heading", name="Endpoint added")).to_be_visible()
        endpoint = WebhookEndpoint.objects.get(owner__username="ops")
        expect(page.locator("#signing-secret")).to_have_text(endpoint.secret)
        page.get_by_role("link", name="I have copied it").click()
        expect(page.get_by_role("heading", name="Billing receiver")).to_be_visible()
        assert endpoint.secret not in page.content()

        # A test event, delivered
        page.get_by_role("button", name="Send test event").click()
        expect(page.locator(".alert-success")).to_contain_text("Test event delivered: HTTP 200")
        expect(page.locator("#deliveries tbody tr")).to_have_count(1)
        expect(page.locator("#deliveries tbody tr").first).to_contain_text("Delivered")
        assert hooks.received[0].headers["webhook-signature"].startswith("v1,")

        # The receiver goes down: the failing attempts show, with what it answered
        hooks.answers[:] = [(503, {}, "down for maintenance")]
        page.get_by_role("button", name="Send test event").click()
        expect(page.locator(".alert-error")).to_contain_text("not delivered: HTTP 503")
        failing = page.locator("#deliveries tbody tr").first
        # the worker's retry fails too, and the log shows it without a reload
        expect(failing).to_contain_text("Failed", timeout=20_000)
        expect(failing.locator("td").nth(2)).to_have_text("2")
        failing.get_by_role("link", name="ping").click()
        expect(page.locator("#attempts tbody tr")).to_have_count(2)
        expect(page.locator("#attempts")).to_contain_text("HTTP 503")
        expect(page.locator("#attempts")).to_contain_text("down for maintenance")
        expect(page.locator("#request-body")).to_contain_text('"type": "ping"')
        page.go_back()

        # It is back: recover what failed since an hour ago, and watch it delivered
        hooks.answers[:] = [(200, {}, "ok")]
        received_before = len(hooks.received)
        page.get_by_role("button", name="Recover").click()
        expect(page.locator(".alert-success")).to_contain_text("Recovery started")
        expect(page.locator("#recovery [data-field=status]")).to_have_text("Succeeded", timeout=20_000)
        expect(page.locator("#recovery [data-field=sent]")).to_have_text("1")
        expect(page.locator("#deliveries tbody tr").first).to_contain_text("Delivered")
        recovered = hooks.received[received_before:]
        assert len(recovered) == 1
        assert recovered[0].headers["webhook-id"] == hooks.received[1].headers["webhook-id"]

    # The callback secret, revealed on request
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    page.get_by_role("link", name="Callback secret").click()
    expect(page.locator("#callback-secret-masked")).to_be_visible()
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#callback-secret")).to_have_text(re.compile(r"^whsec_"))
    assert page.locator("#callback-secret").inner_text() == CallbackSecret.objects.get(user__username="ops").secret
