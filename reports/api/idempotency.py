"""The HTTP side of idempotency keys (SPEC §4.2): read the header, replay a stored answer, or run the request
once and store its answer with what it created."""

from collections.abc import Callable

from rest_framework.request import Request
from rest_framework.response import Response

from reports.idempotency import StoredAnswer, idempotency_key_clean, idempotent_create, request_fingerprint
from reports.models import Report

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# The headers that are part of the answer and come back with a replay.
STORED_HEADERS = ("Location", "Retry-After", "Report-Reused")


def idempotent_post(request: Request, create: Callable[[], tuple[Response, Report]]) -> Response:
    """`create()` once per key; its answer again, with `Idempotent-Replayed: true`, for a repeat of the request."""
    header = request.headers.get(HEADER)
    if header is None:
        return create()[0]
    key = idempotency_key_clean(header)
    # Parsing the body first: a body that is not JSON is refused before the key is taken.
    fingerprint = request_fingerprint(method=request.method, path=request.path, body=request.data)

    def create_and_answer() -> tuple[Response, StoredAnswer, Report]:
        response, report = create()
        headers = {name: response[name] for name in STORED_HEADERS if response.has_header(name)}
        return response, StoredAnswer(status=response.status_code, body=response.data, headers=headers), report

    outcome = idempotent_create(user=request.user, key=key, fingerprint=fingerprint, create=create_and_answer)
    if isinstance(outcome, StoredAnswer):
        return Response(outcome.body, status=outcome.status, headers={**outcome.headers, REPLAYED_HEADER: "true"})
    return outcome
