"""`webhook_health`: how each webhook endpoint is doing, for the people who run the service."""

import statistics
from collections import Counter, defaultdict
from datetime import date
from typing import Any

from django.utils import timezone

from events.models import DeliveryAttempt
from notifications.models import WebhookEndpoint
from notifications.webhooks.services import CALLBACK_CHANNEL, ENDPOINT_CHANNEL
from reports.charts import daily_bar_chart
from reports.date_ranges import DATE_RANGE_SCHEMA, clean_date_range, day_bounds, days_between, parsed_range, percentile
from reports.registry import BuildContext, ReportType, register


@register
class WebhookHealthReport(ReportType):
    key = "webhook_health"
    title = "Webhook health"
    description = "Per endpoint: deliveries, success rate, latency and recent failures over a date range."
    template_name = "reports/pdf/webhook_health.html"
    required_permission = "events.view_delivery"
    timeout = 300
    parameters_schema = DATE_RANGE_SCHEMA

    def clean(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return clean_date_range(parameters)

    def build(self, context: BuildContext) -> dict[str, Any]:
        start, end = parsed_range(context.parameters)
        since, until = day_bounds(start, end)
        attempts = DeliveryAttempt.objects.filter(
            attempted_at__gte=since,
            attempted_at__lt=until,
            delivery__channel__in=(ENDPOINT_CHANNEL, CALLBACK_CHANNEL),
        ).values_list("delivery__channel", "delivery__target", "attempted_at", "status_code", "latency_ms", "error")
        per_endpoint: dict[str, Counter] = defaultdict(Counter)
        latencies: dict[str, list[int]] = defaultdict(list)
        per_day: dict[date, Counter] = defaultdict(Counter)
        failures = []
        for channel, target, attempted_at, status_code, latency_ms, error in attempts.iterator():
            ok = status_code is not None and 200 <= status_code < 300
            key = target if channel == ENDPOINT_CHANNEL else "(callback URLs)"
            per_endpoint[key]["ok" if ok else "failed"] += 1
            per_day[timezone.localdate(attempted_at)]["ok" if ok else "failed"] += 1
            if latency_ms is not None:
                latencies[key].append(latency_ms)
            if not ok:
                failures.append((attempted_at, key, status_code, error))
        context.set_progress(60)
        endpoints = {endpoint.id: endpoint for endpoint in WebhookEndpoint.objects.select_related("owner")}
        rows = []
        for key in sorted(per_endpoint, key=lambda item: -sum(per_endpoint[item].values())):
            counts, endpoint = per_endpoint[key], endpoints.get(key)
            total = counts["ok"] + counts["failed"]
            rows.append(
                {
                    "url": endpoint.url if endpoint else key,
                    "owner": endpoint.owner.get_username() if endpoint else "—",
                    "enabled": endpoint.enabled if endpoint else True,
                    "attempts": total,
                    "succeeded": counts["ok"],
                    "success_rate": counts["ok"] / total if total else None,
                    "p50_ms": statistics.median(latencies[key]) if latencies[key] else None,
                    "p95_ms": percentile(latencies[key], 0.95),
                }
            )
        days = days_between(start, end)
        chart = daily_bar_chart(
            days,
            [
                ("succeeded", "#2e7d32", [per_day[day]["ok"] for day in days]),
                ("failed", "#c62828", [per_day[day]["failed"] for day in days]),
            ],
        )
        recent = sorted(failures, key=lambda item: item[0], reverse=True)[:15]
        return {
            "endpoint_rows": rows,
            "total_attempts": sum(row["attempts"] for row in rows),
            "recent_failures": [
                {
                    "at": at,
                    "url": endpoints[key].url if key in endpoints else key,
                    "outcome": status_code or error,
                }
                for at, key, status_code, error in recent
            ],
            "chart_json": chart,
        }
