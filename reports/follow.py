"""Following a user's stream of events as an async iterator (SPEC §15): for the streams that pull, Server-Sent
Events and GraphQL subscriptions. The WebSocket consumer is pushed its events by Channels instead, and shares the
same StreamReader (events/streams.py), so every stream replays, orders and deduplicates alike."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import AbstractBaseUser

from events.streams import LoggedEvent, StreamReader, StreamReset
from reports import selectors
from reports.events import user_group


@database_sync_to_async
def users_report_exists(user: AbstractBaseUser, report_id: str) -> bool:
    """Whether the report is the user's: a stream of one report checks it before it starts (404 or NOT_FOUND)."""
    return selectors.report_get(user=user, report_id=report_id) is not None


@dataclass(frozen=True)
class StreamStarted:
    """First item of every stream: it now listens to live events and knows its place in the log. `reset` says why
    the client's cursor could not be served (it then starts from now)."""

    reset: StreamReset | None


class Idle:
    """Nothing happened for `idle_seconds`: a chance to send a keep-alive."""


IDLE = Idle()


async def follow_events(
    user: AbstractBaseUser, report_id: str | None, after: str | None, *, idle_seconds: float | None = None
) -> AsyncIterator[StreamStarted | LoggedEvent | Idle]:
    """StreamStarted, then every event after `after` (of one report when `report_id` is given), each once and in
    `sequence` order, replayed and then live, for as long as the caller iterates. Waiting costs no thread and no
    database connection: a coroutine on the channel layer."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = user_group(user.pk)
    await layer.group_add(group, channel)  # before reading the log: no event falls between the two
    try:
        reader = StreamReader(user, report_id)
        missed, reset = await reader.start(after)
        yield StreamStarted(reset)
        for event in missed:
            yield event
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), idle_seconds)
            except TimeoutError:
                yield IDLE
                continue
            if message.get("type") != "report.event" or message.get("sequence") is None:
                continue
            for event in await reader.take(
                message["sequence"], message["report_id"], message["id"], message.get("event_type", ""), message["text"]
            ):
                yield event
    finally:
        await layer.group_discard(group, channel)
