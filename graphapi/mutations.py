"""Mutations (SPEC §16): the services of the REST API, so a report requested here passes the same rate limit, load
shedding, validation and idempotency (§4.2-§4.3) as one POSTed to /api/v1/reports."""

from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.resolvers import django_resolver

from graphapi.context import current_user
from graphapi.errors import VALIDATION, from_domain_error, not_found
from graphapi.types import FieldError, ReportPayload
from reports import selectors, services
from reports.api.serializers import ReportCreateInputSerializer
from reports.errors import IdempotencyKeyInvalid, ReportError, ReportNotCancellable, ReportTypeUnknown
from reports.idempotency import StoredAnswer, idempotency_key_clean, idempotent_create, request_fingerprint
from reports.parameters import ParameterError

# The input's field names, as GraphQL spells them, for the errors of fields the services name as REST does.
INPUT_NAMES = {"report_type": "reportType", "callback_url": "callbackUrl", "reuse_within": "reuseWithin"}


@strawberry.input(description="Overrides your email and SMS notification preferences for this report.")
class NotifyInput:
    email: bool | None = strawberry.UNSET
    sms: bool | None = strawberry.UNSET


@strawberry.input
class RequestReportInput:
    report_type: str
    parameters: JSON | None = strawberry.UNSET
    callback_url: str | None = strawberry.field(
        default=strawberry.UNSET, description="Receives this report's terminal events."
    )
    notify: NotifyInput | None = strawberry.UNSET
    reuse_within: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Seconds. If you have a report of this type with the same parameters (after defaults) that is "
        "queued or running, or that succeeded this recently, the answer is that report (`reused: true`) and nothing "
        "is created. At most 86400.",
    )
    idempotency_key: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Repeat the request with the same key (within 24 h) to get the same report again instead of a "
        "second one; a UUID is a good key.",
    )


def _given(value: Any) -> bool:
    return value is not strawberry.UNSET and value is not None


def _as_body(data: RequestReportInput) -> dict[str, Any]:
    """The input as the REST API's POST body, so that it is validated by the same serializer."""
    body: dict[str, Any] = {"report_type": data.report_type}
    if _given(data.parameters):
        body["parameters"] = data.parameters
    if _given(data.callback_url):
        body["callback_url"] = data.callback_url
    if _given(data.reuse_within):
        body["reuse_within"] = data.reuse_within
    if _given(data.notify):
        choices = {name: getattr(data.notify, name) for name in ("email", "sms")}
        body["notify"] = {name: value for name, value in choices.items() if _given(value)}
    return body


def _field_name(path: str) -> str:
    head, dot, rest = path.partition(".")
    return INPUT_NAMES.get(head, head) + dot + rest


def _flatten(errors: Any, prefix: str = "") -> list[FieldError]:
    """DRF's nested error dict as one FieldError per message."""
    if isinstance(errors, dict):
        return [item for name, nested in errors.items() for item in _flatten(nested, f"{prefix}{name}.")]
    messages = errors if isinstance(errors, list) else [errors]
    field = _field_name(prefix.rstrip(".")) or None
    return [FieldError(field=field, message=str(message), code=VALIDATION) for message in messages]


def _parameter_errors(error: ParameterError) -> list[FieldError]:
    return [
        FieldError(field=_field_name(path) or None, message=text, code=VALIDATION)
        for path, messages in error.field_errors().items()
        for text in messages
    ]


def _refused(field: str, error: Exception, code: str = VALIDATION, report=None) -> ReportPayload:
    return ReportPayload(report=report, errors=[FieldError(field=field, message=str(error), code=code)])


def _create(info: Info, user, body: dict[str, Any]) -> ReportPayload:
    payload = ReportCreateInputSerializer(data=body)
    if not payload.is_valid():
        return ReportPayload(report=None, errors=_flatten(payload.errors))
    requested = services.report_request(user=user, **payload.validated_data)
    return ReportPayload(report=requested.report, errors=[], reused=requested.reused)


def _create_once(info: Info, user, body: dict[str, Any], key: str) -> ReportPayload:
    fingerprint = request_fingerprint(method="GRAPHQL", path="requestReport", body=body)

    def create() -> tuple[ReportPayload, StoredAnswer, Any]:
        answer = _create(info, user, body)
        if answer.report is None:
            raise _Refused(answer)  # releases the key: only an answer that created something is kept
        return answer, StoredAnswer(status=200, body={"report": answer.report.id}, headers={}), answer.report

    try:
        outcome = idempotent_create(user=user, key=key, fingerprint=fingerprint, create=create)
    except _Refused as refused:
        return refused.answer
    if isinstance(outcome, StoredAnswer):
        report = selectors.report_get(user=user, report_id=outcome.body["report"])
        if report is None:  # deleted since: nothing to answer again
            raise not_found()
        return ReportPayload(report=report, errors=[], replayed=True)
    return outcome


class _Refused(Exception):
    def __init__(self, answer: ReportPayload):
        super().__init__("refused")
        self.answer = answer


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Request a report; it is built in the background. Follow it with the `reportEvents` "
        "subscription, or read it with `report(id:)`."
    )
    @django_resolver
    def request_report(self, info: Info, input: RequestReportInput) -> ReportPayload:
        user = current_user(info)
        body = _as_body(input)
        try:
            if _given(input.idempotency_key):
                key = idempotency_key_clean(input.idempotency_key)
                return _create_once(info, user, body, key)
            return _create(info, user, body)
        except IdempotencyKeyInvalid as error:
            return _refused("idempotencyKey", error)
        except ParameterError as error:
            return ReportPayload(report=None, errors=_parameter_errors(error))
        except ReportTypeUnknown as error:
            return _refused("reportType", error)
        except ReportError as error:
            raise (from_domain_error(error) or error) from None

    @strawberry.mutation(description="Cancel a queued or running report of yours.")
    @django_resolver
    def cancel_report(self, info: Info, id: strawberry.ID) -> ReportPayload:
        report = selectors.report_get(user=current_user(info), report_id=id)
        if report is None:
            raise not_found()
        try:
            return ReportPayload(report=services.report_cancel(report=report), errors=[])
        except ReportNotCancellable as error:
            return _refused("id", error, code="NOT_CANCELLABLE", report=report)


__all__ = ["Mutation"]
