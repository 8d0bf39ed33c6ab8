"""Long polling (SPEC §17): `GET /api/v1/reports/{id}` with `Prefer: wait=N` (RFC 7240) answers once the report is
finished, or after N seconds (at most REPORT_MAX_WAIT_SECONDS), with `Preference-Applied: wait=N`.

The wait is a coroutine on the channel layer, listening to the user's live group as the streams do
(reports/follow.py): it holds no thread and no database connection. It listens before it reads the report's status,
so a report that finishes in between is heard. When the report's terminal event arrives, the answer is the report
that event recorded, in the representation a GET gives, built on the event loop: no thread and no query between the
end of the report and its answer. Otherwise (the time was up, or it had finished already) the answer is the
ordinary view's. Without the header, or when the live group cannot be reached (Redis down), it answers at once, as a
poll."""

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from redis.exceptions import RedisError
from rest_framework.renderers import JSONRenderer

from events.streams import LoggedEvent
from reports import selectors
from reports.api.request_user import request_user
from reports.api.serializers import report_representation
from reports.events import TERMINAL_EVENT_TYPES, recorded_report
from reports.follow import StreamStarted, follow_events

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Waited:
    applied: bool  # the wait was honoured: the report finished, or the time was up
    ended_by: LoggedEvent | None = None  # the terminal event that ended it, when one did


async def wait_until_finished(user: AbstractBaseUser, report_id: str, seconds: int) -> Waited:
    """Once the report is finished or `seconds` have passed. Not applied, at once, for a report that is not the
    user's (nothing to wait for: the view answers 404), nor when it cannot listen."""
    try:
        async with asyncio.timeout(seconds):
            async for item in follow_events(user, report_id, None):
                if isinstance(item, StreamStarted):
                    finished = await _is_finished(user, report_id)
                    if finished is not False:
                        return Waited(applied=bool(finished))
                elif isinstance(item, LoggedEvent) and item.type in TERMINAL_EVENT_TYPES:
                    return Waited(applied=True, ended_by=item)
    except TimeoutError:
        return Waited(applied=True)
    except (RedisError, OSError):
        logger.warning("Long poll of %s answered at once: the live group is unavailable", report_id, exc_info=True)
        return Waited(applied=False)
    return Waited(applied=True)


def _answer_from(event: LoggedEvent, request: HttpRequest, user: AbstractBaseUser, *, allow: str) -> HttpResponse:
    """The report as its terminal event recorded it, as the detail view answers it (a finished report has no
    Retry-After)."""
    report = recorded_report(json.loads(event.text)["data"]["report"], user.pk)
    body = JSONRenderer().render(report_representation(report, request))
    response = HttpResponse(body, content_type="application/json")
    response["Allow"] = allow  # as DRF says on the view's own answers
    return response


def _allowed_methods(view: Callable[..., HttpResponse]) -> str:
    """The view's Allow header, as DRF writes it on its answers (Django's View.setup adds HEAD where GET is)."""
    instance = view.cls(**view.initkwargs)
    if hasattr(instance, "get") and not hasattr(instance, "head"):
        instance.head = instance.get
    return ", ".join(instance.allowed_methods)


def long_pollable(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The DRF view of one report, made to honour `Prefer: wait=N`. The wrapper keeps the view's class, so the
    OpenAPI schema still documents it as that view. Where this process holds no long polls (REPORT_LONG_POLL off,
    under WSGI), the view itself, synchronous: the header is then ignored, as RFC 7240 lets a server do."""
    if not settings.REPORT_LONG_POLL:
        return view
    answer = sync_to_async(view)
    allow = _allowed_methods(view)

    async def waiting_view(request: HttpRequest, report_id: str) -> HttpResponse:
        wait = requested_wait(request.headers.get("Prefer", "")) if request.method == "GET" else None
        waited = Waited(applied=False)
        user = await request_user(request) if wait is not None else None
        if user is not None:
            waited = await wait_until_finished(user, report_id, wait)
        if waited.ended_by is not None:
            response = _answer_from(waited.ended_by, request, user, allow=allow)
        else:
            response = await answer(request, report_id=report_id)
        if waited.applied:
            response["Preference-Applied"] = f"wait={wait}"
        patch_vary_headers(response, ["Prefer"])
        return response

    waiting_view.cls = view.cls
    waiting_view.initkwargs = view.initkwargs
    waiting_view.csrf_exempt = True
    return waiting_view
