"""The HTTP side of idempotency keys (SPEC §4.2): read the header, replay a stored answer, or run the request
once and store its answer with what it created."""

from collections.abc import Callable

from django.db import transaction
from rest_framework.request import Request
from rest_framework.response import Response

from reports.idempotency import (
    StoredAnswer,
    idempotency_key_claim,
    idempotency_key_clean,
    idempotency_key_complete,
    idempotency_key_hold,
    idempotency_key_release,
    request_fingerprint,
)
from reports.models import Report

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# The headers that are part of the answer and come back with a replay.
STORED_HEADERS = ("Location", "Retry-After")


def idempotent_post(request: Request, create: Callable[[], tuple[Response, Report]]) -> Response:
    """`create()` once per key; its answer again, with `Idempotent-Replayed: true`, for a repeat of the request."""
    header = request.headers.get(HEADER)
    if header is None:
        return create()[0]
    key = idempotency_key_clean(header)
    # Parsing the body first: a body that is not JSON is refused before the key is taken.
    fingerprint = request_fingerprint(method=request.method, path=request.path, body=request.data)
    claimed = idempotency_key_claim(user=request.user, key=key, fingerprint=fingerprint)
    if isinstance(claimed, StoredAnswer):
        return Response(claimed.body, status=claimed.status, headers={**claimed.headers, REPLAYED_HEADER: "true"})
    try:
        with transaction.atomic():
            idempotency_key_hold(claimed)
            response, report = create()
            headers = {name: response[name] for name in STORED_HEADERS if response.has_header(name)}
            answer = StoredAnswer(status=response.status_code, body=response.data, headers=headers)
            idempotency_key_complete(claimed, answer=answer, report=report)
    except BaseException:
        idempotency_key_release(claimed)
        raise
    return response
