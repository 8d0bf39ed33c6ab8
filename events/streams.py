"""Resumable streams (SPEC §15): what one client of a user's stream is sent, over the WebSocket or Server-Sent
Events alike, so that it misses nothing across a reconnect and gets nothing twice.

A stream joins the user's live group first, then reads the log: every event after the client's cursor is
replayed, in order. Live events that arrive meanwhile, or that were already replayed, are told apart by their
`sequence`. After that, each live event is sent when it is the next one; a gap (a live event that overtook another
on its way from another process, or one whose process died before publishing it) is filled from the log at once:
`sequence` is taken in commit order with no gap (events/log.py), so once an event is seen every earlier one is
committed and can be read. Each event therefore reaches the client exactly once, in `sequence` order.
"""

from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from events.models import Event, EventStream
from events.selectors import CursorExpired, events_after


@dataclass(frozen=True)
class StreamReset:
    """The cursor cannot be served: the client must read the state again (SPEC §15 `stream.reset`)."""

    reason: str

    def as_message(self) -> dict[str, Any]:
        return {"type": "stream.reset", "reason": self.reason}


@dataclass(frozen=True)
class LoggedEvent:
    id: str
    sequence: int
    type: str
    text: str  # the envelope, as JSON, as the log holds it


@dataclass
class StreamReader:
    """One client's position in a user's stream (optionally one report's part of it)."""

    user: AbstractBaseUser
    report_id: str | None = None
    # The last sequence of the user's stream that this client has been sent or has passed over (events of other
    # reports, for a one-report stream).
    last: int = 0

    async def start(self, after: str | None) -> tuple[list[LoggedEvent], StreamReset | None]:
        """Call once the stream listens to the live group: the events to replay, or why it cannot (then the client
        starts from now)."""
        replay, reset, last = await _read_start(self.user, self.report_id, after)
        self.last = last
        return replay, reset

    async def take(
        self, sequence: int, report_id: str | None, event_id: str, event_type: str, text: str
    ) -> list[LoggedEvent]:
        """A live event arrived: what to send now (nothing for a duplicate; the missed ones first after a gap)."""
        if sequence <= self.last:
            return []
        missed: list[LoggedEvent] = []
        if sequence > self.last + 1:
            missed = await _read_range(self.user, self.report_id, self.last, sequence)
        self.last = sequence
        if self.report_id is not None and report_id != self.report_id:
            return missed
        return [*missed, LoggedEvent(event_id, sequence, event_type, text)]


def _stream_position(user: AbstractBaseUser) -> int:
    return EventStream.objects.filter(user=user).values_list("last_sequence", flat=True).first() or 0


@database_sync_to_async
def _read_start(
    user: AbstractBaseUser, report_id: str | None, after: str | None
) -> tuple[list[LoggedEvent], StreamReset | None, int]:
    now = _stream_position(user)  # read after joining the live group: anything later arrives live
    if not after:
        return [], None, now
    limit = settings.EVENT_REPLAY_MAX
    try:
        rows = list(
            events_after(user=user, after=after, report_id=report_id).values_list(
                "id", "sequence", "type", "envelope_json"
            )[: limit + 1]
        )
    except CursorExpired as expired:
        return [], StreamReset(str(expired)), now
    if len(rows) > limit:
        return [], StreamReset(f"More than {limit} events since that one: read the state again."), now
    replay = [LoggedEvent(*row) for row in rows]
    return replay, None, max([now, *(event.sequence for event in replay)])


@database_sync_to_async
def _read_range(user: AbstractBaseUser, report_id: str | None, after: int, before: int) -> list[LoggedEvent]:
    """The user's events strictly between two sequences (of one report, when given), in order."""
    events = Event.objects.filter(user=user, sequence__gt=after, sequence__lt=before)
    if report_id is not None:
        events = events.filter(report_id=report_id)
    rows = events.order_by("sequence").values_list("id", "sequence", "type", "envelope_json")
    return [LoggedEvent(*row) for row in rows]
