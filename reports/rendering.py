"""From a report and its builder's context to PDF bytes: the common header, parameters and footer for every type."""

import json
from typing import Any

from django.template.loader import get_template, render_to_string
from django.utils import timezone

from reports.models import Report
from reports.pdf import RenderedPdf, html_to_pdf
from reports.registry import ReportType

BASE_TEMPLATE = "reports/pdf/base.html"


# Longer lists (the ids of an export) show their first items and their length: the header stays a header.
LIST_ITEMS_SHOWN = 10


def _display(value: Any) -> str:
    """Parameters as the API shows them (JSON), so `true` in a request reads `true` in the PDF."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) > LIST_ITEMS_SHOWN:
        shown = json.dumps(value[:LIST_ITEMS_SHOWN], ensure_ascii=False)[:-1]
        return f"{shown}, … ({len(value):,} in all)]"
    return json.dumps(value, ensure_ascii=False)


def render_report(report: Report, report_type: ReportType, context: dict[str, Any]) -> RenderedPdf:
    return html_to_pdf(report_html(report, report_type, context))


def report_html(report: Report, report_type: ReportType, context: dict[str, Any]) -> str:
    """The document xhtml2pdf lays out: the type's template with the header, parameters and footer of every type."""
    return render_to_string(
        report_type.template_name,
        {
            **context,
            "report": report,
            "report_type": report_type,
            "parameters": [(name, _display(value)) for name, value in sorted(report.parameters.items())],
            "requested_by": report.requested_by,
            "generated_at": timezone.now(),
        },
    )


def preload_templates(report_types: list[ReportType]) -> None:
    """Compile the templates in the worker's parent process so that a forked job finds them cached."""
    get_template(BASE_TEMPLATE)
    for report_type in report_types:
        get_template(report_type.template_name)
