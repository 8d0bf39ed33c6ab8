"""The core path as an integrator meets it: POST, poll, download; a real RQ worker builds the PDF."""

import io

import pytest
from pypdf import PdfReader

from reports.models import Report
from reports.registry import BuildContext, ReportType, report_types
from tests.conftest import wait_for_report

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
    import hashlib

    assert hashlib.sha256(content).hexdigest() == finished["file"]["sha256"]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert "User access review" in text
    assert "Ada Lovelace (ada)" in text
    assert "Page 1" in text


class ExplodingReport(ReportType):
    key = "test_exploding"
    title = "Exploding"
    template_name = "reports/pdf/base.html"

    def build(self, context: BuildContext) -> dict:
        raise ValueError("The ledger for 2026-13 does not exist.")


def test_builder_that_raises_ends_failed_with_its_message(api, user):
    # The worker process must know the type too, so this one runs the job in-process through the same service.
    from reports.services import report_render

    report_types.register(ExplodingReport)
    try:
        created = api.post("/api/v1/reports", {"report_type": "test_exploding"}, format="json").json()
        report_render(created["id"])
    finally:
        report_types.unregister("test_exploding")

    body = api.get(created["url"]).json()
    assert body["status"] == "failed"
    assert body["error"] == {"code": "build_failed", "message": "The ledger for 2026-13 does not exist."}
    assert body["file"] is None
    assert "Retry-After" not in api.get(created["url"])


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
