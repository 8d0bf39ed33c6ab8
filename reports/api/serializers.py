"""Input and output shapes of the reports API (SPEC §4.1)."""

from datetime import UTC
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api.serializers import StrictBooleanField, StrictInputSerializer
from reports.links import download_path
from reports.models import Report, ReportStatus
from reports.selectors import AvailableReportType


class NotifyInputSerializer(serializers.Serializer):
    """Overrides the email and SMS preferences of the requester for this one report."""

    email = StrictBooleanField(
        required=False,
        help_text="true: email this report's outcome, success or failure; false: no email. "
        "Absent: your preferences decide.",
    )
    sms = StrictBooleanField(
        required=False,
        help_text="true: SMS this report's outcome, success or failure (needs a phone number in your preferences); "
        "false: no SMS. Absent: your preferences decide.",
    )

    def to_internal_value(self, data: Any) -> dict[str, bool]:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field; use email or sms."] for name in unknown})
        return super().to_internal_value(data)


class ReportCreateInputSerializer(StrictInputSerializer):
    report_type = serializers.CharField(max_length=64)
    parameters = serializers.DictField(required=False, default=dict)
    callback_url = serializers.URLField(
        required=False, allow_blank=True, max_length=2000, help_text="Receives this report's terminal events."
    )
    notify = NotifyInputSerializer(
        required=False, help_text="Overrides your email and SMS notification preferences for this report."
    )
    reuse_within = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.REPORT_REUSE_MAX_SECONDS,
        help_text="Seconds. If you have a report of this type with the same parameters (after defaults) that is "
        "queued or running, or that succeeded this recently, the answer is that report (200, `Report-Reused: true`) "
        "and nothing is created.",
    )


class ReportListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ReportStatus.choices, required=False)
    report_type = serializers.CharField(max_length=64, required=False)


class ReportErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ReportFileSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Downloads the PDF with your credentials.")
    download_url = serializers.URLField(
        help_text="Downloads the PDF with no other credentials until the link expires (REPORT_LINK_TTL_SECONDS, an "
        "hour by default); for emails, chat messages and browsers."
    )
    size_bytes = serializers.IntegerField()
    pages = serializers.IntegerField()
    sha256 = serializers.CharField()


class ReportLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    file = serializers.URLField()
    cancel = serializers.URLField()
    events = serializers.CharField(help_text="WebSocket URL that streams this report's events.")


def _absolute(request, path: str) -> str:
    """Absolute URL: from the request when there is one, else from SITE_URL (events built by a worker)."""
    return request.build_absolute_uri(path) if request is not None else settings.SITE_URL + path


def websocket_url(request, path: str) -> str:
    if request is None:
        scheme, _, host = settings.SITE_URL.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{host}{path}"
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}{path}"


def _timestamp(value) -> str | None:
    """ISO 8601 in UTC with a Z, as DRF's DateTimeField writes it."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def report_representation(report: Report, request=None) -> dict[str, Any]:
    """The report resource of SPEC §4.1, for the API and every event.

    A plain function rather than DRF's field machinery: it runs between a report's `finished_at` and its live
    event, and twice per POST, and builds the same dict in a third of the time. `ReportOutputSerializer` keeps the
    fields, which document this shape in the OpenAPI schema, and a test holds the two together."""
    path = reverse("api:report-detail", kwargs={"report_id": report.id})
    # The file and cancel URLs sit under the report's (reports/api/urls.py); one reverse instead of three.
    url, file_url, cancel_url = (_absolute(request, path + suffix) for suffix in ("", "/file", "/cancel"))
    error = None
    if report.status == ReportStatus.FAILED:
        error = {"code": report.error_code or "failed", "message": report.error_message or "The report failed."}
    file = None
    if report.status == ReportStatus.SUCCEEDED and report.file:
        file = {
            "url": file_url,
            "download_url": _absolute(request, download_path(report.id, report.requested_by_id)),
            "size_bytes": report.file_size,
            "pages": report.file_pages,
            "sha256": report.file_sha256,
        }
    return {
        "id": report.id,
        "url": url,
        "report_type": report.report_type,
        "parameters": report.parameters,
        "schedule": report.schedule_id or None,
        "status": report.status,
        "progress": report.progress,
        "created_at": _timestamp(report.created_at),
        "started_at": _timestamp(report.started_at),
        "finished_at": _timestamp(report.finished_at),
        "error": error,
        "file": file,
        "links": {
            "self": url,
            "file": file_url,
            "cancel": cancel_url,
            "events": websocket_url(request, f"/ws/reports/{report.id}/"),
        },
    }


class ReportOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    schedule = serializers.SerializerMethodField(help_text="The schedule whose run requested it (sch_...), else null.")
    error = serializers.SerializerMethodField()
    file = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "id",
            "url",
            "report_type",
            "parameters",
            "schedule",
            "status",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "file",
            "links",
        ]
        read_only_fields = fields

    def _path(self, name: str, report: Report) -> str:
        return reverse(name, kwargs={"report_id": report.id})

    def get_url(self, report: Report) -> str:
        return _absolute(self.context.get("request"), self._path("api:report-detail", report))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_schedule(self, report: Report) -> str | None:
        return report.schedule_id or None

    @extend_schema_field(ReportErrorSerializer(allow_null=True))
    def get_error(self, report: Report) -> dict[str, str] | None:
        if report.status != ReportStatus.FAILED:
            return None
        return {"code": report.error_code or "failed", "message": report.error_message or "The report failed."}

    @extend_schema_field(ReportFileSerializer(allow_null=True))
    def get_file(self, report: Report) -> dict[str, Any] | None:
        if report.status != ReportStatus.SUCCEEDED or not report.file:
            return None
        request = self.context.get("request")
        return {
            "url": _absolute(request, self._path("api:report-file", report)),
            "download_url": _absolute(request, download_path(report.id, report.requested_by_id)),
            "size_bytes": report.file_size,
            "pages": report.file_pages,
            "sha256": report.file_sha256,
        }

    @extend_schema_field(ReportLinksSerializer)
    def get_links(self, report: Report) -> dict[str, str]:
        request = self.context.get("request")
        return {
            "self": _absolute(request, self._path("api:report-detail", report)),
            "file": _absolute(request, self._path("api:report-file", report)),
            "cancel": _absolute(request, self._path("api:report-cancel", report)),
            "events": websocket_url(request, f"/ws/reports/{report.id}/"),
        }

    def to_representation(self, report: Report) -> dict[str, Any]:
        return report_representation(report, self.context.get("request"))


class ReportTypeOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    parameters_schema = serializers.JSONField(help_text="JSON Schema (2020-12) of the parameters object.")
    default_parameters = serializers.JSONField(help_text="Values an admin set; applied where none is given.")
    timeout_seconds = serializers.IntegerField()

    def to_representation(self, available: AvailableReportType) -> dict[str, Any]:
        report_type = available.report_type
        return {
            "key": report_type.key,
            "title": report_type.title,
            "description": report_type.description,
            "parameters_schema": report_type.parameters_schema,
            "default_parameters": available.default_parameters,
            "timeout_seconds": available.timeout,
        }


class MeOutputSerializer(serializers.Serializer):
    username = serializers.CharField()
    # Not an EmailField: its "format: email" would promise an address, and a user may have none ("").
    email = serializers.CharField(help_text="The user's email address; empty when they have none.")
    is_staff = serializers.BooleanField()
