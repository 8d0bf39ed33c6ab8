"""Webhook endpoints, per-user callback secrets, and the delivery log: one delivery per (event, destination) with
one attempt row per try. Email and SMS: each user's preferences, and the log of every message sent or failed."""

from django.conf import settings
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField

from common.ids import new_id


def new_endpoint_id() -> str:
    return new_id("we")


def new_delivery_id() -> str:
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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "enabled"], name="endpoint_owner_enabled")]

    def __str__(self) -> str:
        return f"{self.url} ({self.id})"


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


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # every retry used, or the destination refused for good
    SKIPPED = "skipped", "Skipped"  # the endpoint was disabled; sent again when it is re-enabled


class WebhookDelivery(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_delivery_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_deliveries")
    # Null for a per-report callback_url delivery.
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    url = models.URLField(max_length=2000)
    event_id = models.CharField(max_length=40)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # The delivery run that holds this delivery while it is being attempted, so two workers never send it at once.
    claimed_by = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "endpoint"], name="one_delivery_per_event_endpoint"),
            models.UniqueConstraint(
                fields=["event_id", "url"], condition=models.Q(endpoint__isnull=True), name="one_callback_per_event"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_recent"),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> {self.url}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True, help_text="The first KB of the response body.")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"


# --- Email and SMS (SPEC §8) ---------------------------------------------------------------------------------------


def new_message_id() -> str:
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


class NotificationChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its first attempt or a retry
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"  # every retry used


class NotificationMessage(models.Model):
    """The log of email and SMS: one row per (event, channel, recipient), updated by each attempt."""

    id = models.CharField(primary_key=True, max_length=32, default=new_message_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_messages")
    report = models.ForeignKey("reports.Report", on_delete=models.CASCADE, related_name="notification_messages")
    channel = models.CharField(max_length=8, choices=NotificationChannel.choices)
    recipient = models.CharField(max_length=254, help_text="The email address or E.164 phone number.")
    event_id = models.CharField(max_length=40)
    event_type = models.CharField(max_length=40)
    # The §5 envelope the message tells of, as it was when the event happened.
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts since it was queued or last resent.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Held by the job sending it until then, so that two jobs never send one message at once.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    provider_message_id = models.CharField(
        max_length=200, blank=True, help_text="The email's Message-ID, or the SMS provider's message id."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "channel", "recipient"], name="one_message_per_event_channel_recipient"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due")]
        permissions = [("resend_notificationmessage", "Can resend notification messages")]

    def __str__(self) -> str:
        return f"{self.channel} {self.event_type} {self.event_id} -> {self.recipient}"
