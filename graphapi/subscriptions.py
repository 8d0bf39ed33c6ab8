"""The subscription (SPEC §16): a user's events, or one report's, replayed after `after` and then live, by the same
rules as the WebSocket and Server-Sent Events (§15; reports/follow.py)."""

import json
from collections.abc import AsyncGenerator

import strawberry
from channels.db import database_sync_to_async
from django.utils import timezone
from strawberry.types import Info

from events.streams import LoggedEvent
from graphapi.context import current_user
from graphapi.errors import not_found
from graphapi.types import ReportEvent
from reports.events import TERMINAL_EVENT_TYPES, report_snapshot
from reports.follow import StreamStarted, follow_events, users_report_exists
from reports.models import TERMINAL_STATUSES


def _reset(reason: str) -> ReportEvent:
    return ReportEvent(
        id=None, type="stream.reset", sequence=None, timestamp=timezone.now(), report=None, reason=reason
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Your events (or one report's, with `reportId`): after `after` first the events you missed, "
        "then live ones, each once and in `sequence` order. Following one report, the first item is a "
        "`report.snapshot` unless you resume with `after`, and the subscription completes after the report's "
        "terminal event. `NOT_FOUND` for a report that is not yours."
    )
    async def report_events(
        self, info: Info, report_id: strawberry.ID | None = None, after: str | None = None
    ) -> AsyncGenerator[ReportEvent, None]:
        user = current_user(info)
        if report_id is not None and not await users_report_exists(user, report_id):
            raise not_found()
        shown = 0  # the snapshot's sequence: the events it already shows are not sent again
        async for item in follow_events(user, report_id, after or None):
            if isinstance(item, LoggedEvent):
                if item.sequence <= shown:
                    continue
                yield ReportEvent.from_envelope(json.loads(item.text), user.pk)
                if report_id is not None and item.type in TERMINAL_EVENT_TYPES:
                    return
            elif isinstance(item, StreamStarted) and report_id is not None and (item.reset or not after):
                if item.reset is not None:
                    yield _reset(item.reset.reason)
                snapshot = await database_sync_to_async(report_snapshot)(user=user, report_id=report_id)
                if snapshot is None:  # deleted meanwhile
                    raise not_found()
                yield ReportEvent.from_envelope(snapshot, user.pk)
                if snapshot["data"]["report"]["status"] in TERMINAL_STATUSES:
                    return
                shown = snapshot["sequence"] or 0
            elif isinstance(item, StreamStarted) and item.reset is not None:
                yield _reset(item.reset.reason)
