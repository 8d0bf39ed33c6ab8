"""The report resource is written by a plain function (it is on the live-event path); DRF's own field machinery on
the documented serializer must produce the same thing, so the OpenAPI schema and the answers never drift apart."""

from datetime import UTC, datetime

import pytest
from django.core.files.base import ContentFile
from django.test import RequestFactory
from rest_framework import serializers

from reports.api.serializers import ReportOutputSerializer, report_representation
from reports.models import Report, ReportStatus


def drf_fields_representation(report: Report, request) -> dict:
    serializer = ReportOutputSerializer(report, context={"request": request})
    return serializers.ModelSerializer.to_representation(serializer, report)


@pytest.fixture
def reports(user) -> list[Report]:
    when = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    queued = Report.objects.create(requested_by=user, report_type="user_access", parameters={"staff_only": True})
    failed = Report.objects.create(
        requested_by=user,
        report_type="user_access",
        status=ReportStatus.FAILED,
        started_at=when,
        finished_at=when,
        error_code="build_failed",
        error_message="No ledger.",
    )
    succeeded = Report.objects.create(
        requested_by=user,
        report_type="report_activity",
        status=ReportStatus.SUCCEEDED,
        progress=100,
        started_at=when,
        finished_at=when,
        file_size=3,
        file_pages=1,
        file_sha256="ab" * 32,
    )
    succeeded.file.save("x.pdf", ContentFile(b"pdf"))
    return [queued, failed, succeeded]


@pytest.mark.django_db
@pytest.mark.parametrize("with_request", [True, False], ids=["api", "event"])
def test_the_plain_representation_equals_the_serializer_fields(reports, with_request, monkeypatch):
    monkeypatch.setattr("reports.links._now", lambda: datetime(2026, 3, 1, 13, tzinfo=UTC))  # one download link
    request = RequestFactory().get("/api/v1/reports", secure=True) if with_request else None
    for report in reports:
        expected = drf_fields_representation(report, request)

        assert report_representation(report, request) == expected
        assert list(report_representation(report, request)) == list(ReportOutputSerializer().fields)
    assert report_representation(reports[2], request)["finished_at"] == "2026-03-01T12:30:15.123456Z"
