"""The report's timeline (SPEC §14) where people read it: the report's page in the UI and its admin page, and the
event log and delivery log in the admin."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from events.engine import run_deliveries
from events.models import Delivery, Event
from reports.services import report_create, report_render
from tests.webhook_receivers import receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_sends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_RETRY_SCHEDULE = [0]
    settings.WEBHOOK_TIMEOUT = 2.0


def _rows(html: str) -> list[list[str]]:
    """The timeline table's rows as their cells' text."""
    table = re.search(r'<table class="timeline">(.*?)</table>', html, re.S).group(1)
    body = table.split("<tbody>", 1)[1]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", " ", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        rows.append([" ".join(cell.split()) for cell in cells])
    return rows


def _built_report_with_a_failing_callback(user):
    """A report built for `user`, whose callback URL answered 500; and that URL as the timeline shows it."""
    with receiver((500, {}, "down")) as hook:
        report = report_create(user=user, report_type="user_access", parameters={}, callback_url=hook.url)
        report = report_render(report.id)
        run_deliveries(max_seconds=10)
    port = hook.url.split(":")[2].split("/")[0]
    return report, f"http://127.0.0.1:{port}/…"


def _outcome_rows(html: str) -> list[list[str]]:
    """Channel, target, status and attempts of the last event's deliveries."""
    return [row[-5:-1] for row in _rows(html)[-3:]]


def test_the_report_page_shows_each_event_and_where_it_went(make_user):
    # Given a report built for a user with an email address, whose callback URL answered 500
    ada = make_user("ada", email="ada@example.com", is_staff=True)
    report, masked_callback = _built_report_with_a_failing_callback(ada)
    browser = Client()
    browser.force_login(ada)

    # When its page is opened
    html = browser.get(f"/reports/{report.id}/").content.decode()

    # Then the timeline lists the four events in order, each on the WebSocket, and the outcome on the callback URL
    # (masked: its path may hold secrets) and by email, with their status and attempts
    rows = _rows(html)
    succeeded = Event.objects.get(report=report, type="report.succeeded")
    first_cells = [row[0] for row in rows if len(row) == 7]
    assert [cell.split()[0] for cell in first_cells] == [
        "report.queued",
        "report.running",
        "report.progress",
        "report.succeeded",
    ]
    assert f"#4 {succeeded.id}" in first_cells[-1]
    assert _outcome_rows(html) == [
        ["websocket", "live", "delivered", "1"],
        ["callback", masked_callback, "failed", "1"],
        ["email", "a••@example.com", "delivered", "1"],
    ]
    assert "/hooks" not in html  # the callback URL's path is not shown


def test_the_report_admin_page_shows_the_same_timeline(make_user):
    ada = make_user("ada", email="ada@example.com")
    report, masked_callback = _built_report_with_a_failing_callback(ada)
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    admin = Client()
    admin.force_login(root)

    html = admin.get(f"/admin/reports/report/{report.id}/change/").content.decode()

    assert "events and where they went" in html.lower()
    assert _outcome_rows(html) == [
        ["websocket", "live", "delivered", "1"],
        ["callback", masked_callback, "failed", "1"],
        ["email", "a••@example.com", "delivered", "1"],
    ]


def test_the_admin_lists_events_and_deliveries_and_shows_an_event_with_its_deliveries(make_user):
    ada = make_user("ada", email="ada@example.com")
    report, _ = _built_report_with_a_failing_callback(ada)
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    admin = Client()
    admin.force_login(root)
    succeeded = Event.objects.get(report=report, type="report.succeeded")
    callback = Delivery.objects.get(channel="callback")

    events = admin.get("/admin/events/event/", {"type": "report.succeeded"}).content.decode()
    event_page = admin.get(f"/admin/events/event/{succeeded.id}/change/").content.decode()
    deliveries = admin.get("/admin/events/delivery/", {"channel": "callback"}).content.decode()
    delivery_page = admin.get(f"/admin/events/delivery/{callback.id}/change/").content.decode()

    assert succeeded.id in events
    listed = events.split('id="result_list"')[1].split("</table>")[0]
    assert succeeded.id in listed
    assert Event.objects.get(report=report, type="report.queued").id not in listed
    assert f"&quot;id&quot;: &quot;{succeeded.id}&quot;" in event_page  # the envelope, pretty-printed
    assert callback.id in event_page and "email" in event_page
    assert callback.id in deliveries and "Failed" in deliveries
    assert "HTTP 500" in delivery_page and "down" in delivery_page  # the attempt and the answer's first KB
