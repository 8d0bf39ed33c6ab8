"""WebSocket consumers (SPEC §6): authenticate, join a group, send a snapshot, forward events. Nothing else."""

from abc import ABC, abstractmethod
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from common.ids import looks_like_id
from reports import selectors
from reports.events import latest_report_event, snapshot_envelope, user_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class _ReportEventsConsumer(AsyncJsonWebsocketConsumer, ABC):
    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first so the close code reaches the client (a refused handshake only says 403).
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.subscribe(user)

    async def join_users_group(self, user) -> None:
        """Every event of a user's reports is published once, to their group (reports/events.py)."""
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        self.groups = [user_group(user.pk)]

    @abstractmethod
    async def subscribe(self, user) -> None:
        """Join the groups, then accept (so no event falls between the two), and send what the client needs first."""

    async def report_event(self, message: dict[str, Any]) -> None:
        await self.send(text_data=message["text"])

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Clients have nothing to say; anything they send is ignored."""


class UserReportsConsumer(_ReportEventsConsumer):
    """/ws/reports/: every event of the user's reports."""

    async def subscribe(self, user) -> None:
        await self.join_users_group(user)
        await self.accept()


class ReportConsumer(_ReportEventsConsumer):
    """/ws/reports/{id}/: one report's events, after a snapshot of its current state."""

    report_id = ""

    async def subscribe(self, user) -> None:
        self.report_id = self.scope["url_route"]["kwargs"]["report_id"]
        # This socket keeps its report's events from the user's group (report_event below). Join before reading,
        # so no change can fall between the snapshot and the first event.
        await self.join_users_group(user)
        snapshot = await self._snapshot(user, self.report_id)
        await self.accept()
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send_json(snapshot)

    async def report_event(self, message: dict[str, Any]) -> None:
        if message.get("report_id") == self.report_id:
            await self.send(text_data=message["text"])

    @database_sync_to_async
    def _snapshot(self, user, report_id: str) -> dict[str, Any] | None:
        if not looks_like_id(report_id):
            return None
        latest = latest_report_event(report_id)  # first: the report read next is at least this new
        report = selectors.report_get(user=user, report_id=report_id)
        return None if report is None else snapshot_envelope(report, latest)
