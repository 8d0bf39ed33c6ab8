"""RFC 9457 problem details for every error the API can give, including the ones Django raises outside DRF."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:reportsite:problem:"


@dataclass(frozen=True)
class _DomainProblem:
    status: int
    slug: str
    title: str
    # For validation problems: the field messages ({"field.sub": [...]}) the error carries.
    field_errors: Callable[[Exception], dict[str, list[str]]] | None
    # The problem's detail when not the error's own message.
    detail: str | None


# Domain errors of every app, registered by the app that raises them; an error's closest registered class wins.
_domain_problems: dict[type[Exception], _DomainProblem] = {}


def register_problem(
    error_class: type[Exception],
    status_code: int,
    slug: str,
    title: str,
    *,
    field_errors: Callable[[Exception], dict[str, list[str]]] | None = None,
    detail: str | None = None,
) -> None:
    """Answer `error_class` (and its subclasses) with this problem. An error with a `retry_after` attribute adds a
    Retry-After header; `field_errors` makes it a validation problem with those field messages."""
    _domain_problems[error_class] = _DomainProblem(status_code, slug, title, field_errors, detail)


_DRF_TITLES = {
    exceptions.ParseError: ("malformed-request", "Malformed request body"),
    exceptions.NotAuthenticated: ("not-authenticated", "Authentication required"),
    exceptions.AuthenticationFailed: ("authentication-failed", "Invalid credentials"),
    exceptions.PermissionDenied: ("forbidden", "Forbidden"),
    exceptions.NotFound: ("not-found", "Not found"),
    exceptions.MethodNotAllowed: ("method-not-allowed", "Method not allowed"),
    exceptions.NotAcceptable: ("not-acceptable", "Not acceptable"),
    exceptions.UnsupportedMediaType: ("unsupported-media-type", "Unsupported media type"),
    exceptions.Throttled: ("rate-limited", "Too many requests"),
}


def problem(status_code: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": TYPE_PREFIX + slug, "title": title, "status": status_code, "detail": detail, **extra}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"field.sub": ["message", ...]}; "" holds errors about the whole body."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "" if key in ("non_field_errors",) else str(key)
            flat.update(flatten_errors(value, f"{prefix}.{name}".strip(".") if name else prefix))
        return flat
    if isinstance(detail, list) and detail and all(not isinstance(item, (dict, list)) for item in detail):
        return {prefix: [str(item) for item in detail]}
    if isinstance(detail, list):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}.{index}".strip(".")))
        return flat
    return {prefix: [str(detail)]}


def _problem_for(exc: Exception) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The problem body and extra headers for a known exception, or None."""
    for error_class in type(exc).__mro__:
        known = _domain_problems.get(error_class)
        if known is None:
            continue
        extra = {"errors": known.field_errors(exc)} if known.field_errors else {}
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        return problem(known.status, known.slug, known.title, known.detail or str(exc), **extra), headers
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        return problem(400, "validation-error", "Invalid request", "The request has invalid fields.", errors=errors), {}
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return problem(413, "payload-too-large", "Request body too large", f"The limit is {limit} bytes."), {}
    if isinstance(exc, Http404):
        return problem(404, "not-found", "Not found", "No such resource."), {}
    if isinstance(exc, DjangoPermissionDenied):
        return problem(403, "forbidden", "Forbidden", "You may not do this."), {}
    if isinstance(exc, exceptions.APIException):
        slug, title = next(
            (value for cls, value in _DRF_TITLES.items() if isinstance(exc, cls)), ("error", "Request failed")
        )
        headers: dict[str, str] = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        detail = exc.detail if isinstance(exc.detail, str) else "The request failed."
        return problem(exc.status_code, slug, title, str(detail)), headers
    return None


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every error becomes a problem document, never HTML or a traceback."""
    found = _problem_for(exc)
    if found is None:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        body, headers = problem(500, "server-error", "Internal server error", "Something went wrong on our side."), {}
    else:
        body, headers = found
    set_rollback()
    response = Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, exceptions.APIException):
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            response["WWW-Authenticate"] = auth_header
    return response


def problem_response(status_code: int, slug: str, title: str, detail: str) -> JsonResponse:
    """A problem answer for plain Django views (URL not found, server error) under /api/."""
    return JsonResponse(
        problem(status_code, slug, title, detail), status=status_code, content_type=PROBLEM_CONTENT_TYPE
    )


@csrf_exempt  # a write to a path that does not exist is a 404, not a CSRF failure page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return problem_response(status.HTTP_404_NOT_FOUND, "not-found", "Not found", f"No API resource at {request.path}.")
