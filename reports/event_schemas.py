"""The JSON Schema of a report event's `data` (the SPEC §4.1 report, as reports.api.serializers.report_representation
builds it) and an example of each report event, for the event type catalog (events/types.py)."""

import copy
from typing import Any

from reports.api.serializers import ReportOutputSerializer
from reports.models import ReportStatus

_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_URL = {"type": "string", "format": "uri"}

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": list(ReportOutputSerializer.Meta.fields),  # every field, always present
    "properties": {
        "id": {"type": "string", "pattern": "^rep_"},
        "url": _URL,
        "report_type": {"type": "string"},
        "parameters": {"type": "object"},
        "schedule": {"type": ["string", "null"], "description": "The schedule whose run requested it, else null."},
        "status": {"enum": list(ReportStatus.values)},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": _TIME_OR_NULL,
        "finished_at": _TIME_OR_NULL,
        "error": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
            ],
            "description": "Why it failed; null unless status is failed.",
        },
        "file": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["url", "download_url", "size_bytes", "pages", "sha256"],
                    "properties": {
                        "url": _URL,
                        "download_url": {**_URL, "description": "Signed and expiring: needs no other credentials."},
                        "size_bytes": {"type": ["integer", "null"], "minimum": 0},
                        "pages": {"type": ["integer", "null"], "minimum": 0},
                        "sha256": {"type": "string"},
                    },
                },
            ],
            "description": "The PDF; null unless status is succeeded.",
        },
        "links": {
            "type": "object",
            "required": ["self", "file", "cancel", "events"],
            "properties": {
                "self": _URL,
                "file": _URL,
                "cancel": _URL,
                "events": {"type": "string", "format": "uri", "description": "The report's WebSocket."},
            },
        },
    },
}

REPORT_EVENT_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["report"],
    "properties": {"report": REPORT_SCHEMA},
}

_BASE = "https://reports.example.com"
_REPORT_ID = "rep_01jbq3z2b7m6n5p4q3r2s1t0v9"


def _example_report(status: str, progress: int) -> dict[str, Any]:
    url = f"{_BASE}/api/v1/reports/{_REPORT_ID}"
    finished = status in ("succeeded", "failed", "cancelled", "expired")
    return {
        "id": _REPORT_ID,
        "url": url,
        "report_type": "sales_summary",
        "parameters": {"start": "2026-01-01", "end": "2026-01-31"},
        "schedule": None,
        "status": status,
        "progress": progress,
        "created_at": "2026-01-15T09:29:58.120000Z",
        "started_at": None if status == "queued" else "2026-01-15T09:29:58.410000Z",
        "finished_at": "2026-01-15T09:30:00.000000Z" if finished else None,
        "error": {"code": "render_failed", "message": "The report failed."} if status == "failed" else None,
        "file": (
            {
                "url": f"{url}/file",
                "download_url": f"{_BASE}/d/eyJhbGciOiJIUzI1NiJ9.example.signature",
                "size_bytes": 48213,
                "pages": 3,
                "sha256": "9f2c4e8a1b7d3c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e",
            }
            if status == "succeeded"
            else None
        ),
        "links": {
            "self": url,
            "file": f"{url}/file",
            "cancel": f"{url}/cancel",
            "events": f"wss://reports.example.com/ws/reports/{_REPORT_ID}/",
        },
    }


_EXAMPLE_STATES = {
    "report.queued": ("queued", 0),
    "report.running": ("running", 0),
    "report.progress": ("running", 40),
    "report.succeeded": ("succeeded", 100),
    "report.failed": ("failed", 40),
    "report.cancelled": ("cancelled", 0),
    "report.expired": ("expired", 100),
}


def report_event_example(event_type: str) -> dict[str, Any]:
    """The `data` of an example event of this report event type."""
    status, progress = _EXAMPLE_STATES[event_type]
    return {"report": copy.deepcopy(_example_report(status, progress))}
