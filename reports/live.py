"""Publishing to the Channels layer from synchronous code (views, services, RQ work horses).

`async_to_sync(layer.group_send)` outside an ASGI server runs each call on a new event loop; channels-redis keeps
its connection pools per loop, so every call opens a pool that is never closed and a later call can hit "Event loop
is closed". Instead each process gets one event loop on a daemon thread, and every publish runs on it: one pool per
process, reused. A forked work horse notices the pid changed and starts its own loop (threads do not survive fork).
"""

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 2.0


class _LoopThread:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="channel-layer-publisher", daemon=True)
        self.thread.start()


_lock = threading.Lock()
_runner: _LoopThread | None = None


def _loop() -> asyncio.AbstractEventLoop:
    global _runner
    with _lock:
        if _runner is None or _runner.pid != os.getpid():
            _runner = _LoopThread()
        return _runner.loop


async def _send_all(messages: Iterable[tuple[str, dict[str, Any]]]) -> None:
    # Different groups at once; one call's messages all land before the next call's, so one report's events
    # keep their order in every group.
    layer = get_channel_layer()
    await asyncio.gather(*(layer.group_send(group, message) for group, message in messages))


def group_send(messages: list[tuple[str, dict[str, Any]]]) -> bool:
    """Send each (group, message); False (logged) when the layer could not be reached in time.

    Live updates are a convenience on top of the stored state: a failure here never fails the caller, and clients
    recover through the snapshot they get on reconnecting or through polling.
    """
    future = asyncio.run_coroutine_threadsafe(_send_all(messages), _loop())
    try:
        future.result(timeout=PUBLISH_TIMEOUT)
    except Exception:
        future.cancel()
        logger.warning("Could not publish %d live event(s)", len(messages), exc_info=True)
        return False
    return True


def warm_up() -> None:
    """Run the publish path once on a throwaway loop, then close it: a worker's parent pays the first-call costs
    (imports, connection classes) instead of every forked horse, and keeps no thread that a fork would break."""

    async def publish_once() -> None:
        layer = get_channel_layer()
        await layer.group_send("reports.warm-up", {"type": "warm.up"})

    asyncio.run(publish_once())
