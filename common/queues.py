"""The RQ queues, by name, one object per process: every app enqueues through here."""

import os

import django_rq
from rq.queue import Queue

REPORTS_QUEUE = "reports"
# Deliveries of events (webhooks, callbacks, email, SMS) and the event log's sweep.
DELIVERY_QUEUE = "notifications"

_queues: dict[tuple[int, str], Queue] = {}


def queue_for(name: str) -> Queue:
    """One queue object (and so one Redis connection pool) per process and queue; a forked child makes its own.

    "auto": callers already run this from transaction.on_commit, so django-rq must not defer it again."""
    key = (os.getpid(), name)
    if key not in _queues:
        _queues[key] = django_rq.get_queue(name, commit_mode="auto")
    return _queues[key]


def forget_queues() -> None:
    """Drop the queue objects, so the next call connects anew (after REDIS_URL changed, in tests)."""
    _queues.clear()
