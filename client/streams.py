"""Following the event stream (SPEC §15) over Server-Sent Events or the WebSocket, resuming after a drop.

Each reconnect asks for what came after the last event id seen (`Last-Event-ID`, or the WebSocket's `?after=`),
so a dropped connection costs a little time and no event: the server replays what was missed, then goes on live.
A `stream.reset` (the cursor is too old, or unknown) is handed to the caller like any event; from then on the
stream is live again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from client.backoff import Deadline, parse_retry_after
from client.errors import ApiError, ClientError, DeadlineExceeded, TransportError, is_retryable

try:  # optional, as for `wait --websocket`
    import websockets
    import websockets.sync.client
    from websockets.exceptions import WebSocketException
except ImportError:  # pragma: no cover - depends on the installation
    websockets = None
    WebSocketException = OSError

if TYPE_CHECKING:
    from client.api import ReportsClient

logger = logging.getLogger("client")

STREAM_PATH = "/api/v1/events/stream"
# The server sends a comment at least every 15 s: this long without a byte means the connection is gone.
READ_TIMEOUT = 45.0
Event = dict[str, Any]


def _sse_blocks(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """`field: value` blocks, one per event (comments and `retry:` left out)."""
    block: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in block:
                yield block
            block = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            block[name] = f"{block[name]}\n{value}" if name == "data" and "data" in block else value


def follow_sse(
    client: ReportsClient,
    *,
    report_id: str | None = None,
    after: str | None = None,
    deadline: Deadline | None = None,
    fail_fast: bool = False,
) -> Iterator[Event]:
    """The user's events (one report's, with `report_id`) after `after` (from now when None), then live ones, for
    as long as the caller iterates (or until `deadline`: DeadlineExceeded). A dropped connection, no answer or a
    429/5xx is waited out with the client's backoff and resumed after the last event seen; any other error (401,
    404) is raised. `fail_fast`: a first connection that fails raises TransportError instead (to fall back)."""
    last = after
    attempt = 0
    connected = False
    while True:
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last} if last else {})}
        params = {"report": report_id} if report_id else {}
        read = READ_TIMEOUT if deadline is None else max(0.05, min(READ_TIMEOUT, deadline.remaining()))
        retry_after = None
        try:
            with client.http.stream(
                "GET", STREAM_PATH, params=params, headers=headers, timeout=httpx.Timeout(10.0, read=read)
            ) as response:
                if response.is_error:
                    response.read()
                    raise ApiError.from_response(response, parse_retry_after(response.headers.get("Retry-After")))
                attempt, connected = 0, True
                for block in _sse_blocks(response.iter_lines()):
                    event = json.loads(block["data"])
                    if block.get("id"):
                        last = block["id"]
                    yield event
        except ApiError as error:
            if not is_retryable(error) or (fail_fast and not connected):
                raise
            retry_after = error.retry_after
            logger.info("event stream: %s; trying again", str(error).splitlines()[0])
        except httpx.TransportError as error:
            if deadline is not None and deadline.expired:
                raise DeadlineExceeded(deadline.seconds or 0.0, None) from error
            if fail_fast and not connected:
                raise TransportError(f"{STREAM_PATH}: {error or type(error).__name__}") from error
            logger.info("event stream dropped (%s); resuming after %s", error or type(error).__name__, last)
        _pause(client, attempt, retry_after, deadline)
        attempt += 1


def websocket_url(client: ReportsClient, report_id: str | None = None) -> str:
    """The WebSocket URL of the user's stream (or one report's) on the client's site."""
    parts = urlsplit(client.base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = f"/ws/reports/{quote(report_id, safe='')}/" if report_id else "/ws/reports/"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def follow_websocket(
    client: ReportsClient,
    *,
    report_id: str | None = None,
    after: str | None = None,
    url: str | None = None,
    deadline: Deadline | None = None,
    fail_fast: bool = False,
) -> Iterator[Event]:
    """As `follow_sse`, over the WebSocket: reconnects with `?after=` the last event id seen. The per-report URL
    starts with a `report.snapshot` when there is no cursor (and after a `stream.reset`). A close with 4401 or 4404
    is raised; websockets' pings find a connection that died silently."""
    if websockets is None:
        raise TransportError("the websockets package is not installed")
    base = url or websocket_url(client, report_id)
    headers = {"Authorization": f"Token {client.token}"}
    last = after
    attempt = 0
    connected = False
    while True:
        target = f"{base}?after={quote(last, safe='')}" if last else base
        try:
            with websockets.sync.client.connect(target, additional_headers=headers, open_timeout=10) as socket:
                connected = True
                while True:
                    try:
                        message = socket.recv(timeout=None if deadline is None else deadline.remaining())
                    except TimeoutError:
                        raise DeadlineExceeded(deadline.seconds or 0.0, None) from None
                    event = json.loads(message)
                    attempt = 0
                    if event.get("type") == "stream.reset":
                        last = None
                    elif event.get("id"):  # an event, or a snapshot (its id is the report's latest event's)
                        last = event["id"]
                    yield event
        except websockets.exceptions.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            if code in (4401, 4404):
                raise ClientError(f"WebSocket {base}: closed with {code}") from closed
            logger.info("WebSocket dropped (closed with %s); resuming after %s", code, last)
        except (OSError, WebSocketException, TimeoutError) as error:
            if fail_fast and not connected:
                raise TransportError(f"WebSocket {base}: {error or type(error).__name__}") from error
            logger.info("WebSocket dropped (%s); resuming after %s", error or type(error).__name__, last)
        _pause(client, attempt, None, deadline)
        attempt += 1


def _pause(client: ReportsClient, attempt: int, retry_after: float | None, deadline: Deadline | None) -> None:
    """The backoff before a reconnect, cut to what the deadline leaves (DeadlineExceeded once nothing is left)."""
    delay = client.backoff.delay(attempt, retry_after=retry_after, rng=client.rng)
    if deadline is not None:
        if deadline.expired:
            raise DeadlineExceeded(deadline.seconds or 0.0, None)
        delay = min(delay, deadline.remaining())
    client.sleep(delay)
