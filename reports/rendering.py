"""From a report and its builder's context to PDF bytes: the common header, parameters and footer for every type."""

import json
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.template.loader import get_template, render_to_string
from django.utils import timezone

from reports.models import Report
from reports.pdf import RenderedPdf, html_to_pdf
from reports.pdf_parts import render_parts
from reports.pdf_tables import html_with_table_to_pdf, new_placeholder
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


def render_report(
    report: Report, report_type: ReportType, context: dict[str, Any], *, table_path: bool = True
) -> RenderedPdf:
    """One layout for most reports. A type's long table (`data_table`) is drawn by ReportLab within the template's
    layout, in one process: in two parts at once, 10,000 rows took as long as whole (joining and numbering the pages
    cost what the second process saved), and 50,000 saved a quarter of their time for both cores and 1.75 times the
    memory. Without a data table, a type that splits a big document has its parts laid out at the same time.
    `table_path=False` lays a data table out as the template's HTML table, as before, for comparisons."""
    table = report_type.data_table(context) if table_path else None
    if table is not None:
        placeholder = new_placeholder()
        return html_with_table_to_pdf(
            report_html(report, report_type, context, table_placeholder=placeholder), placeholder, table
        )
    processes = settings.REPORT_RENDER_PROCESSES
    parts = report_type.split_context(context, processes) if processes > 1 else None
    if not parts or len(parts) < 2:
        return html_to_pdf(report_html(report, report_type, context))
    generated_at = timezone.now()  # one time on every part's header and footer
    return render_parts(
        [
            partial(
                report_html,
                report,
                report_type,
                part,
                continuation=index > 0,
                numbered_after_join=True,
                generated_at=generated_at,
            )
            for index, part in enumerate(parts)
        ],
        processes,
    )


def report_html(
    report: Report,
    report_type: ReportType,
    context: dict[str, Any],
    *,
    continuation: bool = False,
    numbered_after_join: bool = False,
    generated_at: datetime | None = None,
    table_placeholder: str = "",
) -> str:
    """The document xhtml2pdf lays out: the type's template with the header, parameters and footer of every type.
    `table_placeholder` is the text of the paragraph the template gives for a data table's rows."""
    return render_to_string(
        report_type.template_name,
        {
            **context,
            "table_placeholder": table_placeholder,
            "continuation": continuation,
            "numbered_after_join": numbered_after_join,
            "report": report,
            "report_type": report_type,
            "parameters": [(name, _display(value)) for name, value in sorted(report.parameters.items())],
            "requested_by": report.requested_by,
            "generated_at": generated_at or timezone.now(),
        },
    )


def preload_templates(report_types: list[ReportType]) -> None:
    """Compile the templates in the worker's parent process so that a forked job finds them cached."""
    get_template(BASE_TEMPLATE)
    for report_type in report_types:
        get_template(report_type.template_name)
