"""One HTTP attempt at a webhook: to the checked address, with explicit timeouts, no redirects, and the first KB of
the answer kept for the log."""

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.utils import timezone

from common.netsafety import Destination, UnsafeDestination, resolve_destination

EXCERPT_BYTES = 1024
USER_AGENT = "Reports-Webhooks/1.0"


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    latency_ms: int
    error: str
    excerpt: str
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
        except (TypeError, ValueError):
            return None


def _without_query(url: str) -> str:
    """A redirect often points back at the same URL over https, query and all: its token stays out of the error
    (which is logged)."""
    parts = urlsplit(url)
    query = "?…" if parts.query else ""
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", "")) + query


def new_client() -> httpx.Client:
    timeout = httpx.Timeout(settings.WEBHOOK_TIMEOUT, connect=settings.WEBHOOK_CONNECT_TIMEOUT)
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: the checked address is the one we connect to
        headers={"user-agent": USER_AGENT},
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
    )


def send(client: httpx.Client, url: str, headers: dict[str, str], body: str) -> AttemptResult:
    """POST once. The host is resolved and checked now (again), and the request goes to that address."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        destination: Destination = resolve_destination(url)
    except UnsafeDestination as error:
        return AttemptResult(None, elapsed(), f"Refused: {error}", "")
    extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else {}
    deadline = started + settings.WEBHOOK_TIMEOUT
    try:
        with client.stream(
            "POST",
            destination.pinned_url,
            content=body.encode(),
            headers={**headers, "host": destination.host_header},
            extensions=extensions,
        ) as response:
            excerpt = b""
            for chunk in response.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES or time.monotonic() > deadline:
                    break
            text = excerpt[:EXCERPT_BYTES].decode("utf-8", errors="replace")
            error = ""
            if 300 <= response.status_code < 400:
                error = f"Redirect to {_without_query(response.headers.get('location', '?'))[:200]} not followed."
            elif not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
            return AttemptResult(response.status_code, elapsed(), error, text, _retry_after(response))
    except httpx.TimeoutException as error:
        return AttemptResult(None, elapsed(), f"Timed out ({type(error).__name__})", "")
    except httpx.HTTPError as error:
        return AttemptResult(None, elapsed(), f"{type(error).__name__}: {error}"[:500], "")
