"""Waiting for a report to finish: by polling its URL, or by following its WebSocket (`links.events`).

Polling needs nothing but HTTP and survives any network; the WebSocket learns of the end as it happens, with one
connection instead of a request per poll. The WebSocket wait falls back to polling when the socket cannot be
opened or drops, so that choosing it never makes a wait less reliable.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from client.backoff import Deadline
from client.errors import ClientError, DeadlineExceeded, TransportError, is_retryable

try:  # optional: only `wait --websocket` needs it, and it falls back to polling without it
    import websockets
    from websockets.exceptions import WebSocketException
except ImportError:  # pragma: no cover - depends on the installation
    websockets = None
    WebSocketException = OSError

if TYPE_CHECKING:
    from client.api import Report, ReportsClient

logger = logging.getLogger("client")

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "expired"})
# Seconds to open the socket (TCP, HTTP upgrade, authentication) before falling back to polling.
OPEN_TIMEOUT = 10.0


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


def wait_by_websocket(client: ReportsClient, report_id: str, deadline: Deadline, *, fallback: bool = True) -> Report:
    """Follow `links.events` (snapshot first, then events) until a finished status; then one GET, so that the
    answer is the same resource polling gives (its URLs built for this client's host, not the worker's)."""
    try:
        report = client.get_report(report_id)
    except ClientError as error:
        if not is_retryable(error):
            raise
        return wait_by_polling(client, report_id, deadline)  # waits out what polling waits out
    if report.get("status") in TERMINAL_STATUSES:
        return report
    url = (report.get("links") or {}).get("events")
    try:
        if websockets is None:
            raise TransportError("the websockets package is not installed")
        if not url:
            raise TransportError("the report has no links.events")
        asyncio.run(_follow_events(url, client.token, deadline, report))
    except DeadlineExceeded:
        raise
    except (TransportError, OSError, WebSocketException, ValueError) as error:
        if not fallback:
            raise TransportError(f"WebSocket {url}: {error or type(error).__name__}") from error
        logger.warning("WebSocket %s failed (%s); polling instead", url, error or type(error).__name__)
        return wait_by_polling(client, report_id, deadline)
    return client.get_report(report_id)


async def _follow_events(url: str, token: str, deadline: Deadline, last: Report) -> Report:
    headers = {"Authorization": f"Token {token}"}
    open_timeout = max(0.1, min(OPEN_TIMEOUT, deadline.remaining()))
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=open_timeout) as socket:
            while True:
                remaining = deadline.remaining()
                if remaining <= 0:
                    raise DeadlineExceeded(deadline.seconds or 0.0, last)
                try:
                    message = await asyncio.wait_for(socket.recv(), remaining)
                except TimeoutError:
                    raise DeadlineExceeded(deadline.seconds or 0.0, last) from None
                report = _report_of(json.loads(message))
                if report is None:
                    continue
                last = report
                if report.get("status") in TERMINAL_STATUSES:
                    return report
    except TimeoutError as error:  # the handshake took longer than open_timeout
        raise TransportError(f"no handshake within {open_timeout:g} s") from error


def _report_of(event: Any) -> Report | None:
    """The report inside a §5 envelope (`report.snapshot` and every `report.*` event); None for anything else."""
    if not isinstance(event, dict):
        return None
    report = (event.get("data") or {}).get("report") if isinstance(event.get("data"), dict) else None
    return report if isinstance(report, dict) else None
