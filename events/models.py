"""The event log (SPEC §14) and its deliveries.

An `Event` is written in the same transaction as the change it describes (a transactional outbox), so a committed
change always has its event and a rolled-back one never does. Fanning it out afterwards makes one `Delivery` per
(event, channel, target) for the channels that retry, each with one `DeliveryAttempt` per try.
"""

import json
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import models

from common.ids import new_id


def new_event_id() -> str:
    return new_id("evt")


def new_delivery_id() -> str:
    return new_id("dlv")


class EventStream(models.Model):
    """The last sequence number given to one user's events. Taking the next one updates this row, which locks it
    until the transaction commits: a second transaction of the same user waits, so numbers follow commit order."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="event_stream"
    )
    last_sequence = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"event stream of {self.user_id} at {self.last_sequence}"


class Event(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_event_id, editable=False)
    # No index of its own on user or report: the composite indexes below start with them. Every index is written on
    # every event, inside the transaction of the change it describes.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="events", db_index=False)
    # The report the event is about, when it is about one (every report.* event; not ping or endpoint notices).
    report = models.ForeignKey(
        "reports.Report", null=True, blank=True, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    type = models.CharField(max_length=64)
    sequence = models.PositiveBigIntegerField()
    # The §5 envelope exactly as every channel sends it (compact JSON text: the same bytes on every retry, and the
    # key order as written, which PostgreSQL's jsonb would not keep).
    envelope_json = models.TextField()
    created_at = models.DateTimeField(db_index=True)
    # When every channel had what it needed from this event (published live, its deliveries created). Null: the
    # process that wrote it has not done so yet, or died first; the sweep does it then.
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "sequence"]
        constraints = [models.UniqueConstraint(fields=["user", "sequence"], name="one_sequence_per_user")]
        indexes = [
            models.Index(fields=["report", "sequence"], name="event_report_sequence"),
            models.Index(
                fields=["created_at"], condition=models.Q(fanned_out_at__isnull=True), name="event_not_fanned_out"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} (#{self.sequence} of {self.user_id})"

    @cached_property
    def envelope(self) -> dict[str, Any]:
        return json.loads(self.envelope_json)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its first attempt or a retry
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"  # every retry used, or refused for good
    SKIPPED = "skipped", "Skipped"  # its target is off (a disabled endpoint); sent again when it is back on


class Delivery(models.Model):
    """One event to one target of one channel: a webhook endpoint, a callback URL, an email address, a phone."""

    id = models.CharField(primary_key=True, max_length=32, default=new_delivery_id, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    channel = models.CharField(max_length=32)
    # What the channel sends to: an endpoint id, a URL, an address or a number.
    target = models.CharField(max_length=2000)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    # Where the retry schedule starts again: a redelivery gets a fresh set of retries without renumbering attempts.
    schedule_start = models.PositiveIntegerField(default=0)
    # False: one attempt and no retry (a send requested once, as an endpoint's recovery): a failure is final.
    retry_on_failure = models.BooleanField(default=True)
    # When it is due. While a run holds it, the end of that run's lease: a run that died gives it back by then.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The run that holds it while an attempt is in flight, so two runs never send it at once.
    claimed_by = models.CharField(max_length=40, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # What the provider calls it: an email's Message-ID, an SMS provider's message id.
    receipt = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "channel", "target"], name="one_delivery_per_event_target"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="event_delivery_due"),
            models.Index(fields=["channel", "target", "-created_at"], name="event_delivery_target"),
        ]
        permissions = [("redeliver_delivery", "Can send deliveries again")]

    def __str__(self) -> str:
        return f"{self.channel} {self.event_id} -> {self.target}"

    @property
    def schedule_position(self) -> int:
        """How many attempts this round of retries has made."""
        return self.attempt_count - self.schedule_start


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts", db_index=False)
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True, help_text="The first KB of the answer.")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_delivery_attempt_number")]
        indexes = [models.Index(fields=["attempted_at"], name="event_delivery_attempt_time")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error or 'ok'}"
