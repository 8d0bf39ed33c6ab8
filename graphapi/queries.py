"""Queries (SPEC §16): the selectors of the REST API, behind the same scoping to the user asking."""

import base64
import binascii
import json
from datetime import datetime

import strawberry
from django.db.models import Q
from strawberry.types import Info
from strawberry_django.resolvers import django_resolver

from events.selectors import CursorExpired, event_list, events_after
from graphapi.context import current_user
from graphapi.errors import CURSOR_EXPIRED, api_error, not_found, validation
from graphapi.types import Event, Me, PageInfo, ReportConnection, ReportEdge, ReportNode, ReportTypeInfo, Status
from reports import selectors

REPORTS_PAGE_DEFAULT = 20
REPORTS_PAGE_MAX = 100
EVENTS_PAGE_DEFAULT = 100
EVENTS_PAGE_MAX = 1000


def _page_size(first: int, maximum: int) -> int:
    if not 1 <= first <= maximum:
        raise validation("first", f"Between 1 and {maximum}.")
    return first


def report_cursor(report) -> str:
    """Where a report is in the newest-first order: opaque to clients, meaningful only within their own list."""
    position = json.dumps([report.created_at.isoformat(), report.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def _position(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, report_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created_at), str(report_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise validation("after", "Not a cursor of this list; pass a `pageInfo.endCursor`.") from None


@strawberry.type
class Query:
    @strawberry.field(description="The user asking.")
    def me(self, info: Info) -> Me:
        user = current_user(info)
        return Me(username=user.get_username(), email=user.email or "", is_staff=user.is_staff)

    @strawberry.field(description="The report types you may request, each with its parameters' JSON Schema.")
    @django_resolver
    def report_types(self, info: Info) -> list[ReportTypeInfo]:
        user = current_user(info)
        return [ReportTypeInfo.from_available(available) for available in selectors.report_types_for_user(user=user)]

    @strawberry.field(description="One of your reports; `NOT_FOUND` for any other id.")
    @django_resolver
    def report(self, info: Info, id: strawberry.ID) -> ReportNode | None:
        report = selectors.report_get(user=current_user(info), report_id=id)
        if report is None:
            raise not_found()
        return report

    @strawberry.field(description="Your reports, newest first.")
    @django_resolver
    def reports(
        self,
        info: Info,
        status: Status | None = None,
        report_type: str | None = None,
        first: int = REPORTS_PAGE_DEFAULT,
        after: str | None = None,
    ) -> ReportConnection:
        user = current_user(info)
        size = _page_size(first, REPORTS_PAGE_MAX)
        reports = selectors.report_list(
            user=user, status=status.value if status else None, report_type=report_type
        ).select_related(None)
        if after:
            created_at, report_id = _position(after)
            reports = reports.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=report_id))
        page = list(reports[: size + 1])
        edges = [ReportEdge(cursor=report_cursor(report), node=report) for report in page[:size]]
        return ReportConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=len(page) > size, end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field(
        description="Your events. With `after` (an event id): the events after it, oldest first, to resume; "
        "`CURSOR_EXPIRED` when that event is not yours or no longer kept. Without: the newest, newest first."
    )
    @django_resolver
    def events(self, info: Info, after: str | None = None, first: int = EVENTS_PAGE_DEFAULT) -> list[Event]:
        user = current_user(info)
        size = _page_size(first, EVENTS_PAGE_MAX)
        if after:
            try:
                events = events_after(user=user, after=after)
            except CursorExpired as expired:
                raise api_error(CURSOR_EXPIRED, str(expired)) from None
        else:
            events = event_list(user=user)
        texts = events.values_list("envelope_json", flat=True)[:size]
        return [Event.from_envelope(text, user.pk) for text in texts]
