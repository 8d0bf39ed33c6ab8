"""The events of a report (SPEC §5) and the live channel that carries them to WebSocket clients.

Every change of a report writes one event to the log (reports/lifecycle.py); this module names their types and
publishes each, as it is fanned out, to its requester's group on the channel layer, where every socket of that user
listens (reports/consumers.py)."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from common import live
from common.ids import looks_like_id
from events.channels import LiveChannel
from events.models import Event
from reports import selectors
from reports.models import TERMINAL_STATUSES, Report

REPORT_EVENT_DESCRIPTIONS = {
    "report.queued": "A report was requested (or put back in the queue after its worker was lost).",
    "report.running": "A worker started building the report.",
    "report.progress": "The report's progress (0-100) moved on.",
    "report.succeeded": "The report is built; its file can be downloaded.",
    "report.failed": "The report failed; its error says why.",
    "report.cancelled": "The report was cancelled.",
    "report.expired": "Retention removed the report's file.",
}
REPORT_EVENT_TYPES = tuple(REPORT_EVENT_DESCRIPTIONS)
TERMINAL_EVENT_TYPES = ("report.succeeded", "report.failed", "report.cancelled")


def user_group(user_id: int) -> str:
    return f"reports.user.{user_id}"


def report_representation(report: Report) -> dict[str, Any]:
    from reports.api.serializers import report_representation as representation

    return representation(report)


def parsed_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def recorded_report(representation: dict[str, Any], owner_id: Any) -> Report:
    """A report as an event recorded it (its SPEC §4.1 representation), as an unsaved, read-only Report: so that it
    is answered (a long poll) or typed (GraphQL) exactly as a report read from the database would be."""
    error = representation.get("error") or {}
    file = representation.get("file") or {}
    report = Report(
        id=representation["id"],
        requested_by_id=owner_id,
        report_type=representation["report_type"],
        parameters=representation["parameters"],
        schedule_id=representation.get("schedule") or "",
        status=representation["status"],
        progress=representation["progress"],
        started_at=parsed_time(representation["started_at"]),
        finished_at=parsed_time(representation["finished_at"]),
        error_code=error.get("code", ""),
        error_message=error.get("message", ""),
        file=f"recorded/{representation['id']}.pdf" if file else "",
        file_size=file.get("size_bytes"),
        file_pages=file.get("pages"),
        file_sha256=file.get("sha256", ""),
    )
    report.created_at = parsed_time(representation["created_at"])  # auto_now_add: not settable in the constructor
    return report


# The types of the events that end a report (SPEC §5): a stream that follows one report completes after one.
TERMINAL_EVENT_TYPES = frozenset(f"report.{status.value}" for status in TERMINAL_STATUSES)


def latest_report_event(report_id: str) -> Event | None:
    return Event.objects.filter(report_id=report_id).order_by("-sequence").only("id", "sequence").first()


def snapshot_envelope(report: Report, latest: Event | None) -> dict[str, Any]:
    """The report as it is now, in the envelope of an event (SPEC §6). Its `id` and `sequence` are those of the
    report's latest event, read before the report: the state is at least as new as that event, so a client that
    resumes after it misses nothing (null when the log no longer holds any event of the report)."""
    return {
        "id": latest.id if latest else None,
        "type": "report.snapshot",
        "sequence": latest.sequence if latest else None,
        "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        "data": {"report": report_representation(report)},
    }


def report_snapshot(*, user: AbstractBaseUser, report_id: str) -> dict[str, Any] | None:
    """The user's report as it is now, in an event's envelope (snapshot_envelope); None when it is not theirs."""
    if not looks_like_id(report_id):
        return None
    latest = latest_report_event(report_id)  # first: the report read next is at least this new
    report = selectors.report_get(user=user, report_id=report_id)
    return None if report is None else snapshot_envelope(report, latest)


class WebSocketChannel(LiveChannel):
    """One publish per event, to the user's group: the sockets that follow one report listen there too and keep
    that report's events (reports/consumers.py)."""

    name = "websocket"

    def publish(self, event: Event) -> None:
        # The envelope as the log holds it, already JSON: no socket serializes it again, and the channel layer
        # carries one string instead of a nested structure. The report's id lets a socket that follows one report
        # pick its events without parsing.
        message = {
            "type": "report.event",
            "id": event.id,
            "sequence": event.sequence,
            "event_type": event.type,
            "report_id": event.report_id,
            "text": event.envelope_json,
        }
        live.group_send([(user_group(event.user_id), message)])
