"""A small client for the reports API: submit a report, wait for it (polling or WebSocket), download it, and
verify the webhooks it sends. Depends on httpx only; `websockets` adds the WebSocket wait. Usage: docs/client.md.
"""

from client.api import DownloadedFile, ReportsClient
from client.backoff import Backoff, parse_retry_after
from client.errors import (
    ApiError,
    ChecksumMismatch,
    ClientError,
    DeadlineExceeded,
    SignatureInvalid,
    TransportError,
)
from client.webhooks import WebhookReceiver, verify_webhook

__all__ = [
    "ApiError",
    "Backoff",
    "ChecksumMismatch",
    "ClientError",
    "DeadlineExceeded",
    "DownloadedFile",
    "ReportsClient",
    "SignatureInvalid",
    "TransportError",
    "WebhookReceiver",
    "parse_retry_after",
    "verify_webhook",
]
