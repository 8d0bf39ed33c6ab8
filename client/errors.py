"""What can go wrong, as exceptions an integrator can catch one by one (and the CLI turns into exit codes)."""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Base of every error this client raises."""


class ApiError(ClientError):
    """The API answered with an error: an RFC 9457 problem document (`title`, `detail`, `errors`).

    Kept whole in `problem`, so that nothing the server said is lost; `str()` reads well in a terminal."""

    def __init__(self, status: int, problem: dict[str, Any], *, retry_after: float | None = None) -> None:
        self.status = status
        self.problem = problem
        self.retry_after = retry_after
        super().__init__(self._message())

    @property
    def type(self) -> str:
        return str(self.problem.get("type", "about:blank"))

    @property
    def title(self) -> str:
        return str(self.problem.get("title") or "HTTP error")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or "")

    @property
    def errors(self) -> dict[str, list[str]]:
        errors = self.problem.get("errors")
        return errors if isinstance(errors, dict) else {}

    def _message(self) -> str:
        lines = [f"{self.status} {self.title}" + (f": {self.detail}" if self.detail else "")]
        for field, messages in self.errors.items():
            for message in messages if isinstance(messages, list) else [messages]:
                lines.append(f"  {field or '(body)'}: {message}")
        return "\n".join(lines)

    @classmethod
    def from_response(cls, response: httpx.Response, retry_after: float | None = None) -> ApiError:
        """Reads a problem document; anything else (a proxy's HTML page, say) becomes one with its first bytes."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = response.text.strip()[:200]
            body = {"title": response.reason_phrase or "HTTP error", "status": response.status_code, "detail": text}
        return cls(response.status_code, body, retry_after=retry_after)


class TransportError(ClientError):
    """The server could not be reached, or the connection broke (no answer to read)."""


class DeadlineExceeded(ClientError):
    """The report was not finished when the overall deadline passed; `report` is the last state seen (or None)."""

    def __init__(self, seconds: float, report: dict[str, Any] | None) -> None:
        self.seconds = seconds
        self.report = report
        status = report.get("status") if report else "unknown"
        super().__init__(f"report not finished after {seconds:g} s (last status: {status})")


class ChecksumMismatch(ClientError):
    """The downloaded file's sha256 is not the one the report announced; the file was not kept."""

    def __init__(self, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"sha256 mismatch: the report says {expected}, the download is {actual}")


class SignatureInvalid(ClientError):
    """A webhook's signature, timestamp or headers do not check out: do not trust its body."""


# Answers that say "not now" rather than "no": worth asking again after a wait.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


def is_retryable(error: ClientError) -> bool:
    """True for errors after which the same request may succeed: no answer at all, or a 429/502/503/504."""
    return isinstance(error, TransportError) or (isinstance(error, ApiError) and error.status in RETRYABLE_STATUSES)
