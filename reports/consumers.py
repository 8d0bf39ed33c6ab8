"""WebSocket consumers (SPEC §6, §15): authenticate, join a group, replay what a resuming client missed or send a
snapshot, forward events. Which events to send, once each and in order, is events/streams.py's."""

from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from events.streams import StreamReader
from reports.events import report_snapshot, user_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class _ReportEventsConsumer(AsyncJsonWebsocketConsumer, ABC):
    groups: list[str] = []
    reader: StreamReader | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first so the close code reaches the client (a refused handshake only says 403).
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.subscribe(user)

    def after(self) -> str | None:
        """The client's cursor: `?after=evt_...`, the last event it saw."""
        values = parse_qs(self.scope.get("query_string", b"").decode(errors="replace")).get("after")
        return values[-1] if values else None

    async def join_users_group(self, user) -> None:
        """Every event of a user's reports is published once, to their group (reports/events.py). Join before
        reading anything, so no change can fall between what is read and the first live event."""
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        self.groups = [user_group(user.pk)]

    async def start_reading(self, user, report_id: str | None):
        """Where this client starts in the stream: the events it missed since its cursor, or a reset."""
        self.reader = StreamReader(user, report_id)
        return await self.reader.start(self.after())

    async def send_start(self, missed, reset) -> None:
        if reset is not None:
            await self.send_json(reset.as_message())
        for event in missed:
            await self.send(text_data=event.text)

    @abstractmethod
    async def subscribe(self, user) -> None:
        """Join the group, accept, and send what the client needs first."""

    async def report_event(self, message: dict[str, Any]) -> None:
        if self.reader is None:  # an event that came before the replay was read: the replay has it
            return
        sequence = message.get("sequence")
        if sequence is None:  # published by a process of the release before (a rolling deploy): as it comes
            if self.reader.report_id in (None, message.get("report_id")):
                await self.send(text_data=message["text"])
            return
        taken = await self.reader.take(
            sequence, message["report_id"], message["id"], message.get("event_type", ""), message["text"]
        )
        for event in taken:
            await self.send(text_data=event.text)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Clients have nothing to say; anything they send is ignored."""


class UserReportsConsumer(_ReportEventsConsumer):
    """/ws/reports/: every event of the user's reports (after `?after=`, first those missed)."""

    async def subscribe(self, user) -> None:
        await self.join_users_group(user)
        missed, reset = await self.start_reading(user, None)
        await self.accept()
        await self.send_start(missed, reset)


class ReportConsumer(_ReportEventsConsumer):
    """/ws/reports/{id}/: one report's events, after what was missed since `?after=`, or a snapshot of its current
    state."""

    report_id = ""

    async def subscribe(self, user) -> None:
        self.report_id = self.scope["url_route"]["kwargs"]["report_id"]
        await self.join_users_group(user)
        # The stream's position first, then the snapshot: the snapshot is at least that new, and every later event
        # arrives live.
        missed, reset = await self.start_reading(user, self.report_id)
        snapshot = await database_sync_to_async(report_snapshot)(user=user, report_id=self.report_id)
        await self.accept()
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send_start(missed, reset)
        if reset is not None or not self.after():
            await self.send_json(snapshot)
