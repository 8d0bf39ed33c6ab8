"""Waiting for a report to finish: by long polling its URL (the default), by polling it, or by following its events
over the WebSocket (`links.events`) or Server-Sent Events.

Long polling is polling whose every request the server holds until the report finishes: one request where polling
makes several, and the answer as soon as it is known. Polling needs nothing but HTTP and survives any network; a
stream learns of the end as it happens, with one connection instead of a request per poll, and resumes after a drop
from the last event it saw (client/streams.py). A stream that cannot be opened at all falls back to polling, so
that choosing one never makes a wait less reliable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from client.backoff import Deadline
from client.errors import ClientError, DeadlineExceeded, TransportError, is_retryable
from client.streams import STREAM_PATH, follow_sse, follow_websocket

if TYPE_CHECKING:
    from client.api import Report, ReportsClient

logger = logging.getLogger("client")

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "expired"})


def wait_by_polling(client: ReportsClient, report_id: str, deadline: Deadline) -> Report:
    """GET the report until it is finished, sleeping a full-jitter backoff (at least the server's `Retry-After`)
    between requests. No answer or a 429/502/503/504 is waited out the same way; any other error is raised."""
    report: Report | None = None
    attempt = 0
    while True:
        retry_after = None
        try:
            report, retry_after = client.fetch_report(report_id)
        except ClientError as error:
            if not is_retryable(error):
                raise
            retry_after = getattr(error, "retry_after", None)
            logger.info("polling %s: %s; trying again", report_id, str(error).splitlines()[0])
        else:
            if report.get("status") in TERMINAL_STATUSES:
                return report
        if deadline.expired:
            raise DeadlineExceeded(deadline.seconds or 0.0, report)
        delay = client.backoff.delay(attempt, retry_after=retry_after, rng=client.rng)
        # The last sleep ends at the deadline, for one final look before giving up.
        client.sleep(min(delay, deadline.remaining()))
        attempt += 1


# The longest a long poll asks the server to hold it: under the server's cap (30 s by default) and under the idle
# timeouts of most proxies, so that a held request is not cut on its way.
LONG_POLL_SECONDS = 25
# A long poll's read may take the wait plus this before the client's timeout cuts it.
LONG_POLL_MARGIN_SECONDS = 5


def wait_by_long_poll(client: ReportsClient, report_id: str, deadline: Deadline) -> Report:
    """GET the report with `Prefer: wait=N` until it is finished: each request returns as the report finishes, or
    after N seconds, and is sent again at once. An answer that did not wait (a server that does not long-poll, a
    deadline under a second) and every error are waited out as polling waits them out, with backoff."""
    report: Report | None = None
    attempt = 0
    read_timeout = client.http.timeout.read or LONG_POLL_SECONDS + LONG_POLL_MARGIN_SECONDS
    while True:
        seconds = int(min(LONG_POLL_SECONDS, read_timeout - LONG_POLL_MARGIN_SECONDS, deadline.remaining()))
        retry_after, waited = None, False
        try:
            if seconds >= 1:
                report, retry_after, waited = client.long_poll(report_id, seconds)
            else:
                report, retry_after = client.fetch_report(report_id)
        except ClientError as error:
            if not is_retryable(error):
                raise
            retry_after = getattr(error, "retry_after", None)
            logger.info("long polling %s: %s; trying again", report_id, str(error).splitlines()[0])
        else:
            if report.get("status") in TERMINAL_STATUSES:
                return report
        if deadline.expired:
            raise DeadlineExceeded(deadline.seconds or 0.0, report)
        if waited:
            attempt = 0  # the server held the request for its full time: ask again now
            continue
        delay = client.backoff.delay(attempt, retry_after=retry_after, rng=client.rng)
        client.sleep(min(delay, deadline.remaining()))
        attempt += 1


def wait_by_stream(
    client: ReportsClient, report_id: str, deadline: Deadline, *, stream: str = "websocket", fallback: bool = True
) -> Report:
    """Follow the report's events (`stream`: "websocket", its `links.events`, snapshot first; or "sse", from its
    latest event on) until a finished status, resuming after a drop from the last event seen; then one GET, so that
    the answer is the same resource polling gives (its URLs built for this client's host, not the worker's). Falls
    back to polling when the stream cannot be opened at all."""
    try:
        report = client.get_report(report_id)
    except ClientError as error:
        if not is_retryable(error):
            raise
        return wait_by_polling(client, report_id, deadline)  # waits out what polling waits out
    if report.get("status") in TERMINAL_STATUSES:
        return report
    name = "WebSocket" if stream == "websocket" else "SSE"
    where = (report.get("links") or {}).get("events") if stream == "websocket" else STREAM_PATH
    try:
        for event in _report_stream(client, report, stream, deadline):
            found = _report_of(event)
            if found is not None and found.get("id") == report_id:
                report = found
                if report.get("status") in TERMINAL_STATUSES:
                    break
    except DeadlineExceeded:
        raise DeadlineExceeded(deadline.seconds or 0.0, report) from None
    except (TransportError, OSError, ValueError) as error:
        if not fallback:
            raise TransportError(f"{name} {where}: {error or type(error).__name__}") from error
        logger.warning("%s %s failed (%s); polling instead", name, where, error or type(error).__name__)
        return wait_by_polling(client, report_id, deadline)
    return client.get_report(report_id)


def wait_by_websocket(client: ReportsClient, report_id: str, deadline: Deadline, *, fallback: bool = True) -> Report:
    return wait_by_stream(client, report_id, deadline, stream="websocket", fallback=fallback)


def _report_stream(client: ReportsClient, report: Report, stream: str, deadline: Deadline) -> Iterator[Any]:
    if stream == "websocket":
        url = (report.get("links") or {}).get("events")
        if not url:
            raise TransportError("the report has no links.events")
        return follow_websocket(client, url=url, deadline=deadline, fail_fast=True)
    # The report's latest event is the cursor: whatever happens after it is replayed, even before the stream is up.
    latest = client.request("GET", "/api/v1/events", params={"report": report["id"], "limit": 1}).json()["results"]
    after = latest[0]["id"] if latest else None
    return follow_sse(client, report_id=report["id"], after=after, deadline=deadline, fail_fast=True)


def _report_of(event: Any) -> Report | None:
    """The report inside a §5 envelope (`report.snapshot` and every `report.*` event); None for anything else."""
    if not isinstance(event, dict):
        return None
    report = (event.get("data") or {}).get("report") if isinstance(event.get("data"), dict) else None
    return report if isinstance(report, dict) else None
