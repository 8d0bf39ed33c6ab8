"""The one event builder (SPEC §5). Every change of a report becomes one envelope, with one id, that every channel
carries as it is: the WebSocket now, webhooks, email and SMS through `dispatch`.

Events are built when the change is made (so they carry the state of that moment) and dispatched after the
transaction commits (so nobody hears of a change that was rolled back).
"""

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from common import live
from common.ids import new_id
from reports.models import Report

logger = logging.getLogger(__name__)

REPORT_EVENT_TYPES = (
    "report.queued",
    "report.running",
    "report.progress",
    "report.succeeded",
    "report.failed",
    "report.cancelled",
    "report.expired",
)
TERMINAL_EVENT_TYPES = ("report.succeeded", "report.failed", "report.cancelled")


def user_group(user_id: int) -> str:
    return f"reports.user.{user_id}"


def envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("evt"),
        "type": event_type,
        "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def report_representation(report: Report) -> dict[str, Any]:
    from reports.api.serializers import report_representation as representation

    return representation(report)


def report_event(report: Report, event_type: str | None = None) -> dict[str, Any]:
    """The §5 envelope for the report as it is now; the type defaults to its status."""
    return envelope(event_type or f"report.{report.status}", {"report": report_representation(report)})


EventSink = Callable[..., None]
_sinks: list[EventSink] = []


def register_sink(sink: EventSink) -> None:
    """Other apps (webhooks, email, SMS) receive every committed event: sink(event, user_id=, callback_url=)."""
    if sink not in _sinks:
        _sinks.append(sink)


def dispatch(event: dict[str, Any], *, user_id: int, callback_url: str = "") -> None:
    """Hand a committed event to every channel: the WebSocket first (it is the fastest), then the sinks.

    One publish per event, to the requester's group: the sockets that follow one report listen there too and keep
    that report's events (reports/consumers.py)."""
    live.group_send([(user_group(user_id), {"type": "report.event", "event": event})])
    for sink in _sinks:
        try:
            sink(event, user_id=user_id, callback_url=callback_url)
        except Exception:
            logger.exception("Event sink %s failed for %s", getattr(sink, "__name__", sink), event["id"])


def publish_report_event(report: Report, event_type: str | None = None) -> dict[str, Any]:
    """Build the event now and dispatch it once the current transaction commits (at once outside one)."""
    event = report_event(report, event_type)
    transaction.on_commit(partial(dispatch, event, user_id=report.requested_by_id, callback_url=report.callback_url))
    return event
