"""The schema's object types (SPEC §16). A report is typed from its model through strawberry-django; an event is
read from its envelope as the log holds it, and the report inside it is the report as that event recorded it."""

import json
from datetime import datetime
from typing import Any

import strawberry
import strawberry_django
from django.conf import settings
from django.urls import reverse
from strawberry import auto
from strawberry.scalars import JSON
from strawberry.types import Info

from reports.events import parsed_time, recorded_report
from reports.links import download_path
from reports.models import Report, ReportStatus
from reports.selectors import AvailableReportType

Status = strawberry.enum(ReportStatus, name="ReportStatus", description="Where a report is in its lifecycle.")


def absolute_url(info: Info, path: str) -> str:
    """From the request over HTTP; over the WebSocket, from SITE_URL as the events' links are."""
    request = info.context.request
    return request.build_absolute_uri(path) if request is not None else settings.SITE_URL + path


@strawberry.type(description="Why a report failed.")
class ReportFailure:
    code: str
    message: str


@strawberry.type(description="A succeeded report's PDF.")
class ReportFile:
    url: str = strawberry.field(description="Downloads the PDF with the same credentials as the API.")
    download_url: str = strawberry.field(
        description="Downloads the PDF with no other credentials until the link expires (an hour by default)."
    )
    size_bytes: int
    pages: int
    sha256: str


@strawberry_django.type(Report, name="Report", description="A report and where it is.")
class ReportNode:
    id: strawberry.ID
    report_type: auto
    parameters: JSON
    status: Status
    progress: int = strawberry_django.field(description="0-100 while running.")
    created_at: auto
    started_at: auto
    finished_at: auto

    @strawberry_django.field(description="The report's REST URL.")
    def url(self, info: Info) -> str:
        return absolute_url(info, reverse("api:report-detail", kwargs={"report_id": self.id}))

    @strawberry_django.field(description="Set when the report failed.")
    def error(self) -> ReportFailure | None:
        if self.status != ReportStatus.FAILED:
            return None
        return ReportFailure(code=self.error_code or "failed", message=self.error_message or "The report failed.")

    @strawberry_django.field(description="Set when the report succeeded and its file is kept.")
    def file(self, info: Info) -> ReportFile | None:
        if self.status != ReportStatus.SUCCEEDED or not self.file:
            return None
        path = reverse("api:report-file", kwargs={"report_id": self.id})
        return ReportFile(
            url=absolute_url(info, path),
            download_url=absolute_url(info, download_path(self.id, self.requested_by_id)),
            size_bytes=self.file_size,
            pages=self.file_pages,
            sha256=self.file_sha256,
        )


def _report_of(envelope: dict[str, Any], owner_id: Any) -> Report | None:
    data = envelope.get("data") or {}
    return recorded_report(data["report"], owner_id) if isinstance(data.get("report"), dict) else None


@strawberry.type(description="An event of the log.")
class Event:
    id: strawberry.ID = strawberry.field(description="`evt_...`: the cursor to read or resume after.")
    type: str = strawberry.field(description="`report.queued`, `report.running`, ... `report.expired`, `ping`.")
    sequence: int = strawberry.field(description="Increases in commit order within your events.")
    timestamp: datetime
    report: ReportNode | None = strawberry.field(description="The report as this event recorded it.")
    data: JSON = strawberry.field(description="The envelope's `data`, as every other channel carries it.")

    @classmethod
    def from_envelope(cls, text: str, owner_id: Any) -> "Event":
        envelope = json.loads(text)
        return cls(
            id=envelope["id"],
            type=envelope["type"],
            sequence=envelope["sequence"],
            timestamp=parsed_time(envelope["timestamp"]),
            report=_report_of(envelope, owner_id),
            data=envelope.get("data") or {},
        )


@strawberry.type(
    description="What a subscription yields: an event of the log, `report.snapshot` (the report as it is now) or "
    "`stream.reset` (the `after` cursor could not be served: read the state again; events follow from now)."
)
class ReportEvent:
    id: strawberry.ID | None = strawberry.field(
        description="The cursor to resume after. Null for `stream.reset`, and for a snapshot of a report whose "
        "events are no longer kept."
    )
    type: str
    sequence: int | None
    timestamp: datetime
    report: ReportNode | None = strawberry.field(description="Null for `stream.reset`.")
    reason: str | None = strawberry.field(default=None, description="Why, for `stream.reset`.")

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any], owner_id: Any) -> "ReportEvent":
        return cls(
            id=envelope["id"],
            type=envelope["type"],
            sequence=envelope["sequence"],
            timestamp=parsed_time(envelope["timestamp"]),
            report=_report_of(envelope, owner_id),
        )


@strawberry.type(description="A report type you may request.")
class ReportTypeInfo:
    key: str
    title: str
    description: str
    parameters_schema: JSON = strawberry.field(description="JSON Schema (2020-12) of the parameters object.")
    default_parameters: JSON = strawberry.field(description="Values an admin set; applied where none is given.")

    @classmethod
    def from_available(cls, available: AvailableReportType) -> "ReportTypeInfo":
        report_type = available.report_type
        return cls(
            key=report_type.key,
            title=report_type.title,
            description=report_type.description,
            parameters_schema=report_type.parameters_schema,
            default_parameters=available.default_parameters,
        )


@strawberry.type(description="You.")
class Me:
    username: str
    email: str
    is_staff: bool


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")


@strawberry.type
class ReportEdge:
    cursor: str
    node: ReportNode


@strawberry.type(description="A page of your reports, newest first.")
class ReportConnection:
    edges: list[ReportEdge]
    page_info: PageInfo

    @strawberry.field(description="The page's reports, without the edges.")
    def nodes(self) -> list[ReportNode]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="A field's problem with the input.")
class FieldError:
    field: str | None = strawberry.field(description="The input field, as `parameters.start`; null for the input.")
    message: str
    code: str


@strawberry.type
class ReportPayload:
    report: ReportNode | None = strawberry.field(description="Null when `errors` says why nothing was done.")
    errors: list[FieldError]
    replayed: bool = strawberry.field(
        default=False, description="True when an earlier request with the same `idempotencyKey` made this report."
    )
    reused: bool = strawberry.field(
        default=False, description="True when an earlier report answers the request (`reuseWithin`)."
    )
