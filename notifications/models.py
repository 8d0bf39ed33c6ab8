"""Webhook endpoints and per-user callback secrets; each user's email and SMS preferences. What is sent to them is
the event log's deliveries (events/models.py)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from common.ids import new_id

# The highest per-endpoint rate limit that can be set: above it a limit would hold back nothing.
MAX_RATE_LIMIT = 10_000


def new_endpoint_id() -> str:
    return new_id("we")


def new_delivery_id() -> str:
    """Ids of the webhook deliveries kept before the event log (referred to by the migrations that made them)."""
    return new_id("wd")


class WebhookEndpoint(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_endpoint_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Empty: the terminal report events (SPEC §7.1).
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    secret = models.CharField(max_length=100)
    # After a rotation the old secret keeps signing beside the new one until this time.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Deliveries per second the delivery engine sends to it at most (events/throttle.py); null: as fast as they come.
    rate_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RATE_LIMIT)],
        help_text="At most this many deliveries a second; empty: no limit.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "enabled"], name="endpoint_owner_enabled")]

    def __str__(self) -> str:
        return f"{self.url} ({self.id})"


def new_recovery_id() -> str:
    return new_id("rcv")


class RecoveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"


ACTIVE_RECOVERY_STATUSES = (RecoveryStatus.QUEUED, RecoveryStatus.RUNNING)


class WebhookRecovery(models.Model):
    """Sending an endpoint's deliveries since a time again, as one operation its owner can follow: which deliveries
    it took are its items, and their outcomes are its counts. One at a time per endpoint."""

    id = models.CharField(primary_key=True, max_length=32, default=new_recovery_id, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="recoveries")
    since = models.DateTimeField()
    # Only the deliveries that failed; else every finished one (delivered or failed).
    only_failed = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=RecoveryStatus.choices, default=RecoveryStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    # Of them, delivered and not: counted from the items while it runs, kept here once it is over.
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # More deliveries matched than WEBHOOK_RECOVER_MAX_DELIVERIES: the oldest that many were taken.
    truncated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook recoveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_recovery_per_endpoint",
            )
        ]

    def __str__(self) -> str:
        return f"recovery {self.id} of {self.endpoint_id} since {self.since:%Y-%m-%d %H:%M} ({self.status})"


class WebhookRecoveryItem(models.Model):
    """One delivery a recovery sent again: at most once per recovery."""

    recovery = models.ForeignKey(WebhookRecovery, on_delete=models.CASCADE, related_name="items", db_index=False)
    delivery = models.ForeignKey("events.Delivery", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recovery", "delivery"], name="one_recovery_item_per_delivery"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} in {self.recovery_id}"


class CallbackSecret(models.Model):
    """The secret that signs a user's per-report `callback_url` deliveries (SPEC §7.2)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="callback_secret")
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"callback secret of {self.user}"


# --- Email and SMS (SPEC §8) ---------------------------------------------------------------------------------------


def new_message_id() -> str:
    """Ids of the email and SMS log kept before the event log (referred to by the migrations that made them)."""
    return new_id("msg")


class NotificationPreferences(models.Model):
    """What one user wants to hear about a finished report, and where. Made on first use; until then the defaults
    (email on, SMS off) apply."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    email_on_success = models.BooleanField(default=True, help_text="Email when a report is ready.")
    email_on_failure = models.BooleanField(default=True, help_text="Email when a report failed.")
    sms_on_success = models.BooleanField(default=False, help_text="SMS when a report is ready.")
    sms_on_failure = models.BooleanField(default=False, help_text="SMS when a report failed.")
    phone_number = PhoneNumberField(blank=True, help_text="Where SMS go, in international format (E.164).")
    # When its owner entered the code texted to the number; null: SMS are not sent to it (SPEC §19).
    phone_confirmed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "notification preferences"
        verbose_name_plural = "notification preferences"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sms_on_success=False, sms_on_failure=False) | ~models.Q(phone_number=""),
                name="sms_needs_phone_number",
                violation_error_message="A phone number is needed to receive SMS.",
            )
        ]

    def __str__(self) -> str:
        return f"notification preferences of {self.user}"

    @property
    def phone_confirmed(self) -> bool:
        return bool(self.phone_number) and self.phone_confirmed_at is not None


class PhoneConfirmation(models.Model):
    """The code last texted to a user's phone number, waiting to be entered. Only a keyed hash of it is kept."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="phone_confirmation"
    )
    # The number the code was sent to: a code confirms that number only.
    phone_number = PhoneNumberField()
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"confirmation of {self.phone_number} for {self.user}"


class SmsPurpose(models.TextChoices):
    REPORT = "report", "Report notification"
    PHONE_CODE = "phone_code", "Phone confirmation code"


class SmsSend(models.Model):
    """One SMS sent, or being sent, on a user's behalf: what the SMS limits of SPEC §19 count. A report SMS is
    counted before it goes (so that the SMS of one delivery run, prepared together, cannot overshoot the limit) and
    uncounted when its attempt fails; a code is counted whatever came of it, and its error kept, since it is logged
    nowhere else."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sms_sends", db_index=False
    )
    purpose = models.CharField(max_length=16, choices=SmsPurpose.choices)
    phone_number = models.CharField(max_length=32)
    # A report SMS: its delivery and attempt, so that a run that prepares the same attempt again counts it once.
    delivery_id = models.CharField(max_length=32, blank=True)
    attempt_number = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "SMS sent"
        verbose_name_plural = "SMS sent"
        indexes = [models.Index(fields=["user", "purpose", "created_at"], name="sms_send_user_purpose_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery_id", "attempt_number"],
                condition=models.Q(purpose="report"),
                name="one_sms_send_per_delivery_attempt",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} to {self.phone_number} for {self.user_id}"
