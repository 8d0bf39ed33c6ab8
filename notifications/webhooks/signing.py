"""Standard Webhooks signatures (SPEC §7.3) with the `standardwebhooks` package, and the secrets they use."""

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature_headers(signing_secrets: list[str], *, message_id: str, timestamp: datetime, body: str) -> dict:
    """Headers for one request. Several secrets (during a rotation) give several signatures, space-separated:
    receivers that know either secret verify it."""
    signatures = [Webhook(secret).sign(message_id, timestamp, body) for secret in signing_secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }
