"""The problems that the reports API answers for its domain errors (RFC 9457; common/api/problems.py renders
them)."""

from common.api.problems import register_problem
from reports.errors import (
    DownloadLinkRefused,
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    ReportFileExpired,
    ReportFileNotReady,
    ReportNotCancellable,
    ReportRateLimited,
    ReportTypeNotPermitted,
    ReportTypeUnknown,
    ServiceOverloaded,
)
from reports.parameters import ParameterError


def _parameter_errors(error: Exception) -> dict[str, list[str]]:
    assert isinstance(error, ParameterError)
    return error.field_errors()


def register() -> None:
    """Called once from ReportsConfig.ready()."""
    register_problem(
        ParameterError,
        400,
        "validation-error",
        "Invalid parameters",
        field_errors=_parameter_errors,
        detail="Some parameters are not valid.",
    )
    register_problem(
        ReportTypeUnknown, 400, "validation-error", "Invalid request", field_errors=lambda e: {"report_type": [str(e)]}
    )
    register_problem(
        IdempotencyKeyInvalid,
        400,
        "validation-error",
        "Invalid request",
        field_errors=lambda e: {"Idempotency-Key": [str(e)]},
    )
    register_problem(ReportTypeNotPermitted, 403, "report-type-not-permitted", "Report type not permitted")
    register_problem(ReportNotCancellable, 409, "not-cancellable", "Report cannot be cancelled")
    register_problem(ReportFileNotReady, 409, "file-not-ready", "Report file not ready")
    register_problem(ReportFileExpired, 410, "file-expired", "Report file expired")
    register_problem(DownloadLinkRefused, 403, "link-refused", "Download link refused")
    register_problem(IdempotencyKeyInUse, 409, "idempotency-key-in-use", "Idempotency key in use")
    register_problem(IdempotencyKeyReused, 422, "idempotency-key-reused", "Idempotency key reused")
    register_problem(ServiceOverloaded, 503, "overloaded", "Service overloaded")
    register_problem(ReportRateLimited, 429, "rate-limited", "Too many requests")
