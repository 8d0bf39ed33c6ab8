"""Standard Webhooks verification (the scheme every delivery of this service is signed with), and a small receiver
that verifies what it is sent, for trying webhooks out on a workstation.

The check is written out here (HMAC-SHA256 from the standard library) so that the client needs nothing but httpx;
it is the same check as the `standardwebhooks` package's `Webhook.verify`, which the tests hold it to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from client.errors import SignatureInvalid

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every signing secret, not a secret
# Deliveries older or newer than this (seconds) are refused: a captured request cannot be replayed later.
DEFAULT_TOLERANCE = 300
MAX_BODY_BYTES = 1024 * 1024


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise SignatureInvalid("the secret is not a whsec_ base64 key") from error


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the secret's key."""
    payload = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), payload, hashlib.sha256).digest()).decode()


def verify_webhook(
    secrets: str | Iterable[str],
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> dict[str, Any]:
    """The event (the parsed body) if one of its signatures was made with one of `secrets` within `tolerance`
    seconds of `now`; `SignatureInvalid` otherwise.

    `body` must be the bytes as received: parsing and re-serialising JSON changes them and breaks the signature.
    Several secrets cover a rotation (the service signs with the old and the new secret for a while)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in ("webhook-id", "webhook-timestamp", "webhook-signature") if not lowered.get(name)]
    if missing:
        raise SignatureInvalid(f"missing header(s): {', '.join(missing)}")
    try:
        timestamp = int(lowered["webhook-timestamp"])
    except ValueError:
        raise SignatureInvalid("webhook-timestamp is not a number of seconds") from None
    age = (time.time() if now is None else now) - timestamp
    if age > tolerance:
        raise SignatureInvalid(f"the timestamp is {age:.0f} s old (tolerance {tolerance:g} s)")
    if age < -tolerance:
        raise SignatureInvalid(f"the timestamp is {-age:.0f} s in the future (tolerance {tolerance:g} s)")
    raw = body.encode() if isinstance(body, str) else body
    offered = [part.partition(",")[2] for part in lowered["webhook-signature"].split() if part.startswith("v1,")]
    for secret in [secrets] if isinstance(secrets, str) else list(secrets):
        expected = sign(secret, lowered["webhook-id"], timestamp, raw).partition(",")[2]
        if any(hmac.compare_digest(expected, signature) for signature in offered):
            try:
                return json.loads(raw)
            except ValueError:
                raise SignatureInvalid("the body is signed but is not JSON") from None
    raise SignatureInvalid("no signature matches the secret")


EventHandler = Callable[[dict[str, Any]], None]


class WebhookReceiver:
    """An HTTP server that hands the event of each delivery whose signature checks out to `on_event` and then
    answers 204 (500 if `on_event` raised, so that the delivery is retried), and answers 400 to the others.
    For development and tests: put it behind TLS in any real use."""

    def __init__(
        self,
        secrets: str | Iterable[str],
        on_event: EventHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tolerance: float = DEFAULT_TOLERANCE,
        on_rejected: Callable[[str], None] | None = None,
    ) -> None:
        known = [secrets] if isinstance(secrets, str) else list(secrets)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._answer(413)
                    return
                body = self.rfile.read(length)
                try:
                    event = verify_webhook(known, dict(self.headers.items()), body, tolerance=tolerance)
                except SignatureInvalid as error:
                    if on_rejected is not None:
                        on_rejected(str(error))
                    self._answer(400)
                    return
                try:
                    on_event(event)
                except Exception:  # any failure to take the event: the sender will retry
                    self._answer(500)
                    raise
                self._answer(204)  # only once the event is taken: a 2xx tells the sender it may forget it

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the events are the output."""

        self.server = ThreadingHTTPServer((host, port), Handler)
        # server_close() waits for requests in flight, so that stopping never drops an answer half-sent.
        self.server.daemon_threads = False
        self.server.block_on_close = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def start(self) -> WebhookReceiver:
        """Serve on a background thread (tests, notebooks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(5)
