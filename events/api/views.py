"""The read side of the event log (SPEC §14): the caller's events, newest first or after a cursor, and one event."""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from common.api.serializers import PROBLEM, ProblemSerializer
from events import selectors
from events.api.serializers import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    EventListFilterSerializer,
    EventOutputSerializer,
    EventPageOutputSerializer,
    EventTypeOutputSerializer,
)
from events.models import Event
from events.types import event_type_catalog

CURSOR_EXPIRED = OpenApiResponse(
    ProblemSerializer,
    description="`after` cannot be served (not yours, unknown, or past retention): read the state again; the "
    "problem's type ends with /cursor-expired",
)


class NewestEventsPagination(CursorPagination):
    """Newest first by sequence; `limit` per page (checked by the filter serializer before it gets here)."""

    ordering = ("-sequence",)
    page_size = DEFAULT_LIMIT
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT

    def decode_cursor(self, request):
        """DRF's decoding, plus a check of the position: a cursor made up by hand would reach the query as a number
        it is not, and fail there as a 500."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not str(cursor.position).isdigit():
            raise NotFound(self.invalid_cursor_message)
        return cursor


def page_after(request: Request, events, limit: int) -> dict[str, Any]:
    """One page of events read with `after`, oldest first, and the link to the next page while this one is full."""
    page = list(events[:limit])
    next_url = None
    if len(page) == limit:
        next_url = replace_query_param(request.build_absolute_uri(), "after", page[-1].id)
    return {"next": next_url, "results": page}


class EventListApi(APIView):
    @extend_schema(
        operation_id="events_list",
        summary="Your events: newest first, or with `after` the ones after that event, oldest first",
        parameters=[EventListFilterSerializer],
        responses={
            200: OpenApiResponse(
                EventPageOutputSerializer,
                description="Without `after`: a cursor-paginated list, newest first (`next`, `previous`, `results`). "
                "With `after`: the events after it, oldest first, and `next` while the page is full.",
            ),
            400: PROBLEM,
            401: PROBLEM,
            410: CURSOR_EXPIRED,
        },
    )
    def get(self, request: Request) -> Response:
        filters = EventListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        types, report_id = values.get("type"), values.get("report")
        if "after" in values:
            events = selectors.events_after(user=request.user, after=values["after"], types=types, report_id=report_id)
            page = page_after(request, events, values.get("limit", DEFAULT_LIMIT))
            return Response({"next": page["next"], "results": EventOutputSerializer(page["results"], many=True).data})
        paginator = NewestEventsPagination()
        events = selectors.event_list(user=request.user, types=types, report_id=report_id)
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(EventOutputSerializer(page, many=True).data)


class EventDetailApi(APIView):
    @extend_schema(
        operation_id="events_retrieve",
        summary="One of your events",
        responses={200: EventOutputSerializer, 401: PROBLEM, 404: PROBLEM},
    )
    def get(self, request: Request, event_id: str) -> Response:
        event: Event | None = selectors.event_get(user=request.user, event_id=event_id)
        if event is None:
            raise Http404
        return Response(EventOutputSerializer(event).data)


class EventTypeListApi(APIView):
    pagination_class = None

    @extend_schema(
        operation_id="event_types_list",
        summary="Every event type, with the JSON Schema of its envelope and an example",
        description="The same types as the OpenAPI document's `webhooks`: what endpoints, callbacks and streams get.",
        responses={200: EventTypeOutputSerializer(many=True), 401: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        return Response(EventTypeOutputSerializer(event_type_catalog(), many=True).data)
