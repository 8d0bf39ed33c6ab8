"""The core path as an integrator meets it: POST, poll, download; a real RQ worker builds the PDF."""

import hashlib
import io
import time

import pytest
from pypdf import PdfReader

from reports.models import Report
from tests.conftest import client_for, wait_for_report
from tests.testapp.report_types import TEST_PERMISSION

pytestmark = pytest.mark.django_db(transaction=True)


def test_post_answers_201_with_location_that_polls_to_succeeded(api, rq_worker):
    # Given a user allowed to request user_access reports
    # When they request one
    response = api.post("/api/v1/reports", {"report_type": "user_access", "parameters": {}}, format="json")

    # Then the answer is immediate, 201 with a Location and a queued report
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"] == body["url"] == f"http://testserver/api/v1/reports/{body['id']}"
    assert body["status"] == "queued"
    assert body["parameters"] == {"include_inactive": True, "staff_only": False}
    assert response["Retry-After"] == "1"

    # And polling the Location ends in succeeded, with the file described
    finished = wait_for_report(api, response["Location"])
    assert finished["status"] == "succeeded", finished
    assert finished["progress"] == 100
    assert finished["error"] is None
    assert finished["file"]["pages"] == 1
    assert finished["started_at"] <= finished["finished_at"]
    assert finished["links"]["events"] == f"ws://testserver/ws/reports/{body['id']}/"


def test_downloaded_pdf_holds_title_and_requester(api, user, rq_worker):
    created = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").json()
    finished = wait_for_report(api, created["url"])

    response = api.get(finished["file"]["url"])

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="user_access-{created["id"]}.pdf"'
    content = b"".join(response.streaming_content)
    assert len(content) == finished["file"]["size_bytes"]
    assert hashlib.sha256(content).hexdigest() == finished["file"]["sha256"]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert "User access review" in text
    assert "Ada Lovelace (ada)" in text
    assert "Page 1" in text


def test_builder_that_raises_ends_failed_with_its_message(make_user, rq_worker):
    # Given a type whose builder raises (tests/testapp/report_types.py, installed in the worker too)
    client = client_for(make_user("eve", perms=(TEST_PERMISSION,)))

    # When it is requested and the worker builds it
    created = client.post("/api/v1/reports", {"report_type": "test_exploding"}, format="json").json()
    body = wait_for_report(client, created["url"])

    # Then it ends failed with the builder's message, and no file
    assert body["status"] == "failed"
    assert body["error"] == {"code": "build_failed", "message": "The ledger for 2026-13 does not exist."}
    assert body["file"] is None
    assert "Retry-After" not in client.get(created["url"])


def test_render_past_its_timeout_ends_failed_with_timeout(make_user, rq_worker):
    client = client_for(make_user("eve", perms=(TEST_PERMISSION,)))

    created = client.post(
        "/api/v1/reports", {"report_type": "test_slow", "parameters": {"seconds": 6}}, format="json"
    ).json()
    body = wait_for_report(client, created["url"], timeout=30)

    assert body["status"] == "failed"
    assert body["error"] == {"code": "timeout", "message": "The report took longer than its limit of 2 seconds."}


def test_cancel_of_a_running_report_stops_it(make_user, rq_worker):
    client = client_for(make_user("eve", perms=(TEST_PERMISSION,)))
    created = client.post(
        "/api/v1/reports", {"report_type": "test_slow", "parameters": {"seconds": 1.5}}, format="json"
    ).json()
    wait_for_report(client, created["url"], statuses={"running"})

    response = client.post(created["links"]["cancel"])

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    time.sleep(2)  # longer than the render would have taken
    body = client.get(created["url"]).json()
    assert body["status"] == "cancelled"
    assert body["file"] is None
    assert not Report.objects.get(pk=created["id"]).file


def test_file_before_ready_answers_409_problem(api):
    created = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").json()

    response = api.get(created["links"]["file"])

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 409
    assert "queued" in response.json()["detail"]


def test_cancel_of_a_queued_report(api):
    created = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").json()

    response = api.post(created["links"]["cancel"])

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert Report.objects.get(pk=created["id"]).status == "cancelled"
    # A worker that picks the job up later does nothing.
    from reports.services import report_render

    assert report_render(created["id"]) is None
    assert Report.objects.get(pk=created["id"]).status == "cancelled"
    # And cancelling again is a conflict.
    again = api.post(created["links"]["cancel"])
    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
