"""From a report and its builder's context to PDF bytes: the common header, parameters and footer for every type."""

import json
from typing import Any

from django.template.loader import get_template, render_to_string
from django.utils import timezone

from reports.models import Report
from reports.pdf import RenderedPdf, html_to_pdf
from reports.registry import ReportType

BASE_TEMPLATE = "reports/pdf/base.html"


def _display(value: Any) -> str:
    """Parameters as the API shows them (JSON), so `true` in a request reads `true` in the PDF."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render_report(report: Report, report_type: ReportType, context: dict[str, Any]) -> RenderedPdf:
    html = render_to_string(
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
    return html_to_pdf(html)


def preload_templates(report_types: list[ReportType]) -> None:
    """Compile the templates in the worker's parent process so that a forked job finds them cached."""
    get_template(BASE_TEMPLATE)
    for report_type in report_types:
        get_template(report_type.template_name)
