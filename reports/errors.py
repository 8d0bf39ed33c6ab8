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


class ReportFileNotReady(ReportError):
    code = "file_not_ready"


class ReportFileExpired(ReportError):
    code = "file_expired"
