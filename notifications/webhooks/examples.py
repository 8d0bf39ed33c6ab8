"""An example of an event type, sent to an endpoint on request: so that an integrator sees what a `report.failed`
looks like at their receiver, signed as every delivery is, before any report of theirs fails.

It is the catalog's example (events/types.py) with an id and a time of its own, POSTed once, now, by the request
that asked for it. It is not an event of the user's stream: it is not in the event log (no sequence of theirs is
taken), no live channel hears of it, and it is not retried. The endpoint's URL is checked as for any delivery, and
the sends share the test ping's rate (WEBHOOK_TEST_RATE per endpoint)."""

import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.conf import settings
from django.utils import timezone

from common.ids import new_id
from common.rate_limits import rate_wait
from events.types import event_type_get
from notifications.models import WebhookEndpoint
from notifications.webhooks import transport
from notifications.webhooks.services import EndpointTestRateLimited, EventTypeUnknown, signing_secrets
from notifications.webhooks.signing import signature_headers


@dataclass(frozen=True)
class ExampleSent:
    envelope: dict[str, Any]
    result: transport.AttemptResult


def endpoint_send_example(*, endpoint: WebhookEndpoint, event_type: str) -> ExampleSent:
    known = event_type_get(event_type)
    if known is None:
        raise EventTypeUnknown(f"Unknown event type: {event_type}.")
    rate = settings.WEBHOOK_TEST_RATE
    wait = rate_wait(scope="webhook_test", ident=f"{endpoint.owner_id}:{endpoint.id}", rate=rate)
    if wait is not None:
        raise EndpointTestRateLimited(
            f"This endpoint was sent {rate} tests or examples already; try again in {wait} s.", retry_after=wait
        )
    now = timezone.now()
    stamp = now.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    envelope = {**known.example, "id": new_id("evt"), "timestamp": stamp}
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    secrets = signing_secrets(endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_expires_at)
    headers = signature_headers(secrets, message_id=envelope["id"], timestamp=now, body=body)
    with transport.new_client() as client:
        result = transport.send(client, endpoint.url, headers, body)
    return ExampleSent(envelope=envelope, result=result)
