"""Reports in the admin: the report log with its actions, report type configuration, the export action that every
ModelAdmin gets, and the page where an export arrives live."""

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from events.engine import deliveries_redeliver
from events.models import Delivery
from events.selectors import report_timeline_rows
from reports import model_export, selectors, services
from reports.errors import ReportError
from reports.models import IdempotencyKey, Report, ReportStatus, ReportTypeConfig
from reports.parameters import ParameterError, validate_parameters
from reports.registry import report_types
from reports.report_types.model_table import MAX_IDS

ID_PLACEHOLDER = "__id__"
# The channels that tell a person (reports/notify.py), which "resend notifications" sends again.
MESSAGE_CHANNELS = ("email", "sms")


def status_badge(report: Report) -> str:
    return format_html('<span class="badge badge-{}">{}</span>', report.status, report.get_status_display())


@admin.action(description="Export selected as PDF report", permissions=["view"])
def export_selected_as_pdf(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    """On every ModelAdmin: a `model_table` report of the selected rows, then the page where it arrives live.

    Every row selected ("select all" without a filter) asks for the whole table rather than naming each id: the
    report's parameters stay small whatever the table's size (SPEC §19)."""
    everything = queryset.count() == queryset.model._default_manager.count()
    ids = (
        []
        if everything
        else [
            pk if isinstance(pk, int) else str(pk)
            for pk in queryset.order_by("pk").values_list("pk", flat=True)[: MAX_IDS + 1]
        ]
    )
    if len(ids) > MAX_IDS:
        model_admin.message_user(request, f"Select at most {MAX_IDS:,} rows to export.", messages.ERROR)
        return None
    try:
        report = services.report_create(
            user=request.user,
            report_type="model_table",
            parameters={"model": model_export.model_label(queryset.model), "ids": ids},
        )
    except (ReportError, ParameterError) as error:
        model_admin.message_user(request, f"The export could not be requested: {error}", messages.ERROR)
        return None
    return HttpResponseRedirect(reverse("admin:reports_report_live", args=[report.id]))


admin.site.add_action(export_selected_as_pdf, "export_selected_as_pdf")


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["id", "report_type", "requested_by", "badge", "progress", "created_at", "finished_at", "download"]
    list_filter = ["status", "report_type", "created_at"]
    search_fields = ["id", "requested_by__username", "report_type", "error_message"]
    date_hierarchy = "created_at"
    list_select_related = ["requested_by"]
    readonly_fields = [*(field.name for field in Report._meta.fields), "timeline"]
    actions = ["retry_reports", "cancel_reports", "resend_notifications"]

    class Media:
        css = {"all": ["reports/status.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def badge(self, report: Report) -> str:
        return status_badge(report)

    @admin.display(description="events and where they went")
    def timeline(self, report: Report) -> str:
        """The same timeline as the report's page and GET /api/v1/reports/{id}/events."""
        return render_to_string("reports/timeline.html", {"events": report_timeline_rows(report_id=report.id)})

    @admin.display(description="file")
    def download(self, report: Report) -> str:
        if report.status != ReportStatus.SUCCEEDED or not report.file:
            return "—"
        return format_html(
            '<a href="{}">PDF, {} page{}</a>',
            reverse("admin:reports_report_file", args=[report.id]),
            report.file_pages,
            "" if report.file_pages == 1 else "s",
        )

    # --- Actions: each goes through the same service as the API -------------------------------------------------

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reports.change_report")

    has_cancel_permission = has_retry_permission

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("events.redeliver_delivery")

    def _report_outcome(self, request: HttpRequest, done: list[str], refused: list[str], verb: str) -> None:
        if done:
            self.message_user(request, f"{verb} {len(done)} report(s): {', '.join(done)}.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not possible for: " + "; ".join(refused) + ".", messages.WARNING)

    @admin.action(description="Retry selected failed or cancelled reports", permissions=["retry"])
    def retry_reports(self, request: HttpRequest, queryset: QuerySet) -> None:
        done, refused = [], []
        for report in queryset.select_related("requested_by"):
            try:
                retried = services.report_retry(report=report)
            except (ReportError, ParameterError) as error:
                refused.append(f"{report.id} ({error})")
            else:
                done.append(f"{report.id} → {retried.id}")
        self._report_outcome(request, done, refused, "Requested again")

    @admin.action(description="Cancel selected queued or running reports", permissions=["cancel"])
    def cancel_reports(self, request: HttpRequest, queryset: QuerySet) -> None:
        done, refused = [], []
        for report in queryset:
            try:
                services.report_cancel(report=report)
            except ReportError as error:
                refused.append(f"{report.id} ({error})")
            else:
                done.append(report.id)
        self._report_outcome(request, done, refused, "Cancelled")

    @admin.action(description="Resend the email and SMS notifications of selected reports", permissions=["resend"])
    def resend_notifications(self, request: HttpRequest, queryset: QuerySet) -> None:
        messages_ = Delivery.objects.filter(event__report__in=queryset, channel__in=MESSAGE_CHANNELS)
        queued, busy = deliveries_redeliver(deliveries=messages_)
        self.message_user(request, f"Queued {queued} message(s) to be sent again.", messages.SUCCESS)
        if busy:
            self.message_user(request, f"Being sent right now, not queued again: {', '.join(busy)}.", messages.WARNING)

    # --- Pages: an export arriving live, and any report's file for those who may view reports -------------------

    def get_urls(self):
        own = [
            path("<str:report_id>/live/", self.admin_site.admin_view(self.live_view), name="reports_report_live"),
            path("<str:report_id>/file/", self.admin_site.admin_view(self.file_view), name="reports_report_file"),
        ]
        return own + super().get_urls()

    def live_view(self, request: HttpRequest, report_id: str) -> HttpResponse:
        """The requester's own report, following it over the WebSocket (polling while the socket is down)."""
        report = selectors.report_get(user=request.user, report_id=report_id)
        if report is None:
            raise Http404("No such report of yours.")
        report_type = report_types.get(report.report_type)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{report_type.title if report_type else report.report_type} {report.id}",
            "report": report,
            "parameters": report.parameters,
            "model_label": report.parameters.get("model", ""),
            "row_count": len(report.parameters.get("ids") or []),
            "poll_url": reverse("api:report-detail", kwargs={"report_id": report.id}),
            "file_url": reverse("api:report-file", kwargs={"report_id": ID_PLACEHOLDER}),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/reports/report/live.html", context)

    def file_view(self, request: HttpRequest, report_id: str) -> FileResponse:
        report = get_object_or_404(Report, pk=report_id)
        may_view_reports = self.has_view_permission(request, report)
        if not selectors.report_file_readable(user=request.user, report=report, may_view_reports=may_view_reports):
            raise Http404("No such report.")
        try:
            services.report_file_for_download(report=report)
        except ReportError as error:
            raise Http404(str(error)) from error
        return FileResponse(
            report.file.open("rb"),
            as_attachment=True,
            filename=f"{report.report_type}-{report.id}.pdf",
            content_type="application/pdf",
        )


class ReportTypeConfigForm(forms.ModelForm):
    class Meta:
        model = ReportTypeConfig
        fields = ["key", "enabled", "allowed_groups", "timeout_seconds", "retention_days", "default_parameters"]
        widgets = {"key": forms.Select}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].widget.choices = [(rt.key, f"{rt.title} ({rt.key})") for rt in report_types.all()]

    def clean(self) -> dict:
        """Default parameters must be valid for the type, so a bad default can never break every request."""
        cleaned = super().clean()
        report_type = report_types.get(cleaned.get("key") or "")
        defaults = cleaned.get("default_parameters") or {}
        if report_type is None:
            self.add_error("key", "Not an installed report type.")
            return cleaned
        try:
            validate_parameters(report_type.parameters_schema, defaults)
        except ParameterError as error:
            messages_ = [f"{field or 'parameters'}: {' '.join(texts)}" for field, texts in error.errors.items()]
            self.add_error("default_parameters", messages_)
        return cleaned


@admin.register(ReportTypeConfig)
class ReportTypeConfigAdmin(admin.ModelAdmin):
    form = ReportTypeConfigForm
    list_display = ["key", "title", "enabled", "groups", "timeout_seconds", "retention_days", "defaults"]
    list_filter = ["enabled", "allowed_groups"]
    list_editable = ["enabled"]
    search_fields = ["key"]
    filter_horizontal = ["allowed_groups"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("allowed_groups")

    @admin.display(description="title")
    def title(self, config: ReportTypeConfig) -> str:
        report_type = report_types.get(config.key)
        return report_type.title if report_type else "(not installed)"

    @admin.display(description="groups allowed")
    def groups(self, config: ReportTypeConfig) -> str:
        return ", ".join(group.name for group in config.allowed_groups.all()) or "everyone permitted"

    @admin.display(description="default parameters")
    def defaults(self, config: ReportTypeConfig) -> str:
        return json.dumps(config.default_parameters) if config.default_parameters else "—"


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """A read-only log of the keys clients sent with POSTs, for tracing a retried request to the report it made."""

    list_display = ["key", "user", "state", "response_status", "report", "created_at", "expires_at"]
    list_filter = ["state", "response_status", "created_at"]
    search_fields = ["=key", "user__username", "=report__id"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "report"]
    exclude = ["lock_token"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
