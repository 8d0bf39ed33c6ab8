"""The schedules API (SPEC §18): each view translates HTTP to a schedules service or selector and back."""

from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.pagination import NewestFirstCursorPagination
from common.api.serializers import PROBLEM
from schedules import selectors, services
from schedules.api.serializers import (
    NextRunsQuerySerializer,
    RunOutputSerializer,
    ScheduleInputSerializer,
    ScheduleOutputSerializer,
    run_representation,
    schedule_representation,
)
from schedules.models import Schedule, ScheduleRun
from schedules.services import ScheduleInvalid
from schedules.timing import ScheduleTimingInvalid, upcoming


def _with_last_runs(schedules) -> list[tuple[Schedule, ScheduleRun | None]]:
    """Each schedule with its latest run: two queries for any number of schedules."""
    latest = ScheduleRun.objects.filter(schedule=OuterRef("pk")).order_by("-due_at", "-created_at").values("id")[:1]
    schedules = list(schedules.annotate(last_run_id=Subquery(latest)))
    runs = ScheduleRun.objects.select_related("report").in_bulk([s.last_run_id for s in schedules if s.last_run_id])
    return [(schedule, runs.get(schedule.last_run_id)) for schedule in schedules]


def _own(request: Request, schedule_id: str) -> Schedule:
    schedule = selectors.schedule_get(user=request.user, schedule_id=schedule_id)
    if schedule is None:
        raise Http404
    return schedule


def _answer(request: Request, schedule: Schedule, **kwargs) -> Response:
    [(schedule, last_run)] = _with_last_runs(Schedule.objects.filter(pk=schedule.pk))
    return Response(schedule_representation(schedule, request, last_run), **kwargs)


class ScheduleListCreateApi(APIView):
    @extend_schema(
        operation_id="schedules_list",
        summary="Your schedules",
        responses={200: ScheduleOutputSerializer(many=True), 401: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        pairs = _with_last_runs(selectors.schedule_list(user=request.user))
        return Response([schedule_representation(schedule, request, run) for schedule, run in pairs])

    @extend_schema(
        operation_id="schedules_create",
        summary="Schedule a report: a cron in a timezone, and who gets the PDF",
        request=ScheduleInputSerializer,
        responses={201: ScheduleOutputSerializer, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM},
    )
    def post(self, request: Request) -> Response:
        payload = ScheduleInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        schedule = services.schedule_save(owner=request.user, data=payload.validated_data)
        response = _answer(request, schedule, status=status.HTTP_201_CREATED)
        response["Location"] = response.data["url"]
        return response


class ScheduleDetailApi(APIView):
    @extend_schema(
        operation_id="schedules_retrieve", responses={200: ScheduleOutputSerializer, 401: PROBLEM, 404: PROBLEM}
    )
    def get(self, request: Request, schedule_id: str) -> Response:
        return _answer(request, _own(request, schedule_id))

    @extend_schema(
        operation_id="schedules_partial_update",
        summary="Change a schedule; `enabled: false` pauses it",
        request=ScheduleInputSerializer(partial=True),
        responses={200: ScheduleOutputSerializer, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
    )
    def patch(self, request: Request, schedule_id: str) -> Response:
        schedule = _own(request, schedule_id)
        payload = ScheduleInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        data = {name: value for name, value in payload.validated_data.items() if name in request.data}
        return _answer(request, services.schedule_save(owner=request.user, data=data, schedule=schedule))

    @extend_schema(operation_id="schedules_destroy", responses={204: None, 401: PROBLEM, 404: PROBLEM})
    def delete(self, request: Request, schedule_id: str) -> Response:
        _own(request, schedule_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScheduleRunApi(APIView):
    @extend_schema(
        operation_id="schedules_run",
        summary="Run it now (its report is requested at once)",
        request=None,
        responses={202: RunOutputSerializer, 401: PROBLEM, 404: PROBLEM},
    )
    def post(self, request: Request, schedule_id: str) -> Response:
        run = services.schedule_run_now(schedule=_own(request, schedule_id))
        return Response(run_representation(run, request), status=status.HTTP_202_ACCEPTED)


class ScheduleRunsApi(APIView):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="schedules_runs",
        summary="Its runs, newest first, each with its report",
        responses={200: RunOutputSerializer(many=True), 401: PROBLEM, 404: PROBLEM},
    )
    def get(self, request: Request, schedule_id: str) -> Response:
        runs = selectors.schedule_runs(schedule=_own(request, schedule_id))
        paginator = NewestFirstCursorPagination()
        paginator.ordering = ("-due_at", "-created_at")
        page = paginator.paginate_queryset(runs, request, view=self)
        return paginator.get_paginated_response([run_representation(run, request) for run in page])


class NextRunsApi(APIView):
    @extend_schema(
        operation_id="schedules_next_runs",
        summary="The next five times a cron runs in a timezone (for a form)",
        parameters=[NextRunsQuerySerializer],
        responses={200: OpenApiResponse(description='{"next_runs": [ISO 8601, ...]}'), 400: PROBLEM, 401: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        query = NextRunsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            times = upcoming(query.validated_data["cron"], query.validated_data["timezone"], timezone.now())
        except ScheduleTimingInvalid as error:
            raise ScheduleInvalid({error.field: [str(error)]}, prefix="") from None
        return Response({"next_runs": [time.isoformat() for time in times]})
