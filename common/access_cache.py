"""Who may request what and where their events go, cached per process: the report-type configuration, users'
permissions and groups, and their webhook endpoints.

Every POST of a report needs them, and reading them costs four or five SQL queries; under load each query, like
each network round trip, also makes the request thread queue again for the GIL behind every other one. So each
process keeps what it read, and forgets it when told to: any change to these tables (the admin, the API, ORM saves
and m2m changes) clears this process's copy at once and, once committed, is announced on a Redis channel that a
thread in every process listens to. Requests themselves never wait for Redis here.

The cache is used only while that listener is subscribed: before it is, or after it lost Redis, every lookup reads
the database, and the copy is cleared whenever it (re)subscribes, so an announcement it missed cannot leave a stale
entry behind. A value read while an announcement arrived is not kept. Entries also expire after MAX_AGE seconds,
which bounds how long a change made around the ORM's signals (a queryset `update()`, raw SQL) can go unseen.
"""

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import m2m_changed, post_delete, post_save
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CHANNEL = "reports:access-changed"
MAX_AGE = 60.0
MAX_ENTRIES = 10_000
# How often the listener proves its connection alive; a silently dead one is noticed within this plus the timeout.
HEALTH_CHECK_INTERVAL = 5
LISTENER_NAME = "access-cache-listener"
FIRST_SUBSCRIBE_WAIT = 1.0
RETRY_DELAY_MAX = 5.0

T = TypeVar("T")


def _redis(**options: Any) -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        **options,
    )


class _Entries:
    """The cached values, and an epoch that moves on every clear (so a value read across a clear is not kept)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.epoch = 0
        self.values: dict[Hashable, tuple[float, Any]] = {}

    def clear(self) -> None:
        with self.lock:
            self.epoch += 1
            self.values.clear()

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        now = time.monotonic()
        with self.lock:
            epoch = self.epoch
            stored = self.values.get(key)
        if stored is not None and now - stored[0] < MAX_AGE:
            return stored[1]
        value = load()
        with self.lock:
            if self.epoch == epoch:
                if len(self.values) >= MAX_ENTRIES:
                    self.values.clear()
                self.values[key] = (now, value)
        return value


_entries = _Entries()


class _Listener:
    """A daemon thread subscribed to CHANNEL; `subscribed` is set only while that subscription is known to hold."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.subscribed = threading.Event()
        self._was_subscribed = False
        self.thread = threading.Thread(target=self._run, name="access-cache-listener", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        delay = 0.1
        while True:
            failed = False
            try:
                self._listen()
            except (RedisError, OSError):
                failed = True
            except Exception:
                logger.exception("Access cache listener failed; it starts again")
                failed = True
            self.subscribed.clear()
            _entries.clear()
            if _exiting.is_set():
                return  # Redis often goes away with the process: nothing to report, and logging may be shut
            if self._was_subscribed or (failed and delay == 0.1):  # once per outage, not once per retry
                logger.warning("Access cache listener lost Redis; lookups read the database until it is back")
            if self._was_subscribed:
                delay = 0.1
            self._was_subscribed = False
            time.sleep(delay)
            delay = min(delay * 2, RETRY_DELAY_MAX)

    def _listen(self) -> None:
        pubsub = _redis(client_name=f"{LISTENER_NAME}-{self.pid}").pubsub(ignore_subscribe_messages=False)
        try:
            pubsub.subscribe(CHANNEL)
            last_heard = time.monotonic()
            while True:
                message = pubsub.get_message(timeout=1.0)
                now = time.monotonic()
                if message is not None:
                    last_heard = now
                    if message["type"] == "subscribe":
                        _entries.clear()  # whatever was announced before now is unknown: start empty
                        self._was_subscribed = True
                        self.subscribed.set()
                    elif message["type"] == "message":
                        _entries.clear()
                elif now - last_heard > 2 * HEALTH_CHECK_INTERVAL:
                    raise ConnectionError("Redis stopped answering the access cache listener's pings")
                elif now - last_heard > HEALTH_CHECK_INTERVAL:
                    pubsub.ping()  # the answer comes back as a message
        finally:
            self.subscribed.clear()
            pubsub.close()


_listener_lock = threading.Lock()
_listener: _Listener | None = None
_exiting = threading.Event()
atexit.register(_exiting.set)


def _reset_in_child() -> None:
    """A forked child (an isolated render) starts empty, with fresh locks: a thread of the parent may have held
    them at the fork, and that thread does not exist in the child. Its first lookup starts its own listener."""
    global _entries, _listener_lock
    _entries = _Entries()
    _listener_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_in_child)


def _current_listener() -> _Listener:
    global _listener
    with _listener_lock:
        if _listener is None or _listener.pid != os.getpid():
            _listener = _Listener()
            started = _listener
        else:
            return _listener
    started.subscribed.wait(FIRST_SUBSCRIBE_WAIT)  # the first lookup of a process, once
    return started


class AccessView:
    """Lookups through this process's cache."""

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        return _entries.get(key, load)


class _Uncached(AccessView):
    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        return load()


def current() -> AccessView:
    """The cache while this process hears every change; otherwise lookups that read the database."""
    return AccessView() if _current_listener().subscribed.is_set() else _Uncached()


def clear() -> None:
    """Forget this process's entries."""
    _entries.clear()


def changed() -> None:
    """Something the cache holds changed: forget it here now, and everywhere once the change is committed.

    The ORM's signals call it; code that changes these tables around them (raw SQL, `flush`) calls it too."""
    _entries.clear()
    transaction.on_commit(forget_everywhere)


def forget_everywhere() -> None:
    """Make every process drop what it holds."""
    _entries.clear()  # this process may have read the old state again before the commit
    client = _redis()
    try:
        client.publish(CHANNEL, "changed")
    except (RedisError, OSError):
        logger.warning("Access cache change not announced; other processes see it within %ss", MAX_AGE)
    finally:
        client.close()


def prime_permissions(user: AbstractBaseUser, view: AccessView) -> None:
    """Fill ModelBackend's own per-object caches from this process's copy, so `user.has_perm` asks every backend as
    usual and ModelBackend needs no query. Superusers and inactive users need no permission sets at all."""
    if not user.is_authenticated or not user.is_active or getattr(user, "is_superuser", False):
        return
    backend = ModelBackend()
    for kind, read in (("user", backend.get_user_permissions), ("group", backend.get_group_permissions)):
        attribute = f"_{kind}_perm_cache"  # ModelBackend's names; if they ever change, it simply queries
        if not hasattr(user, attribute):
            permissions = view.get((f"{kind}_permissions", user.pk), lambda read=read: frozenset(read(user)))
            setattr(user, attribute, set(permissions))


def group_ids(user: AbstractBaseUser, view: AccessView) -> frozenset[int]:
    return view.get(("groups", user.pk), lambda: frozenset(user.groups.values_list("pk", flat=True)))


def _on_change(**kwargs: Any) -> None:
    if kwargs.get("action", "post_").startswith("post_"):
        changed()


def watch(*models: type[Model]) -> None:
    """Saving or deleting a row of these models (or changing one of these m2m relations) empties the cache."""
    for model in models:
        if model._meta.auto_created:  # an m2m relation's table
            m2m_changed.connect(_on_change, sender=model, dispatch_uid=f"access-cache-{model._meta.label}")
            continue
        for name, signal in (("save", post_save), ("delete", post_delete)):
            signal.connect(_on_change, sender=model, dispatch_uid=f"access-cache-{model._meta.label}-{name}")
