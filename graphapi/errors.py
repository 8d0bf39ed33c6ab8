"""GraphQL errors with a machine-readable `extensions.code` (SPEC §16), and the domain errors of the services
(reports/errors.py) turned into them, as reports/api/problems.py turns them into problem details for REST."""

from typing import Any

from graphql import GraphQLError

from reports.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    ReportError,
    ReportRateLimited,
    ReportTypeNotPermitted,
    ServiceOverloaded,
)

NOT_FOUND = "NOT_FOUND"
FORBIDDEN = "FORBIDDEN"
UNAUTHENTICATED = "UNAUTHENTICATED"
VALIDATION = "VALIDATION"
RATE_LIMITED = "RATE_LIMITED"
OVERLOADED = "OVERLOADED"
CONFLICT = "CONFLICT"
CURSOR_EXPIRED = "CURSOR_EXPIRED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
# A document that does not parse or validate against the schema, or goes past a limit (depth, tokens, aliases).
BAD_QUERY = "BAD_QUERY"
INTERNAL = "INTERNAL"


def api_error(code: str, message: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


def not_found(what: str = "report") -> GraphQLError:
    # The same answer for another user's object and for no object at all: an id's existence is not confirmed.
    return api_error(NOT_FOUND, f"No such {what} of yours.")


def unauthenticated() -> GraphQLError:
    return api_error(
        UNAUTHENTICATED,
        "Authentication required: send `Authorization: Token <key>`, or sign in (browser).",
    )


def validation(field: str, message: str) -> GraphQLError:
    return api_error(VALIDATION, message, field=field)


def from_domain_error(error: ReportError) -> GraphQLError | None:
    """The GraphQL error for a service's refusal that is no field's fault; None for those that are (they go into a
    mutation's `errors`)."""
    if isinstance(error, ReportRateLimited):
        return api_error(RATE_LIMITED, str(error), retryAfter=error.retry_after)
    if isinstance(error, ServiceOverloaded):
        return api_error(OVERLOADED, str(error), retryAfter=error.retry_after)
    if isinstance(error, ReportTypeNotPermitted):
        return api_error(FORBIDDEN, str(error))
    if isinstance(error, IdempotencyKeyInUse):
        return api_error(CONFLICT, str(error), retryAfter=error.retry_after)
    if isinstance(error, IdempotencyKeyReused):
        return api_error(CONFLICT, str(error))
    return None
