"""One view per operation; each translates HTTP to a service or selector call and back."""

from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.pagination import NewestFirstCursorPagination
from common.api.serializers import PROBLEM, ProblemSerializer
from events.api.serializers import (
    DEFAULT_LIMIT,
    EventWithDeliveriesOutputSerializer,
    EventWithDeliveriesPageOutputSerializer,
    ReportEventsFilterSerializer,
)
from events.api.views import CURSOR_EXPIRED, page_after
from events.selectors import CursorExpired, report_timeline
from reports import selectors, services
from reports.api.idempotency import idempotent_post
from reports.api.serializers import (
    MeOutputSerializer,
    ReportCreateInputSerializer,
    ReportListFilterSerializer,
    ReportOutputSerializer,
    ReportTypeOutputSerializer,
)
from reports.estimates import seconds_left
from reports.models import Report

COMMON_ERRORS = {401: PROBLEM, 404: PROBLEM}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    description="Repeat the POST with the same key (within 24 h) to get the first answer again instead of a second "
    "report; a UUID is a good key.",
)
REUSED_HEADER = "Report-Reused"
CREATED_HEADERS = [
    OpenApiParameter("Location", str, OpenApiParameter.HEADER, response=[200, 201], description="The report's URL."),
    OpenApiParameter(
        REUSED_HEADER,
        str,
        OpenApiParameter.HEADER,
        response=[200],
        description="true: an earlier report of yours answers this request (`reuse_within`); nothing was created.",
    ),
    OpenApiParameter(
        "Idempotent-Replayed",
        str,
        OpenApiParameter.HEADER,
        response=[201],
        description="true when this is the stored answer to an earlier request with the same Idempotency-Key.",
    ),
]


def _report_or_404(request: Request, report_id: str) -> Report:
    report = selectors.report_get(user=request.user, report_id=report_id)
    if report is None:
        raise Http404
    return report


def _report_response(request: Request, report: Report, **kwargs) -> Response:
    response = Response(ReportOutputSerializer(report, context={"request": request}).data, **kwargs)
    if not report.is_terminal:
        response["Retry-After"] = str(seconds_left(report))
    return response


class OwnedReportApi(APIView):
    """Base for views of one report: a report that is not the caller's is 404 whatever the verb, even one the
    view does not support, so that 405 never confirms that someone else's id exists."""

    def http_method_not_allowed(self, request: Request, *args, **kwargs) -> Response:
        _report_or_404(request, kwargs["report_id"])
        return super().http_method_not_allowed(request, *args, **kwargs)


class ReportListCreateApi(APIView):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="reports_list",
        summary="List your reports, newest first",
        parameters=[ReportListFilterSerializer],
        responses={200: ReportOutputSerializer(many=True), 400: PROBLEM, 401: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        filters = ReportListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        reports = selectors.report_list(user=request.user, **filters.validated_data).select_related(None)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(reports, request, view=self)
        return paginator.get_paginated_response(
            ReportOutputSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        operation_id="reports_create",
        summary="Request a report; it is built in the background",
        request=ReportCreateInputSerializer,
        parameters=[IDEMPOTENCY_KEY, *CREATED_HEADERS],
        responses={
            200: OpenApiResponse(
                ReportOutputSerializer, description="An earlier report answers the request (`reuse_within`)"
            ),
            201: ReportOutputSerializer,
            400: PROBLEM,
            401: PROBLEM,
            403: PROBLEM,
            409: OpenApiResponse(
                ProblemSerializer, description="The first request with this Idempotency-Key is still being processed"
            ),
            413: PROBLEM,
            415: PROBLEM,
            422: OpenApiResponse(ProblemSerializer, description="The Idempotency-Key was used with another body"),
            429: OpenApiResponse(ProblemSerializer, description="Rate limit; Retry-After says when to try again"),
            503: OpenApiResponse(
                ProblemSerializer, description="Overloaded; nothing was created, Retry-After says when to try again"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        return idempotent_post(request, lambda: self._create(request))

    def _create(self, request: Request) -> tuple[Response, Report]:
        payload = ReportCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        requested = services.report_request(user=request.user, **payload.validated_data)
        answer = status.HTTP_200_OK if requested.reused else status.HTTP_201_CREATED
        response = _report_response(request, requested.report, status=answer)
        response["Location"] = response.data["url"]
        if requested.reused:
            response[REUSED_HEADER] = "true"
        return response, requested.report


class ReportDetailApi(OwnedReportApi):
    @extend_schema(
        operation_id="reports_retrieve",
        summary="A report; while it is not finished, Retry-After says when to ask again",
        description="With `Prefer: wait=N` (a long poll) the answer waits until the report is finished or N seconds "
        "(at most REPORT_MAX_WAIT_SECONDS, 30 by default) have passed, and says `Preference-Applied: wait=N`.",
        parameters=[
            OpenApiParameter(
                "Prefer",
                {"type": "string", "pattern": "^.*wait=[0-9]+.*$"},
                OpenApiParameter.HEADER,
                description="`wait=N`: hold the answer until the report is finished, at most N seconds (RFC 7240).",
            ),
            OpenApiParameter(
                "Preference-Applied",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description="`wait=N` when the answer waited as asked.",
            ),
            OpenApiParameter(
                "Retry-After",
                int,
                OpenApiParameter.HEADER,
                response=[200],
                description="While not finished: an estimate of the seconds it has left (its place in the queue, "
                "recent build times of its type, the workers running), at least 1.",
            ),
        ],
        responses={200: ReportOutputSerializer, **COMMON_ERRORS},
    )
    def get(self, request: Request, report_id: str) -> Response:
        return _report_response(request, _report_or_404(request, report_id))


class ReportFileApi(OwnedReportApi):
    @extend_schema(
        operation_id="reports_file",
        summary="Download the PDF",
        responses={
            (200, "application/pdf"): OpenApiResponse(description="The PDF file"),
            409: PROBLEM,
            410: PROBLEM,
            **COMMON_ERRORS,
        },
    )
    def get(self, request: Request, report_id: str) -> FileResponse:
        response = _file_response(services.report_file_for_download(report=_report_or_404(request, report_id)))
        response["Cache-Control"] = "private, max-age=3600"
        return response


def _file_response(report: Report) -> FileResponse:
    response = FileResponse(
        report.file.open("rb"),
        as_attachment=True,
        filename=f"{report.report_type}-{report.id}.pdf",
        content_type="application/pdf",
    )
    response["ETag"] = f'"{report.file_sha256}"'
    return response


class ReportDownloadApi(APIView):
    """A signed link's download (SPEC §17): the token is the only credential, so none other is asked for."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="reports_download",
        summary="Download the PDF by a signed link (a report's `file.download_url`), with no other credentials",
        parameters=[OpenApiParameter("token", str, OpenApiParameter.QUERY, required=True)],
        responses={
            (200, "application/pdf"): OpenApiResponse(description="The PDF file"),
            403: OpenApiResponse(ProblemSerializer, description="The link is tampered with, expired or another's"),
            404: PROBLEM,
            409: PROBLEM,
            410: PROBLEM,
        },
        auth=[],
    )
    def get(self, request: Request, report_id: str) -> FileResponse:
        report = selectors.report_for_download_link(token=request.query_params.get("token", ""), report_id=report_id)
        if report is None:
            raise Http404
        response = _file_response(services.report_file_for_download(report=report))
        # The URL is a credential: not kept by caches, not sent on as a Referer.
        response["Cache-Control"] = "private, no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response


class ReportCancelApi(OwnedReportApi):
    @extend_schema(
        operation_id="reports_cancel",
        summary="Cancel a queued or running report",
        request=None,
        responses={200: ReportOutputSerializer, 409: PROBLEM, **COMMON_ERRORS},
    )
    def post(self, request: Request, report_id: str) -> Response:
        report = services.report_cancel(report=_report_or_404(request, report_id))
        return _report_response(request, report)


class ReportTypeListApi(APIView):
    pagination_class = None

    @extend_schema(
        operation_id="report_types_list",
        summary="The report types you may request, each with its parameters' JSON Schema",
        responses={200: ReportTypeOutputSerializer(many=True), 401: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        available = selectors.report_types_for_user(user=request.user)
        return Response(ReportTypeOutputSerializer(available, many=True).data)


class ReportTypeDetailApi(APIView):
    @extend_schema(
        operation_id="report_types_retrieve",
        summary="One report type you may request",
        parameters=[OpenApiParameter("key", str, OpenApiParameter.PATH)],
        responses={200: ReportTypeOutputSerializer, **COMMON_ERRORS},
    )
    def get(self, request: Request, key: str) -> Response:
        available = {item.key: item for item in selectors.report_types_for_user(user=request.user)}
        if key not in available:
            raise Http404
        return Response(ReportTypeOutputSerializer(available[key]).data)


class MeApi(APIView):
    """Who the credentials belong to: the cheapest authenticated call, handy to check a token."""

    @extend_schema(operation_id="me_retrieve", summary="The authenticated user", responses={200: MeOutputSerializer})
    def get(self, request: Request) -> Response:
        return Response(MeOutputSerializer(request.user).data)


class ReportEventsApi(OwnedReportApi):
    @extend_schema(
        operation_id="reports_events",
        summary="The report's events, oldest first, each with where it went: channel, target, status, attempts",
        parameters=[ReportEventsFilterSerializer],
        responses={
            200: EventWithDeliveriesPageOutputSerializer,
            400: PROBLEM,
            410: CURSOR_EXPIRED,
            **COMMON_ERRORS,
        },
    )
    def get(self, request: Request, report_id: str) -> Response:
        report = _report_or_404(request, report_id)
        filters = ReportEventsFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = report_timeline(report_id=report.id)
        after = filters.validated_data.get("after")
        if after is not None:
            cursor = events.filter(pk=after).first()
            if cursor is None:
                raise CursorExpired(f"{after!r} is not an event of this report that is still kept.")
            events = events.filter(sequence__gt=cursor.sequence)
        page = page_after(request, events, filters.validated_data.get("limit", DEFAULT_LIMIT))
        return Response(
            {"next": page["next"], "results": EventWithDeliveriesOutputSerializer(page["results"], many=True).data}
        )
