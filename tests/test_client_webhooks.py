"""The client's webhook verification against the service's own signing (notifications.webhooks.signing, which uses the
`standardwebhooks` package): valid, tampered body, wrong secret, old and future timestamps, rotation; and the
CLI's `verify-webhook` and the verifying receiver behind `listen`."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks import Webhook

from client import SignatureInvalid, WebhookReceiver, verify_webhook
from client.webhooks import sign
from notifications.webhooks.signing import new_secret, signature_headers
from tests.conftest import ROOT

EVENT = {
    "id": "evt_0123456789abcdef",
    "type": "report.succeeded",
    "timestamp": "2026-11-28T06:00:00Z",
    "data": {"report": {"id": "rep_abc", "status": "succeeded"}},
}
BODY = json.dumps(EVENT, separators=(",", ":"))


def delivery(secrets: list[str], *, at: datetime | None = None, body: str = BODY) -> dict[str, str]:
    """Headers exactly as the service sends them."""
    return signature_headers(secrets, message_id=EVENT["id"], timestamp=at or datetime.now(UTC), body=body)


def test_a_delivery_signed_by_the_service_verifies():
    secret = new_secret()
    headers = delivery([secret])

    assert verify_webhook(secret, headers, BODY.encode()) == EVENT
    # and the reference implementation agrees on the same request
    assert Webhook(secret).verify(BODY, headers) == EVENT


def test_a_tampered_body_is_refused():
    secret = new_secret()
    headers = delivery([secret])
    tampered = BODY.replace('"succeeded"}', '"failed"}')

    with pytest.raises(SignatureInvalid, match="no signature matches"):
        verify_webhook(secret, headers, tampered)


def test_another_secret_is_refused():
    headers = delivery([new_secret()])

    with pytest.raises(SignatureInvalid, match="no signature matches"):
        verify_webhook(new_secret(), headers, BODY)


def test_an_old_delivery_is_refused_even_with_a_valid_signature():
    secret = new_secret()
    headers = delivery([secret], at=datetime.now(UTC) - timedelta(minutes=6))

    with pytest.raises(SignatureInvalid, match=r"s old \(tolerance 300 s\)"):
        verify_webhook(secret, headers, BODY)
    # the same request is fine for a receiver that allows ten minutes
    assert verify_webhook(secret, headers, BODY, tolerance=600) == EVENT


def test_a_delivery_from_the_future_is_refused():
    secret = new_secret()
    headers = delivery([secret], at=datetime.now(UTC) + timedelta(minutes=6))

    with pytest.raises(SignatureInvalid, match="in the future"):
        verify_webhook(secret, headers, BODY)


def test_during_a_rotation_either_secret_verifies():
    # Given a delivery signed with the old and the new secret (the service does so for a while after a rotation)
    old, new = new_secret(), new_secret()
    headers = delivery([new, old])
    assert len(headers["webhook-signature"].split()) == 2

    assert verify_webhook(old, headers, BODY) == EVENT
    assert verify_webhook(new, headers, BODY) == EVENT
    assert verify_webhook([new_secret(), old], headers, BODY) == EVENT


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing):
    secret = new_secret()
    headers = {name: value for name, value in delivery([secret]).items() if name != missing}

    with pytest.raises(SignatureInvalid, match=f"missing header.*{missing}"):
        verify_webhook(secret, headers, BODY)


def test_header_names_are_case_insensitive():
    secret = new_secret()
    headers = {name.title(): value for name, value in delivery([secret]).items()}

    assert verify_webhook(secret, headers, BODY) == EVENT


def test_the_clients_signature_is_the_reference_one():
    secret = new_secret()
    timestamp = int(datetime.now(UTC).timestamp())

    reference = Webhook(secret).sign(EVENT["id"], datetime.fromtimestamp(timestamp, UTC), BODY)

    assert sign(secret, EVENT["id"], timestamp, BODY.encode()) == reference


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "client", *args], cwd=ROOT, input=stdin, capture_output=True, timeout=30, check=False
    )


def test_cli_verify_webhook_prints_the_event_or_exits_5(tmp_path):
    secret = new_secret()
    header_args = [arg for name, value in delivery([secret]).items() for arg in ("-H", f"{name}: {value}")]
    body = tmp_path / "body.json"
    body.write_text(BODY)

    good = run_cli("verify-webhook", "--secret", secret, *header_args, "--body", str(body))
    from_stdin = run_cli("verify-webhook", "--secret", secret, *header_args, "--body", "-", stdin=BODY.encode())
    tampered = run_cli("verify-webhook", "--secret", secret, *header_args, "--body", "-", stdin=b"{}")

    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == EVENT
    assert from_stdin.returncode == 0 and json.loads(from_stdin.stdout) == EVENT
    assert tampered.returncode == 5
    assert tampered.stdout == b""
    assert tampered.stderr.decode().strip() == "error: no signature matches the secret"


def test_the_receiver_hands_on_verified_events_only():
    secret = new_secret()
    events, rejections = [], []
    receiver = WebhookReceiver(secret, events.append, on_rejected=rejections.append).start()
    try:
        good = httpx.post(receiver.url, content=BODY, headers=delivery([secret]))
        forged = httpx.post(receiver.url, content=BODY, headers=delivery([new_secret()]))
        unsigned = httpx.post(receiver.url, content=BODY, headers={"content-type": "application/json"})
    finally:
        receiver.stop()

    assert (good.status_code, forged.status_code, unsigned.status_code) == (204, 400, 400)
    assert events == [EVENT]
    assert rejections == [
        "no signature matches the secret",
        "missing header(s): webhook-id, webhook-timestamp, webhook-signature",
    ]
