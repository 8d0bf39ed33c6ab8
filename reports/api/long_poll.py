"""Long polling (SPEC §17): `GET /api/v1/reports/{id}` with `Prefer: wait=N` (RFC 7240) answers once the report is
finished, or after N seconds (at most REPORT_MAX_WAIT_SECONDS), with `Preference-Applied: wait=N`.

The wait is a coroutine on the channel layer, listening to the user's live group as the streams do
(reports/follow.py): it holds no thread and no database connection. It listens before it reads the report's status,
so a report that finishes in between is heard. The answer itself is the ordinary view's, run once the wait is over,
so a long poll answers exactly what a poll would. Without the header, or when the live group cannot be reached
(Redis down), it answers at once, as a poll."""

import asyncio
import logging
from collections.abc import Callable

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from redis.exceptions import RedisError

from events.streams import LoggedEvent
from reports import selectors
from reports.api.request_user import request_user
from reports.follow import StreamStarted, follow_events
from reports.models import TERMINAL_STATUSES

logger = logging.getLogger(__name__)

TERMINAL_EVENTS = frozenset(f"report.{status.value}" for status in TERMINAL_STATUSES)


def requested_wait(prefer: str) -> int | None:
    """The seconds of `Prefer: wait=N` (capped), or None: preferences are comma-separated, a parameter follows `;`,
    names are case-insensitive."""
    for preference in prefer.split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        if name.strip().lower() == "wait":
            value = value.strip().strip('"')
            if value.isdigit() and int(value) > 0:
                return min(int(value), settings.REPORT_MAX_WAIT_SECONDS)
            return None
    return None


@database_sync_to_async
def _is_finished(user: AbstractBaseUser, report_id: str) -> bool | None:
    """Whether the user's report is finished; None when it is not theirs (the view then answers 404)."""
    report = selectors.report_get(user=user, report_id=report_id)
    return None if report is None else report.is_terminal


async def wait_until_finished(user: AbstractBaseUser, report_id: str, seconds: int) -> bool:
    """True once the report is finished or `seconds` have passed. False at once for a report that is not the user's
    (nothing to wait for: the view answers 404), and when it cannot listen."""
    try:
        async with asyncio.timeout(seconds):
            async for item in follow_events(user, report_id, None):
                if isinstance(item, StreamStarted):
                    finished = await _is_finished(user, report_id)
                    if finished is not False:
                        return bool(finished)
                elif isinstance(item, LoggedEvent) and item.type in TERMINAL_EVENTS:
                    return True
    except TimeoutError:
        return True
    except (RedisError, OSError):
        logger.warning("Long poll of %s answered at once: the live group is unavailable", report_id, exc_info=True)
        return False
    return True


def long_pollable(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The DRF view of one report, made to honour `Prefer: wait=N`. The wrapper keeps the view's class, so the
    OpenAPI schema still documents it as that view."""
    answer = sync_to_async(view)

    async def waiting_view(request: HttpRequest, report_id: str) -> HttpResponse:
        wait = requested_wait(request.headers.get("Prefer", "")) if request.method == "GET" else None
        applied = False
        if wait is not None:
            user = await request_user(request)
            if user is not None:
                applied = await wait_until_finished(user, report_id, wait)
        response = await answer(request, report_id=report_id)
        if applied:
            response["Preference-Applied"] = f"wait={wait}"
        patch_vary_headers(response, ["Prefer"])
        return response

    waiting_view.cls = view.cls
    waiting_view.initkwargs = view.initkwargs
    waiting_view.csrf_exempt = True
    return waiting_view
