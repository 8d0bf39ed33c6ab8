"""`report_activity`: how the report service itself is used and how well it performs."""

import statistics
from collections import Counter, defaultdict
from datetime import date
from typing import Any

from django.utils import timezone

from reports.charts import daily_bar_chart
from reports.date_ranges import DATE_RANGE_SCHEMA, clean_date_range, day_bounds, days_between, parsed_range, percentile
from reports.models import Report, ReportStatus
from reports.registry import BuildContext, ReportType, register


def activity_chart(days: list[date], per_day: dict[date, Counter]) -> str:
    """Succeeded, failed and other reports per day."""
    succeeded = [per_day[day][ReportStatus.SUCCEEDED] for day in days]
    failed = [per_day[day][ReportStatus.FAILED] for day in days]
    other = [sum(per_day[day].values()) - ok - bad for day, ok, bad in zip(days, succeeded, failed, strict=True)]
    return daily_bar_chart(
        days, [("succeeded", "#2e7d32", succeeded), ("failed", "#c62828", failed), ("other", "#90a4ae", other)]
    )


@register
class ReportActivityReport(ReportType):
    key = "report_activity"
    title = "Report activity"
    description = (
        "Reports per type and status over a date range: durations (median, p95), failure rate, top requesters "
        "and a chart of reports per day."
    )
    template_name = "reports/pdf/report_activity.html"
    required_permission = "reports.view_report"
    timeout = 300
    parameters_schema = DATE_RANGE_SCHEMA

    def clean(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return clean_date_range(parameters)

    def build(self, context: BuildContext) -> dict[str, Any]:
        start, end = parsed_range(context.parameters)
        since, until = day_bounds(start, end)
        # The report being built is left out: it is neither finished nor part of the activity it describes.
        reports = Report.objects.filter(created_at__gte=since, created_at__lt=until).exclude(pk=context.report_id)
        rows = reports.values_list(
            "report_type", "status", "created_at", "started_at", "finished_at", "requested_by__username"
        )
        per_type: dict[str, Counter] = defaultdict(Counter)
        durations: dict[str, list[float]] = defaultdict(list)
        per_day: dict[date, Counter] = defaultdict(Counter)
        requesters: Counter = Counter()
        for report_type, status, created_at, started_at, finished_at, username in rows.iterator():
            per_type[report_type][status] += 1
            per_day[timezone.localdate(created_at)][status] += 1
            requesters[username] += 1
            if status == ReportStatus.SUCCEEDED and started_at and finished_at:
                durations[report_type].append((finished_at - started_at).total_seconds())
        context.set_progress(60)

        type_rows = []
        for report_type in sorted(per_type):
            counts = per_type[report_type]
            finished = counts[ReportStatus.SUCCEEDED] + counts[ReportStatus.FAILED]
            type_rows.append(
                {
                    "report_type": report_type,
                    "total": sum(counts.values()),
                    "succeeded": counts[ReportStatus.SUCCEEDED],
                    "failed": counts[ReportStatus.FAILED],
                    "cancelled": counts[ReportStatus.CANCELLED],
                    "failure_rate": (counts[ReportStatus.FAILED] / finished) if finished else None,
                    "median_seconds": statistics.median(durations[report_type]) if durations[report_type] else None,
                    "p95_seconds": percentile(durations[report_type], 0.95),
                }
            )
        days = days_between(start, end)
        return {
            "type_rows": type_rows,
            "total": sum(row["total"] for row in type_rows),
            "top_requesters": requesters.most_common(10),
            "day_rows": [(day, sum(per_day[day].values())) for day in days if per_day[day]],
            "chart_json": activity_chart(days, per_day),
        }
