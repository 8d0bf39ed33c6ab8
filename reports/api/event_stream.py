"""Server-Sent Events (SPEC §15): `GET /api/v1/events/stream`, the user's events (or one report's, `?report=`) as
`text/event-stream`, resumable with `Last-Event-ID` or `?after=`.

An async view of plain Django rather than django-eventstream: that library keeps its own event storage and channel
model, while here the log (events/) already holds every event with its cursor and the live group already carries
each one once (reports/events.py); what a stream sends is events/streams.py's, shared with the WebSocket. A held
stream is a coroutine waiting on the channel layer: no thread and no database connection while idle.
"""

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from common.api.problems import problem_response
from events.streams import LoggedEvent
from reports.api.request_user import request_user
from reports.follow import StreamStarted, follow_events, users_report_exists

logger = logging.getLogger(__name__)

# A comment line at least this often keeps proxies from closing an idle stream (SPEC §15: at least every 15 s).
KEEPALIVE_SECONDS = 15.0
# How long a client waits before reconnecting after the stream ends (the browser's EventSource reads it).
RETRY_MILLISECONDS = 2000


def _sse(event: LoggedEvent) -> str:
    return f"id: {event.id}\nevent: {event.type}\ndata: {event.text}\n\n"


async def _stream(user: AbstractBaseUser, report_id: str | None, after: str | None) -> AsyncIterator[str]:
    async for item in follow_events(user, report_id, after, idle_seconds=KEEPALIVE_SECONDS):
        if isinstance(item, LoggedEvent):
            yield _sse(item)
        elif isinstance(item, StreamStarted):
            yield f"retry: {RETRY_MILLISECONDS}\n\n"
            if item.reset is not None:
                yield f"event: stream.reset\ndata: {json.dumps(item.reset.as_message())}\n\n"
        else:
            yield ": keep-alive\n\n"


@require_GET
async def event_stream(request: HttpRequest) -> HttpResponse:
    user = await request_user(request)
    if user is None:
        response = problem_response(401, "not-authenticated", "Authentication required", "Send your API token.")
        response["WWW-Authenticate"] = "Token"
        return response
    report_id = request.GET.get("report") or None
    if report_id is not None and not await users_report_exists(user, report_id):
        return problem_response(404, "not-found", "Not found", "No such report of yours.")
    after = request.headers.get("Last-Event-ID") or request.GET.get("after") or None
    response = StreamingHttpResponse(_stream(user, report_id, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies that buffer (nginx) pass each event on at once
    return response


def document_event_stream(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the stream is a plain async Django view (DRF's views are not async),
    so its operation is written here, in the same terms as the others."""
    result.setdefault("paths", {})["/api/v1/events/stream"] = {
        "get": {
            "operationId": "events_stream",
            "summary": "Your events as Server-Sent Events, live, resumable after the last one you saw",
            "description": (
                "`text/event-stream`: each event as `id: <event id>`, `event: <type>`, `data: <envelope JSON>`. "
                "Reconnect with `Last-Event-ID` (browsers' EventSource sends it) or `?after=` to get every event "
                "since, then live ones, each once and in `sequence` order; a cursor that cannot be served sends "
                "`event: stream.reset` first. A comment line comes at least every 15 s."
            ),
            "tags": ["events"],
            "parameters": [
                {"name": "report", "in": "query", "schema": {"type": "string"}, "description": "One report's events."},
                {"name": "after", "in": "query", "schema": {"type": "string"}, "description": "An event id."},
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "schema": {"type": "string"},
                    "description": "An event id; wins over `after`.",
                },
            ],
            "responses": {
                "200": {
                    "description": "The stream; it stays open",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "404": {
                    "description": "`report` is not one of yours",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                },
            },
            "security": [{"tokenAuth": []}, {"cookieAuth": []}],
        }
    }
    return result
