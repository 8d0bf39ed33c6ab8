"""Live events from synchronous code: handed over without waiting for Redis, published in order, and a Redis that
does not answer costs the live update, never the caller."""

import asyncio
import logging
import socket
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer

from common import live


@pytest.fixture
def fresh_publisher():
    """A publisher of this test's own (the module keeps one per process)."""
    previous = live._publisher
    live._publisher = None
    yield
    ours, live._publisher = live._publisher, previous
    if ours is not None:  # stop its loop, with whatever it still holds for a Redis that is gone

        def shut_down() -> None:
            for task in asyncio.all_tasks(ours.loop):
                task.cancel()
            ours.loop.call_soon(ours.loop.stop)

        ours.loop.call_soon_threadsafe(shut_down)
        ours.thread.join(timeout=5)


@pytest.fixture
def silent_redis():
    """A TCP port on loopback that accepts connections and never answers: a Redis that hangs."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_events_arrive_in_the_order_they_were_handed_over(fresh_publisher):
    async def scenario() -> list[int]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("reports.test-order", channel)
        for number in range(200):
            live.group_send([("reports.test-order", {"type": "report.event", "number": number})])
        return [(await layer.receive(channel))["number"] for _ in range(200)]

    assert async_to_sync(scenario)() == list(range(200))


def test_a_redis_that_hangs_does_not_hold_up_the_caller(fresh_publisher, silent_redis, monkeypatch, caplog):
    hanging_layer = RedisPubSubChannelLayer(hosts=[silent_redis])
    monkeypatch.setattr(live, "get_channel_layer", lambda: hanging_layer)

    with caplog.at_level(logging.WARNING, logger="common.live"):
        # The call returns while its event is still waiting for Redis
        live.group_send([("reports.test-hang", {"type": "report.event"})])
        assert live.flush(timeout=0.2) is False

        # and the publisher gives the event up after its own timeout, with a warning, ready for the next
        assert live.flush(timeout=live.PUBLISH_TIMEOUT + 5)
    assert "Could not publish 1 live event(s)" in caplog.text


def test_a_full_queue_drops_the_newest_event_with_a_warning(fresh_publisher, silent_redis, monkeypatch, caplog):
    hanging_layer = RedisPubSubChannelLayer(hosts=[silent_redis])
    monkeypatch.setattr(live, "get_channel_layer", lambda: hanging_layer)
    monkeypatch.setattr(live, "MAX_PENDING", 2)

    with caplog.at_level(logging.WARNING, logger="common.live"):
        live.group_send([("reports.test-full", {"type": "report.event"})])
        assert live.flush(timeout=0.2) is False  # that one is in flight, stuck on Redis
        for _ in range(3):  # two wait, one is too many
            live.group_send([("reports.test-full", {"type": "report.event"})])
        live.flush(timeout=0.2)

    assert live._publisher.dropped == 1
    assert "Live event queue full (2); dropped an event (1 so far)" in caplog.text


def test_a_worker_waits_until_its_events_are_sent(fresh_publisher, silent_redis, monkeypatch, caplog):
    hanging_layer = RedisPubSubChannelLayer(hosts=[silent_redis])
    monkeypatch.setattr(live, "get_channel_layer", lambda: hanging_layer)
    monkeypatch.setattr(live, "_wait_for_each_publish", False)
    live.publish_before_returning()  # what the worker does at start

    with caplog.at_level(logging.WARNING, logger="common.live"):
        live.group_send([("reports.test-wait", {"type": "report.event"})])

        # The call returned only once the publisher was done with the event (here: gave up on a Redis that hangs)
        assert live._publisher.queue._unfinished_tasks == 0
    assert "Could not publish 1 live event(s)" in caplog.text
