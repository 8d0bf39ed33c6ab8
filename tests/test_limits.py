"""Limits on POST /api/v1/reports (SPEC §4.3): a per-user rate (429), load shedding on the reports backlog (503),
and a maximum body size (413). Each answers a problem with what the client needs to act, and creates nothing."""

import json

import django_rq
import pytest
from django.core.cache import cache

from reports.models import IdempotencyKey, Report
from tests.conftest import client_for

PROBLEM = "application/problem+json"
BODY = {"report_type": "user_access"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def reports_queue():
    queue = django_rq.get_queue("reports")
    queue.empty()
    yield queue
    queue.empty()


def post(client, **headers):
    return client.post("/api/v1/reports", BODY, format="json", **headers)


# --- Rate limit -----------------------------------------------------------------------------------------------------


def test_posts_over_the_rate_answer_429_with_retry_after(api, make_user, settings):
    # Given a limit of 2 reports a minute per user
    settings.REPORT_CREATE_RATE = "2/min"
    cache.clear()
    assert post(api).status_code == post(api).status_code == 201

    # When Ada asks for a third one within the minute
    response = post(api)

    # Then she is told to wait, with how long, and no report was made
    assert response.status_code == 429
    assert response["Content-Type"] == PROBLEM
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert (body["type"], body["title"], body["status"]) == (
        "urn:reportsite:problem:rate-limited",
        "Too many requests",
        429,
    )
    assert Report.objects.count() == 2
    # And her reads are not limited
    assert api.get("/api/v1/reports").status_code == 200
    # And the limit is hers alone: Bob may still post
    assert post(client_for(make_user("bob"))).status_code == 201


def test_a_throttled_post_with_an_idempotency_key_keeps_nothing(api, settings):
    settings.REPORT_CREATE_RATE = "1/min"
    cache.clear()
    assert post(api).status_code == 201

    response = post(api, HTTP_IDEMPOTENCY_KEY="k-1")

    assert response.status_code == 429
    assert IdempotencyKey.objects.count() == 0
    assert Report.objects.count() == 1


def test_no_rate_setting_means_no_limit(api, settings):
    settings.REPORT_CREATE_RATE = None
    cache.clear()

    statuses = {post(api).status_code for _ in range(5)}

    assert statuses == {201}


# --- Load shedding ------------------------------------------------------------------------------------------------


def fill(queue, count: int) -> None:
    """`count` job ids waiting on the queue, as a backlog looks to LLEN."""
    queue.connection.rpush(queue.key, *[f"rep_backlog{index}" for index in range(count)])


def test_post_over_the_backlog_answers_503_with_retry_after_and_creates_nothing(api, settings, reports_queue):
    # Given a backlog limit of 3, and 4 jobs waiting
    settings.REPORT_QUEUE_MAX_BACKLOG = 3
    fill(reports_queue, 4)

    # When a report is requested, with or without an idempotency key
    response = post(api)
    keyed = post(api, HTTP_IDEMPOTENCY_KEY="k-1")

    # Then each is shed: 503 with Retry-After, nothing created, the key not spent
    for answer in (response, keyed):
        assert answer.status_code == 503
        assert answer["Content-Type"] == PROBLEM
        assert answer["Retry-After"] == "30"
        assert answer.json() == {
            "type": "urn:reportsite:problem:overloaded",
            "title": "Service overloaded",
            "status": 503,
            "detail": "Too many reports are waiting to be built (4); try again later.",
        }
    assert Report.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0
    assert reports_queue.count == 4
    # And reads go on
    assert api.get("/api/v1/reports").status_code == 200


def test_post_at_the_backlog_limit_is_accepted(api, settings, reports_queue):
    settings.REPORT_QUEUE_MAX_BACKLOG = 3
    fill(reports_queue, 3)

    assert post(api).status_code == 201


def test_a_stored_answer_is_replayed_even_while_shedding(api, settings, reports_queue):
    # Given a report made with a key, then a backlog over the limit
    first = post(api, HTTP_IDEMPOTENCY_KEY="k-1")
    settings.REPORT_QUEUE_MAX_BACKLOG = 1
    fill(reports_queue, 5)

    # When the request is repeated, it creates nothing, so it is not shed
    again = post(api, HTTP_IDEMPOTENCY_KEY="k-1")

    assert again.status_code == 201
    assert again.content == first.content


def test_backlog_limit_zero_never_sheds(api, settings, reports_queue):
    settings.REPORT_QUEUE_MAX_BACKLOG = 0
    fill(reports_queue, 50)

    assert post(api).status_code == 201


# --- Body size ------------------------------------------------------------------------------------------------------


def test_body_over_the_size_limit_answers_413_problem(api, settings):
    # Given a limit of 1000 bytes
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"report_type": "user_access", "parameters": {"note": "a" * 1000}})

    # When a larger body is posted
    response = api.post("/api/v1/reports", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")

    # Then it is refused unread, as a problem, and nothing is stored
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM
    assert response.json() == {
        "type": "urn:reportsite:problem:payload-too-large",
        "title": "Request body too large",
        "status": 413,
        "detail": "The limit is 1000 bytes.",
    }
    assert Report.objects.count() == IdempotencyKey.objects.count() == 0


def test_default_limit_is_one_mebibyte(api):
    body = json.dumps({"report_type": "user_access", "parameters": {"note": "a" * (1024 * 1024)}})

    response = api.post("/api/v1/reports", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["detail"] == "The limit is 1048576 bytes."
