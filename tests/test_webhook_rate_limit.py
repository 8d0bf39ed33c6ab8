"""An endpoint's rate limit (deliveries per second), honoured by the delivery engine across workers: a limited
endpoint gets no more than its rate, by its receiver's clock, while an unlimited one gets its burst at once; a
delivery over the rate is put back, not failed, and no attempt is counted for it."""

import pytest
from django.db.models import Sum

from events.engine import run_deliveries
from events.log import event_record
from events.models import Delivery, DeliveryStatus
from events.throttle import WINDOW_SECONDS, rate_admit
from notifications.webhooks import services
from tests.webhook_receivers import receiver

pytestmark = pytest.mark.django_db(transaction=True)

BURST = 12
RATE = 4


def _most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for other in times[index:] if other - start < 1.0) for index, start in enumerate(times))


def test_a_limited_endpoint_gets_its_burst_spread_while_an_unlimited_one_gets_it_at_once(
    user, local_webhooks, settings
):
    # The test receivers listen with a backlog of 5: more connections at once and one waits for a SYN retry (1 s).
    settings.DELIVERY_TARGET_CONCURRENCY = 4
    with receiver() as limited_hook, receiver() as free_hook:
        limited = services.endpoint_create(owner=user, url=limited_hook.url, rate_limit=RATE)
        free = services.endpoint_create(owner=user, url=free_hook.url)
        for number in range(BURST):
            event_record(user_id=user.pk, event_type="report.succeeded", data={"report": {"id": f"rep_{number}"}})

        outcomes = run_deliveries(max_seconds=20)

    limited_times = [got.at for got in limited_hook.received]
    free_times = [got.at for got in free_hook.received]
    assert len(limited_times) == len(free_times) == BURST
    assert _most_in_any_second(limited_times) <= RATE
    assert max(limited_times) - min(limited_times) >= (BURST // RATE - 1) - 0.1
    assert max(free_times) - min(free_times) < 1.0  # not held up by its limited neighbour
    assert outcomes["rate_limited"] > 0
    # Put back, never failed, and no attempt counted for it: one attempt per delivery.
    deliveries = Delivery.objects.filter(target=limited.id)
    assert set(deliveries.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}
    assert deliveries.aggregate(attempts=Sum("attempt_count"))["attempts"] == BURST
    assert Delivery.objects.filter(target=free.id, status=DeliveryStatus.SUCCEEDED).count() == BURST


def test_the_rate_is_shared_by_every_worker():
    name = "webhook:we_shared_test"
    admitted = [rate_admit(name, 3) for _ in range(5)]

    assert admitted[:3] == [None, None, None]
    assert all(wait is not None and 0 < wait <= WINDOW_SECONDS for wait in admitted[3:])


def test_the_rate_limit_is_set_and_cleared_through_the_api(user, api):
    created = api.post("/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hook", "rate_limit": 5}, format="json")
    assert created.status_code == 201, created.json()
    assert created.data["rate_limit"] == 5
    url = created.data["links"]["self"]

    cleared = api.patch(url, {"rate_limit": None}, format="json")
    assert cleared.status_code == 200
    assert cleared.data["rate_limit"] is None

    refused = api.patch(url, {"rate_limit": 0}, format="json")
    assert refused.status_code == 400
    assert "rate_limit" in refused.json()["errors"]
    assert api.get(url).data["rate_limit"] is None
