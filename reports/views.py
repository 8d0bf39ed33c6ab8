"""The staff web UI (SPEC §9). Like the API views, these only translate: HTTP in, a selector or a service call,
a page out. Live updates come from static/reports/live.js over the WebSocket API, or by polling the REST API."""

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.staff import staff_required
from events.selectors import report_timeline_rows
from reports import selectors, services
from reports.errors import (
    ReportNotCancellable,
    ReportRateLimited,
    ReportTypeNotPermitted,
    ReportTypeUnknown,
    ServiceOverloaded,
)
from reports.forms import ReportParametersForm
from reports.models import ACTIVE_STATUSES, Report, ReportStatus
from reports.parameters import ParameterError
from reports.registry import report_types

REPORTS_PER_PAGE = 25
# Replaced by a report id in the browser, to build links for rows the page did not render.
ID_PLACEHOLDER = "__id__"


def format_duration(seconds: float | None) -> str:
    """Short and readable; static/reports/live.js has the same rules for rows it updates."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{round(seconds)} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(round(seconds) // 60, 60)
    return f"{hours} h {rest:02d} min"


@dataclass(frozen=True)
class ReportView:
    """A report as the pages show it."""

    report: Report

    @property
    def title(self) -> str:
        report_type = report_types.get(self.report.report_type)
        return report_type.title if report_type else self.report.report_type

    @property
    def duration(self) -> str:
        started, finished = self.report.started_at, self.report.finished_at
        return format_duration((finished - started).total_seconds() if started and finished else None)

    @property
    def is_active(self) -> bool:
        return self.report.status in ACTIVE_STATUSES

    @property
    def has_file(self) -> bool:
        return self.report.status == ReportStatus.SUCCEEDED and bool(self.report.file)

    @property
    def parameters(self) -> list[tuple[str, str]]:
        """(label, value) pairs, labelled by the schema's titles; values are shown as text and escaped."""
        report_type = report_types.get(self.report.report_type)
        properties = report_type.parameters_schema.get("properties", {}) if report_type else {}
        pairs = []
        for name, value in self.report.parameters.items():
            label = properties.get(name, {}).get("title") or name.replace("_", " ").capitalize()
            if isinstance(value, bool):
                shown = "Yes" if value else "No"
            elif isinstance(value, str):
                shown = value
            else:
                shown = json.dumps(value)
            pairs.append((label, shown))
        return pairs


def _live_urls() -> dict[str, str]:
    """URL patterns the page script fills in with a report id."""
    return {
        "detail_url": reverse("ui:report-detail", kwargs={"report_id": ID_PLACEHOLDER}),
        "file_url": reverse("api:report-file", kwargs={"report_id": ID_PLACEHOLDER}),
    }


def _type_titles() -> dict[str, str]:
    return {report_type.key: report_type.title for report_type in report_types.all()}


@staff_required
@require_GET
def report_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.report_list(user=request.user), REPORTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "ui/report_list.html",
        {
            "page": page,
            "rows": [ReportView(report) for report in page],
            "type_titles": _type_titles(),
            "poll_url": reverse("api:report-list") + f"?page_size={REPORTS_PER_PAGE}",
            **_live_urls(),
        },
    )


@staff_required
@require_GET
def report_new(request: HttpRequest) -> HttpResponse:
    """Step one: the types this user may request."""
    return render(request, "ui/report_new.html", {"types": selectors.report_types_for_user(user=request.user)})


def _type_refused(request: HttpRequest, error: ReportTypeUnknown | ReportTypeNotPermitted) -> HttpResponse:
    status = 403 if isinstance(error, ReportTypeNotPermitted) else 404
    return render(
        request,
        "ui/report_new.html",
        {"types": selectors.report_types_for_user(user=request.user), "type_error": str(error)},
        status=status,
    )


def _not_now(request: HttpRequest, available, form: ReportParametersForm, error: Exception) -> HttpResponse:
    """The gates said no (too many reports of this user, or of everyone): the form again, with when to retry."""
    status = 429 if isinstance(error, ReportRateLimited) else 503
    context = {"available": available, "form": form, "refused": str(error)}
    response = render(request, "ui/report_form.html", context, status=status)
    response["Retry-After"] = str(error.retry_after)
    return response


@staff_required
@require_http_methods(["GET", "POST"])
def report_new_of_type(request: HttpRequest, key: str) -> HttpResponse:
    """Step two: the type's parameters, as a form built from its schema; POST requests the report."""
    try:
        available = selectors.report_type_for_user(user=request.user, key=key)
    except (ReportTypeUnknown, ReportTypeNotPermitted) as error:
        return _type_refused(request, error)

    form = ReportParametersForm(available, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        # Unless asked for a new one, a report like this from the last while is offered instead (SPEC §17's reuse).
        reuse_within = None if request.POST.get("build_new") else settings.REPORT_UI_REUSE_OFFER_SECONDS
        try:
            requested = services.report_request(
                user=request.user, report_type=key, parameters=form.parameters(), reuse_within=reuse_within
            )
        except ParameterError as error:
            form.add_parameter_errors(error)
        except (ReportTypeUnknown, ReportTypeNotPermitted) as error:
            return _type_refused(request, error)
        except (ReportRateLimited, ServiceOverloaded) as error:
            return _not_now(request, available, form, error)
        else:
            if requested.reused:
                context = {"available": available, "form": form, "similar": ReportView(requested.report)}
                return render(request, "ui/report_form.html", context)
            messages.success(request, "Report requested. This page follows it live.")
            return redirect("ui:report-detail", report_id=requested.report.id)
    status = 400 if form.errors else 200
    return render(request, "ui/report_form.html", {"available": available, "form": form}, status=status)


def _own_report(request: HttpRequest, report_id: str) -> Report:
    report = selectors.report_get(user=request.user, report_id=report_id)
    if report is None:
        raise Http404("No such report.")
    return report


@staff_required
@require_GET
def report_detail(request: HttpRequest, report_id: str) -> HttpResponse:
    report = _own_report(request, report_id)
    context: dict[str, Any] = {
        "row": ReportView(report),
        "timeline": report_timeline_rows(report_id=report.id),
        "poll_url": reverse("api:report-detail", kwargs={"report_id": report.id}),
        **_live_urls(),
    }
    return render(request, "ui/report_detail.html", context)


@staff_required
@require_POST
def report_cancel(request: HttpRequest, report_id: str) -> HttpResponse:
    report = _own_report(request, report_id)
    try:
        services.report_cancel(report=report)
    except ReportNotCancellable as error:
        messages.error(request, f"Not cancelled: {error}")
    else:
        messages.success(request, "Report cancelled.")
    return redirect("ui:report-detail", report_id=report.id)
