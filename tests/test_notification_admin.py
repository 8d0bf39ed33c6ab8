"""The email/SMS log in the admin (SPEC §8, §10): the event log's delivery log, readable, never editable, filtered
and searched; the redeliver action goes through the same engine as everything else, and only for staff with the
permission."""

import pytest
from django.contrib.admin.utils import quote  # the admin escapes "_" in ids
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.test import Client

from events.models import Delivery, DeliveryStatus
from tests.notify_helpers import message_deliveries, queued_delivery_runs, run_message_deliveries, succeed_report

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_queues")]

LOG = "/admin/events/delivery/"


@pytest.fixture(autouse=True)
def locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def failed_message(make_user, settings) -> Delivery:
    """An email that failed for good: its one attempt raised."""
    settings.NOTIFY_RETRY_SCHEDULE = [0]
    settings.EMAIL_BACKEND = "tests.notification_backends.FailingEmailBackend"
    succeed_report(make_user("ada", email="ada@example.com"))
    run_message_deliveries()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    message = message_deliveries().get()
    assert (message.channel, message.status, message.attempt_count) == ("email", DeliveryStatus.FAILED, 1)
    return message


def _staff(username: str, *codenames: str) -> Client:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="events", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def _redeliver(client: Client, ids: list[str]):
    return client.post(LOG, {"action": "redeliver", "_selected_action": ids, "index": 0}, follow=True)


def test_redeliver_queues_the_message_again_and_it_is_sent(failed_message):
    operator = _staff("operator", "view_delivery", "redeliver_delivery")

    response = _redeliver(operator, [failed_message.pk])

    assert response.status_code == 200
    assert b"Queued 1 delivery(ies) to be sent again." in response.content
    failed_message.refresh_from_db()
    # Pending again with a fresh set of retries, and a delivery run on its way
    assert (failed_message.status, failed_message.schedule_position) == (DeliveryStatus.PENDING, 0)
    assert len(queued_delivery_runs()) == 1
    assert run_message_deliveries() == [DeliveryStatus.SUCCEEDED]
    assert [email.to for email in mail.outbox] == [["ada@example.com"]]


def test_redeliver_is_refused_without_the_permission(failed_message):
    viewer = _staff("viewer", "view_delivery")

    page = viewer.get(LOG)
    response = _redeliver(viewer, [failed_message.pk])

    assert page.status_code == 200
    assert b'value="redeliver"' not in page.content  # the action is not offered
    assert response.status_code == 200
    assert b"Queued" not in response.content
    failed_message.refresh_from_db()
    assert failed_message.status == DeliveryStatus.FAILED
    assert queued_delivery_runs() == []


def test_the_log_is_read_only_filtered_and_searchable(failed_message):
    viewer = _staff("viewer", "view_delivery")

    listing = viewer.get(LOG)
    detail = viewer.get(f"{LOG}{quote(failed_message.pk)}/change/")

    assert listing.status_code == detail.status_code == 200
    html = listing.content.decode()
    for lookup in ("channel=email", "status__exact=failed", "event__type=report.succeeded"):
        assert f"?{lookup}" in html
    assert "Connection unexpectedly closed" in html
    assert b'name="_save"' not in detail.content
    assert failed_message.event_id.encode() in detail.content  # the event it tells of
    assert viewer.get(f"{LOG}add/").status_code == 403
    assert viewer.post(f"{LOG}{quote(failed_message.pk)}/delete/", {"post": "yes"}).status_code == 403
    # Found by recipient and by report id; not by something else, nor under another channel
    assert _rows(viewer.get(LOG, {"q": "ada@example.com"})) == 1
    assert _rows(viewer.get(LOG, {"q": failed_message.event.report_id})) == 1
    assert _rows(viewer.get(LOG, {"q": "bob@example.com"})) == 0
    assert _rows(viewer.get(LOG, {"channel": "sms"})) == 0
    assert _rows(viewer.get(LOG, {"status__exact": "failed", "channel": "email"})) == 1


def _rows(response) -> int:
    assert response.status_code == 200
    return response.content.count(b'<td class="field-channel">')
