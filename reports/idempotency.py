"""Idempotency keys (SPEC §4.2): a POST repeated with the same `Idempotency-Key` gets the first answer again.

A key is claimed in a short transaction of its own (the unique constraint on (user, key) lets exactly one request
win), and completed in the transaction that creates the report, so a stored answer and the report it describes
commit together or not at all. A request that fails releases its key: only an answer that created something is
kept. A key left `processing` by a request that died created nothing (its transaction rolled back), so after a
while another request may take it over; the lock token makes sure the request that lost it cannot complete it.
"""

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from reports.errors import IdempotencyKeyInUse, IdempotencyKeyInvalid, IdempotencyKeyReused
from reports.models import IdempotencyKey, IdempotencyState, Report

KEY_MAX_LENGTH = 255
# Far longer than a POST takes: a key still processing after this belongs to a request that is gone.
ABANDONED_AFTER = timedelta(seconds=60)
_CLAIM_TRIES = 3

T = TypeVar("T")


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class KeyClaim:
    """This request holds the key until it completes or releases it."""

    key_id: int
    lock_token: str


def idempotency_key_clean(value: str) -> str:
    """The key as given, or IdempotencyKeyInvalid: 1 to 255 visible ASCII characters (a UUID fits)."""
    if not value or len(value) > KEY_MAX_LENGTH or not all(" " < char <= "~" for char in value):
        raise IdempotencyKeyInvalid(
            f"Idempotency-Key must be 1 to {KEY_MAX_LENGTH} visible ASCII characters, such as a UUID."
        )
    return value


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    """The same for the same request whatever the key order or spacing of its JSON body."""
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_free(key: IdempotencyKey, now: datetime) -> bool:
    if key.expires_at <= now:
        return True
    return key.state == IdempotencyState.PROCESSING and key.locked_at <= now - ABANDONED_AFTER


def idempotency_key_claim(
    *, user: AbstractBaseUser, key: str, fingerprint: str, now: datetime | None = None
) -> KeyClaim | StoredAnswer:
    """Take the key for this request, or say what the first request with it got.

    Raises IdempotencyKeyReused when the key came with another body, IdempotencyKeyInUse while its first request
    is still being processed."""
    now = now or timezone.now()
    expires_at = now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    for _ in range(_CLAIM_TRIES):
        lock_token = secrets.token_hex(16)
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    user=user,
                    key=key,
                    request_fingerprint=fingerprint,
                    lock_token=lock_token,
                    locked_at=now,
                    expires_at=expires_at,
                )
            return KeyClaim(key_id=row.pk, lock_token=lock_token)
        except IntegrityError:
            pass  # someone has it: look at what they did with it
        with transaction.atomic():
            existing = IdempotencyKey.objects.select_for_update().filter(user=user, key=key).first()
            if existing is None:
                continue  # released in between: try to take it again
            if _is_free(existing, now):
                IdempotencyKey.objects.filter(pk=existing.pk).update(
                    request_fingerprint=fingerprint,
                    state=IdempotencyState.PROCESSING,
                    lock_token=lock_token,
                    locked_at=now,
                    expires_at=expires_at,
                    response_status=None,
                    response_body="",
                    response_headers={},
                    report=None,
                )
                return KeyClaim(key_id=existing.pk, lock_token=lock_token)
            if existing.request_fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used with a different request body; use a new key."
                )
            if existing.state == IdempotencyState.PROCESSING:
                raise IdempotencyKeyInUse("A request with this Idempotency-Key is still being processed.")
            return StoredAnswer(
                status=existing.response_status,
                body=json.loads(existing.response_body),
                headers=existing.response_headers,
            )
    raise IdempotencyKeyInUse("A request with this Idempotency-Key is still being processed.")


def idempotency_key_hold(claim: KeyClaim) -> None:
    """Lock the claimed key for the rest of the current transaction; IdempotencyKeyInUse if it was taken over."""
    held = (
        IdempotencyKey.objects.select_for_update()
        .filter(pk=claim.key_id, lock_token=claim.lock_token, state=IdempotencyState.PROCESSING)
        .exists()
    )
    if not held:
        raise IdempotencyKeyInUse("A request with this Idempotency-Key is still being processed.")


def idempotency_key_complete(claim: KeyClaim, *, answer: StoredAnswer, report: Report | None = None) -> None:
    """Store the answer; call it in the transaction that made what the answer describes, after holding the key."""
    IdempotencyKey.objects.filter(pk=claim.key_id, lock_token=claim.lock_token).update(
        state=IdempotencyState.COMPLETED,
        response_status=answer.status,
        response_body=json.dumps(answer.body, ensure_ascii=False),
        response_headers=answer.headers,
        report=report,
    )


def idempotency_key_release(claim: KeyClaim) -> None:
    """Forget a key whose request failed, so that the client may retry with it."""
    IdempotencyKey.objects.filter(
        pk=claim.key_id, lock_token=claim.lock_token, state=IdempotencyState.PROCESSING
    ).delete()


def idempotent_create(
    *, user: AbstractBaseUser, key: str, fingerprint: str, create: Callable[[], tuple[T, StoredAnswer, Report | None]]
) -> T | StoredAnswer:
    """Run `create()` once per key: its result the first time, the answer it stored for every repeat. `create` runs
    in the transaction that stores its answer, so a stored answer and what it describes commit together; a `create`
    that raises releases the key, so the client may retry with it. The REST API and GraphQL both come here."""
    claimed = idempotency_key_claim(user=user, key=key, fingerprint=fingerprint)
    if isinstance(claimed, StoredAnswer):
        return claimed
    try:
        with transaction.atomic():
            idempotency_key_hold(claimed)
            result, answer, report = create()
            idempotency_key_complete(claimed, answer=answer, report=report)
    except BaseException:
        idempotency_key_release(claimed)
        raise
    return result


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete the keys past their lifetime (IDEMPOTENCY_KEY_TTL_HOURS)."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
