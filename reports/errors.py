"""Domain errors raised by services; each surface (API, UI, admin) turns them into its own kind of answer."""


class ReportError(Exception):
    """Base of the errors a caller can act on."""

    code = "report_error"


class ReportTypeUnknown(ReportError):
    code = "unknown_report_type"


class ReportTypeNotPermitted(ReportError):
    code = "report_type_not_permitted"


class ReportNotCancellable(ReportError):
    code = "not_cancellable"


class ReportNotRetryable(ReportError):
    code = "not_retryable"


class ReportFileNotReady(ReportError):
    code = "file_not_ready"


class ReportFileExpired(ReportError):
    code = "file_expired"


class DownloadLinkRefused(ReportError):
    """A signed download link that is tampered with, expired, or made for another report."""

    code = "link_refused"


class IdempotencyKeyInvalid(ReportError):
    code = "idempotency_key_invalid"


class IdempotencyKeyInUse(ReportError):
    """The first request with this key has not finished yet: try again shortly."""

    code = "idempotency_key_in_use"
    retry_after = 1


class IdempotencyKeyReused(ReportError):
    """The key was first used with another request body."""

    code = "idempotency_key_reused"


class ReportRateLimited(ReportError):
    """The requester asked for more reports than REPORT_CREATE_RATE allows; nothing was created."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class ServiceOverloaded(ReportError):
    """New work is refused for now (the queue is too long); nothing was created."""

    code = "overloaded"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
