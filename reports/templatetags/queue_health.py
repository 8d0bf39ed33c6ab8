"""`{% queue_health_panel %}` for the admin index (templates/admin/index.html)."""

from django import template
from django.template.context import Context

from reports import queue_health

register = template.Library()


@register.inclusion_tag("admin/reports/_queue_health.html", takes_context=True)
def queue_health_panel(context: Context) -> dict:
    request = context["request"]
    if not request.user.has_perm("reports.view_report"):
        return {"visible": False}
    bars = queue_health.reports_per_day(14)
    rects, top = queue_health.chart_rects(bars)
    return {
        "visible": True,
        "dashboard": request.user.is_superuser,  # django-rq's views act on every user's jobs: superusers only
        "health": queue_health.queue_health(),
        "bars": bars,
        "rects": rects,
        "top": top,
        "legend": list(queue_health.STATUS_COLOURS.items()),
    }
