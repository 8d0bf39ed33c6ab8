"""Publishing to the Channels layer from synchronous code (views, services, RQ workers).

`async_to_sync(layer.group_send)` outside an ASGI server runs each call on a new event loop; channels-redis keeps
its connection pools per loop, so every call opens a pool that is never closed and a later call can hit "Event loop
is closed". Instead each process gets one event loop on a daemon thread, and one task on it publishes everything,
in the order it was handed over: one pool per process, reused, and one report's events never overtake each other.

Callers do not wait for Redis. A POST or a render hands its event over in microseconds and goes on; a slow or
absent Redis costs live updates, never a request (the queue is bounded, and what does not fit is dropped with a
warning). Live updates are a convenience on top of the stored state: clients recover through the snapshot they get
on reconnecting or through polling. A forked child notices the pid changed and starts its own loop.
"""

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 2.0
# Events waiting for Redis, per process. Beyond this the newest are dropped: a backlog this long means Redis is
# away, and by the time it is back the clients will have re-read the state anyway.
MAX_PENDING = 10_000

Messages = list[tuple[str, dict[str, Any]]]


async def _send_all(messages: Iterable[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    await asyncio.gather(*(layer.group_send(group, message) for group, message in messages))


class _Publisher:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue[Messages] = asyncio.Queue(maxsize=MAX_PENDING)
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name="channel-layer-publisher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.create_task(self._publish_forever())
        self.loop.run_forever()

    async def _publish_forever(self) -> None:
        while True:
            messages = await self.queue.get()
            try:
                await asyncio.wait_for(_send_all(messages), PUBLISH_TIMEOUT)
            except Exception:
                logger.warning("Could not publish %d live event(s)", len(messages), exc_info=True)
            finally:
                self.queue.task_done()

    def _enqueue(self, messages: Messages) -> None:
        try:
            self.queue.put_nowait(messages)
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning("Live event queue full (%d); dropped an event (%d so far)", MAX_PENDING, self.dropped)

    def submit(self, messages: Messages) -> None:
        self.loop.call_soon_threadsafe(self._enqueue, messages)

    def flush(self, timeout: float) -> bool:
        future = asyncio.run_coroutine_threadsafe(self.queue.join(), self.loop)
        try:
            future.result(timeout)
        except TimeoutError:
            future.cancel()
            return False
        return True


_lock = threading.Lock()
_publisher: _Publisher | None = None


def _current() -> _Publisher:
    global _publisher
    with _lock:
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _Publisher()
        return _publisher


_wait_for_each_publish = False


def publish_before_returning() -> None:
    """For a process that can spare the round trip (a worker between two steps of a job): each `group_send` then
    waits until its events are sent. Otherwise the publisher thread first has to win the GIL from the thread that
    goes on working (up to Python's 5 ms switch interval), and the event leaves that much later."""
    global _wait_for_each_publish
    _wait_for_each_publish = True


def group_send(messages: Messages) -> None:
    """Hand each (group, message) to this process's publisher; returns at once, or once they are sent (or given up
    on, after PUBLISH_TIMEOUT) in a process that asked for that."""
    _current().submit(messages)
    if _wait_for_each_publish:
        flush(PUBLISH_TIMEOUT + 1.0)  # past the publisher's own timeout, so it has given up by then


def flush(timeout: float = PUBLISH_TIMEOUT) -> bool:
    """Wait until every event handed over so far is published (or given up); False when `timeout` ran out."""
    publisher = _publisher
    if publisher is None or publisher.pid != os.getpid():
        return True
    return publisher.flush(timeout)


# A process that exits (a worker's warm shutdown, the end of a management command) still sends what it has.
atexit.register(flush)


def warm_up() -> None:
    """Run the publish path once on a throwaway loop, then close it: a worker's parent pays the first-call costs
    (imports, connection classes) instead of its jobs, and keeps no thread that a fork would break."""

    async def publish_once() -> None:
        layer = get_channel_layer()
        await layer.group_send("reports.warm-up", {"type": "warm.up"})

    asyncio.run(publish_once())
